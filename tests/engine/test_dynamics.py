"""Tests for inference/engine/dynamics.py: flows + cell probability -> masks."""

import numpy as np
import pytest
import tifffile
import torch

from inference.engine._dynamics_kernels import (  # the private kernels are tested for exactness
    _follow_2d,
    _follow_3d,
)
from inference.engine.dynamics import (
    compute_masks,
    fill_holes_and_remove_small_masks,
    flow_error,
    follow_flows,
    follow_flows_torch,
    get_masks,
    remove_bad_flow_masks,
)
from inference.engine.flows import masks_to_flows

# ------------------------------------------------------------------------------------------------
# helpers


def matched_fraction(true, pred, iou=0.9):
    """Fraction of true masks with a one-to-one predicted match of IoU >= iou (AP when no extra
    predictions). IoU > 0.5 makes a match unique, so counting pairs is enough."""
    both = (true > 0) | (pred > 0)
    pairs, inter = np.unique(np.stack([true[both], pred[both]]), axis=1, return_counts=True)
    area_t = dict(zip(*np.unique(true, return_counts=True)))
    area_p = dict(zip(*np.unique(pred, return_counts=True)))
    good = sum(
        1 for (a, b), i in zip(pairs.T, inter)
        if a and b and i / (area_t[a] + area_p[b] - i) >= iou
    )
    return good / (len(area_t) - (0 in area_t))


def perfect_network_output(masks):
    """What a perfect network would predict: dP = 5 x flows, cellprob = +-5."""
    return 5 * masks_to_flows(masks), np.where(masks > 0, 5.0, -5.0).astype(np.float32)


def assert_recovers_every_mask(masks, **kwargs):
    pred = compute_masks(*perfect_network_output(masks), **kwargs)
    assert pred.dtype == np.int32
    assert pred.max() == len(np.unique(masks)) - 1  # no extra masks
    assert matched_fraction(masks, pred) == 1.0


def non_convex_2d():
    """C, L and U shapes, a crescent, touching rectangles and disks, a lone disk (label 50);
    labels with gaps."""
    m = np.zeros((140, 150), np.int32)
    yy, xx = np.mgrid[:140, :150]
    r = np.hypot(yy - 30, xx - 30)
    m[(r <= 24) & (r >= 12) & ~((xx > 30) & (abs(yy - 30) < 7))] = 4  # C
    m[60:110, 8:20] = 9  # L
    m[98:110, 8:50] = 9
    m[64:112, 60:70] = 15  # U
    m[102:112, 60:100] = 15
    m[64:112, 90:100] = 15
    disk = np.hypot(yy - 30, xx - 95) <= 22
    m[disk & ~(np.hypot(yy - 22, xx - 106) <= 17)] = 23  # crescent
    m[118:136, 10:40] = 31  # touching rectangles
    m[118:136, 40:60] = 32
    d1, d2 = np.hypot(yy - 124, xx - 100), np.hypot(yy - 124, xx - 124)
    m[(d1 <= 14) & (d1 <= d2)] = 40  # touching disks split along a straight edge
    m[(d2 <= 14) & (d2 < d1)] = 41
    m[np.hypot(yy - 80, xx - 128) <= 12] = 50  # an isolated disk
    return m


def non_convex_3d():
    m = np.zeros((24, 64, 84), np.int32)
    zz, yy, xx = np.mgrid[:24, :64, :84]
    r = np.hypot(yy - 18, xx - 18)
    m[(r <= 15) & (r >= 7) & ~((xx > 18) & (abs(yy - 18) < 5)) & (zz >= 4) & (zz < 16)] = 3  # C
    ball = np.sqrt((zz - 12) ** 2 + (yy - 18) ** 2 + (xx - 52) ** 2) <= 11
    m[ball & ~(np.sqrt((zz - 12) ** 2 + (yy - 12) ** 2 + (xx - 58) ** 2) <= 8)] = 8  # crescent
    m[3:21, 38:60, 4:10] = 12  # L
    m[3:21, 54:60, 4:30] = 12
    m[6:18, 40:58, 36:48] = 20  # touching boxes
    m[6:18, 40:58, 48:62] = 21
    m[np.sqrt((zz - 12) ** 2 + (yy - 32) ** 2 + (xx - 74) ** 2) <= 8] = 50  # an isolated ball
    return m


