"""CellposeNet: Cellpose 3 CPnet compatibility, the fast inference path, training."""

import pickle
import subprocess
import sys
from copy import deepcopy

import numpy as np
import pytest
import torch

from inference.engine import net_fast
from inference.engine.net import CellposeNet, _cellpose_module_names

SMALL = (2, 8, 16, 32)


def _relative_difference(a, b):
    a, b = np.asarray(a, dtype=np.float64), np.asarray(b, dtype=np.float64)
    return np.abs(a - b).max() / np.abs(b).max()


def _net_with_batchnorm_statistics(nbase=SMALL, sz=3, nout=3, seed=0):
    """A small net in eval mode whose BatchNorms are not the identity."""
    torch.manual_seed(seed)
    net = CellposeNet(nbase, nout=nout, sz=sz)
    with torch.no_grad():
        for module in net.modules():
            if isinstance(module, torch.nn.BatchNorm2d):
                module.running_mean.uniform_(-0.5, 0.5)
                module.running_var.uniform_(0.5, 2.0)
                module.weight.uniform_(-1.5, 1.5)  # negative scales too
                module.bias.uniform_(-0.2, 0.2)
    return net.eval()


@pytest.fixture(scope="module")
def cpnet_small(request):
    data = request.config.rootpath / "tests" / "data"
    io = np.load(data / "cpnet_small_io.npz")
    return data / "cpnet_small.pth", io


def test_it_loads_a_cellpose3_state_dict_and_matches_its_outputs(cpnet_small):
    path, io = cpnet_small
    net = CellposeNet.from_cellpose_file(path)
    assert not net.training
    assert net.nbase == (2, 8, 16, 32, 64) and net.nout == 3 and net.sz == 3
    assert net.diam_mean.item() == 17.0 and net.diam_labels.item() == 21.5
    with torch.inference_mode():
        out, style = net(torch.from_numpy(io["x"]))
    assert _relative_difference(out, io["out"]) < 1e-4
    assert _relative_difference(style, io["style"]) < 1e-4


def test_fast_inference_path_matches_cellpose3_outputs(cpnet_small):
    path, io = cpnet_small
    net = CellposeNet.from_cellpose_file(path).prepare_for_inference()
    with torch.inference_mode():
        out, style = net(torch.from_numpy(io["x"]))
    assert out.is_contiguous()
    assert _relative_difference(out, io["out"]) < 1e-4
    assert _relative_difference(style, io["style"]) < 1e-4


@pytest.mark.parametrize("fused", [True, False], ids=["onednn-fused", "separate-ops"])
@pytest.mark.parametrize("sz", [1, 3, 5])
def test_fast_inference_path_matches_plain_forward(sz, fused, monkeypatch):
    monkeypatch.setattr(net_fast, "FUSED_CPU_KERNELS", fused)
    net = _net_with_batchnorm_statistics(sz=sz)
    x = torch.rand(3, 2, 48, 40)
    with torch.inference_mode():
        plain, plain_style = net(x)
        fast, fast_style = net.prepare_for_inference()(x)
    assert net._plan is not None  # the fast path ran
    assert _relative_difference(fast, plain) < 1e-5
    assert _relative_difference(fast_style, plain_style) < 1e-5


def test_the_fast_path_does_not_call_the_plain_blocks():
    net = _net_with_batchnorm_statistics().prepare_for_inference()
    calls = []
    for module in (*net.encoder, *net.decoder, net.head):
        module.register_forward_pre_hook(lambda m, args: calls.append(type(m).__name__))
    with torch.inference_mode():
        net(torch.rand(2, 2, 32, 32))
    assert calls == []
    net(torch.rand(2, 2, 32, 32))  # autograd on: the plain blocks
    assert calls.count("_DownBlock") == len(net.encoder)


@pytest.mark.skipif(not torch.backends.mkldnn.is_available(), reason="needs oneDNN")
@pytest.mark.parametrize("shape", [(1, 2, 16, 16), (5, 2, 40, 24), (16, 2, 64, 64)])
def test_weights_packed_for_onednn_give_the_same_outputs_for_any_input_size(shape):
    net = _net_with_batchnorm_statistics()
    x = torch.rand(shape)
    with torch.inference_mode():
        plain, _ = net(x)
        fast, _ = net.prepare_for_inference()(x)
    assert net._plan.encoder[0].conv0.packed is not None  # packed for a nominal 8 x 224 x 224 input
    assert _relative_difference(fast, plain) < 1e-5


