"""Tiled images through POST /api/images/: stored as a pyramid, read tile by tile (pyramid JSON,
PNG tiles with ETag/304), refused whole by /data/; small images keep their path."""
import io
from pathlib import Path

import numpy as np
import pytest
import tifffile
from django.core.files.storage import default_storage
from PIL import Image as PILImage

from annotations import slides
from annotations.models import Image
from tests.web.conftest import client_for, ingested, small_image, stored_names, tiff_bytes, upload

pytestmark = pytest.mark.django_db


@pytest.fixture(autouse=True)
def small_tiling(settings):
    settings.TILED_MIN_PIXELS = 600 * 600


def gradient(height=1300, width=1100) -> np.ndarray:
    """uint16 (height, width): values rise along x and y, so every tile differs."""
    y, x = np.mgrid[:height, :width]
    return (x * 20 + y * 10).astype(np.uint16)


def post(api, name, content):
    return api.post("/api/images/", {"file": upload(name, content)}, format="multipart")


def png(response) -> np.ndarray:
    return np.asarray(PILImage.open(io.BytesIO(b"".join(response) if hasattr(response, "streaming_content")
                                               else response.content)))


def expected_tile(level_array: np.ndarray, lo: float, hi: float, col: int, row: int) -> np.ndarray:
    region = level_array[row * 512 : (row + 1) * 512, col * 512 : (col + 1) * 512].astype(np.float32)
    return (np.clip((region - lo) / (hi - lo), 0, 1) * 255 + 0.5).astype(np.uint8)


def test_an_image_over_the_threshold_is_stored_tiled_with_its_original_file(api, settings):
    array = gradient()
    body = ingested(api, post(api, "slide.tif", tiff_bytes(array, tile=(256, 256), compression="zlib")))
    assert body["tiled"] is True and body["shape"] == [1300, 1100] and body["axes"] == "YX"
    image = Image.objects.get(pk=body["id"])
    with image.file.open("rb") as fh:
        assert fh.read(4) == b"II*\x00"
    np.testing.assert_array_equal(slides.open_level(image)[...], array)
    assert default_storage.exists(f"images/{image.pk}/pixels.zarr/0/.zarray")


def test_an_image_at_the_threshold_keeps_the_small_image_path(api):
    response = post(api, "small.tif", tiff_bytes(gradient(600, 600)))
    assert response.status_code == 201
    image = Image.objects.get(pk=response.json()["id"])
    assert not image.tiled and image.display["channels"]


def test_the_pyramid_lists_every_level_and_the_tile_size(api):
    image_id = ingested(api, post(api, "slide.tif", tiff_bytes(gradient())))["id"]
    info = api.get(f"/api/images/{image_id}/pyramid/").json()
    assert info == {
        "tiled": True, "width": 1100, "height": 1300, "depth": 1, "channels": 1, "dtype": "uint16",
        "tile_size": 512, "labels": [], "latest_labels": None,
        "levels": [{"level": 0, "width": 1100, "height": 1300, "scale": 1},
                   {"level": 1, "width": 550, "height": 650, "scale": 2},
                   {"level": 2, "width": 275, "height": 325, "scale": 4}],
    }


def test_a_small_image_has_a_one_level_pyramid(api, image):
    info = api.get(f"/api/images/{image.pk}/pyramid/").json()
    assert info["tiled"] is False and len(info["levels"]) == 1 and info["width"] == 64


def test_tiles_are_the_source_pixels_levelled_by_the_display_levels(api):
    array = gradient()
    image_id = ingested(api, post(api, "slide.tif", tiff_bytes(array, rowsperstrip=16)))["id"]
    image = Image.objects.get(pk=image_id)
    (lo, hi), = slides.display_levels(image)
    for col, row in [(0, 0), (2, 2), (1, 2)]:  # inner, corner (76 x 276) and edge tiles
        response = api.get(f"/api/images/{image_id}/tiles/0/0/{col}/{row}.png")
        assert response.status_code == 200 and response["Content-Type"] == "image/png"
        np.testing.assert_array_equal(png(response), expected_tile(array, lo, hi, col, row))
    level1 = slides.open_level(image, 1)[...]
    np.testing.assert_array_equal(png(api.get(f"/api/images/{image_id}/tiles/1/0/1/1.png")),
                                  expected_tile(level1, lo, hi, 1, 1))


