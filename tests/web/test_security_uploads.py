"""Uploads are judged by their content, within size and pixel limits, decompression bombs are
refused before they are decoded, and file names cannot reach outside the image's own folder."""
import struct
import zlib

import numpy as np
import pytest
import tifffile

from annotations.models import Image
from tests.web.conftest import tiff_bytes, upload

pytestmark = pytest.mark.django_db


def post(api, name, content):
    return api.post("/api/images/", {"file": upload(name, content)}, format="multipart")


def png_header_only(width, height) -> bytes:
    """A valid PNG signature and IHDR claiming ``width`` x ``height``, with a tiny IDAT."""

    def chunk(kind, data):
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data) & 0xFFFFFFFF)

    ihdr = struct.pack(">IIBBBBB", width, height, 8, 0, 0, 0, 0)
    return b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", ihdr) + chunk(b"IDAT", zlib.compress(b"\0" * 64)) + chunk(b"IEND", b"")


@pytest.mark.parametrize(
    "name, content",
    [
        ("cells.tif", b"this is not an image at all"),
        ("cells.png", b"<svg xmlns='http://www.w3.org/2000/svg' onload='alert(1)'/>"),
        ("cells.tif", b"<html><script>alert(1)</script></html>"),
        ("cells.jpg", b"\xff\xd8\xff\xe0" + b"\0" * 20),
        ("cells.tif", b""),
    ],
)
def test_a_file_that_is_not_a_readable_image_is_refused_whatever_its_name(api, name, content):
    response = post(api, name, content)

    assert response.status_code == 400 and response.json()["detail"]
    assert not Image.objects.exists()


def test_a_png_bomb_is_refused_from_its_header(api, settings):
    settings.UPLOAD_MAX_PIXELS = 10**6

    response = post(api, "bomb.png", png_header_only(50_000, 50_000))

    assert response.status_code == 400
    assert "pixel" in response.json()["detail"].lower()
    assert not Image.objects.exists()


def test_a_compressed_tiff_bomb_is_refused(api, settings):
    settings.UPLOAD_MAX_PIXELS = 10**6
    content = tiff_bytes(np.zeros((1500, 1500), np.uint8), compression="zlib")
    assert len(content) < 50_000  # small on the wire, large once decoded

    response = post(api, "bomb.tif", content)

    assert response.status_code == 400
    assert not Image.objects.exists()


def test_an_upload_over_the_byte_limit_is_413(api, settings):
    settings.UPLOAD_MAX_BYTES = 2000

    response = post(api, "big.tif", tiff_bytes(np.random.default_rng(0).integers(0, 255, (64, 64), np.uint8)))

    assert response.status_code == 413
    assert not Image.objects.exists()


@pytest.mark.parametrize(
    "name",
    [
        "../../../etc/passwd.tif",
        "..\\..\\windows\\system32\\cells.tif",
        "/absolute/path/cells.tif",
        "cells\x00.tif",
        "..",
        "cells<script>alert(1)</script>.tif",
        "a" * 600 + ".tif",
    ],
)
def test_file_names_are_sanitised_and_stay_in_the_images_folder(api, owner, name):
    boundary = "----cellposeweb-test"
    raw = (
        f'--{boundary}\r\nContent-Disposition: form-data; name="file"; filename="{name}"\r\n'
        "Content-Type: image/tiff\r\n\r\n"
    ).encode("utf-8", "surrogateescape") + tiff_bytes(np.ones((16, 16), np.uint8)) + f"\r\n--{boundary}--\r\n".encode()

    response = api.post("/api/images/", data=raw, content_type=f"multipart/form-data; boundary={boundary}")

    if response.status_code == 400:  # Django's parser drops names it cannot make safe ("..")
        assert not Image.objects.exists()
        return
    assert response.status_code == 201, response.json()
    image = Image.objects.get(pk=response.json()["id"])
    assert "/" not in image.name and "\\" not in image.name and "\x00" not in image.name and "\n" not in image.name
    assert not image.name.startswith(".") and "<" not in image.name and len(image.name) <= 200
    parts = image.file.name.split("/")
    assert parts[:2] == ["images", str(owner.pk)] and ".." not in parts and len(parts) == 4


def test_the_stored_bytes_are_the_uploaded_ones(api):
    content = tiff_bytes(np.arange(256, dtype=np.uint16).reshape(16, 16))

    image = Image.objects.get(pk=post(api, "x.tif", content).json()["id"])

    with image.file.open("rb") as fh:
        assert fh.read() == content
    assert tifffile.imread(image.file.open("rb")).shape == (16, 16)