@pytest.mark.parametrize("dtype", [torch.bfloat16, torch.float16])
def test_reduced_precision_plan_stays_close_and_returns_float32(dtype):
    net = _net_with_batchnorm_statistics()
    x = torch.rand(3, 2, 48, 40)
    with torch.inference_mode():
        plain, plain_style = net(x)
        low, low_style = net.prepare_for_inference(dtype)(x)
    assert net._plan.dtype == dtype and net._plan.encoder[0].conv0.weight.dtype == dtype
    assert low.dtype == torch.float32 and low_style.dtype == torch.float32 and low.is_contiguous()
    assert _relative_difference(low, plain) < 5e-2
    assert _relative_difference(low_style, plain_style) < 5e-2
    with torch.inference_mode():
        net.prepare_for_inference()(x)
    assert net._plan.dtype == torch.float32  # asking again for the net's dtype replaces the plan


def test_a_net_that_ran_its_fast_path_can_be_copied_and_pickled():
    net = _net_with_batchnorm_statistics().prepare_for_inference()
    x = torch.rand(2, 2, 32, 32)
    with torch.inference_mode():
        out, _ = net(x)  # builds the plan (packed oneDNN weights on the CPU)
    copy = pickle.loads(pickle.dumps(deepcopy(net)))
    assert copy._plan is None and net._plan is not None
    with torch.inference_mode():
        assert torch.equal(copy(x)[0], out)


def test_net_fast_does_not_import_net():
    code = "import sys, inference.engine.net_fast; print('inference.engine.net' in sys.modules)"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "False"


def test_fast_path_follows_changes_to_the_weights():
    net = _net_with_batchnorm_statistics().prepare_for_inference()
    x = torch.rand(2, 2, 32, 32)
    with torch.no_grad():
        net(x)
        net.decoder[0].convs[1].conv.weight.mul_(-2.0)
        net.encoder[1].convs[2].norm.running_var.add_(1.0)
        fast, _ = net(x)
        net._fast_inference = False
        plain, _ = net(x)
    assert _relative_difference(fast, plain) < 1e-5


def test_a_prepared_net_still_trains_through_the_plain_forward():
    net = _net_with_batchnorm_statistics().prepare_for_inference()
    out, _ = net(torch.rand(2, 2, 16, 16))  # eval mode, autograd on: plain forward
    out.square().mean().backward()
    assert net.head.conv.weight.grad is not None


def test_style_vector_is_unit_length():
    net = _net_with_batchnorm_statistics()
    with torch.inference_mode():
        _, style = net(torch.rand(4, 2, 32, 32))
        _, fast_style = net.prepare_for_inference()(torch.rand(4, 2, 32, 32))
    assert style.shape == (4, SMALL[-1])
    np.testing.assert_allclose(torch.linalg.vector_norm(style, dim=1), 1.0, rtol=1e-6)
    np.testing.assert_allclose(torch.linalg.vector_norm(fast_style, dim=1), 1.0, rtol=1e-6)


@pytest.mark.parametrize("shape", [(1, 2, 16, 16), (3, 2, 24, 40), (2, 2, 64, 8)])
def test_output_shape_matches_input(shape):
    net = _net_with_batchnorm_statistics()
    with torch.inference_mode():
        out, style = net(torch.rand(shape))
        fast, _ = net.prepare_for_inference()(torch.rand(shape))
    assert out.shape == fast.shape == (shape[0], 3, *shape[2:])
    assert out.dtype == torch.float32 and style.shape == (shape[0], SMALL[-1])


def test_default_net_needs_sizes_that_are_multiples_of_8():
    assert CellposeNet().size_multiple == 8
    assert CellposeNet(SMALL).size_multiple == 4


@pytest.mark.parametrize("shape", [(1, 2, 30, 32), (1, 2, 32, 18)])
def test_it_rejects_an_input_whose_size_is_not_a_multiple_of_size_multiple(shape):
    net = _net_with_batchnorm_statistics((2, 8, 16, 32, 64))
    with pytest.raises(ValueError, match="multiples of 8"):
        net(torch.rand(shape))


@pytest.mark.parametrize("shape", [(2, 3, 16, 16), (2, 16, 16)])
def test_it_rejects_an_input_that_is_not_batch_channels_y_x(shape):
    with pytest.raises(ValueError, match=r"\(B, 2, Y, X\)"):
        _net_with_batchnorm_statistics()(torch.rand(shape))


def test_it_rejects_an_input_of_another_dtype_than_the_net():
    with pytest.raises(ValueError, match="expected a torch.float32 input on cpu"):
        _net_with_batchnorm_statistics()(torch.rand(1, 2, 16, 16, dtype=torch.float64))


def test_it_rejects_a_file_that_is_not_a_cpnet(tmp_path):
    text = tmp_path / "notes.pth"
    text.write_text("not a model")
    other = tmp_path / "other.pth"
    torch.save({"fc.weight": torch.zeros(3, 3)}, other)
    with pytest.raises(ValueError, match="notes.pth"):
        CellposeNet.from_cellpose_file(text)
    with pytest.raises(ValueError, match="other.pth.*not a Cellpose 3 CPnet"):
        CellposeNet.from_cellpose_file(other)
    with pytest.raises(ValueError, match="missing.pth: no such file"):
        CellposeNet.from_cellpose_file(tmp_path / "missing.pth")


