import numpy as np
import pytest
import torch

from inference.engine.net import CellposeNet
from inference.engine.tiling import run_net, run_tiled, taper_mask, tile_starts

from .toy_nets import ConstantNet, GradientNet, PointwiseNet


def _image(shape, seed=0):
    return np.random.default_rng(seed).random((2, *shape)).astype(np.float32)


def _untiled(net, x):
    """The net on the whole image at once (padded with zeros to a multiple of 8)."""
    Ly, Lx = x.shape[1:]
    pad = np.zeros((2, -(-Ly // 8) * 8, -(-Lx // 8) * 8), np.float32)
    pad[:, :Ly, :Lx] = x
    with torch.inference_mode():
        return net(torch.from_numpy(pad)[None])[0][0, :, :Ly, :Lx].numpy()


def test_tile_starts_cover_the_axis_with_at_least_the_requested_overlap():
    for length in (224, 225, 300, 447, 512, 1000):
        for overlap in (0.0, 0.1, 0.5, 0.75):
            s = tile_starts(length, 224, overlap)
            assert s[0] == 0 and s[-1] == length - 224
            assert np.all(np.diff(s) <= 224 * (1 - overlap) + 1e-6)


def test_taper_weights_sum_to_one_after_normalisation():
    # A net with a constant output must give exactly that constant back after stitching.
    net = ConstantNet((0.3, -2.0, 5.0)).eval()
    for shape in [(224, 224), (300, 520), (50, 481)]:
        for overlap in (0.1, 0.5):
            y, _ = run_net([net], _image(shape), augment=False, tile_overlap=overlap)
            np.testing.assert_allclose(y, np.broadcast_to(np.array([0.3, -2.0, 5.0])[:, None, None], y.shape), rtol=1e-5)


def test_taper_mask_is_one_in_the_middle_and_small_but_positive_at_the_border():
    w = taper_mask(224)
    assert w.shape == (224, 224) and w.dtype == np.float32
    assert w[112, 112] > 0.99
    assert 0 < w[0, 112] < 0.1 and 0 < w[0, 0] < 0.01
    np.testing.assert_allclose(w, w[::-1, ::-1])


@pytest.mark.parametrize("shape", [(224, 224), (300, 410), (517, 263)])
def test_tiled_output_equals_untiled_output_away_from_borders(shape):
    net = PointwiseNet().eval()
    x = _image(shape, seed=1)
    y, style = run_net([net], x, augment=False)
    np.testing.assert_allclose(y, _untiled(net, x), rtol=1e-4, atol=1e-5)
    assert style.shape == (8,)


def test_tiled_stencil_equals_untiled_stencil_away_from_tile_edges():
    # A 3x3 stencil sees the tiles' zero padding only within a pixel of a tile edge; elsewhere every
    # tile computes the untiled value, and the stitched output equals it.
    net = GradientNet().eval()
    x = _image((400, 400), seed=2)
    y, _ = run_net([net], x, augment=False)
    ref = _untiled(net, x)
    starts = tile_starts(416, 224, 0.5) - 8  # the 400-px axis is padded by 8 px a side to 416
    edges = np.concatenate([starts, starts + 223])
    near = np.zeros(400, bool)
    for e in edges:
        near[max(e - 1, 0):e + 2] = True
    clean = ~near[:, None] & ~near[None, :]
    np.testing.assert_allclose(y[:, clean], ref[:, clean], rtol=1e-5, atol=1e-6)
    assert np.abs(y - ref).max() < 0.1  # near tile edges the taper keeps the error small


def test_flipped_tiles_reverse_the_flow_sign():
    # For a flip-equivariant net, un-flipping (with the flow sign reversed) makes augmentation a no-op.
    net = GradientNet().eval()
    x = _image((300, 410), seed=3)
    plain, _ = run_net([net], x, augment=False)
    augmented, _ = run_net([net], x, augment=True)
    np.testing.assert_allclose(augmented, plain, atol=1e-5)


def test_augmentation_averages_all_four_flips_on_a_small_image():
    # One tile position, four tiles with the four flips: the flows of a constant net cancel.
    y, _ = run_net([ConstantNet((1.0, 2.0, 3.0)).eval()], _image((100, 60)), augment=True)
    np.testing.assert_allclose(y[0], 0.0, atol=1e-6)
    np.testing.assert_allclose(y[1], 0.0, atol=1e-6)
    np.testing.assert_allclose(y[2], 3.0, rtol=1e-6)


@pytest.mark.parametrize("shape", [(100, 60), (256, 320)])
@pytest.mark.parametrize("augment", [False, True])
def test_flipping_the_image_flips_the_output_and_reverses_the_flow(shape, augment):
    net = GradientNet().eval()
    x = _image(shape, seed=4)
    y, _ = run_net([net], x, augment=augment)
    y_lr, _ = run_net([net], x[:, :, ::-1].copy(), augment=augment)
    y_ud, _ = run_net([net], x[:, ::-1, :].copy(), augment=augment)
    np.testing.assert_allclose(y_lr[:, :, ::-1] * np.array([1, -1, 1])[:, None, None], y, atol=1e-5)
    np.testing.assert_allclose(y_ud[:, ::-1, :] * np.array([-1, 1, 1])[:, None, None], y, atol=1e-5)


@pytest.mark.parametrize("shape", [(1, 1), (7, 301), (225, 223), (31, 57)])
def test_tiny_and_odd_sized_images_work(shape):
    net = PointwiseNet().eval()
    x = _image(shape)
    y, style = run_net([net], x, augment=False)
    assert y.shape == (3, *shape) and y.dtype == np.float32
    np.testing.assert_allclose(y, _untiled(net, x), rtol=1e-4, atol=1e-5)
    np.testing.assert_allclose(np.linalg.norm(style), 1.0, rtol=1e-5)


def test_the_cellpose_net_runs_on_a_tiny_image_with_augmentation():
    net = CellposeNet(nbase=(2, 4, 8, 16)).eval()
    y, style = run_net([net], _image((5, 3)), augment=True, batch_size=4)
    assert y.shape == (3, 5, 3) and np.all(np.isfinite(y))
    assert style.shape == (16,) and style.dtype == np.float32
    np.testing.assert_allclose(np.linalg.norm(style), 1.0, rtol=1e-5)


def test_ensemble_output_is_the_mean_of_its_nets():
    a, b = ConstantNet((1.0, 2.0, 3.0)).eval(), ConstantNet((3.0, 0.0, -1.0)).eval()
    y, _ = run_net([a, b], _image((230, 240)), augment=False)
    np.testing.assert_allclose(y[:, 5, 7], [2.0, 1.0, 1.0], rtol=1e-6)


def test_stacked_images_give_the_same_result_as_one_at_a_time():
    net = PointwiseNet().eval()
    imgs = np.stack([_image((240, 250), seed=s) for s in range(3)])
    y, styles = run_tiled([net], imgs, augment=True, batch_size=5)
    for n in range(3):
        y1, s1 = run_net([net], imgs[n], augment=True)
        np.testing.assert_allclose(y[n], y1, rtol=1e-5, atol=1e-6)
        np.testing.assert_allclose(styles[n], s1, rtol=1e-5, atol=1e-6)


def test_progress_is_reported_per_batch_up_to_one():
    calls = []
    run_net([PointwiseNet().eval()], _image((340, 340)), batch_size=2, progress=lambda s, f: calls.append((s, f)))
    assert {s for s, _ in calls} == {"network"}
    fractions = [f for _, f in calls]
    assert fractions[0] == 0.0 and fractions[-1] == 1.0 and fractions == sorted(fractions)
    assert len(fractions) == 1 + 5  # 3 x 3 tiles in batches of 2


def test_an_exception_in_progress_stops_the_run():
    calls = []

    def cancel(stage, fraction):
        calls.append(fraction)
        if fraction > 0:
            raise KeyboardInterrupt("cancelled")

    with pytest.raises(KeyboardInterrupt):
        run_net([PointwiseNet().eval()], _image((340, 340)), batch_size=2, progress=cancel)
    assert len(calls) == 2


@pytest.mark.parametrize(
    "kwargs, match",
    [
        ({"x": np.zeros((3, 10, 10), np.float32)}, r"\(2, Ly, Lx\)"),
        ({"x": np.zeros((10, 10), np.float32)}, r"\(2, Ly, Lx\)"),
        ({"bsize": 100}, "multiple of 16"),
        ({"tile_overlap": 1.0}, r"\[0, 1\)"),
        ({"batch_size": 0}, "batch_size"),
        ({"nets": []}, "non-empty"),
        ({"nets": [PointwiseNet()]}, "eval mode"),
    ],
)
def test_bad_arguments_raise_value_errors(kwargs, match):
    args = {"nets": [PointwiseNet().eval()], "x": _image((30, 30))} | kwargs
    with pytest.raises(ValueError, match=match):
        run_net(args.pop("nets"), args.pop("x"), **args)


@pytest.mark.gpu
@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs CUDA")
def test_cuda_matches_cpu():
    torch.manual_seed(0)
    net = CellposeNet(nbase=(2, 16, 32, 64, 128)).eval()
    x = _image((300, 450), seed=5)
    y_cpu, s_cpu = run_net([net], x, augment=True)
    y_gpu, s_gpu = run_net([net.to("cuda")], x, augment=True)
    np.testing.assert_allclose(y_gpu, y_cpu, atol=2e-3, rtol=1e-3)
    np.testing.assert_allclose(s_gpu, s_cpu, atol=1e-3)


def test_every_axis_gets_a_zero_margin_so_the_image_border_reads_as_the_border():
    # The net adds 1 to its input before a zero-padded central difference, so an explicit zero
    # margin (which becomes 1) and the convolution's own padding (0) give different borders:
    # d/dy on the first row is (2 - 1) / 2 = 0.5 with the margin, (2 - 0) / 2 = 1 without.
    class ShiftedGradientNet(GradientNet):
        def forward(self, x):
            return super().forward(x + 1.0)

    net = ShiftedGradientNet().eval()
    for shape in [(40, 40), (224, 224), (400, 300)]:
        x = np.ones((2,) + shape, np.float32)
        y, _ = run_net([net], x, augment=False)
        np.testing.assert_allclose(y[0, 0, 1:-1], 0.5, atol=1e-5, err_msg=str(shape))
        np.testing.assert_allclose(y[1, 1:-1, -1], -0.5, atol=1e-5, err_msg=str(shape))  # d/dx, right edge


@pytest.mark.parametrize("rescale, augment", [(1.25, False), (1.25, True), (30 / 17, True)])
def test_a_block_run_on_the_whole_images_lattice_gives_the_whole_images_output_in_it(rescale, augment):
    """A real (random-weight) U-net, whose output depends on where the tiles fall: a block passed
    with its region matches the whole image to float32 rounding over the part whose tiles it holds."""
    from inference.engine.lattice import NetLattice, Region

    torch.manual_seed(0)
    net = CellposeNet(nbase=(2, 8, 16, 32)).eval()
    x = _image((600, 500))
    wanted = (slice(150, 400), slice(120, 330))
    region = NetLattice((600, 500), rescale, augment=augment).aligned(wanted)

    whole, _ = run_net(net, x, rescale=rescale, augment=augment)
    block, _ = run_net(net, x[(slice(None),) + region], rescale=rescale, augment=augment,
                       region=Region((600, 500), region))
    alone, _ = run_net(net, x[(slice(None),) + region], rescale=rescale, augment=augment)

    inner = (slice(None),) + tuple(slice(w.start - r.start, w.stop - r.start) for w, r in zip(wanted, region))
    np.testing.assert_allclose(block[inner], whole[(slice(None),) + wanted], rtol=0, atol=1e-5)
    assert np.abs(alone[inner] - whole[(slice(None),) + wanted]).max() > 1e-3  # on its own lattice it differs


def test_an_image_given_as_the_whole_of_itself_runs_exactly_as_without_a_region():
    from inference.engine.lattice import Region

    torch.manual_seed(0)
    net = CellposeNet(nbase=(2, 8, 16, 32)).eval()
    x = _image((300, 257))

    y0, s0 = run_net(net, x, rescale=1.3)
    y1, s1 = run_net(net, x, rescale=1.3, region=Region((300, 257), (slice(0, 300), slice(0, 257))))

    assert np.array_equal(y0, y1) and np.array_equal(s0, s1)
