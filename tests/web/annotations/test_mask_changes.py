"""Matching the masks of two versions: what was added, removed, edited; renumbering labels."""
import numpy as np
import pytest

from annotations.changes import compare_masks, renumber


def squares(shape=(40, 40)):
    """Four 8x8 squares labelled 1..4, apart from each other."""
    masks = np.zeros(shape, np.int32)
    for label, (y, x) in enumerate([(2, 2), (2, 20), (20, 2), (20, 20)], start=1):
        masks[y : y + 8, x : x + 8] = label
    return masks


def summary(old, new):
    s = compare_masks(old, new).summary()
    return {k: s[k] for k in ("added", "removed", "edited", "unchanged")}


def test_identical_masks_are_all_unchanged_even_when_relabelled():
    old = squares()
    new = np.where(old > 0, 5 - old, 0)  # the same cells, labels reversed

    assert summary(old, new) == {"added": 0, "removed": 0, "edited": 0, "unchanged": 4}


def test_a_drawn_deleted_and_brushed_mask_are_told_apart():
    old = squares()
    new = old.copy()
    new[new == 2] = 0  # deleted
    new[30:36, 12:18] = 7  # drawn
    new[2:10, 10] = 1  # brushed onto mask 1

    changes = compare_masks(old, new).summary()

    assert (changes["added"], changes["removed"], changes["edited"], changes["unchanged"]) == (1, 1, 1, 2)
    assert changes["added_labels"] == [7] and changes["removed_labels"] == [2] and changes["edited_labels"] == [1]


def test_a_merge_edits_one_mask_and_removes_the_other():
    old = squares()
    new = old.copy()
    new[new == 2] = 1
    new[2:10, 10:20] = 1

    assert summary(old, new) == {"added": 0, "removed": 1, "edited": 1, "unchanged": 2}


def test_a_split_edits_the_larger_part_and_adds_the_smaller():
    old = squares()
    new = old.copy()
    new[20:28, 26:28] = 9  # a thin slice of mask 4 becomes its own mask

    assert summary(old, new) == {"added": 1, "removed": 0, "edited": 1, "unchanged": 3}


def test_without_a_base_every_mask_is_added():
    assert summary(None, squares()) == {"added": 4, "removed": 0, "edited": 0, "unchanged": 0}


@pytest.mark.parametrize("shape", [(40, 40), (3, 40, 40)], ids=["2D", "3D"])
def test_the_match_maps_new_labels_to_old_ones(shape):
    old = np.zeros(shape, np.int32)
    old[..., 2:10, 2:10] = 1
    old[..., 20:30, 20:30] = 2
    new = np.zeros(shape, np.int32)
    new[..., 20:30, 20:31] = 1  # old 2, one column wider
    new[..., 2:10, 2:10] = 2  # old 1, untouched

    changes = compare_masks(old, new)

    assert changes.match.tolist() == [0, 2, 1]
    assert changes.same.tolist() == [False, False, True]


def test_masks_of_different_shapes_are_refused():
    with pytest.raises(ValueError, match="shapes"):
        compare_masks(np.zeros((4, 4), np.int32), np.zeros((4, 5), np.int32))


@pytest.mark.parametrize("top", [7, 2**31 - 1], ids=["lookup table", "sparse labels"])
def test_renumbering_keeps_the_order_of_labels(top):
    masks = np.array([[0, top, top], [3, 0, 5]], np.int64)

    renumbered, old = renumber(masks)

    assert renumbered.dtype == np.int32
    assert renumbered.tolist() == [[0, 3, 3], [1, 0, 2]]
    assert old.tolist() == [3, 5, top]
