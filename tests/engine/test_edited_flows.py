"""Flows for edited masks: the segmentation's where nothing changed, the edited cells' own where
they did, so following them gives the edited masks back."""
import numpy as np
import pytest

from inference.engine.dynamics import compute_masks
from inference.engine.edited_flows import (
    EDITED_CELLPROB,
    FLOW_SCALE,
    flows_after_edits,
    masks_diameter,
    unchanged_pixels,
)
from inference.engine.flows import masks_to_flows
from inference.engine.metrics import average_precision


def squares(ndim):
    shape = (48, 64) if ndim == 2 else (6, 48, 64)
    masks = np.zeros(shape, np.int32)
    for label, x in enumerate((4, 20, 36), start=1):
        masks[..., 8:22, x : x + 12] = label
    return masks


def edit(masks):
    edited = masks.copy()
    edited[edited == 1] = 0  # deleted
    edited[..., 30:44, 4:18] = 7  # drawn
    edited[..., 8:22, 32:36] = 2  # mask 2 brushed wider
    return edited


@pytest.mark.parametrize("ndim", [2, 3])
def test_unchanged_pixels_are_the_background_and_cells_left_alone(ndim):
    masks = squares(ndim)
    edited = edit(masks)
    edited[edited == 3] = 9  # renumbered only: still unchanged

    keep = unchanged_pixels(masks, edited)

    assert keep[..., 0, 0].all() and keep[edited == 9].all()
    assert not keep[masks == 1].any() and not keep[edited == 7].any() and not keep[edited == 2].any()
    assert keep.sum() == (edited == 9).sum() + ((masks == 0) & (edited == 0)).sum()


@pytest.mark.parametrize("ndim", [2, 3])
def test_flows_after_edits_keep_the_networks_flows_and_follow_back_to_the_edited_masks(ndim):
    masks = squares(ndim)
    edited = edit(masks)
    rng = np.random.default_rng(0)
    dP = FLOW_SCALE * masks_to_flows(masks) + rng.normal(0, 0.01, (ndim, *masks.shape)).astype(np.float32)
    cellprob = np.where(masks > 0, 3.0, -3.0).astype(np.float32)

    new_dP, new_cellprob = flows_after_edits(dP, cellprob, masks, edited)

    keep = unchanged_pixels(masks, edited)
    np.testing.assert_array_equal(new_dP[:, keep], dP[:, keep])
    np.testing.assert_array_equal(new_cellprob[keep], cellprob[keep])
    assert (new_cellprob[edited == 7] == EDITED_CELLPROB).all()
    assert (new_cellprob[(masks == 1) & (edited == 0)] == -EDITED_CELLPROB).all()
    if ndim == 2:
        followed = compute_masks(new_dP, new_cellprob, flow_threshold=0.0)
        ap, *_ = average_precision(edited, followed, thresholds=(0.9,))
        assert float(np.ravel(ap)[0]) == 1.0


def test_flows_of_the_wrong_shape_are_refused_with_the_expected_layout():
    masks = squares(2)
    with pytest.raises(ValueError, match=r"dP must be \(2"):
        flows_after_edits(np.zeros((2, 10, 10)), np.zeros((10, 10)), masks, masks)


def test_the_diameter_of_masks_is_cellposes_median_disk():
    masks = squares(2)
    assert masks_diameter(masks) == pytest.approx(2 * np.sqrt(14 * 12 / np.pi))
    assert masks_diameter(squares(3)) == pytest.approx(2 * np.sqrt(14 * 12 / np.pi))
    assert masks_diameter(np.zeros((8, 8), np.int32)) == 0.0
