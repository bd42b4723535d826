import numpy as np
import pytest

from inference.engine.volume import remove_small_objects_3d, resample_volume, run_3d

from .toy_nets import GradientNet, PointwiseNet


def _ramp(shape, a, b, c):
    """(Lz, 2, Ly, Lx): channel 0 = a z + b y + c x, channel 1 = 0."""
    zz, yy, xx = np.mgrid[: shape[0], : shape[1], : shape[2]].astype(np.float32)
    x = np.zeros((shape[0], 2, shape[1], shape[2]), np.float32)
    x[:, 0] = a * zz + b * yy + c * xx
    return x


def test_each_flow_component_comes_from_the_right_slice_axes():
    # The gradient net reports d/d(first axis), d/d(second axis) of every slice; on a linear ramp the
    # three orientations together must give (d/dz, d/dy, d/dx) = (a, b, c).
    x = _ramp((12, 20, 26), 0.3, -0.2, 0.05)
    y, style = run_3d([GradientNet().eval()], x, augment=False)
    assert y.shape == (4, 12, 20, 26) and y.dtype == np.float32
    inner = (slice(1, -1),) * 3
    np.testing.assert_allclose(y[0][inner], 0.3, atol=1e-5)
    np.testing.assert_allclose(y[1][inner], -0.2, atol=1e-5)
    np.testing.assert_allclose(y[2][inner], 0.05, atol=1e-5)
    np.testing.assert_allclose(y[3], x[:, 0].astype(np.float32), atol=1e-4)
    assert style.shape == (2,)


def test_anisotropy_stretches_z_before_the_network_and_back_after():
    x = _ramp((10, 20, 26), 0.4, 0.1, 0.1)
    y, _ = run_3d([GradientNet().eval()], x, anisotropy=2.0, augment=False)
    assert y.shape == (4, 10, 20, 26)
    # Z stretched twice: the ramp rises half as fast per network-scale voxel (flows are not rescaled).
    np.testing.assert_allclose(y[0][2:-2, 2:-2, 2:-2], 0.2, atol=1e-3)
    np.testing.assert_allclose(y[1][2:-2, 2:-2, 2:-2], 0.1, atol=1e-3)


def test_run_3d_returns_the_input_grid_for_the_test_volume_size():
    x = np.random.default_rng(0).random((31, 2, 61, 57)).astype(np.float32)
    y, style = run_3d([PointwiseNet().eval()], x, anisotropy=1.5, rescale=0.7, augment=True, batch_size=16)
    assert y.shape == (4, 31, 61, 57) and np.all(np.isfinite(y))
    np.testing.assert_allclose(np.linalg.norm(style), 1.0, rtol=1e-5)


def test_run_3d_reports_progress_over_the_three_orientations():
    calls = []
    run_3d([PointwiseNet().eval()], np.zeros((4, 2, 6, 5), np.float32), augment=False,
           progress=lambda s, f: calls.append(f))
    assert calls[0] == 0.0 and calls[-1] == pytest.approx(1.0) and calls == sorted(calls)


def test_run_3d_rejects_a_2d_image_and_bad_anisotropy():
    with pytest.raises(ValueError, match=r"\(Lz, 2, Ly, Lx\)"):
        run_3d([PointwiseNet().eval()], np.zeros((2, 10, 10), np.float32))
    with pytest.raises(ValueError, match="anisotropy"):
        run_3d([PointwiseNet().eval()], np.zeros((3, 2, 10, 10), np.float32), anisotropy=0)


def test_resample_volume_round_trip_keeps_a_smooth_volume():
    v = _ramp((10, 12, 14), 0.1, 0.2, 0.3)[:, :1].transpose(1, 0, 2, 3)
    up = resample_volume(v, (20, 12, 14))
    assert up.shape == (1, 20, 12, 14)
    np.testing.assert_allclose(resample_volume(up, (10, 12, 14))[:, 1:-1], v[:, 1:-1], atol=1e-4)


def test_remove_small_objects_3d_drops_objects_under_a_tenth_of_the_median_volume():
    masks = np.zeros((10, 10, 10), np.int32)
    masks[0:4, 0:4, 0:4] = 3  # 64
    masks[5:9, 0:4, 0:4] = 7  # 64
    masks[0:4, 5:9, 5:9] = 9  # 64
    masks[9, 9, 9] = 4  # 1 voxel < 6.4
    out = remove_small_objects_3d(masks)
    assert out.dtype == np.int32
    assert sorted(np.unique(out)) == [0, 1, 2, 3]
    assert out[9, 9, 9] == 0
    np.testing.assert_array_equal(out > 0, (masks > 0) & (masks != 4))


def test_remove_small_objects_3d_keeps_an_empty_volume_empty():
    assert not remove_small_objects_3d(np.zeros((3, 4, 5), np.int64)).any()