@pytest.fixture
def one_torch_thread():
    """Torch on CPU in tests: one thread, so it does not fight numba's threads."""
    before = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(before)


# ------------------------------------------------------------------------------------------------
# masks -> flows -> masks


@pytest.mark.parametrize("name", ["mask2d.tif", "mask3d.tif"])
def test_round_trip_recovers_every_mask_of_real_labels(name, data_dir):
    masks = tifffile.imread(data_dir / name)  # hand-drawn nuclei, labels not consecutive
    assert len(np.unique(masks)) - 1 < masks.max()
    assert_recovers_every_mask(masks)


@pytest.mark.parametrize("make", [non_convex_2d, non_convex_3d], ids=["2d", "3d"])
def test_round_trip_recovers_non_convex_and_touching_shapes(make):
    assert_recovers_every_mask(make())


def test_round_trip_is_exact_on_the_pixels_of_real_labels(data_dir):
    masks = tifffile.imread(data_dir / "mask2d.tif")
    pred = compute_masks(*perfect_network_output(masks), min_size=0)
    # every labelled pixel lands in the mask it came from (up to relabelling); a pixel may be
    # left out (an appendage joined only diagonally can strand its pixels on a corner)
    inside = masks > 0
    assert not pred[~inside].any()
    found = inside & (pred > 0)
    pairs = np.unique(np.stack([masks[found], pred[found]]), axis=1)
    assert pairs.shape[1] == len(np.unique(masks)) - 1 == pred.max()
    assert np.mean(pred[inside] > 0) > 0.999


# ------------------------------------------------------------------------------------------------
# quality control, small masks, holes, labels


def rotate_flows(dP, where, degrees):
    """Rotate the (y, x) flow components by `degrees` at the pixels `where`."""
    dP = dP.copy()
    a = np.deg2rad(degrees)
    y, x = dP[-2][where], dP[-1][where]
    dP[-2][where] = np.cos(a) * y - np.sin(a) * x
    dP[-1][where] = np.sin(a) * y + np.cos(a) * x
    return dP


@pytest.mark.parametrize("make", [non_convex_2d, non_convex_3d], ids=["2d", "3d"])
def test_flow_qc_drops_a_mask_whose_flows_were_corrupted(make):
    masks = make()
    dP, cellprob = perfect_network_output(masks)
    victim = masks == 50  # a lone disk / ball: it still converges when swirled
    dP = rotate_flows(dP, victim, 60)  # pixels spiral in, but the flows disagree with the mask

    kept = compute_masks(dP, cellprob, flow_threshold=None)
    assert kept.max() == len(np.unique(masks)) - 1
    checked = compute_masks(dP, cellprob, flow_threshold=0.4)
    assert checked.max() == kept.max() - 1
    assert not checked[victim].any()
    assert np.array_equal(checked > 0, (kept > 0) & ~victim)


@pytest.mark.parametrize("make", [non_convex_2d, non_convex_3d], ids=["2d", "3d"])
def test_flow_error_is_zero_for_exact_flows_and_large_for_corrupted_ones(make):
    masks = make()
    dP = 5 * masks_to_flows(masks)
    labels = np.unique(masks)[1:]
    errors = flow_error(masks, dP)
    assert errors.shape == (masks.max(),)
    assert np.all(errors[labels - 1] < 1e-6)
    bad = rotate_flows(dP, masks == labels[0], 90)
    errors = flow_error(masks, bad)
    assert errors[labels[0] - 1] > 0.4
    assert np.all(errors[labels[1:] - 1] < 1e-6)
    kept = remove_bad_flow_masks(masks, bad, threshold=0.4)
    assert kept.dtype == np.int32 and kept.max() == len(labels) - 1
    assert np.array_equal(kept > 0, (masks > 0) & (masks != labels[0]))


