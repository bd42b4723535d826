import math
from pathlib import Path

import numpy as np
import pytest
import torch

from inference.engine import model as model_module
from inference.engine.metrics import average_precision
from inference.engine.model import (
    CellposeModel,
    SegmentationResult,
    default_device,
    load_model,
    recompute_masks,
)
from inference.engine.net import CellposeNet
from inference.engine.size import SizeModel
from inference.engine.tiling import run_net

from .toy_nets import BlobOracleNet, ball_volume, disk_image


@pytest.fixture
def oracle():
    return CellposeModel([BlobOracleNet()], name="oracle")


def _small_net(seed):
    torch.manual_seed(seed)
    net = CellposeNet(nbase=(2, 4, 8, 16))
    with torch.no_grad():  # non-trivial batch-norm statistics, so that they must survive the file
        for m in net.modules():
            if isinstance(m, torch.nn.BatchNorm2d):
                m.running_mean.uniform_(-0.5, 0.5)
                m.running_var.uniform_(0.5, 2.0)
    return net.eval()


def _constant_size_model(diameter, n_features=2):
    return SizeModel(np.zeros(n_features), np.zeros(n_features), math.log(diameter))


@pytest.mark.parametrize("diameter", [15.0, 45.0])
def test_segment_returns_masks_at_the_original_size_after_resizing(oracle, diameter):
    image, truth = disk_image((150, 190), diameter=diameter, seed=1)
    result = oracle.segment(image, diameter=diameter, augment=False)
    assert isinstance(result, SegmentationResult)
    assert result.masks.shape == image.shape and result.masks.dtype == np.int32
    assert result.dP.shape == (2, *image.shape) and result.dP.dtype == np.float32
    assert result.cellprob.shape == image.shape and result.cellprob.dtype == np.float32
    assert result.styles.dtype == np.float32
    assert result.diameter == diameter and result.diameter_source == "given"
    assert result.niter == round(200 * diameter / 30)
    ap = average_precision(truth, result.masks)[0]
    assert ap.ravel()[0] > 0.9


def test_segment_with_augmentation_finds_the_same_cells(oracle):
    image, truth = disk_image((140, 170), diameter=30.0, seed=2)
    result = oracle.segment(image, diameter=30.0, augment=True)
    assert average_precision(truth, result.masks)[0].ravel()[0] > 0.9


def test_segment_reads_rgb_images_with_cellpose_channels(oracle):
    image, truth = disk_image((120, 130), diameter=30.0, seed=3)
    rgb = np.zeros((*image.shape, 3), np.float32)
    rgb[..., 1] = image  # cells in green
    result = oracle.segment(rgb, channels=(2, 0), diameter=30.0, augment=False)
    assert average_precision(truth, result.masks)[0].ravel()[0] > 0.9


def test_without_diameter_or_size_model_the_model_uses_diam_mean_and_says_so(oracle):
    image, _ = disk_image((100, 100), diameter=30.0)
    result = oracle.segment(image, augment=False)
    assert result.diameter == 30.0
    assert "no size model" in result.diameter_source


def test_the_size_model_estimate_is_refined_by_a_segmentation():
    # The style regression says 20 px; segmenting at 20 px finds the 24-px disks and measures them.
    model = CellposeModel([BlobOracleNet()], size_model=_constant_size_model(20.0))
    image, truth = disk_image((160, 200), diameter=24.0, seed=4)
    result = model.segment(image, diameter=None, augment=False)
    assert result.diameter_source == "size model"
    assert result.diameter == pytest.approx(24.0, abs=1.5)
    assert model.estimate_diameter(image) == pytest.approx(result.diameter)
    assert average_precision(truth, result.masks)[0].ravel()[0] > 0.9


