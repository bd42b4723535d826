"""Stitching the labels of overlapping blocks, on hand-made label blocks (no network)."""
import numpy as np
import pytest

from inference.engine.blocks import plan_blocks
from inference.engine.stitch_blocks import stitch_labels


def disc(shape, cy, cx, r):
    yy, xx = np.ogrid[: shape[0], : shape[1]]
    return (yy - cy) ** 2 + (xx - cx) ** 2 <= r * r


def ball(shape, c, r):
    zz, yy, xx = np.ogrid[: shape[0], : shape[1], : shape[2]]
    return (zz - c[0]) ** 2 + (yy - c[1]) ** 2 + (xx - c[2]) ** 2 <= r * r


def block_labels_from(truth, plan, seed=0):
    """Each block's labels = the truth in its padded region, renumbered in a block-specific order
    with gaps (as separate segmentations would number them)."""
    rng = np.random.default_rng(seed)
    out = {}
    for block in plan:
        crop = truth[block.padded]
        present = np.unique(crop[crop > 0])
        table = np.zeros(int(truth.max()) + 1, np.uint32)
        table[present] = rng.permutation(present.size) * 3 + 2  # 2, 5, 8, ...: not 1..n, not ordered
        out[block.index] = table[crop]
    return out


def same_cells(a, b):
    """True when a and b split the pixels into the same cells (whatever the label numbers)."""
    if not np.array_equal(a > 0, b > 0):
        return False
    pairs = np.unique(np.stack([a[a > 0], b[b > 0]]), axis=1)
    return pairs.shape[1] == np.unique(a[a > 0]).size == np.unique(b[b > 0]).size


def stitch(truth, plan, **kwargs):
    labels = block_labels_from(truth, plan)
    sink = np.zeros(truth.shape, np.uint32)
    n = stitch_labels(plan, lambda b: labels[b.index], sink, **kwargs)
    return n, sink


def test_a_cell_spanning_two_blocks_and_a_cell_spanning_four_each_become_one_label():
    shape = (100, 100)
    plan = plan_blocks(shape, block_size=50, overlap=12)
    truth = np.zeros(shape, np.int32)
    truth[disc(shape, 25, 50, 9)] = 1  # on the vertical border between two blocks
    truth[disc(shape, 50, 50, 9)] = 2  # on the corner of four blocks
    truth[disc(shape, 80, 20, 6)] = 3  # inside one block

    n, sink = stitch(truth, plan)

    assert n == 3
    assert same_cells(truth, sink)
    assert set(np.unique(sink)) == {0, 1, 2, 3}


def test_two_different_cells_touching_at_a_border_stay_two():
    shape = (80, 100)
    plan = plan_blocks(shape, block_size=50, overlap=16)
    truth = np.zeros(shape, np.int32)
    truth[20:40, 38:50] = 1  # left of the border x = 50 ...
    truth[20:40, 50:62] = 2  # ... and right of it, touching along the whole border

    n, sink = stitch(truth, plan)

    assert n == 2 and same_cells(truth, sink)
    assert sink[30, 49] != sink[30, 50]


def test_empty_blocks_stay_empty_and_labels_are_consecutive():
    shape = (120, 160)
    plan = plan_blocks(shape, block_size=40, overlap=8)  # 3 x 4 blocks, most of them empty
    truth = np.zeros(shape, np.int32)
    truth[disc(shape, 40, 80, 6)] = 7
    truth[disc(shape, 100, 150, 5)] = 3
    truth[disc(shape, 10, 10, 4)] = 12

    n, sink = stitch(truth, plan)

    assert n == 3 and sorted(np.unique(sink)) == [0, 1, 2, 3]
    assert same_cells(truth, sink)
    assert sink.dtype == np.uint32


def test_an_image_without_cells_gives_zero_cells():
    plan = plan_blocks((50, 60), block_size=20, overlap=5)
    sink = np.full((50, 60), 9, np.uint32)
    assert stitch_labels(plan, lambda b: np.zeros(b.shape, np.uint32), sink) == 0
    assert not sink.any()


