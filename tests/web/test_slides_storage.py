"""annotations.slides: a tiled image's pixels as a multiscale OME-Zarr in Django storage, and label
arrays beside them (the contract other parts code against)."""
import json
from pathlib import Path

import numpy as np
import pytest
import tifffile
import zarr
from django.core.files.storage import default_storage

from annotations import slides
from annotations.models import Image
from annotations.sources import open_source

pytestmark = pytest.mark.django_db


def tiled_image(owner, array: np.ndarray, tmp_path: Path, **tiff) -> Image:
    path = tmp_path / "source.tif"
    tifffile.imwrite(path, array, **tiff)
    with open_source(path, max_pixels=2**32) as source:
        image = Image.objects.create(owner=owner, name="slide.tif", file="images/x/slide.tif", shape=list(source.shape),
                                     dtype=str(source.dtype), axes=source.axes, size_bytes=path.stat().st_size,
                                     sha256="0" * 64, tiled=True)
        image.display = slides.write_pixels(image, source)
    image.save()
    return image


def rgb(height, width, seed=0) -> np.ndarray:
    return np.random.default_rng(seed).integers(0, 60000, (height, width, 3), dtype=np.uint16)


def test_level_0_holds_the_source_pixels_in_512_chunks_channels_last(owner, tmp_path):
    array = rgb(1300, 1100)
    image = tiled_image(owner, array, tmp_path, tile=(256, 256), compression="zlib")
    level0 = slides.open_level(image)
    assert level0.shape == (1300, 1100, 3) and level0.chunks == (512, 512, 3)
    np.testing.assert_array_equal(level0[...], array)


def test_each_level_is_half_the_one_before_until_one_tile_holds_it(owner, tmp_path):
    image = tiled_image(owner, rgb(1300, 1100), tmp_path)
    assert slides.level_shapes(image) == [(1300, 1100, 3), (650, 550, 3), (325, 275, 3)]
    assert [slides.open_level(image, n).shape for n in range(3)] == slides.level_shapes(image)


def test_a_level_is_the_mean_of_2x2_blocks_of_the_one_before(owner, tmp_path):
    array = np.random.default_rng(1).integers(0, 1000, (1030, 700), dtype=np.uint16)
    image = tiled_image(owner, array, tmp_path, rowsperstrip=7)
    expected = np.floor(array.reshape(515, 2, 350, 2).astype(float).mean(axis=(1, 3)) + 0.5).astype(np.uint16)
    np.testing.assert_array_equal(slides.open_level(image, 1)[...], expected)


def test_the_group_carries_ngff_multiscales_metadata(owner, tmp_path, settings):
    image = tiled_image(owner, rgb(1300, 1100), tmp_path)
    with default_storage.open(f"images/{image.pk}/pixels.zarr/.zattrs") as fh:
        meta = json.loads(fh.read())["multiscales"][0]
    assert meta["version"] == "0.4"
    assert [a["name"] for a in meta["axes"]] == ["y", "x", "c"]
    assert [d["coordinateTransformations"][0]["scale"] for d in meta["datasets"]] == [
        [1.0, 1.0, 1.0], [2.0, 2.0, 1.0], [4.0, 4.0, 1.0]]


def test_levels_are_read_only(owner, tmp_path):
    image = tiled_image(owner, rgb(600, 600), tmp_path)
    with pytest.raises(zarr.errors.ReadOnlyError):
        slides.open_level(image)[0, 0] = 1


def test_a_level_outside_the_pyramid_is_refused(owner, tmp_path):
    image = tiled_image(owner, rgb(600, 600), tmp_path)
    with pytest.raises(ValueError, match="level must be between 0 and 1"):
        slides.open_level(image, 2)


def test_a_stack_keeps_its_planes_at_every_level(owner, tmp_path):
    stack = np.random.default_rng(2).integers(0, 255, (3, 700, 600), dtype=np.uint8)
    image = tiled_image(owner, stack, tmp_path, photometric="minisblack", metadata={"axes": "ZYX"})
    assert image.axes == "ZYX"
    assert slides.level_shapes(image) == [(3, 700, 600), (3, 350, 300)]
    assert slides.open_level(image).chunks == (1, 512, 512)
    np.testing.assert_array_equal(slides.open_level(image)[2], stack[2])