def test_an_rgb_tile_is_rgb(api):
    array = np.random.default_rng(0).integers(0, 255, (700, 900, 3), dtype=np.uint8)
    image_id = ingested(api, post(api, "rgb.tif", tiff_bytes(array, photometric="rgb")))["id"]
    tile = png(api.get(f"/api/images/{image_id}/tiles/0/0/1/1.png"))
    assert tile.shape == (188, 388, 3)


def test_a_tile_outside_the_grid_is_404(api):
    image_id = ingested(api, post(api, "slide.tif", tiff_bytes(gradient())))["id"]
    for path in ["0/0/3/0", "0/0/0/3", "0/1/0/0", "3/0/0/0"]:
        assert api.get(f"/api/images/{image_id}/tiles/{path}.png").status_code == 404, path


def test_a_tile_has_an_etag_and_is_not_sent_again_when_the_client_has_it(api):
    image_id = ingested(api, post(api, "slide.tif", tiff_bytes(gradient())))["id"]
    url = f"/api/images/{image_id}/tiles/0/0/1/1.png"
    first = api.get(url)
    assert first["Cache-Control"] == "private, max-age=86400, immutable"
    again = api.get(url, HTTP_IF_NONE_MATCH=first["ETag"])
    assert again.status_code == 304 and again["ETag"] == first["ETag"] and not again.content
    other = api.get(f"/api/images/{image_id}/tiles/0/0/0/1.png", HTTP_IF_NONE_MATCH=first["ETag"])
    assert other.status_code == 200 and other["ETag"] != first["ETag"]


def test_another_user_gets_404_for_the_pyramid_and_the_tiles(api, other_user):
    image_id = ingested(api, post(api, "slide.tif", tiff_bytes(gradient())))["id"]
    stranger = client_for(other_user)
    assert stranger.get(f"/api/images/{image_id}/pyramid/").status_code == 404
    assert stranger.get(f"/api/images/{image_id}/tiles/0/0/0/0.png").status_code == 404
    assert client_for().get(f"/api/images/{image_id}/tiles/0/0/0/0.png").status_code in (401, 403)


@pytest.mark.parametrize("whole", ["data", "channels"])
def test_the_whole_image_of_a_tiled_image_is_refused_naming_the_tiles(api, whole):
    image_id = ingested(api, post(api, "slide.tif", tiff_bytes(gradient())))["id"]
    response = api.get(f"/api/images/{image_id}/{whole}/")
    assert response.status_code == 400
    assert f"/api/images/{image_id}/tiles/" in response.json()["detail"]
    assert "275 x 325 overview" in response.json()["detail"]


def test_a_pyramidal_tiff_is_read_from_its_full_resolution_level(api, tmp_path):
    array = gradient(1200, 1000)
    path = tmp_path / "pyramid.tif"
    with tifffile.TiffWriter(path) as tif:
        tif.write(array, tile=(256, 256), subifds=2, compression="zlib")
        tif.write(array[::2, ::2], tile=(256, 256), subfiletype=1, compression="zlib")
        tif.write(array[::4, ::4], tile=(256, 256), subfiletype=1, compression="zlib")
    image = Image.objects.get(pk=ingested(api, post(api, "pyramid.tif", path.read_bytes()))["id"])
    np.testing.assert_array_equal(slides.open_level(image)[...], array)


def test_a_stack_over_the_threshold_is_tiled_plane_by_plane(api):
    stack = np.stack([gradient(700, 600) + k for k in range(3)])
    content = tiff_bytes(stack, photometric="minisblack", metadata={"axes": "ZYX"})
    body = ingested(api, post(api, "stack.tif", content))
    assert body["tiled"] and body["axes"] == "ZYX" and body["is_3d"]
    image = Image.objects.get(pk=body["id"])
    np.testing.assert_array_equal(slides.open_level(image)[2], stack[2])
    assert api.get(f"/api/images/{body['id']}/tiles/0/2/0/0.png").status_code == 200