def test_segment_runs_the_fast_inference_path_of_its_nets_in_every_mode():
    # Hooks on the net's own blocks fire only when the plain forward runs.
    net = _small_net(0)
    model = CellposeModel([net], size_model=_constant_size_model(20.0, n_features=16))
    plain_calls = []
    for module in (*net.encoder, *net.decoder, net.head):
        module.register_forward_pre_hook(lambda m, args: plain_calls.append(type(m).__name__))
    rng = np.random.default_rng(0)
    image, stack = rng.random((60, 70)).astype(np.float32), rng.random((3, 40, 44)).astype(np.float32)
    model.segment(image, diameter=None, augment=True)
    model.estimate_diameter(image)
    model.segment(stack, diameter=20.0, do_3d=True, augment=False)
    model.segment(stack, diameter=20.0, stitch_threshold=0.25, augment=False)
    assert net._plan is not None and plain_calls == []


def test_the_precision_chooses_the_dtype_of_the_fast_path():
    net = _small_net(0)
    model = CellposeModel([net], precision="bfloat16")
    image = np.random.default_rng(0).random((50, 60)).astype(np.float32)
    low = model.segment(image, diameter=30.0, augment=False)
    assert net._plan.dtype == torch.bfloat16 and low.dP.dtype == np.float32
    model.precision = "float32"
    full = model.segment(image, diameter=30.0, augment=False)
    assert net._plan.dtype == torch.float32
    assert np.abs(low.dP - full.dP).max() <= 0.05 * np.abs(full.dP).max()
    assert model_module.model_file.compute_dtype("auto", torch.device("cpu")) in (torch.float32, torch.bfloat16)
    with pytest.raises(ValueError, match="precision must be one of"):
        model.precision = "fp8"


def test_estimate_diameter_needs_a_size_model(oracle):
    with pytest.raises(ValueError, match="no size model"):
        oracle.estimate_diameter(np.zeros((40, 40), np.float32))


def test_progress_callback_reports_every_stage_in_order(oracle):
    image, _ = disk_image((100, 120), diameter=30.0)
    calls = []
    oracle.segment(image, diameter=30.0, augment=False, progress=lambda s, f: calls.append((s, f)))
    stages = [s for s, _ in calls]
    assert stages[0] == "normalize" and stages[-1] == "done"
    order = ["normalize", "network", "dynamics", "done"]
    assert [s for i, s in enumerate(stages) if i == 0 or stages[i - 1] != s] == order
    assert all(0.0 <= f <= 1.0 for _, f in calls)
    assert ("network", 1.0) in calls


def test_progress_callback_can_cancel_segmentation(oracle):
    image, _ = disk_image((100, 120), diameter=30.0)
    seen = []

    class Cancelled(Exception):
        pass

    def progress(stage, fraction):
        seen.append(stage)
        if stage == "network":
            raise Cancelled

    with pytest.raises(Cancelled):
        oracle.segment(image, diameter=30.0, progress=progress)
    assert "dynamics" not in seen and "done" not in seen


def test_recompute_masks_reproduces_segment_and_follows_thresholds(oracle):
    image, _ = disk_image((140, 150), diameter=20.0, seed=5)
    result = oracle.segment(image, diameter=20.0, augment=False)
    again = recompute_masks(result.dP, result.cellprob, niter=result.niter)
    np.testing.assert_array_equal(again, result.masks)
    strict = oracle.recompute_masks(result.dP, result.cellprob, cellprob_threshold=4.0, niter=result.niter)
    assert (strict > 0).sum() < (result.masks > 0).sum()
    with pytest.raises(ValueError, match=r"dP \(2, Ly, Lx\)"):
        recompute_masks(result.dP[0], result.cellprob)


def test_segment_3d_on_the_test_volume_size(oracle):
    vol, truth = ball_volume((31, 61, 57), diameter=16.0)
    result = oracle.segment(vol, diameter=16.0, do_3d=True, augment=False, batch_size=16)
    assert result.masks.shape == (31, 61, 57) and result.masks.dtype == np.int32
    assert result.dP.shape == (3, 31, 61, 57) and result.cellprob.shape == (31, 61, 57)
    assert average_precision(truth, result.masks)[0].ravel()[0] > 0.7


