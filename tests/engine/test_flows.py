"""Tests for inference/engine/flows.py: masks -> unit vector flows by heat diffusion."""

import numpy as np
import pytest
import tifffile

from inference.engine.flows import labels_to_training_targets, masks_to_flows


# ------------------------------------------------------------------------------------------------
# a slow, obvious implementation of the same diffusion, one object at a time on the whole image


def slow_heat_gradients(masks):
    """Un-normalised central-difference gradients of each object's heat map (float64)."""
    ndim = masks.ndim
    grads = np.zeros((ndim,) + masks.shape)
    for lab in np.unique(masks)[1:]:
        inside = np.pad(masks == lab, 1)
        coords = np.nonzero(inside)
        median = [np.median(c) for c in coords]
        nearest = np.argmin(sum((c - m) ** 2 for c, m in zip(coords, median)))
        centre = tuple(c[nearest] for c in coords)
        niter = 2 * sum(int(c.max() - c.min()) for c in coords)
        heat = np.zeros(inside.shape)
        core = (slice(1, -1),) * ndim
        for _ in range(niter):
            heat[centre] += 1
            total = np.zeros(tuple(s - 2 for s in inside.shape))
            for offset in np.ndindex((3,) * ndim):
                total += heat[tuple(slice(o, o + s - 2) for o, s in zip(offset, inside.shape))]
            new = np.zeros_like(heat)
            new[core] = total / 3**ndim
            heat = np.where(inside, new, 0.0)
        for axis in range(ndim):
            forward = np.roll(heat, -1, axis)[core]
            backward = np.roll(heat, 1, axis)[core]
            grads[axis][masks == lab] = (forward - backward)[masks == lab]
    return grads


def shapes_2d():
    """Small image with non-convex and touching shapes, non-consecutive labels."""
    m = np.zeros((48, 56), np.int32)
    yy, xx = np.mgrid[:48, :56]
    ring = (np.hypot(yy - 14, xx - 14) <= 11) & (np.hypot(yy - 14, xx - 14) >= 5)
    m[ring & ~((xx > 14) & (abs(yy - 14) < 4))] = 3  # C shape
    m[30:44, 4:8] = 7  # L shape
    m[40:44, 4:18] = 7
    disk = np.hypot(yy - 15, xx - 40) <= 10
    m[disk & ~(np.hypot(yy - 11, xx - 44) <= 8)] = 12  # crescent
    m[30:44, 24:34] = 20  # two touching rectangles
    m[30:44, 34:40] = 21
    return m


def shapes_3d():
    m = np.zeros((14, 30, 32), np.int32)
    zz, yy, xx = np.mgrid[:14, :30, :32]
    ball = np.sqrt((zz - 7) ** 2 + (yy - 12) ** 2 + (xx - 12) ** 2)
    m[(ball <= 7) & ~(np.sqrt((zz - 7) ** 2 + (yy - 9) ** 2 + (xx - 15) ** 2) <= 5)] = 5  # crescent
    m[2:12, 20:28, 4:8] = 9  # L shape
    m[2:12, 24:28, 4:18] = 9
    m[3:11, 6:18, 22:26] = 11  # two touching boxes
    m[3:11, 6:18, 26:30] = 12
    return m


@pytest.mark.parametrize("make", [shapes_2d, shapes_3d], ids=["2d", "3d"])
def test_flows_match_a_slow_numpy_diffusion(make):
    masks = make()
    flows = masks_to_flows(masks)
    grads = slow_heat_gradients(masks)
    norm = np.sqrt((grads**2).sum(axis=0))
    inside = masks > 0
    # where the gradient vanishes (an exactly symmetric centre) the direction is arbitrary
    defined = inside & (norm > 1e-9 * norm.max())
    assert defined.sum() >= inside.sum() - 5
    expected = grads / np.where(norm > 0, norm, 1.0)
    np.testing.assert_allclose(flows[:, defined], expected[:, defined], atol=1e-5)