def test_display_levels_are_the_1st_and_99th_percentiles_of_each_channel(owner, tmp_path):
    array = np.zeros((600, 600, 3), np.uint16)
    array[..., 0] = np.arange(600)[None, :]          # 0..599 along x
    array[..., 1] = 7                                # constant
    array[..., 2] = 1000 + np.arange(600)[:, None]   # 1000..1599 along y
    image = tiled_image(owner, array, tmp_path)
    (lo0, hi0), (lo1, hi1), (lo2, hi2) = slides.display_levels(image)
    assert lo0 == pytest.approx(6, abs=3) and hi0 == pytest.approx(593, abs=3)
    assert lo1 == hi1 == 7
    assert lo2 == pytest.approx(1006, abs=3) and hi2 == pytest.approx(1593, abs=3)


def test_created_labels_are_uint32_zeros_shaped_like_level_0_without_channels(owner, tmp_path):
    image = tiled_image(owner, rgb(1300, 1100), tmp_path)
    labels = slides.create_labels(image, key="v3")
    assert (labels.shape, labels.dtype, labels.chunks) == ((1300, 1100), np.uint32, (512, 512))
    assert labels[...].max() == 0
    assert slides.label_keys(image) == ["v3"]


def test_written_labels_read_back_and_their_pyramid_keeps_only_existing_labels(owner, tmp_path):
    image = tiled_image(owner, rgb(1300, 1100), tmp_path)
    labels = slides.create_labels(image, key="v3")
    masks = np.zeros((1300, 1100), np.uint32)
    masks[100:700, 200:900] = 5
    masks[800:1299, 10:20] = 9
    labels[...] = masks
    slides.build_label_pyramid(image, key="v3")
    np.testing.assert_array_equal(slides.open_labels(image, key="v3")[...], masks)
    level1 = slides.open_labels(image, key="v3", level=1)[...]
    np.testing.assert_array_equal(level1, masks[::2, ::2])
    assert set(np.unique(slides.open_labels(image, key="v3", level=2)[...])) <= {0, 5, 9}
    attrs = zarr.open_group(slides._store(image), path="labels/v3", mode="r").attrs
    assert "image-label" in attrs and len(attrs["multiscales"][0]["datasets"]) == 3


def test_labels_of_another_key_or_level_do_not_exist(owner, tmp_path):
    image = tiled_image(owner, rgb(600, 600), tmp_path)
    slides.create_labels(image, key="v1")
    with pytest.raises(KeyError):
        slides.open_labels(image, key="v2")
    with pytest.raises(KeyError):
        slides.open_labels(image, key="v1", level=1)  # no pyramid built yet


def test_a_label_key_that_could_leave_the_folder_is_refused(owner, tmp_path):
    image = tiled_image(owner, rgb(600, 600), tmp_path)
    for key in ["../x", "a/b", "", ".hidden"]:
        with pytest.raises(ValueError, match="label key"):
            slides.create_labels(image, key=key)


def test_a_small_image_is_not_tiled_and_has_no_levels(owner):
    image = Image.objects.create(owner=owner, name="s.tif", file="images/x/s.tif", shape=[64, 64], dtype="uint8",
                                 axes="YX", size_bytes=1, sha256="0" * 64)
    assert not slides.is_tiled(image)
    with pytest.raises(ValueError, match="not tiled"):
        slides.open_level(image)


def test_deleting_pixels_removes_every_stored_file(owner, tmp_path, settings):
    image = tiled_image(owner, rgb(600, 600), tmp_path)
    slides.create_labels(image, key="v1")
    slides.delete_pixels(image.pk)
    root = Path(settings.MEDIA_ROOT) / f"images/{image.pk}/pixels.zarr"
    assert not [p for p in root.rglob("*") if p.is_file()]


def test_labels_reopened_for_writing_keep_what_each_writer_wrote(owner, tmp_path):
    image = tiled_image(owner, rgb(1300, 1100), tmp_path)
    slides.create_labels(image, key="v2")
    slides.open_labels(image, key="v2", writable=True)[0:512, 0:512] = 3
    slides.open_labels(image, key="v2", writable=True)[512:1024, 512:1024] = 4
    labels = slides.open_labels(image, key="v2")
    assert labels[10, 10] == 3 and labels[600, 600] == 4 and labels[600, 10] == 0
    with pytest.raises(zarr.errors.ReadOnlyError):
        labels[0, 0] = 1


def test_odd_edges_repeat_their_last_row_and_column_and_floats_average_exactly(owner, tmp_path):
    array = np.random.default_rng(3).random((601, 603)).astype(np.float32)
    image = tiled_image(owner, array, tmp_path)
    padded = np.pad(array, ((0, 1), (0, 1)), mode="edge").astype(np.float64)
    expected = padded.reshape(301, 2, 302, 2).mean(axis=(1, 3))
    np.testing.assert_allclose(slides.open_level(image, 1)[...], expected, rtol=1e-6)