def test_segment_3d_with_anisotropy_keeps_the_input_grid(oracle):
    vol, truth = ball_volume((24, 36, 38), diameter=14.0)
    result = oracle.segment(vol[::2], diameter=14.0, do_3d=True, anisotropy=2.0, augment=False, batch_size=16)
    assert result.masks.shape == (12, 36, 38) and result.dP.shape == (3, 12, 36, 38)
    assert result.masks.max() == truth.max()


def test_a_stack_without_do_3d_is_refused(oracle):
    with pytest.raises(ValueError, match="do_3d=True"):
        oracle.segment(np.zeros((5, 2, 30, 30), np.float32))
    with pytest.raises(ValueError, match="needs a stack"):
        oracle.segment(np.zeros((30, 30), np.float32), do_3d=True)


@pytest.mark.parametrize(
    "kwargs, match",
    [
        ({"diameter": -3.0}, "diameter"),
        ({"diameter": float("nan")}, "diameter"),
        ({"niter": 0}, "niter"),
        ({"batch_size": 0}, "batch_size"),
        ({"do_3d": True, "anisotropy": -1.0}, "anisotropy"),
    ],
)
def test_bad_segment_arguments_raise_value_errors(oracle, kwargs, match):
    image = np.zeros((4, 30, 30), np.float32) if kwargs.get("do_3d") else np.zeros((30, 30), np.float32)
    with pytest.raises(ValueError, match=match):
        oracle.segment(image, **kwargs)


def test_model_file_round_trip_gives_identical_outputs(tmp_path):
    nets = [_small_net(0), _small_net(1)]
    size_model = SizeModel.fit(np.random.default_rng(0).normal(size=(20, 16)), np.linspace(10, 40, 20))
    model = CellposeModel(nets, diam_mean=17.0, size_model=size_model, name="mini", meta={"trained_on": ["synth"], "epochs": 3})
    path = tmp_path / "mini.pt"
    model.save(path)
    raw = torch.load(path, weights_only=True)
    assert raw["format"] == "cellposeweb-model" and raw["format_version"] == 1
    assert raw["nbase"] == [2, 4, 8, 16] and len(raw["state_dicts"]) == 2

    back = CellposeModel.from_file(path, device="cpu")
    assert back.name == "mini" and back.diam_mean == 17.0 and len(back.nets) == 2
    assert back.meta["trained_on"] == ["synth"] and back.meta["epochs"] == 3
    x = np.random.default_rng(1).random((2, 70, 90)).astype(np.float32)
    y0, s0 = run_net(model.nets, x, augment=False)
    y1, s1 = run_net(back.nets, x, augment=False)
    np.testing.assert_array_equal(y0, y1)
    np.testing.assert_array_equal(s0, s1)
    assert back.size_model.predict(s0) == size_model.predict(s0)


def test_load_model_reads_a_cellpose3_file(tmp_path):
    net = _small_net(2)
    sd = net.to_cellpose_state_dict()
    sd["diam_mean"] = torch.tensor([17.0])
    path = tmp_path / "cyto_like.pth"
    torch.save(sd, path)
    model = load_model(path, device="cpu")
    assert model.diam_mean == 17.0 and model.size_model is None and model.name == "cyto_like"
    x = np.random.default_rng(3).random((2, 50, 60)).astype(np.float32)
    np.testing.assert_array_equal(run_net(model.nets, x, augment=False)[0], run_net([net], x, augment=False)[0])


def test_load_model_reads_the_shipped_cellpose3_test_file(data_dir):
    model = load_model(data_dir / "cpnet_small.pth", device="cpu")
    assert model.diam_mean == 17.0 and len(model.nets) == 1
    ref = np.load(data_dir / "cpnet_small_io.npz")
    with torch.inference_mode():
        out, style = model.nets[0](torch.from_numpy(ref["x"]))
    np.testing.assert_allclose(out.numpy(), ref["out"], rtol=1e-4, atol=1e-4)
    np.testing.assert_allclose(style.numpy(), ref["style"], rtol=1e-4, atol=1e-5)


