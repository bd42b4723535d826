"""annotations.tiled_edits and annotations.label_chain: an edit of a tiled image's masks stores
only the chunks it changed, and every reader resolves each chunk to the newest version that wrote it."""
import io
import json
import zipfile

import numpy as np
import pytest
import zarr

from annotations import label_chain, slides
from annotations.models import MaskOrigin
from annotations.services import StaleVersionError
from annotations.tiled_edits import Region, tiled_region_save
from annotations.tiled_exports import tiled_export_chunks
from annotations.tiled_masks import cell_table_load
from tests.web.conftest import stored_names
from tests.web.tiled_versions import square_cells, table_of, tiled_with_version

pytestmark = pytest.mark.django_db


@pytest.fixture
def slide(owner, tmp_path):
    labels = square_cells()
    image, version = tiled_with_version(owner, tmp_path, labels)
    return image, version, labels


def save(image, base, region: Region, labels, user=None):
    return tiled_region_save(image=image, region=region, labels=labels, base_version=base, created_by=user)


def resolved(annotation, level=0) -> np.ndarray:
    return np.asarray(label_chain.labels_for_version(annotation, level=level)[...])


def files_of(image, key: str) -> list[str]:
    return stored_names(f"{slides.pixels_prefix(image)}/labels/{key}")


def chunk_files(image, key: str, level: int) -> list[str]:
    return sorted(name.rsplit("/", 1)[1] for name in files_of(image, key)
                  if name.split("/")[-2] == str(level) and not name.rsplit("/", 1)[1].startswith("."))


def test_an_edit_inside_one_chunk_stores_that_chunk_and_the_pyramid_chunks_above_it(slide):
    image, v1, labels = slide
    region = Region(z=0, y=600, x=600, height=100, width=100)
    edited = labels[600:700, 600:700].astype(np.int32)
    edited[edited == edited.max()] = 0  # erase one cell
    v2 = save(image, v1.version, region, edited)
    assert chunk_files(image, v2.labels_key, 0) == ["1.1"]
    assert chunk_files(image, v2.labels_key, 1) == ["0.0"]
    assert v2.summary["chunks_written"] == len(chunk_files(image, v2.labels_key, 0)) + len(
        chunk_files(image, v2.labels_key, 1)) + len(chunk_files(image, v2.labels_key, 2))
    chunk_bytes = sum(default_size(name) for name in files_of(image, v2.labels_key) if "/." not in name)
    whole = sum(default_size(name) for name in files_of(image, v1.labels_key) if "/." not in name)
    assert 0 < chunk_bytes < whole / 3  # 3 of the 14 chunks of the whole group
    assert v2.summary["bytes_written"] == sum(default_size(name) for name in files_of(image, v2.labels_key))
    expected = labels.copy()
    expected[600:700, 600:700] = edited
    np.testing.assert_array_equal(resolved(v2), expected)
    np.testing.assert_array_equal(resolved(v1), labels)


def default_size(name: str) -> int:
    from django.core.files.storage import default_storage

    return default_storage.size(name)


def test_a_save_that_changes_no_pixel_stores_no_chunk(slide):
    image, v1, labels = slide
    v2 = save(image, v1.version, Region(0, 0, 0, 300, 300), labels[:300, :300].astype(np.int32))
    assert v2.summary["chunks_written"] == 0 and chunk_files(image, v2.labels_key, 0) == []
    np.testing.assert_array_equal(resolved(v2), labels)


def test_each_chunk_of_a_version_is_read_from_the_newest_version_in_its_chain_that_wrote_it(slide):
    image, v1, labels = slide
    v2 = save(image, 1, Region(0, 0, 0, 50, 50), np.zeros((50, 50), np.int32))
    v3 = save(image, 2, Region(0, 1200, 1000, 50, 50), np.zeros((50, 50), np.int32))
    v4 = save(image, 3, Region(0, 10, 10, 20, 20), np.full((20, 20), 7, np.int32))
    owners = label_chain.delta_info(image, v4.labels_key)["owners"]["0"]
    assert owners == {"0.0": v4.labels_key, "2.1": v3.labels_key, "2.2": v3.labels_key}
    expected = labels.copy()
    expected[:50, :50] = 0
    np.testing.assert_array_equal(resolved(v2), expected)
    expected[1200:1250, 1000:1050] = 0
    np.testing.assert_array_equal(resolved(v3), expected)
    expected[10:30, 10:30] = labels.max() + 1  # 7 was not in the region read: a new cell
    np.testing.assert_array_equal(resolved(v4), expected)


def test_a_chunk_an_edit_erased_reads_as_background_not_as_the_version_before(slide):
    image, v1, labels = slide
    v2 = save(image, 1, Region(0, 512, 512, 512, 512), np.zeros((512, 512), np.int32))
    assert chunk_files(image, v2.labels_key, 0) == ["1.1"]
    assert not resolved(v2)[512:1024, 512:1024].any()


