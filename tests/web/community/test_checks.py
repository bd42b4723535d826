"""The automatic checks on arrays: each flags what it should and passes clean data."""
import numpy as np

from community.checks import fragmented_labels, run_checks, unlabelled_regions


def disks(centres, shape=(64, 64), r=6):
    yy, xx = np.mgrid[:shape[0], :shape[1]]
    masks = np.zeros(shape, np.int32)
    for k, (y, x) in enumerate(centres, start=1):
        masks[(yy - y) ** 2 + (xx - x) ** 2 <= r * r] = k
    return masks


CENTRES = [(10, 10), (10, 40), (35, 20), (50, 50), (30, 50), (52, 12)]


def test_a_mask_in_two_pieces_is_flagged():
    masks = disks(CENTRES)
    masks[masks == 2] = 0
    masks[5:8, 30:33] = 2
    masks[12:15, 45:48] = 2
    assert fragmented_labels(masks) == [2]


def test_a_cell_the_model_finds_but_nobody_labelled_is_flagged_and_a_tight_mask_is_not():
    truth = disks(CENTRES)
    cellprob = np.where(truth > 0, 3.0, -3.0).astype(np.float32)
    assert unlabelled_regions(disks(CENTRES, r=5), cellprob, truth) == 0  # drawn 1 px tighter
    missing_one = np.where(truth == 4, 0, truth)
    assert unlabelled_regions(missing_one, cellprob, truth) == 1


def test_clean_hand_drawn_data_passes_every_check_and_sets_a_priority():
    truth = disks(CENTRES)
    cellprob = np.where(truth > 0, 3.0, -3.0).astype(np.float32)
    result = run_checks(masks=truth, origins=np.ones(6, np.uint8), prediction=truth, cellprob=cellprob)
    assert result.passed and result.ap["ap50"] == 1.0
    worse = run_checks(masks=truth, origins=np.ones(6, np.uint8), prediction=np.zeros_like(truth), cellprob=cellprob)
    assert worse.priority > result.priority  # the model misses everything: most informative
    failing = run_checks(masks=truth, origins=np.zeros(6, np.uint8), prediction=truth, cellprob=cellprob)
    assert not failing.passed and failing.priority < result.priority