def test_load_model_without_the_default_says_how_to_build_it(tmp_path, monkeypatch):
    monkeypatch.setattr(model_module, "WEIGHTS_DIR", tmp_path)
    for name in (None, "default"):
        with pytest.raises(FileNotFoundError, match="make model"):
            load_model(name)


def test_load_model_finds_packaged_models_by_name(tmp_path, monkeypatch):
    monkeypatch.setattr(model_module, "WEIGHTS_DIR", tmp_path)
    CellposeModel([_small_net(4)]).save(tmp_path / "default.pt")
    CellposeModel([_small_net(5)]).save(tmp_path / "tiny.pt")
    assert model_module.available_models() == ["default", "tiny"]
    assert load_model(device="cpu").name == "default"
    assert load_model("tiny", device="cpu").name == "tiny"
    with pytest.raises(FileNotFoundError, match="packaged: default, tiny"):
        load_model("nope")


def test_from_file_rejects_files_that_are_not_models(tmp_path):
    text = tmp_path / "notes.pt"
    text.write_text("hello")
    with pytest.raises(ValueError, match="not a readable model file"):
        CellposeModel.from_file(text)
    other = tmp_path / "other.pt"
    torch.save({"answer": 42}, other)
    with pytest.raises(ValueError, match="neither"):
        CellposeModel.from_file(other)
    with pytest.raises(FileNotFoundError):
        CellposeModel.from_file(tmp_path / "missing.pt")


def test_save_rejects_meta_that_weights_only_loading_could_not_read(tmp_path):
    model = CellposeModel([_small_net(6)], meta={"when": object()})
    with pytest.raises(ValueError, match="plain data"):
        model.save(tmp_path / "m.pt")


def test_default_device_is_the_cpu_without_cuda(monkeypatch):
    monkeypatch.setattr(torch.cuda, "is_available", lambda: False)
    assert default_device() == torch.device("cpu")


@pytest.mark.gpu
@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs CUDA")
def test_cuda_matches_cpu():
    image, truth = disk_image((300, 340), diameter=24.0, seed=6)
    cpu = CellposeModel([BlobOracleNet()]).segment(image, diameter=24.0)
    gpu = CellposeModel([BlobOracleNet().to("cuda")]).segment(image, diameter=24.0)
    np.testing.assert_allclose(gpu.cellprob, cpu.cellprob, atol=1e-3)
    np.testing.assert_allclose(gpu.dP, cpu.dP, atol=1e-2)
    assert average_precision(truth, gpu.masks)[0].ravel()[0] > 0.9
    assert average_precision(cpu.masks, gpu.masks)[0].ravel()[0] > 0.95


def test_the_package_re_exports_its_public_api():
    import inference.engine as engine

    for name in engine.__all__:
        assert getattr(engine, name) is not None, name
    assert engine.CellposeModel is CellposeModel and engine.load_model is load_model
    assert set(engine.__all__) <= set(dir(engine))
    with pytest.raises(AttributeError):
        engine.not_a_name  # noqa: B018


def test_importing_the_package_imports_no_torch():
    import subprocess
    import sys

    code = "import sys, inference.engine; print('torch' in sys.modules)"
    root = Path(__file__).resolve().parents[2]
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True, cwd=root)
    assert out.stdout.strip() == "False"


def test_segment_without_normalize_takes_an_already_scaled_image_as_it_is(oracle):
    image, _ = disk_image((120, 140), diameter=30.0, seed=5)
    lo, hi = np.percentile(image, [1, 99])
    scaled = (image - lo) / (hi - lo)

    same = oracle.segment(scaled * 1.0, diameter=30.0, augment=False, normalize=False).masks
    assert np.array_equal(same, oracle.segment(image, diameter=30.0, augment=False).masks)
    dimmed = oracle.segment(scaled * 0.3, diameter=30.0, augment=False, normalize=False).masks
    assert dimmed.max() == 0  # not rescaled: every pixel under the oracle's 0.5 stays background
