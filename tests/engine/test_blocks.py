"""Block-wise segmentation: the plan, global normalisation, and block-wise = whole-image masks."""
from pathlib import Path

import numpy as np
import pytest

from inference.engine.blocks import (
    Block,
    SegmentationCancelled,
    global_normalisation,
    plan_blocks,
    segment_block,
    segment_blocks,
)
from inference.engine.io import imread
from inference.engine.lattice import NetLattice
from inference.engine.metrics import average_precision
from inference.engine.model import CellposeModel, load_model

from .toy_nets import BlobOracleNet

DATA = Path(__file__).resolve().parents[1] / "data"
WEIGHTS = Path(__file__).resolve().parents[2] / "inference" / "engine" / "weights" / "default.pt"


@pytest.fixture(scope="module")
def oracle():
    return CellposeModel([BlobOracleNet()], name="oracle")


def ap50(truth, masks) -> float:
    """AP at IoU 0.5 of masks (any integer dtype) against truth."""
    return float(average_precision(np.asarray(truth, np.int64), np.asarray(masks, np.int64), 0.5)[0][0, 0])


def discs_on_borders(shape, edges_y, edges_x, r=13, seed=0):
    """Bright discs centred on every block border and corner, and some inside blocks:
    (image float32 (Ly, Lx), masks int32 (Ly, Lx))."""
    rng = np.random.default_rng(seed)
    centres = [(y, x) for y in edges_y for x in edges_x]  # the corners of 4 blocks
    centres += [((a + b) // 2, x) for a, b in zip(edges_y, edges_y[1:]) for x in edges_x]  # 2 blocks
    centres += [(y, (a + b) // 2) for a, b in zip(edges_x, edges_x[1:]) for y in edges_y]
    centres += [((a + b) // 2, (c + d) // 2) for a, b in zip(edges_y, edges_y[1:])
                for c, d in zip(edges_x, edges_x[1:])]  # inside one block
    yy, xx = np.ogrid[: shape[0], : shape[1]]
    masks = np.zeros(shape, np.int32)
    for k, (cy, cx) in enumerate(centres, start=1):
        if r + 2 <= cy <= shape[0] - r - 2 and r + 2 <= cx <= shape[1] - r - 2:
            masks[(yy - cy) ** 2 + (xx - cx) ** 2 <= r * r] = k
    image = (masks > 0) * 200.0 + 10 + rng.normal(0, 2, shape)
    return image.astype(np.float32), masks


# -- the plan -------------------------------------------------------------------------------------


@pytest.mark.parametrize("shape, block_size, overlap", [
    ((1000, 700), 256, 32), ((300, 300), 300, 50), ((17, 5), 4, 3), ((40, 50, 60), (16, 32, 20), 6),
])
def test_the_cores_tile_the_image_exactly_and_padded_regions_add_the_overlap(shape, block_size, overlap):
    plan = plan_blocks(shape, block_size=block_size, overlap=overlap)
    sizes = (block_size,) * len(shape) if isinstance(block_size, int) else block_size
    cover = np.zeros(shape, np.int32)
    for block in plan:
        cover[block.core] += 1
        for c, p, n, size in zip(block.core, block.padded, shape, sizes):
            assert 0 < c.stop - c.start <= size
            assert p.start == max(0, c.start - overlap) and p.stop == min(n, c.stop + overlap)
    assert (cover == 1).all()
    assert [b.index for b in plan] == sorted(b.index for b in plan)


def test_cores_are_of_nearly_equal_size_so_no_block_is_a_thin_leftover():
    plan = plan_blocks((4100, 10), block_size=2048, overlap=0)
    assert [b.core[0].stop - b.core[0].start for b in plan] == [1367, 1366, 1367]


def test_the_plan_refuses_bad_sizes():
    with pytest.raises(ValueError, match="block_size"):
        plan_blocks((100, 100), block_size=0)
    with pytest.raises(ValueError, match="overlap"):
        plan_blocks((100, 100), overlap=-1)
    with pytest.raises(ValueError, match="spatial shape"):
        plan_blocks((100,))


def test_a_lattice_grows_each_blocks_context_to_whole_tiles_and_keeps_its_padded_region():
    lattice = NetLattice((1000, 700), 30 / 23)
    plain = plan_blocks((1000, 700), block_size=256, overlap=32)
    plan = plan_blocks((1000, 700), block_size=256, overlap=32, lattice=lattice)

    assert [(b.core, b.padded) for b in plan] == [(b.core, b.padded) for b in plain]
    assert all(b.context == b.padded and b.image_shape == (1000, 700) for b in plain)
    for block in plan:
        assert block.context == lattice.aligned(block.padded)
        assert all(c.start <= p.start and c.stop >= p.stop for c, p in zip(block.context, block.padded))
    assert any(b.context != b.padded for b in plan)


def test_a_volumes_blocks_grow_their_context_in_y_and_x_only():
    plan = plan_blocks((40, 600, 500), block_size=(20, 256, 256), overlap=4, lattice=NetLattice((600, 500), 1.25))

    assert all(b.context[0] == b.padded[0] for b in plan) and any(b.context[1:] != b.padded[1:] for b in plan)


def test_a_block_refuses_a_context_that_does_not_hold_its_padded_region_and_a_lattice_of_another_image():
    with pytest.raises(ValueError, match="context"):
        Block(index=(0, 0), core=(slice(0, 50), slice(0, 50)), padded=(slice(0, 60), slice(0, 60)),
              context=(slice(0, 60), slice(5, 60)))
    with pytest.raises(ValueError, match="lattice"):
        plan_blocks((100, 100), block_size=50, lattice=NetLattice((100, 90), 1.0))


# -- global normalisation -------------------------------------------------------------------------


class CountingSource:
    """An array-like that counts the pixels read through it."""

    def __init__(self, array):
        self.array, self.read = array, 0
        self.shape, self.dtype = array.shape, array.dtype

    def __getitem__(self, index):
        part = self.array[index]
        self.read += part.size
        return part


def test_a_small_image_is_normalised_by_its_exact_percentiles_per_channel():
    rng = np.random.default_rng(0)
    image = rng.gamma(2.0, 50.0, (200, 300, 3)).astype(np.float32)
    image[..., 1] *= 10
    lo, hi = global_normalisation(image, channel_axis=2)
    assert lo.shape == hi.shape == (3,) and lo.dtype == np.float32
    np.testing.assert_allclose(lo, np.percentile(image.reshape(-1, 3), 1, axis=0), rtol=1e-5)
    np.testing.assert_allclose(hi, np.percentile(image.reshape(-1, 3), 99, axis=0), rtol=1e-5)


def test_a_large_image_is_sampled_within_the_budget_and_close_to_its_percentiles(tmp_path):
    rng = np.random.default_rng(1)
    big = np.lib.format.open_memmap(tmp_path / "big.npy", mode="w+", dtype=np.uint16, shape=(3000, 2500))
    for y in range(0, 3000, 500):  # a smooth gradient plus noise, written in strips
        rows = np.arange(y, y + 500)[:, None]
        big[y:y + 500] = (rows / 3 + rng.normal(100, 20, (500, 2500))).clip(0).astype(np.uint16)
    source = CountingSource(big)

    lo, hi = global_normalisation(source, max_samples=200_000)

    assert source.read <= 200_000
    exact = np.percentile(big, [1, 99])
    assert abs(lo[0] - exact[0]) < 0.03 * (exact[1] - exact[0])
    assert abs(hi[0] - exact[1]) < 0.03 * (exact[1] - exact[0])


def test_normalisation_refuses_non_finite_values():
    image = np.ones((50, 50), np.float32)
    image[3, 4] = np.nan
    with pytest.raises(ValueError, match="NaN"):
        global_normalisation(image)


# -- segmenting blocks ----------------------------------------------------------------------------


def test_block_wise_masks_match_whole_image_masks_with_cells_on_every_border(oracle):
    shape = (384, 384)
    plan = plan_blocks(shape, block_size=128, overlap=48)
    image, truth = discs_on_borders(shape, [0, 128, 256, 384], [0, 128, 256, 384])
    sink = np.zeros(shape, np.uint32)

    n = segment_blocks(oracle, image, sink, block_size=128, overlap=48, diameter=30.0, augment=False)
    whole = oracle.segment(image, diameter=30.0, augment=False).masks

    assert len(plan) == 9 and n == np.unique(truth).size - 1
    assert ap50(truth, sink) == 1.0  # every disc, including those on borders and corners, is one mask
    assert ap50(whole, sink) == 1.0
    assert sorted(np.unique(sink))[-1] == n == np.unique(sink).size - 1


def test_segment_block_returns_uint32_labels_of_the_padded_region(oracle):
    image, _ = discs_on_borders((200, 200), [0, 100, 200], [0, 100, 200])
    block = plan_blocks((200, 200), block_size=100, overlap=40)[3]
    lo_hi = global_normalisation(image)

    labels = segment_block(oracle, image[block.padded], block, diameter=30.0, normalisation=lo_hi, augment=False)

    assert labels.dtype == np.uint32 and labels.shape == block.shape
    assert sorted(np.unique(labels)) == list(range(int(labels.max()) + 1))


def test_segment_block_uses_the_given_normalisation_not_the_blocks_own(oracle):
    image, truth = discs_on_borders((160, 160), [0, 160], [0, 160])
    block = plan_blocks(image.shape, block_size=160, overlap=0)[0]
    good = segment_block(oracle, image, block, diameter=30.0, normalisation=global_normalisation(image),
                         augment=False)
    dark = segment_block(oracle, image, block, diameter=30.0, normalisation=([0.0], [1e5]), augment=False)
    assert good.max() == np.unique(truth).size - 1
    assert dark.max() == 0  # every pixel below 0.5 after dividing by 1e5: the oracle sees no cell


def test_segment_block_reads_a_trailing_channel_axis(oracle):
    image, truth = discs_on_borders((160, 160), [0, 160], [0, 160])
    rgb = np.stack([np.zeros_like(image), image, np.zeros_like(image)], axis=-1)
    block = plan_blocks(image.shape, block_size=160, overlap=0)[0]
    lo_hi = global_normalisation(rgb, channel_axis=-1)
    labels = segment_block(oracle, rgb, block, diameter=30.0, normalisation=lo_hi, channels=(2, 0),
                           augment=False)
    assert ap50(truth, labels) == 1.0


def test_segment_block_refuses_a_missing_diameter_and_the_wrong_pixels(oracle):
    block = Block(index=(0, 0), core=(slice(0, 50), slice(0, 50)), padded=(slice(0, 60), slice(0, 60)))
    pixels = np.zeros((60, 60), np.float32)
    with pytest.raises(ValueError, match="diameter"):
        segment_block(oracle, pixels, block, diameter=None, normalisation=(0, 1))
    with pytest.raises(ValueError, match="padded region"):
        segment_block(oracle, pixels[:50], block, diameter=30.0, normalisation=(0, 1))
    with pytest.raises(ValueError, match="normalisation"):
        segment_block(oracle, pixels, block, diameter=30.0, normalisation=(0, 1, 2))


def test_a_3d_volume_is_segmented_in_zyx_blocks_with_balls_on_the_borders(oracle):
    shape = (48, 96, 96)
    zz, yy, xx = np.ogrid[:48, :96, :96]
    truth = np.zeros(shape, np.int32)
    centres = [(24, 48, 48), (24, 20, 48), (12, 48, 76), (36, 20, 20)]  # corner of 8, of 4, of 2, in 1
    for k, (cz, cy, cx) in enumerate(centres, start=1):
        truth[(zz - cz) ** 2 + (yy - cy) ** 2 + (xx - cx) ** 2 <= 11**2] = k
    volume = (truth > 0) * 200.0 + 10.0
    sink = np.zeros(shape, np.uint32)

    n = segment_blocks(oracle, volume.astype(np.float32), sink, block_size=(24, 48, 48), overlap=(16, 28, 28),
                       diameter=30.0, do_3d=True, augment=False)

    assert n == 4
    assert ap50(truth, sink) == 1.0


def test_segment_blocks_reads_a_memmap_writes_a_zarr_and_reports_progress(oracle, tmp_path):
    zarr = pytest.importorskip("zarr")
    image, truth = discs_on_borders((256, 384), [0, 128, 256], [0, 128, 256, 384])
    source = np.lib.format.open_memmap(tmp_path / "image.npy", mode="w+", dtype=np.float32, shape=image.shape)
    source[:] = image
    sink = zarr.zeros(image.shape, chunks=(128, 128), dtype=np.uint32)
    calls = []

    n = segment_blocks(oracle, source, sink, block_size=128, overlap=48, diameter=30.0, augment=False,
                       on_block=lambda done, total: calls.append((done, total)), workdir=tmp_path / "work")

    assert calls == [(k, 6) for k in range(1, 7)]
    assert n == np.unique(truth).size - 1
    assert ap50(truth, sink[:]) == 1.0
    assert len(list((tmp_path / "work").glob("block_*.npy"))) == 6


def test_should_stop_cancels_between_blocks(oracle):
    image, _ = discs_on_borders((256, 256), [0, 128, 256], [0, 128, 256])
    done = []
    with pytest.raises(SegmentationCancelled, match="2 of 4"):
        segment_blocks(oracle, image, np.zeros(image.shape, np.uint32), block_size=128, overlap=32,
                       diameter=30.0, augment=False, on_block=lambda d, t: done.append(d),
                       should_stop=lambda: len(done) >= 2)
    assert done == [1, 2]


def test_without_a_diameter_or_a_size_model_blocks_use_diam_mean(oracle):
    image, truth = discs_on_borders((192, 192), [0, 96, 192], [0, 96, 192])
    sink = np.zeros(image.shape, np.uint32)
    segment_blocks(oracle, image, sink, block_size=96, overlap=40, augment=False)
    assert ap50(truth, sink) == 1.0


@pytest.mark.skipif(not WEIGHTS.exists(), reason="the default model is not built (make model)")
def test_the_default_model_block_wise_agrees_with_whole_image_on_real_nuclei():
    """768² of real nuclei (img2d.tif and its mirror images), blocks of 256 with 64 of overlap."""
    tile = imread(DATA / "img2d.tif")[:384, :384].astype(np.float32)
    image = np.block([[tile, tile[:, ::-1]], [tile[::-1], tile[::-1, ::-1]]])
    image = np.concatenate([image, image[:, :384]], axis=1)
    image = np.concatenate([image, image[:384]], axis=0)[:768, :768]
    model = load_model(device="cpu")
    diameter = 24.0  # ~ the true nuclei diameter of img2d.tif (test_default_model)

    whole = model.segment(image, diameter=diameter, augment=False).masks
    sink = np.zeros(image.shape, np.uint32)
    segment_blocks(model, image, sink, block_size=256, overlap=64, diameter=diameter, augment=False)

    ap = ap50(whole, sink)
    assert ap >= 0.99, f"AP@0.5 block-wise vs whole = {ap:.3f}"


@pytest.mark.skipif(not WEIGHTS.exists(), reason="the default model is not built (make model)")
def test_the_default_model_block_masks_equal_the_whole_images_at_a_non_integer_rescale():
    """512 x 448 of real nuclei at diameter 23 (rescale 30/23): each block's masks equal the whole
    image's in its core, and the stitched masks equal them everywhere (no cell split at a border)."""
    tile = imread(DATA / "img2d.tif")[:256, :448].astype(np.float32)
    image = np.concatenate([tile, tile[::-1]], axis=0)
    model = load_model(device="cpu")
    options = dict(augment=True, tile_overlap=0.5)
    lo_hi = global_normalisation(image)

    whole = segment_block(model, image, plan_blocks(image.shape, block_size=image.shape)[0], diameter=23.0,
                          normalisation=lo_hi, **options)
    plan = plan_blocks(image.shape, block_size=256, overlap=48, lattice=model.net_lattice(image.shape, 23.0))
    for block in plan:
        labels = segment_block(model, image[block.context], block, diameter=23.0, normalisation=lo_hi, **options)
        core = tuple(slice(c.start - p.start, c.stop - p.start) for c, p in zip(block.core, block.padded))
        assert ap50(whole[block.core], labels[core]) == 1.0, block.index
    sink = np.zeros(image.shape, np.uint32)
    segment_blocks(model, image, sink, block_size=256, overlap=48, diameter=23.0, **options)

    assert ap50(whole, sink) == 1.0


@pytest.mark.skipif(not WEIGHTS.exists(), reason="the default model is not built (make model)")
def test_the_default_model_keeps_each_disc_on_a_block_border_or_corner_whole():
    edges = [0, 128, 256, 384]
    image, truth = discs_on_borders((384, 384), edges, edges, r=12)
    model = load_model(device="cpu")
    sink = np.zeros(image.shape, np.uint32)

    n = segment_blocks(model, image, sink, block_size=128, overlap=48, diameter=24.0, augment=False)

    assert n == np.unique(truth).size - 1
    assert ap50(truth, sink) == 1.0


def test_without_a_diameter_the_size_model_reads_a_full_resolution_window_with_cells(oracle):
    from inference.engine import blocks

    image = np.full((2600, 2600), 10.0, np.float32)  # empty but for discs near the lower right corner
    discs, truth = discs_on_borders((1024, 1024), [0, 256, 512, 768, 1024], [0, 256, 512, 768, 1024])
    image[1500:2524, 1500:2524] = discs
    seen = []

    class Recording:
        size_model = object()  # "has a size model"

        def estimate_diameter(self, window, channels, **kwargs):
            seen.append(window)
            return 27.5

    d = blocks._estimate_diameter(Recording(), image, image.shape, global_normalisation(image), (0, 0), {})

    assert d == 27.5 and seen[0].shape == (1024, 1024)
    centre = image[788:1812, 788:1812]  # what a central crop would have measured
    assert (seen[0] > 100).sum() > 2 * (centre > 100).sum() > 0


def test_without_a_diameter_segment_blocks_uses_the_size_models_estimate():
    from inference.engine.size import SizeModel

    model = CellposeModel([BlobOracleNet()], size_model=SizeModel(np.zeros(2), np.zeros(2), np.log(30.0)))
    image, truth = discs_on_borders((256, 256), [0, 128, 256], [0, 128, 256])
    sink = np.zeros(image.shape, np.uint32)
    segment_blocks(model, image, sink, block_size=128, overlap=48, augment=False)
    assert ap50(truth, sink) == 1.0


def test_segment_blocks_refuses_a_bad_sink_or_a_volume_without_3d_options_before_any_block(oracle):
    calls = []
    image = np.zeros((64, 64), np.float32)
    with pytest.raises(ValueError, match="integer dtype"):
        segment_blocks(oracle, image, np.zeros((64, 64), np.float32), diameter=30.0,
                       on_block=lambda d, t: calls.append(d))
    with pytest.raises(ValueError, match="sink's spatial shape"):
        segment_blocks(oracle, image, np.zeros((64, 63), np.uint32), diameter=30.0)
    with pytest.raises(ValueError, match="do_3d"):
        segment_blocks(oracle, np.zeros((8, 64, 64), np.float32), np.zeros((8, 64, 64), np.uint32), diameter=30.0)
    assert calls == []
