"""geojson_chunks: a label image read region by region gives the same GeoJSON as the whole image."""
import json
from pathlib import Path

import numpy as np
import pytest
import zarr

from inference.engine import CellTable, geojson_chunks, geojson_features
from inference.engine.io import read_labels

DATA = Path(__file__).parents[1] / "data"


def table_of(masks, region):
    table = CellTable(ndim=masks.ndim)
    step = [region] * masks.ndim
    for start in np.ndindex(*[-(-n // s) for n, s in zip(masks.shape, step)]):
        lo = [i * s for i, s in zip(start, step)]
        window = tuple(slice(a, a + s) for a, s in zip(lo, step))
        table.add(masks[window], offset=lo)
    return table.result()


def by_label(doc):
    return {(f["properties"]["label"], f["properties"].get("z")): f for f in doc["features"]}


@pytest.mark.parametrize("region", [64, 100, 1024])
def test_a_large_label_image_read_in_regions_gives_the_features_of_the_whole_image(region):
    masks = read_labels(DATA / "mask2d.tif").astype(np.uint32)
    cells = table_of(masks, region)
    stream = b"".join(geojson_chunks(masks, label=cells["label"], bbox=cells["bbox"], region=region))
    doc = json.loads(stream)
    whole = {(f["properties"]["label"], None): f for f in geojson_features(masks)}
    assert doc["type"] == "FeatureCollection"
    assert by_label(doc) == whole
    assert len(doc["features"]) == len(np.unique(masks)) - 1


def test_cells_on_the_chunk_borders_of_a_zarr_array_stay_whole(tmp_path):
    masks = np.zeros((96, 96), np.uint32)
    masks[28:36, 28:36] = 1   # crosses the chunk corner at (32, 32)
    masks[2:6, 2:6] = 2
    masks[60:90, 40:44] = 3   # crosses the chunk border at row 64
    labels = zarr.open(str(tmp_path / "labels.zarr"), mode="w", shape=masks.shape, chunks=(32, 32),
                       dtype=np.uint32)
    labels[:] = masks
    cells = table_of(masks, 32)
    doc = json.loads(b"".join(geojson_chunks(labels, label=cells["label"], bbox=cells["bbox"])))
    rings = {f["properties"]["label"]: f["geometry"]["coordinates"][0] for f in doc["features"]}
    assert sorted(rings) == [1, 2, 3]
    assert sorted(map(tuple, rings[1][:-1])) == [(28, 28), (28, 36), (36, 28), (36, 36)]
    assert max(y for _, y in rings[3]) == 90 and min(y for _, y in rings[3]) == 60


def test_a_3d_cell_gives_one_feature_per_plane_it_occupies():
    masks = np.zeros((4, 20, 20), np.uint16)
    masks[1:3, 5:9, 5:9] = 7
    cells = table_of(masks, 8)
    doc = json.loads(b"".join(geojson_chunks(masks, label=cells["label"], bbox=cells["bbox"], region=8)))
    assert sorted(by_label(doc)) == [(7, 1), (7, 2)]


def test_no_cells_give_an_empty_collection():
    doc = json.loads(b"".join(geojson_chunks(np.zeros((10, 10), np.uint8), label=[], bbox=[])))
    assert doc == {"type": "FeatureCollection", "features": []}


def test_a_bounding_box_outside_the_image_or_a_wrong_table_is_refused():
    masks = np.zeros((10, 10), np.uint8)
    with pytest.raises(ValueError, match="inside the label image"):
        list(geojson_chunks(masks, label=[1], bbox=[[0, 0, 11, 5]]))
    with pytest.raises(ValueError, match="one row of 4 numbers per label"):
        list(geojson_chunks(masks, label=[1, 2], bbox=[[0, 0, 5, 5]]))
    with pytest.raises(ValueError, match=r"\(Ly, Lx\) or \(Lz, Ly, Lx\)"):
        list(geojson_chunks(np.zeros(5, np.uint8), label=[], bbox=[]))