@pytest.mark.parametrize("ndim", [2, 3])
def test_min_size_drops_small_masks(ndim):
    masks = np.zeros((9, 40, 40)[3 - ndim:], np.int32)
    masks[(slice(2, 7),) * (ndim - 2) + (slice(4, 20), slice(4, 20))] = 1
    masks[(slice(3, 6),) * (ndim - 2) + (slice(28, 32), slice(28, 32))] = 2  # 16 or 48 pixels
    small = int((masks == 2).sum())
    out = compute_masks(*perfect_network_output(masks), min_size=small + 1)
    assert out.max() == 1 and np.array_equal(out > 0, masks == 1)
    out = compute_masks(*perfect_network_output(masks), min_size=small)
    assert out.max() == 2


@pytest.mark.parametrize("ndim", [2, 3])
def test_holes_are_filled(ndim):
    size = (21, 41, 41)[3 - ndim:]
    grid = np.indices(size) - np.array([s // 2 for s in size]).reshape((ndim,) + (1,) * ndim)
    r = np.sqrt((grid**2).sum(axis=0))
    masks = np.zeros(size, np.int32)
    masks[(r <= 9) & (r > 4)] = 5  # ring / hollow ball
    masks[r <= 1.5] = 8  # an object inside the hole stays
    out = fill_holes_and_remove_small_masks(masks, min_size=0)
    assert out.dtype == np.int32
    np.testing.assert_array_equal(out, np.where(masks == 8, 2, np.where(r <= 9, 1, 0)))
    # and through compute_masks: the ring is recovered and its hole filled
    ring = np.where(masks == 5, 1, 0)
    pred = compute_masks(*perfect_network_output(ring))
    assert pred.max() == 1
    np.testing.assert_array_equal(pred > 0, r <= 9)


def test_fill_holes_does_not_modify_its_input():
    masks = np.zeros((12, 12), np.int32)
    masks[2:10, 2:10] = 1
    masks[5, 5] = 0
    before = masks.copy()
    fill_holes_and_remove_small_masks(masks, min_size=0)
    np.testing.assert_array_equal(masks, before)


def test_output_labels_are_consecutive_int32():
    masks = non_convex_2d()  # labels 4, 9, 15, ...
    dP, cellprob = perfect_network_output(masks)
    dP = rotate_flows(dP, masks == 50, 60)  # QC drops one
    out = compute_masks(dP, cellprob)
    assert out.dtype == np.int32
    np.testing.assert_array_equal(np.unique(out), np.arange(out.max() + 1))
    assert out.max() == len(np.unique(masks)) - 2


def test_no_foreground_gives_empty_masks():
    out = compute_masks(np.zeros((2, 10, 12), np.float32), np.full((10, 12), -3.0))
    assert out.dtype == np.int32 and out.shape == (10, 12) and not out.any()


def test_get_masks_drops_masks_bigger_than_the_size_fraction():
    masks = np.zeros((40, 40), np.int32)
    masks[:, :30] = 1
    masks[5:15, 32:39] = 2
    dP, _ = perfect_network_output(masks)
    mask = masks > 0
    p = follow_flows(dP * mask / 5, mask, niter=200)
    assert get_masks(p, mask).max() == 1  # the big one (75% of the image) is gone
    assert get_masks(p, mask, max_size_fraction=0.9).max() == 2


# ------------------------------------------------------------------------------------------------
# torch path


def smooth_noisy_flows(masks, seed=0):
    """Network-like flows: exact flows plus smoothed noise (fixed points and cycles both occur)."""
    from scipy.ndimage import gaussian_filter

    rng = np.random.default_rng(seed)
    dP = 5 * masks_to_flows(masks) + rng.normal(0, 0.5, (masks.ndim,) + masks.shape)
    return np.stack([gaussian_filter(d, 1.0) for d in dP]).astype(np.float32)


@pytest.mark.parametrize("make", [non_convex_2d, non_convex_3d], ids=["2d", "3d"])
def test_torch_flow_following_agrees_with_numba(make, one_torch_thread):
    masks = make()
    mask = masks > 0
    for dP in (5 * masks_to_flows(masks), smooth_noisy_flows(masks)):
        step = (dP * mask / 5).astype(np.float32)
        p_numba = follow_flows(step, mask, niter=200)
        start = torch.nonzero(torch.from_numpy(mask)).T.float()
        p_torch = follow_flows_torch(torch.from_numpy(step), start, niter=200).numpy()
        assert p_numba.shape == p_torch.shape == (masks.ndim, mask.sum())
        np.testing.assert_allclose(p_numba, p_torch, atol=1e-3)
        np.testing.assert_array_equal(get_masks(p_numba, mask), get_masks(p_torch, mask))


@pytest.mark.parametrize("make", [non_convex_2d, non_convex_3d], ids=["2d", "3d"])
def test_early_exit_gives_the_same_end_points_as_taking_every_step(make):
    """The numba path stops a pixel once its position repeats; that must change nothing."""
    masks = make()
    mask = masks > 0
    for dP in (5 * masks_to_flows(masks), smooth_noisy_flows(masks)):
        step = np.ascontiguousarray(np.moveaxis(dP * mask / 5, 0, -1), dtype=np.float32)
        start = np.ascontiguousarray(np.transpose(np.nonzero(mask)), dtype=np.float32)
        follow = _follow_2d if masks.ndim == 2 else _follow_3d
        fast = start.copy()
        follow(step, fast, 203)
        slow = start.copy()
        for _ in range(203):
            follow(step, slow, 1)  # one step at a time: nothing to detect
        np.testing.assert_array_equal(fast, slow)


def test_follow_flows_stops_at_the_image_border():
    step = np.zeros((2, 10, 10), np.float32)
    step[1] = 1.0  # everything moves right
    mask = np.ones((10, 10), bool)
    p = follow_flows(step, mask, niter=50)
    assert np.all(p[1] == 9) and np.array_equal(p[0], np.nonzero(mask)[0])


@pytest.mark.gpu
@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs CUDA")
def test_cuda_tensors_give_the_same_masks_as_numpy(data_dir):
    masks = tifffile.imread(data_dir / "mask2d.tif")
    dP, cellprob = perfect_network_output(masks)
    expected = compute_masks(dP, cellprob)
    got = compute_masks(torch.from_numpy(dP).cuda(), torch.from_numpy(cellprob).cuda())
    np.testing.assert_array_equal(got, expected)
    got = compute_masks(dP, cellprob, device="cuda")
    np.testing.assert_array_equal(got, expected)


# ------------------------------------------------------------------------------------------------
# bad inputs


@pytest.mark.parametrize(
    "dP, cellprob, words",
    [
        (np.zeros((10, 12), np.float32), np.zeros((10, 12)), "(2, Ly, Lx) or (3, Lz, Ly, Lx)"),
        (np.zeros((3, 10, 12), np.float32), np.zeros((10, 12)), "(2, Ly, Lx) or (3, Lz, Ly, Lx)"),
        (np.zeros((2, 10, 12), np.int32), np.zeros((10, 12)), "floating point"),
        (np.zeros((2, 10, 12), np.float32), np.zeros((10, 11)),
         "cellprob must have shape (10, 12)"),
        (np.full((2, 10, 12), np.nan, np.float32), np.ones((10, 12)), "dP must be finite"),
    ],
)
def test_bad_inputs_raise_value_error_naming_the_expected_shape(dP, cellprob, words):
    escaped = words.replace("(", r"\(").replace(")", r"\)")
    with pytest.raises(ValueError, match=escaped):
        compute_masks(dP, cellprob)


def test_helpers_reject_mismatched_shapes():
    masks = np.zeros((10, 12), np.int32)
    with pytest.raises(ValueError, match="dP must have shape"):
        flow_error(masks, np.zeros((2, 10, 13), np.float32))
    with pytest.raises(ValueError, match="mask must have shape"):
        follow_flows(np.zeros((2, 10, 12), np.float32), np.ones((10, 13), bool))
    with pytest.raises(ValueError, match="p must have shape"):
        get_masks(np.zeros((2, 5), np.float32), np.ones((10, 12), bool))
    with pytest.raises(ValueError, match="integer"):
        fill_holes_and_remove_small_masks(np.zeros((10, 12), np.float32))