def test_the_pyramid_levels_of_an_edited_version_sample_its_level_0(slide):
    image, v1, labels = slide
    v2 = save(image, 1, Region(0, 500, 1000, 300, 100), np.full((300, 100), 9, np.int32))
    full = resolved(v2)
    np.testing.assert_array_equal(resolved(v2, level=1), full[::2, ::2])
    np.testing.assert_array_equal(resolved(v2, level=2), full[::4, ::4])


def test_the_cell_table_of_an_edited_version_is_the_table_of_its_labels(slide):
    image, v1, labels = slide
    region = Region(0, 490, 490, 60, 60)  # cuts the cells around the chunk corner at 512, 512
    edited = labels[490:550, 490:550].astype(np.int32)
    cut = int(edited[5, 20])
    edited[edited == cut] = 0  # erase the inside part of a cell the region's border cuts
    edited[40:50, 0:10] = 5000  # draw a new cell with an id the client chose
    v2 = save(image, 1, region, edited)
    table, expected = cell_table_load(v2), table_of(resolved(v2))
    for column in ("label", "bbox", "area"):
        np.testing.assert_array_equal(table[column], expected[column])
    np.testing.assert_allclose(table["centroid"], expected["centroid"])
    top = int(labels.max())
    assert 5000 not in table["label"] and top + 1 in table["label"]
    assert v2.summary["max_label"] == top + 1 and v2.n_masks == table["label"].size
    origin = dict(zip(table["label"].tolist(), table["origin"].tolist()))
    assert origin[top + 1] == MaskOrigin.MANUAL
    assert origin[cut] == MaskOrigin.EDITED  # what is left of it outside the region
    assert v2.changes["added"] == 1 and v2.changes["edited"] >= 1 and v2.source == "manual"


def test_an_id_freed_by_a_delete_is_never_given_to_a_new_cell(slide):
    image, v1, labels = slide
    top = int(labels.max())
    erased = labels[1240:1270, 1060:1090].astype(np.int32)
    assert (erased == top).any()
    v2 = save(image, 1, Region(0, 1240, 1060, 30, 30), np.zeros_like(erased))
    assert top not in cell_table_load(v2)["label"]
    v3 = save(image, 2, Region(0, 0, 0, 10, 10), np.full((10, 10), 1, np.int32) * 0 + 77)
    assert cell_table_load(v3)["label"].max() == top + 1


def test_a_stale_base_is_refused_and_stores_nothing(slide):
    image, v1, labels = slide
    save(image, 1, Region(0, 0, 0, 10, 10), np.zeros((10, 10), np.int32))
    before = set(slides.label_keys(image)) | set(stored_names(f"{slides.pixels_prefix(image)}/labels"))
    with pytest.raises(StaleVersionError):
        save(image, 1, Region(0, 0, 0, 10, 10), np.ones((10, 10), np.int32))
    assert set(stored_names(f"{slides.pixels_prefix(image)}/labels")) <= before
    assert image.annotations.count() == 2


def test_the_zarr_export_of_an_edited_version_is_a_whole_labels_group(slide):
    image, v1, labels = slide
    v2 = save(image, 1, Region(0, 600, 600, 40, 40), np.zeros((40, 40), np.int32))
    data = b"".join(tiled_export_chunks(v2, "zarr", folder="out.zarr"))
    with zipfile.ZipFile(io.BytesIO(data)) as zf:
        store = {name[len("out.zarr/"):]: zf.read(name) for name in zf.namelist()}
    assert label_chain.DELTA_ATTR not in json.loads(store[".zattrs"])
    group = zarr.open_group(zarr.storage.KVStore(store), mode="r")
    np.testing.assert_array_equal(group["0"][...], resolved(v2))
    np.testing.assert_array_equal(group["1"][...], resolved(v2, level=1))


def test_the_geojson_export_of_an_edited_version_has_its_cells(slide):
    image, v1, labels = slide
    v2 = save(image, 1, Region(0, 0, 0, 100, 100), np.zeros((100, 100), np.int32))
    features = json.loads(b"".join(tiled_export_chunks(v2, "geojson")))["features"]
    assert len(features) == v2.n_masks == table_of(resolved(v2))["label"].size < v1.n_masks


def test_a_volume_is_edited_one_plane_at_a_time(owner, tmp_path):
    volume = np.stack([square_cells(600, 700) + (i * 1000) * (square_cells(600, 700) > 0) for i in range(3)])
    image, v1 = tiled_with_version(owner, tmp_path, volume.astype(np.uint32))
    assert image.axes == "ZYX"
    v2 = save(image, 1, Region(1, 500, 600, 40, 50), np.zeros((40, 50), np.int32))
    expected = volume.copy()
    expected[1, 500:540, 600:650] = 0
    np.testing.assert_array_equal(resolved(v2), expected)
    np.testing.assert_array_equal(resolved(v2, level=1), expected[:, ::2, ::2])
    assert chunk_files(image, v2.labels_key, 0) == ["1.0.1", "1.1.1"]  # rows 500..540 cross row 512
    table, counted = cell_table_load(v2), table_of(expected)
    np.testing.assert_array_equal(table["label"], counted["label"])
    np.testing.assert_array_equal(table["bbox"], counted["bbox"])
