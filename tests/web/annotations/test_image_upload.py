"""POST /api/images/: real microscopy files are stored; anything else is refused with a reason
and leaves nothing behind."""
import io
import struct
import zipfile
import zlib
from pathlib import Path

import numpy as np
import pytest
from PIL import Image as PILImage

from annotations.models import Image
from tests.web.conftest import DATA, client_for, data_file, tiff_bytes, upload

pytestmark = pytest.mark.django_db


def post(api, file):
    return api.post("/api/images/", {"file": file}, format="multipart")


def stored_files(settings):
    root = Path(settings.MEDIA_ROOT)
    return [p for p in root.rglob("*") if p.is_file()] if root.exists() else []


def png_chunk(kind: bytes, data: bytes) -> bytes:
    return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data) & 0xFFFFFFFF)


def bomb_png(width=100_000, height=100_000) -> bytes:
    """A small PNG whose header claims width x height pixels (a decompression bomb)."""
    ihdr = struct.pack(">IIBBBBB", width, height, 8, 0, 0, 0, 0)
    idat = zlib.compress(b"\x00" * (width + 1) * 4, 9)
    return b"\x89PNG\r\n\x1a\n" + png_chunk(b"IHDR", ihdr) + png_chunk(b"IDAT", idat) + png_chunk(b"IEND", b"")


def test_a_2d_tiff_is_stored_with_its_shape_and_a_thumbnail(api, settings):
    response = post(api, data_file("img2d.tif"))

    assert response.status_code == 201, response.json()
    body = response.json()
    assert body["name"] == "img2d.tif"
    assert body["shape"] == [512, 512]
    assert body["axes"] == "YX" and body["dtype"] == "uint16"
    assert body["is_3d"] is False and body["n_channels"] == 1
    assert body["size_bytes"] == (DATA / "img2d.tif").stat().st_size
    image = Image.objects.get(pk=body["id"])
    assert image.file.read() == (DATA / "img2d.tif").read_bytes()
    with PILImage.open(image.thumbnail) as thumb:
        assert thumb.format == "PNG" and max(thumb.size) == settings.THUMBNAIL_SIZE


def test_a_3d_stack_is_stored_as_a_stack(api):
    response = post(api, data_file("img3d.tif"))

    assert response.status_code == 201, response.json()
    body = response.json()
    assert body["shape"] == [31, 61, 57] and body["axes"] == "ZYX" and body["is_3d"] is True


def test_an_rgb_jpeg_is_stored_with_three_channels(api):
    response = post(api, data_file("histo.jpg"))

    assert response.status_code == 201, response.json()
    body = response.json()
    assert body["shape"] == [500, 300, 3] or body["shape"][:2] == [300, 500]
    assert body["axes"] == "YXC" and body["n_channels"] == 3


def test_the_file_name_is_sanitised(api):
    response = post(api, upload("../../etc/<script>passwd cells.tif", tiff_bytes(np.ones((32, 32), np.uint8))))

    assert response.status_code == 201, response.json()
    name = response.json()["name"]
    assert "/" not in name and "<" not in name and ".." not in name
    assert name.endswith("passwd cells.tif")


@pytest.mark.parametrize(
    "name, content, reason",
    [
        ("truncated.tif", (DATA / "img2d.tif").read_bytes()[:4000], "truncated"),
        ("empty.tif", b"", "empty"),
        ("notes.tif", b"These are my notes, not an image.\n" * 20, "unsupported format"),
        ("archive.tif", None, "ZIP"),
        ("nan.tif", tiff_bytes(np.full((64, 64), np.nan, np.float32)), "NaN"),
        ("bomb.png", bomb_png(), "too many pixels"),
    ],
    ids=["truncated tiff", "empty file", "text named .tif", "zip named .tif", "all-NaN float tiff", "decompression bomb png"],
)
def test_a_bad_file_is_refused_with_its_reason_and_nothing_is_stored(api, settings, name, content, reason):
    if content is None:
        buf = io.BytesIO()
        with zipfile.ZipFile(buf, "w", zipfile.ZIP_DEFLATED) as zf:
            zf.writestr("zeros.bin", b"\x00" * 10_000_000)
        content = buf.getvalue()

    response = post(api, upload(name, content))

    assert response.status_code == 400, response.json()
    detail = response.json()["detail"]
    assert reason.lower() in detail.lower()
    assert detail.startswith(name), "the message names the uploaded file, not a server path"
    assert "/tmp" not in detail
    assert Image.objects.count() == 0
    assert stored_files(settings) == []