def test_deleting_a_tiled_image_deletes_its_pixels(api, settings, django_capture_on_commit_callbacks):
    image_id = ingested(api, post(api, "slide.tif", tiff_bytes(gradient())))["id"]
    root = f"images/{image_id}/pixels.zarr"
    assert stored_names(root)
    with django_capture_on_commit_callbacks(execute=True):
        assert api.delete(f"/api/images/{image_id}/").status_code == 204
    assert stored_names(root) == []


def test_the_orphan_sweep_keeps_a_tiled_images_pixels(api):
    from datetime import timedelta

    from cellposeweb.orphans import orphan_files

    image_id = ingested(api, post(api, "slide.tif", tiff_bytes(gradient())))["id"]
    assert stored_names(f"images/{image_id}/pixels.zarr")
    # only this image's files: the integration tier's bucket holds other tests' files too
    assert [name for name, _ in orphan_files(older_than=timedelta(0)) if name.startswith(f"images/{image_id}/")] == []


def test_small_image_data_uses_the_recorded_display_levels_not_per_request_percentiles(api, image, monkeypatch):
    import annotations.display as display_module

    def forbidden(*args, **kwargs):
        raise AssertionError("percentiles computed per request")

    monkeypatch.setattr(display_module, "normalize99", forbidden)
    monkeypatch.setattr(np, "percentile", forbidden)
    response = api.get(f"/api/images/{image.pk}/data/")
    assert response.status_code == 200


def test_an_image_stored_before_display_levels_gets_them_on_first_read(api, image):
    Image.objects.filter(pk=image.pk).update(display={})
    assert api.get(f"/api/images/{image.pk}/data/").status_code == 200
    levels = Image.objects.get(pk=image.pk).display["channels"]
    expected = np.percentile(small_image().astype(float), [1, 99])
    assert levels == [pytest.approx(list(expected))]


def test_a_large_float_image_with_nan_pixels_fails_its_ingest_and_nothing_is_stored(
        api, settings, django_capture_on_commit_callbacks):
    from annotations.upload_ingest import upload_ingest_run

    array = gradient().astype(np.float32)
    array[1200, 5:8] = np.nan
    with django_capture_on_commit_callbacks(execute=True):
        response = post(api, "nan.tif", tiff_bytes(array))
        assert response.status_code == 202, response.content
        upload_ingest_run(upload_id=response.json()["id"], worker="test-worker")
    polled = api.get(response.json()["url"]).json()
    assert polled["status"] == "failed" and "3 pixel value(s) are NaN" in polled["error"] and polled["image"] is None
    assert not Image.objects.exists()
    assert not [p for p in Path(settings.MEDIA_ROOT).rglob("*") if p.is_file()]


def test_a_jpeg_tiled_rgb_tiff_as_slide_scanners_write_reads_as_tifffile_decodes_it(api, tmp_path):
    rng = np.random.default_rng(4)
    array = np.clip(gradient(900, 1000)[..., None] // 60 + rng.integers(0, 30, (900, 1000, 3)), 0, 255).astype(np.uint8)
    path = tmp_path / "scan.tif"
    tifffile.imwrite(path, array, tile=(240, 240), compression="jpeg", photometric="rgb")
    image = Image.objects.get(pk=ingested(api, post(api, "scan.tif", path.read_bytes()))["id"])
    assert image.axes == "YXC" and image.n_channels == 3
    np.testing.assert_array_equal(slides.open_level(image)[...], tifffile.imread(path))


@pytest.mark.parametrize("dtype", [np.uint8, np.uint16])
@pytest.mark.parametrize("levels", [(10.5, 200.25), (7, 7), (-5, 3), (0, 65535)])
def test_levelling_8_and_16_bit_pixels_by_table_matches_levelling_in_floating_point(dtype, levels):
    from annotations.display import scale_to_levels

    pixels = np.random.default_rng(5).integers(0, np.iinfo(dtype).max, (2, 40, 50), dtype=dtype)
    by_table = scale_to_levels(pixels, [levels, levels])
    in_float = scale_to_levels(pixels.astype(np.float32), [levels, levels])
    np.testing.assert_array_equal(by_table, in_float)