@pytest.mark.parametrize("name", ["mask2d.tif", "mask3d.tif"])
def test_flows_are_unit_inside_masks_and_zero_outside(name, data_dir):
    masks = tifffile.imread(data_dir / name)
    flows = masks_to_flows(masks)
    assert flows.dtype == np.float32
    assert flows.shape == (masks.ndim,) + masks.shape
    norm = np.sqrt((flows.astype(np.float64) ** 2).sum(axis=0))
    inside = masks > 0
    assert np.all(flows[:, ~inside] == 0)
    unit = np.abs(norm[inside] - 1) < 1e-5
    # a pixel of exactly zero gradient (symmetric centre) is the only allowed exception
    assert unit.mean() > 0.999
    assert np.all(unit | (norm[inside] == 0))


@pytest.mark.parametrize("ndim", [2, 3])
def test_flows_point_towards_the_centre_of_a_disk(ndim):
    size = 33 if ndim == 2 else 21
    grid = np.indices((size,) * ndim)
    centre = np.array([size // 2 + 0.3] * ndim).reshape((ndim,) + (1,) * ndim)
    masks = (np.sqrt(((grid - centre) ** 2).sum(axis=0)) <= size // 2 - 2).astype(np.uint8)
    flows = masks_to_flows(masks)
    inside = masks > 0
    towards = ((centre - grid) * flows).sum(axis=0)
    far = inside & (np.sqrt(((grid - centre) ** 2).sum(axis=0)) > 2)
    assert (towards[far] > 0).mean() > 0.99


def test_labels_need_not_be_consecutive():
    masks = shapes_2d()
    consecutive = np.searchsorted(np.unique(masks), masks).astype(np.int32)
    np.testing.assert_array_equal(masks_to_flows(masks), masks_to_flows(consecutive))
    big = np.where(masks > 0, masks.astype(np.int64) * 10**12, 0)  # beyond any lookup table
    np.testing.assert_array_equal(masks_to_flows(big), masks_to_flows(consecutive))


def test_each_object_is_independent_of_its_neighbours():
    masks = shapes_2d()
    alone = np.where(masks == 20, masks, 0)
    np.testing.assert_array_equal(masks_to_flows(masks)[:, masks == 20],
                                  masks_to_flows(alone)[:, masks == 20])


@pytest.mark.parametrize("make", [shapes_2d, shapes_3d], ids=["2d", "3d"])
def test_training_targets_are_cellprob_then_flows(make):
    masks = make()
    targets = labels_to_training_targets(masks)
    assert targets.dtype == np.float32
    assert targets.shape == (1 + masks.ndim,) + masks.shape
    np.testing.assert_array_equal(targets[0], (masks > 0).astype(np.float32))
    np.testing.assert_array_equal(targets[1:], masks_to_flows(masks))


def test_empty_and_bool_masks_are_accepted():
    assert not masks_to_flows(np.zeros((5, 6), np.uint16)).any()
    disk = np.hypot(*np.mgrid[-6:7, -6:7]) <= 5
    np.testing.assert_array_equal(masks_to_flows(disk), masks_to_flows(disk.astype(np.int32)))


@pytest.mark.parametrize(
    "bad, words",
    [
        (np.zeros(7, np.int32), "(Ly, Lx) or (Lz, Ly, Lx)"),
        (np.zeros((2, 3, 4, 5), np.int32), "(Ly, Lx) or (Lz, Ly, Lx)"),
        (np.zeros((4, 4), np.float32), "integer"),
        (np.full((4, 4), -1, np.int32), "labels >= 0"),
        ([[0, 1], [1, 0]], "numpy array"),
    ],
)
def test_bad_masks_raise_value_error_naming_the_layout(bad, words):
    with pytest.raises(ValueError, match=words.replace("(", r"\(").replace(")", r"\)")):
        masks_to_flows(bad)
    with pytest.raises(ValueError):
        labels_to_training_targets(bad)
