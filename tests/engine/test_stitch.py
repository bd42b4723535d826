"""Plane-by-plane segmentation of stacks: masks of successive planes linked into objects."""
import numpy as np
import pytest

from inference.engine.metrics import average_precision
from inference.engine import CellposeModel, recompute_masks
from inference.engine.stitch import stitch_planes

from .test_model import ball_volume
from .toy_nets import BlobOracleNet


def disk(shape, cy, cx, r):
    yy, xx = np.ogrid[: shape[0], : shape[1]]
    return (yy - cy) ** 2 + (xx - cx) ** 2 <= r * r


def test_masks_that_overlap_from_plane_to_plane_become_one_object_whatever_their_plane_labels():
    stack = np.zeros((4, 40, 60), np.int32)
    for z, (a, b) in enumerate([(1, 2), (7, 3), (2, 9), (5, 1)]):  # each plane numbers its own masks
        stack[z][disk((40, 60), 20, 15 + z, 8)] = a
        stack[z][disk((40, 60), 20, 45 - z, 8)] = b

    out = stitch_planes(stack, 0.25)

    assert out.dtype == np.int32 and out.max() == 2
    assert (out[:, 20, 15] == 1).all() and (out[:, 20, 45] == 2).all()


def test_a_mask_that_overlaps_too_little_starts_a_new_object():
    stack = np.zeros((2, 40, 60), np.int32)
    stack[0][disk((40, 60), 20, 20, 8)] = 1
    stack[1][disk((40, 60), 20, 32, 8)] = 1  # shifted by 12 px: IoU ~0.08

    assert stitch_planes(stack, 0.25).max() == 2
    assert stitch_planes(stack, 0.05).max() == 1


def test_an_object_continues_into_one_mask_only_so_two_cells_do_not_fuse():
    stack = np.zeros((3, 40, 60), np.int32)
    stack[0][disk((40, 60), 20, 30, 12)] = 1  # one big cross-section ...
    stack[1][disk((40, 60), 20, 24, 7)] = 1  # ... overlapping two smaller masks in the next plane
    stack[1][disk((40, 60), 20, 37, 6)] = 2
    stack[2] = stack[1]

    out = stitch_planes(stack, 0.1)

    assert out.max() == 2
    assert out[1, 20, 24] == out[0, 20, 30] == out[2, 20, 24]  # the best overlap continues it
    assert out[1, 20, 37] == out[2, 20, 37] != out[1, 20, 24]


def test_empty_planes_break_nothing():
    stack = np.zeros((3, 20, 20), np.int32)
    stack[2][disk((20, 20), 10, 10, 4)] = 3
    out = stitch_planes(stack, 0.25)
    assert out.max() == 1 and not out[:2].any()


@pytest.mark.parametrize("masks, threshold", [
    (np.zeros((20, 20), np.int32), 0.25),
    (np.zeros((2, 20, 20), np.float32), 0.25),
    (np.zeros((2, 20, 20), np.int32), 0.0),
    (np.zeros((2, 20, 20), np.int32), 1.5),
])
def test_it_rejects_bad_input(masks, threshold):
    with pytest.raises(ValueError):
        stitch_planes(masks, threshold)


@pytest.fixture(scope="module")
def oracle():
    return CellposeModel([BlobOracleNet()], name="oracle")


def test_segment_plane_by_plane_finds_each_ball_once_and_recompute_gives_the_same(oracle):
    vol, truth = ball_volume((31, 61, 57), diameter=16.0)

    result = oracle.segment(vol, diameter=16.0, stitch_threshold=0.25, augment=False)

    assert result.masks.shape == (31, 61, 57) and result.masks.dtype == np.int32
    assert result.dP.shape == (3, 31, 61, 57) and not result.dP[0].any()  # no Z flow
    assert result.masks.max() == truth.max()
    assert average_precision(truth, result.masks)[0].ravel()[0] > 0.7
    again = recompute_masks(result.dP, result.cellprob, niter=result.niter, stitch_threshold=0.25)
    np.testing.assert_array_equal(again, result.masks)


@pytest.mark.parametrize("kwargs, match", [
    ({"stitch_threshold": 0.0}, "stitch_threshold"),
    ({"stitch_threshold": "a lot"}, "stitch_threshold"),
    ({"stitch_threshold": 0.25, "do_3d": True}, "not with do_3d"),
])
def test_bad_stitching_arguments_are_refused(oracle, kwargs, match):
    with pytest.raises(ValueError, match=match):
        oracle.segment(np.zeros((4, 30, 30), np.float32), **kwargs)


def test_stitching_a_2d_image_is_refused(oracle):
    with pytest.raises(ValueError, match="stitch_threshold needs a stack"):
        oracle.segment(np.zeros((30, 30), np.float32), stitch_threshold=0.25)
    with pytest.raises(ValueError, match="stitch_threshold needs the flows of a stack"):
        recompute_masks(np.zeros((2, 30, 30), np.float32), np.zeros((30, 30), np.float32), stitch_threshold=0.25)