def test_it_rejects_a_cpnet_state_dict_with_a_missing_or_extra_entry(cpnet_small, tmp_path):
    sd = torch.load(cpnet_small[0], weights_only=True)
    del sd["upsample.up.res_up_1.conv.conv_2.full.bias"]
    torch.save(sd, tmp_path / "broken.pth")
    with pytest.raises(ValueError, match=r"broken.pth.*res_up_1\.conv\.conv_2\.full\.bias"):
        CellposeNet.from_cellpose_file(tmp_path / "broken.pth")
    sd = torch.load(cpnet_small[0], weights_only=True)
    sd["upsample.up.res_up_9.proj.1.weight"] = torch.zeros(1)
    with pytest.raises(ValueError, match="unexpected.*res_up_9"):
        CellposeNet.from_state_dict(sd)


def test_key_mapping_pairs_every_entry_of_both_state_dicts_once(cpnet_small):
    cellpose = torch.load(cpnet_small[0], weights_only=True)
    net = CellposeNet((2, 8, 16, 32, 64))
    names = _cellpose_module_names(4)
    assert len(set(names.values())) == len(names)
    ours_to_theirs = {}
    for ours in net.state_dict():
        module, _, leaf = ours.rpartition(".")
        ours_to_theirs[ours] = f"{names[module]}.{leaf}" if module else ours  # diam_*: same
    assert sorted(ours_to_theirs.values()) == sorted(cellpose)
    for ours, theirs in ours_to_theirs.items():
        assert net.state_dict()[ours].shape == cellpose[theirs].shape, (ours, theirs)


def test_it_exports_back_to_the_cellpose_state_dict_it_was_loaded_from(cpnet_small):
    cellpose = torch.load(cpnet_small[0], weights_only=True)
    exported = CellposeNet.from_cellpose_file(cpnet_small[0]).to_cellpose_state_dict()
    assert set(exported) == set(cellpose)
    for key, value in cellpose.items():
        assert torch.equal(exported[key], value), key


def test_it_infers_the_architecture_from_its_own_state_dict():
    net = _net_with_batchnorm_statistics((3, 8, 16), sz=5, nout=1)
    net.diam_mean.fill_(12.0)
    copy = CellposeNet.from_state_dict(net.state_dict())
    assert (copy.nbase, copy.nout, copy.sz) == ((3, 8, 16), 1, 5)
    assert copy.diam_mean.item() == 12.0
    x = torch.rand(2, 3, 8, 16)
    with torch.inference_mode():
        assert torch.equal(copy.eval()(x)[0], net(x)[0])


def test_diameters_default_when_the_state_dict_has_none(cpnet_small):
    sd = torch.load(cpnet_small[0], weights_only=True)
    del sd["diam_mean"], sd["diam_labels"]
    net = CellposeNet.from_state_dict(sd)
    assert net.diam_mean.item() == 30.0 and net.diam_labels.item() == 30.0


def test_it_trains():
    torch.manual_seed(0)
    net = CellposeNet(SMALL).train()
    x = torch.rand(4, 2, 32, 32)
    target = torch.rand(4, 3, 32, 32)
    optimizer = torch.optim.SGD(net.parameters(), lr=0.05, momentum=0.0)
    losses = []
    for _ in range(2):
        optimizer.zero_grad()
        loss = torch.nn.functional.mse_loss(net(x)[0], target)
        loss.backward()
        optimizer.step()
        losses.append(loss.item())
    assert losses[1] < losses[0]


def test_gradient_reaches_every_parameter():
    torch.manual_seed(0)
    net = CellposeNet(SMALL).train()
    out, style = net(torch.rand(2, 2, 16, 16))
    (out.square().mean() + style[:, 0].sum()).backward()
    names = [name for name, p in net.named_parameters() if p.grad is None or not p.grad.any()]
    assert names == []
    assert {name for name, _ in net.named_buffers()} >= {"diam_mean", "diam_labels"}


@pytest.mark.gpu
@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs CUDA")
def test_it_runs_on_cuda_and_matches_the_cpu(cpnet_small):
    path, io = cpnet_small
    x = torch.from_numpy(io["x"])
    net = CellposeNet.from_cellpose_file(path, device="cuda")
    assert net.head.conv.weight.is_cuda
    with torch.inference_mode(), torch.backends.cudnn.flags(enabled=True, allow_tf32=False):
        out, style = net(x.cuda())
        fast, fast_style = net.prepare_for_inference()(x.cuda())
    assert out.is_cuda and fast.is_cuda and style.is_cuda
    assert _relative_difference(out.cpu(), io["out"]) < 1e-4
    assert _relative_difference(fast.cpu(), io["out"]) < 1e-4
    assert _relative_difference(fast_style.cpu(), io["style"]) < 1e-4