def test_many_cells_on_every_border_each_keep_one_label():
    shape = (256, 256)
    plan = plan_blocks(shape, block_size=64, overlap=16)
    truth = np.zeros(shape, np.int32)
    label = 0
    for y in range(8, 256, 16):  # a dense lattice of touching 12 x 12 squares crossing every border
        for x in range(8, 256, 16):
            label += 1
            truth[y - 6:y + 6, x - 6:x + 6] = label

    n, sink = stitch(truth, plan)

    assert n == label and same_cells(truth, sink)


def test_a_cell_cut_by_a_blocks_padded_edge_still_joins_its_whole_self_next_door():
    shape = (60, 120)
    plan = plan_blocks(shape, block_size=60, overlap=10)  # the left block sees x < 70
    truth = np.zeros(shape, np.int32)
    truth[disc(shape, 30, 66, 9)] = 1  # mostly in the right block, cut at x = 70 in the left one

    n, sink = stitch(truth, plan)

    assert n == 1 and same_cells(truth, sink)


def test_labels_that_overlap_less_than_the_threshold_in_the_shared_strip_stay_apart():
    shape = (40, 80)
    plan = plan_blocks(shape, block_size=40, overlap=10)  # the blocks share the strip x = 30..50
    left = np.zeros((40, 50), np.uint32)
    right = np.zeros((40, 50), np.uint32)
    left[:, 30:50] = 1  # 800 px of the strip
    right[10:20, 14:30] = 1  # image x = 44..60: 60 px in the strip, all inside left's cell: IoU 0.075
    labels = {b.index: m for b, m in zip(plan, (left, right))}

    def run(threshold):
        sink = np.zeros(shape, np.uint32)
        return stitch_labels(plan, lambda b: labels[b.index], sink, iou_threshold=threshold), sink

    n, sink = run(0.25)
    assert n == 2 and sink[15, 35] != sink[15, 50]
    n, sink = run(0.05)
    assert n == 1 and sink[15, 35] == sink[15, 50]


def test_a_ball_on_the_corner_of_eight_blocks_becomes_one_label_in_3d():
    shape = (40, 40, 40)
    plan = plan_blocks(shape, block_size=20, overlap=8)
    truth = np.zeros(shape, np.int32)
    truth[ball(shape, (20, 20, 20), 7)] = 1
    truth[ball(shape, (6, 30, 10), 4)] = 2

    n, sink = stitch(truth, plan)

    assert len(plan) == 8 and n == 2 and same_cells(truth, sink)


def test_it_writes_a_zarr_sink_block_by_block():
    zarr = pytest.importorskip("zarr")
    shape = (90, 90)
    plan = plan_blocks(shape, block_size=30, overlap=8)
    truth = np.zeros(shape, np.int32)
    truth[disc(shape, 30, 60, 8)] = 1
    truth[disc(shape, 60, 30, 8)] = 2
    labels = block_labels_from(truth, plan)
    sink = zarr.zeros(shape, chunks=(30, 30), dtype=np.uint32)

    assert stitch_labels(plan, lambda b: labels[b.index], sink) == 2
    assert same_cells(truth, sink[:])


def test_each_block_is_read_a_bounded_number_of_times():
    shape = (200, 200)
    plan = plan_blocks(shape, block_size=40, overlap=8)
    reads = {b.index: 0 for b in plan}

    def read(block):
        reads[block.index] += 1
        return np.zeros(block.shape, np.uint32)

    stitch_labels(plan, read, np.zeros(shape, np.uint32))

    assert max(reads.values()) <= 2 + 4  # itself twice, and once for each earlier neighbour


def test_it_refuses_labels_of_the_wrong_shape_and_a_sink_of_the_wrong_shape():
    plan = plan_blocks((50, 50), block_size=25, overlap=5)
    with pytest.raises(ValueError, match="padded region"):
        stitch_labels(plan, lambda b: np.zeros((25, 25), np.uint32), np.zeros((50, 50), np.uint32))
    with pytest.raises(ValueError, match="spatial shape"):
        stitch_labels(plan, lambda b: np.zeros(b.shape, np.uint32), np.zeros((50, 49), np.uint32))
    with pytest.raises(ValueError, match="iou_threshold"):
        stitch_labels(plan, lambda b: np.zeros(b.shape, np.uint32), np.zeros((50, 50), np.uint32),
                      iou_threshold=0)
