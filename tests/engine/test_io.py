import importlib.util
import io
import shutil
import struct
import warnings
from pathlib import Path

import cv2
import numpy as np
import pytest
import tifffile
from PIL import Image

from inference.engine.io import ImageReadError, image_info, imread, imsave, read_labels

DATA = Path(__file__).parents[1] / "data"


def tiff_bytes(arr, **kw):
    buf = io.BytesIO()
    kw.setdefault("photometric", "minisblack")
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", UserWarning)  # tifffile warns about zero-size arrays
        tifffile.imwrite(buf, arr, **kw)
    return buf.getvalue()


def pil_bytes(arr_or_image, fmt, **kw):
    im = arr_or_image if isinstance(arr_or_image, Image.Image) else Image.fromarray(arr_or_image)
    buf = io.BytesIO()
    im.save(buf, fmt, **kw)
    return buf.getvalue()


def write(tmp_path, name, data: bytes) -> Path:
    path = tmp_path / name
    path.write_bytes(data)
    return path


rng = np.random.default_rng(0)
GREY16 = rng.integers(0, 65535, (37, 53), dtype=np.uint16)
RGB8 = rng.integers(0, 255, (21, 34, 3), dtype=np.uint8)


# --- reading what the test data holds --------------------------------------------------------

def test_it_reads_the_shipped_test_images():
    img = imread(DATA / "img2d.tif")
    assert img.shape == (512, 512) and img.dtype == np.uint16
    assert imread(DATA / "img3d.tif").shape == (31, 61, 57)
    histo = imread(DATA / "histo.jpg")
    assert histo.shape == (300, 500, 3) and histo.dtype == np.uint8


def test_the_format_comes_from_the_content_not_the_extension(tmp_path):
    disguised = shutil.copy(DATA / "img2d.tif", tmp_path / "really_a_tiff.png")
    np.testing.assert_array_equal(imread(disguised), imread(DATA / "img2d.tif"))
    png = write(tmp_path, "really_a_png.tif", cv2.imencode(".png", GREY16)[1].tobytes())
    np.testing.assert_array_equal(imread(png), GREY16)
    no_ext = write(tmp_path, "noext", pil_bytes(RGB8, "PNG"))
    np.testing.assert_array_equal(imread(no_ext), RGB8)


def test_it_reads_from_a_binary_file_object():
    np.testing.assert_array_equal(imread(io.BytesIO(tiff_bytes(GREY16))), GREY16)


# --- TIFF variants ---------------------------------------------------------------------------

@pytest.mark.parametrize("arr, kw", [
    (GREY16, {}),
    ((GREY16 >> 8).astype(np.uint8), {}),
    (GREY16.astype(np.float32) / 7, {}),
    (GREY16.astype(np.int16) - 30000, {}),
    (rng.integers(0, 4000, (5, 20, 24), dtype=np.uint16), {}),                      # Z stack
    (rng.integers(0, 4000, (4, 2, 20, 24), dtype=np.uint16),
     {"imagej": True, "metadata": {"axes": "ZCYX"}}),                                  # hyperstack
    (RGB8, {"photometric": "rgb"}),
    (GREY16, {"compression": "zlib"}),
    pytest.param(GREY16, {"compression": "lzw"}, marks=pytest.mark.skipif(
        importlib.util.find_spec("imagecodecs") is None, reason="LZW needs imagecodecs")),
    (GREY16, {"byteorder": ">"}),
], ids=["u16", "u8", "f32", "i16", "zstack", "hyperstack", "rgb", "zlib", "lzw", "big_endian"])
def test_tiff_variants_read_back_exactly(tmp_path, arr, kw):
    path = write(tmp_path, "a.tif", tiff_bytes(arr, **kw))
    out = imread(path)
    assert out.dtype == arr.dtype and out.dtype.isnative
    np.testing.assert_array_equal(out, arr)


# --- PNG and JPEG variants -------------------------------------------------------------------

def test_png_variants_read_back_exactly(tmp_path):
    grey8 = RGB8[..., 0]
    np.testing.assert_array_equal(imread(io.BytesIO(pil_bytes(grey8, "PNG"))), grey8)
    np.testing.assert_array_equal(imread(io.BytesIO(pil_bytes(GREY16, "PNG"))), GREY16)
    np.testing.assert_array_equal(imread(io.BytesIO(pil_bytes(RGB8, "PNG"))), RGB8)
    rgb16 = rng.integers(0, 65535, (9, 11, 3), dtype=np.uint16)
    png16 = cv2.imencode(".png", rgb16[..., ::-1])[1].tobytes()  # OpenCV writes BGR
    out = imread(io.BytesIO(png16))
    assert out.dtype == np.uint16
    np.testing.assert_array_equal(out, rgb16)