def test_a_compressed_tiff_that_expands_beyond_the_pixel_limit_is_refused(api, settings):
    settings.UPLOAD_MAX_PIXELS = 1_000_000
    content = tiff_bytes(np.zeros((2048, 2048), np.uint8), compression="zlib")
    assert len(content) < 50_000  # a zip bomb in miniature: tiny file, 4 million pixels

    response = post(api, upload("zeros.tif", content))

    assert response.status_code == 400
    assert "too many pixels" in response.json()["detail"]
    assert Image.objects.count() == 0


def test_a_file_over_the_byte_limit_is_refused_with_413(api, settings):
    settings.UPLOAD_MAX_BYTES = 100_000

    response = post(api, data_file("img2d.tif"))

    assert response.status_code == 413
    assert response.json()["detail"] == "img2d.tif is larger than the upload limit of 97.7 KB."
    assert Image.objects.count() == 0
    assert stored_files(settings) == []


def test_a_request_without_a_file_is_refused(api):
    response = api.post("/api/images/", {}, format="multipart")

    assert response.status_code == 400
    assert response.json()["detail"].startswith("file:")


def test_a_failure_while_storing_leaves_no_files_behind(api, settings, monkeypatch):
    from annotations.models import Image as ImageModel

    def broken_save(self, *args, **kwargs):
        raise RuntimeError("database went away")

    monkeypatch.setattr(ImageModel, "save", broken_save)
    client = api
    client.raise_request_exception = False

    response = post(client, data_file("img2d.tif"))

    assert response.status_code == 500
    assert response.json() == {"detail": "The server failed to handle this request; the error was logged."}
    assert stored_files(settings) == []


def test_uploads_are_rate_limited_per_user(api, owner, other_user, settings):
    settings.THROTTLE_RATES = {**settings.THROTTLE_RATES, "uploads": "2/hour"}
    content = tiff_bytes(np.ones((16, 16), np.uint8))

    statuses = [post(api, upload(f"{i}.tif", content)).status_code for i in range(3)]
    others = post(client_for(other_user), upload("x.tif", content))

    assert statuses == [201, 201, 429]
    assert others.status_code == 201
    assert "throttled" in post(api, upload("y.tif", content)).json()["detail"].lower()


def test_an_upload_declared_larger_than_the_limit_is_refused_before_it_is_parsed(api, settings):
    settings.UPLOAD_MAX_BYTES = 1000

    response = post(api, upload("big.tif", b"\0" * (1024 * 1024 + 2000)))

    assert response.status_code == 413
    assert response.json()["detail"] == "The upload is larger than the upload limit of 1000 bytes."


@pytest.mark.parametrize("shape", [(5, 64, 64), (64, 64, 5), (64, 64, 100)])
def test_an_image_whose_axes_cannot_be_told_is_refused_asking_for_them(api, shape):
    response = post(api, upload("many.tif", tiff_bytes(np.ones(shape, np.uint16))))

    assert response.status_code == 400
    assert "naming its axes" in response.json()["detail"] and str(shape) in response.json()["detail"]


def test_the_refusal_of_ambiguous_axes_lists_the_readings_a_client_can_offer(api):
    response = post(api, upload("five.tif", tiff_bytes(np.ones((5, 64, 64), np.uint16))))

    body = response.json()
    assert response.status_code == 400 and body["code"] == "axes_needed"
    assert body["shape"] == [5, 64, 64] and body["axes_choices"] == ["ZYX", "CYX", "YXC"]
    for axes in body["axes_choices"]:
        again = api.post("/api/images/", {"file": upload("five.tif", tiff_bytes(np.ones((5, 64, 64), np.uint16))),
                                          "axes": axes}, format="multipart")
        assert again.status_code == 201 and again.json()["axes"] == axes, again.json()


def test_naming_the_axes_reads_a_many_channel_image_as_channels(api):
    content = tiff_bytes(np.ones((5, 64, 64), np.uint16))
    response = api.post("/api/images/", {"file": upload("five.tif", content), "axes": "CYX"}, format="multipart")

    assert response.status_code == 201, response.json()
    body = response.json()
    assert body["axes"] == "CYX" and body["n_channels"] == 5 and body["is_3d"] is False


def test_axes_that_do_not_fit_the_shape_are_refused(api):
    content = tiff_bytes(np.ones((5, 64, 64), np.uint16))
    response = api.post("/api/images/", {"file": upload("five.tif", content), "axes": "ZYXC"}, format="multipart")

    assert response.status_code == 400 and "does not fit" in response.json()["detail"]


@pytest.mark.parametrize("value, words", [(np.nan, "NaN or infinite"), (np.inf, "NaN or infinite"),
                                          (1e308, "beyond the float32")])
def test_float_pixels_that_segmentation_cannot_use_are_refused_at_upload(api, value, words):
    array = np.ones((64, 64), np.float64)
    array[3, 4] = value

    response = post(api, upload("bad.tif", tiff_bytes(array)))

    assert response.status_code == 400 and words in response.json()["detail"]
