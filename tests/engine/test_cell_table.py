"""CellTable: a per-cell table gathered region by region equals the one computed on the whole image."""
from pathlib import Path

import numpy as np
import pytest
from scipy import ndimage

from inference.engine import CellTable
from inference.engine.export import measurements
from inference.engine.io import read_labels

DATA = Path(__file__).parents[1] / "data"


def whole_image_table(masks):
    """The slow obvious table: measurements() for area and centroid, find_objects for the bbox."""
    rows = measurements(masks)
    boxes = ndimage.find_objects(masks)
    bbox = [[s.start for s in boxes[r["label"] - 1]] + [s.stop for s in boxes[r["label"] - 1]] for r in rows]
    axes = ("z", "y", "x")[-masks.ndim:]
    return {
        "label": [r["label"] for r in rows],
        "area": [r["area"] for r in rows],
        "centroid": [[r[f"centroid_{a}"] for a in axes] for r in rows],
        "bbox": bbox,
    }


@pytest.mark.parametrize("ndim", [2, 3])
def test_a_table_gathered_from_regions_in_any_order_equals_the_whole_image_table(ndim):
    masks = read_labels(DATA / "mask2d.tif").astype(np.int32)
    if ndim == 3:
        masks = np.stack([masks, np.roll(masks, 5, axis=1), masks])
    step = 37
    regions = [tuple(slice(i * step, i * step + step) for i in idx) for idx in
               np.ndindex(*[(n + step - 1) // step for n in masks.shape])]
    table = CellTable(ndim=ndim)
    for region in reversed(regions):
        table.add(masks[region], offset=[s.start for s in region])

    got, want = table.result(), whole_image_table(masks)

    np.testing.assert_array_equal(got["label"], want["label"])
    np.testing.assert_array_equal(got["area"], want["area"])
    np.testing.assert_allclose(got["centroid"], want["centroid"])
    np.testing.assert_array_equal(got["bbox"], want["bbox"])


def test_an_empty_image_has_an_empty_table_and_bad_input_is_refused():
    table = CellTable(ndim=2)
    table.add(np.zeros((4, 4), np.uint32))
    assert table.result()["label"].size == 0
    assert table.result()["bbox"].shape == (0, 4)
    with pytest.raises(ValueError, match="2 spatial axes"):
        table.add(np.zeros((2, 4, 4), np.uint32))
    with pytest.raises(ValueError, match="integers"):
        table.add(np.zeros((4, 4), np.float32))