def test_alpha_is_dropped_and_palettes_become_colours(tmp_path):
    rgba = np.dstack([RGB8, np.full(RGB8.shape[:2], 7, np.uint8)])
    np.testing.assert_array_equal(imread(io.BytesIO(pil_bytes(rgba, "PNG"))), RGB8)
    la = Image.fromarray(RGB8[..., 0]).convert("LA")
    np.testing.assert_array_equal(imread(io.BytesIO(pil_bytes(la, "PNG"))), RGB8[..., 0])
    idx = (np.arange(12 * 10).reshape(12, 10) % 5).astype(np.uint8)
    pal = Image.fromarray(idx, "P")
    pal.putpalette([10, 20, 30, 40, 50, 60, 70, 80, 90, 100, 110, 120, 130, 140, 150] + [0] * 753)
    data = pil_bytes(pal, "PNG")
    colours = imread(io.BytesIO(data))
    assert colours.shape == (12, 10, 3)
    assert colours[0, 1].tolist() == [40, 50, 60]
    np.testing.assert_array_equal(read_labels(io.BytesIO(data)), idx)


def test_jpeg_reads_grey_and_colour():
    grey = imread(io.BytesIO(pil_bytes(RGB8[..., 0], "JPEG", quality=95)))
    assert grey.shape == RGB8.shape[:2] and grey.dtype == np.uint8
    colour = imread(io.BytesIO(pil_bytes(RGB8, "JPEG", quality=95)))
    assert colour.shape == RGB8.shape
    cmyk = Image.fromarray(RGB8).convert("CMYK")
    assert imread(io.BytesIO(pil_bytes(cmyk, "JPEG"))).shape == RGB8.shape


# --- every problem is one ImageReadError naming the file -------------------------------------

def truncated(data: bytes) -> bytes:
    return data[: len(data) // 2]


def png_claiming_size(width, height) -> bytes:
    """A PNG whose header claims a huge size but holds almost no data."""
    ihdr = struct.pack(">IIBBBBB", width, height, 8, 0, 0, 0, 0)
    return (b"\x89PNG\r\n\x1a\n" + struct.pack(">I", 13) + b"IHDR" + ihdr + b"\0" * 4
            + b"\0" * 12)


BAD_FILES = {
    "empty": (b"", "empty file"),
    "gif": (b"GIF89a" + b"\0" * 40, "unsupported format (looks like GIF)"),
    "text": (b"hello, world\n", "unsupported format"),
    "npy": (b"\x93NUMPY" + b"\0" * 40, "looks like NumPy"),
    "tiff_truncated": (truncated(tiff_bytes(GREY16)), "corrupt or truncated TIFF"),
    "tiff_header_only": (tiff_bytes(GREY16)[:8], "corrupt or truncated TIFF"),
    "tiff_zlib_truncated": (truncated(tiff_bytes(GREY16, compression="zlib")),
                            "corrupt or truncated TIFF"),
    "png_truncated": (truncated(pil_bytes(RGB8, "PNG")), "corrupt or truncated PNG"),
    "jpeg_truncated": (truncated(pil_bytes(RGB8, "JPEG")), "corrupt or truncated JPEG"),
    "nan": (tiff_bytes(np.full((8, 8), np.nan, np.float32)), "no finite values"),
    "zero_size": (tiff_bytes(np.zeros((8, 0), np.uint8)), "zero size"),
    "png_bomb": (png_claiming_size(200_000, 200_000), "too many pixels"),
}


@pytest.mark.parametrize("case", list(BAD_FILES))
def test_bad_files_raise_one_error_type_naming_the_file_and_problem(tmp_path, case):
    data, problem = BAD_FILES[case]
    path = write(tmp_path, f"bad_{case}.tif", data)
    with pytest.raises(ImageReadError) as info:
        imread(path)
    assert str(path) in str(info.value)
    assert problem in str(info.value)
    assert isinstance(info.value, ValueError)


def test_missing_files_and_folders_are_reported(tmp_path):
    with pytest.raises(ImageReadError, match="nope.tif: file not found"):
        imread(tmp_path / "nope.tif")
    with pytest.raises(ImageReadError, match="is a folder"):
        imread(tmp_path)


def test_max_pixels_is_checked_before_decoding(tmp_path):
    path = write(tmp_path, "big.tif", tiff_bytes(rng.integers(0, 9, (3, 40, 50), np.uint8)))
    assert imread(path, max_pixels=6000).shape == (3, 40, 50)
    with pytest.raises(ImageReadError, match="too many pixels.*6,000 values.*max_pixels=5,999"):
        imread(path, max_pixels=5999)
    jpg = write(tmp_path, "big.jpg", pil_bytes(RGB8, "JPEG"))
    with pytest.raises(ImageReadError, match="too many pixels"):
        imread(jpg, max_pixels=100)


# --- label images ----------------------------------------------------------------------------

def test_read_labels_returns_int32_from_any_integer_file(tmp_path):
    labels = read_labels(DATA / "mask2d.tif")
    assert labels.dtype == np.int32 and labels.shape == (512, 512) and labels.max() == 183
    assert read_labels(DATA / "mask3d.tif").shape == (31, 61, 57)
    as_float = write(tmp_path, "f.tif", tiff_bytes(labels.astype(np.float32)))
    np.testing.assert_array_equal(read_labels(as_float), labels)


@pytest.mark.parametrize("data, problem", [
    (tiff_bytes(np.full((4, 4), 1.5, np.float32)), "fractional"),
    (tiff_bytes(np.full((4, 4), -1, np.int16)), "negative"),
    (pil_bytes(RGB8, "PNG"), "colour channels"),
    (tiff_bytes(RGB8, photometric="rgb"), "colour channels"),
    (pil_bytes(RGB8[..., 0], "JPEG"), "JPEG is lossy"),
    (tiff_bytes(np.zeros((2, 2, 6, 7), np.uint16)), r"2D \(Ly, Lx\) or 3D"),
], ids=["fractional", "negative", "rgb_png", "rgb_tiff", "jpeg", "4d"])
def test_read_labels_rejects_what_cannot_be_labels(tmp_path, data, problem):
    path = write(tmp_path, "labels.tif", data)
    with pytest.raises(ImageReadError, match=problem):
        read_labels(path)


# --- image_info ------------------------------------------------------------------------------

@pytest.mark.parametrize("shape, axes, channels, planes", [
    ((512, 512), "YX", 1, 1),
    ((512, 512, 3), "YXC", 3, 1),
    ((2, 512, 512), "CYX", 2, 1),
    ((31, 61, 57), "ZYX", 1, 31),
    ((10, 3, 64, 64), "ZCYX", 3, 10),
    ((10, 64, 64, 2), "ZYXC", 2, 10),
    ((2, 10, 64, 64), "CZYX", 2, 10),
    ((9, 10, 64, 64), None, 1, 1),
])
def test_image_info_guesses_axes_with_the_small_axis_rule(shape, axes, channels, planes):
    info = image_info(np.zeros(shape, np.uint8))
    assert info["axes"] == axes and info["channels"] == channels and info["planes"] == planes
    assert info["shape"] == shape and info["dtype"] == "uint8"
    if axes:
        assert (info["height"], info["width"]) == (shape[axes.index("Y")], shape[axes.index("X")])


def test_image_info_reports_the_finite_range():
    a = np.array([[1.0, np.nan], [-2.5, 4.0]], np.float32)
    info = image_info(a)
    assert (info["min"], info["max"]) == (-2.5, 4.0)


# --- imsave ----------------------------------------------------------------------------------

@pytest.mark.parametrize("name, arr", [
    ("a.png", GREY16), ("b.png", RGB8), ("c.tif", GREY16.astype(np.float32)),
    ("d.tiff", rng.integers(0, 9, (3, 10, 12), dtype=np.int32)),
])
def test_imsave_round_trips(tmp_path, name, arr):
    imsave(tmp_path / name, arr)
    np.testing.assert_array_equal(imread(tmp_path / name), arr)


def test_imsave_refuses_what_png_cannot_hold(tmp_path):
    with pytest.raises(ValueError, match=".tif, .tiff or .png"):
        imsave(tmp_path / "a.jpg", GREY16)
    with pytest.raises(ValueError, match="uint8 or uint16"):
        imsave(tmp_path / "a.png", GREY16.astype(np.float32))
