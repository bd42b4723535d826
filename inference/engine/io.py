"""Reading images and label images from TIFF, PNG and JPEG files.

The format is recognised from the file's first bytes, never from its extension. Every problem with
a file — missing, empty, of an unsupported format, corrupt or truncated, holding no finite values,
of zero size, or larger than `max_pixels` — raises `ImageReadError`, whose message names the file
and the problem.

Arrays come back as the file stores them: TIFF series with tifffile's axis order (for example
(Z, Y, X), (Z, C, Y, X) or (Y, X, S) for RGB), PNG and JPEG as (Ly, Lx) or (Ly, Lx, 3) in RGB
order (an alpha channel is dropped). Choosing channels is `transforms.py`'s job; `image_info`
only guesses what the axes are.
"""

from __future__ import annotations

import io as _io
import os
import struct
import warnings
from pathlib import Path

import cv2
import numpy as np
import tifffile
from PIL import Image

__all__ = ["ImageReadError", "imread", "read_labels", "image_info", "imsave", "MAX_PIXELS"]

#: Default largest number of values (planes x height x width x channels) `imread` accepts:
#: 2**29, 1 GiB as 16-bit. It guards against decompression bombs; raise it explicitly for
#: bigger data.
MAX_PIXELS = 2**29

_HEADER_BYTES = 132


class ImageReadError(ValueError):
    """A file could not be read as an image; the message names the file and the problem."""


def _name(source) -> str:
    if isinstance(source, (str, os.PathLike)):
        return os.fspath(source)
    return str(getattr(source, "name", "<stream>"))


class _Source:
    """A path or an in-memory copy of a file object, with its first bytes."""

    def __init__(self, source):
        self.name = _name(source)
        self.path: Path | None = None
        self.data: bytes | None = None
        if isinstance(source, (str, os.PathLike)):
            path = Path(source)
            if not path.exists():
                raise ImageReadError(f"{self.name}: file not found")
            if path.is_dir():
                raise ImageReadError(f"{self.name}: is a folder, not an image file")
            try:
                with open(path, "rb") as fh:
                    self.head = fh.read(_HEADER_BYTES)
            except OSError as exc:
                raise ImageReadError(f"{self.name}: cannot be read "
                                     f"({exc.strerror or exc})") from exc
            self.path = path
        elif hasattr(source, "read"):
            data = source.read()
            if not isinstance(data, bytes):
                raise ImageReadError(f"{self.name}: file object must be opened in binary mode")
            self.data, self.head = data, data[:_HEADER_BYTES]
        else:
            raise TypeError(f"expected a path or a binary file object, "
                            f"got {type(source).__name__}")
        if not self.head:
            raise ImageReadError(f"{self.name}: empty file (0 bytes)")

    def stream(self):
        """A binary file object positioned at the start (the caller closes it)."""
        return open(self.path, "rb") if self.path is not None else _io.BytesIO(self.data)

    def read(self) -> bytes:
        if self.data is None:
            try:
                self.data = self.path.read_bytes()
            except OSError as exc:
                raise ImageReadError(f"{self.name}: cannot be read "
                                     f"({exc.strerror or exc})") from exc
        return self.data


def _sniff(head: bytes) -> str:
    """Name the format from the first bytes: 'tiff', 'png', 'jpeg', or a description."""
    if head[:4] in (b"II*\x00", b"MM\x00*", b"II+\x00", b"MM\x00+"):
        return "tiff"
    if head[:8] == b"\x89PNG\r\n\x1a\n":
        return "png"
    if head[:3] == b"\xff\xd8\xff":
        return "jpeg"
    known = [
        (b"BM", "BMP"), (b"GIF8", "GIF"), (b"\x00\x00\x00\x0cjP  ", "JPEG 2000"),
        (b"\xff\x4f\xff\x51", "JPEG 2000"), (b"ZISRAWFILE", "Zeiss CZI"),
        (b"\x89HDF\r\n\x1a\n", "HDF5"), (b"\x93NUMPY", "NumPy .npy"), (b"PK\x03\x04", "ZIP"),
        (b"\x1f\x8b", "gzip"), (b"%PDF", "PDF"), (b"\xda\xce\xbe\x0a", "Nikon ND2"),
        (b"8BPS", "Photoshop PSD"), (b"\x00\x00\x01\x00", "ICO"),
    ]
    for magic, label in known:
        if head.startswith(magic):
            return label
    if head[:4] == b"RIFF" and head[8:12] == b"WEBP":
        return "WebP"
    if head[128:132] == b"DICM":
        return "DICOM"
    if head.lstrip()[:1] in (b"<", b"{", b"["):
        return "text (XML/HTML/JSON)"
    return "unknown"


def _check_size(name: str, shape, max_pixels: int) -> None:
    shape = tuple(int(s) for s in shape)
    if len(shape) == 0 or 0 in shape:
        raise ImageReadError(f"{name}: image has zero size (shape {shape})")
    n = int(np.prod(shape, dtype=np.float64))
    if n > max_pixels:
        raise ImageReadError(f"{name}: too many pixels ({n:,} values, shape {shape}; "
                             f"the limit is max_pixels={max_pixels:,})")


def _read_tiff(name: str, src: _Source, max_pixels: int) -> tuple[np.ndarray, str]:
    try:
        with src.stream() as fh, tifffile.TiffFile(fh) as tif:
            if not tif.series:
                raise ImageReadError(f"{name}: corrupt or truncated TIFF (no image found)")
            series = tif.series[0]
            _check_size(name, series.shape, max_pixels)
            axes = series.axes
            arr = series.asarray()
    except ImageReadError:
        raise
    except MemoryError:
        raise
    except KeyError as exc:  # tifffile: a compression codec is missing
        raise ImageReadError(f"{name}: TIFF cannot be decoded ({exc.args[0]})") from exc
    except Exception as exc:  # tifffile raises many types for damaged files
        raise ImageReadError(f"{name}: corrupt or truncated TIFF ({type(exc).__name__}: "
                             f"{exc})") from exc
    return arr, axes


def _png_header(name: str, data: bytes) -> tuple[int, int, int, int]:
    """(width, height, bit depth, colour type) from the IHDR chunk."""
    if len(data) < 33 or data[12:16] != b"IHDR":
        raise ImageReadError(f"{name}: corrupt or truncated PNG (no IHDR header)")
    width, height, depth, colour = struct.unpack(">IIBB", data[16:26])
    return width, height, depth, colour


def _read_png(name: str, data: bytes, max_pixels: int, palette_indices: bool) -> np.ndarray:
    width, height, depth, colour = _png_header(name, data)
    bands = {0: 1, 2: 3, 3: 3, 4: 2, 6: 4}.get(colour)
    if bands is None:
        raise ImageReadError(f"{name}: corrupt PNG (colour type {colour})")
    _check_size(name, (height, width, bands), max_pixels)
    if not (depth == 16 and colour in (2, 6)):
        return _read_pillow(name, data, "PNG", max_pixels, keep_palette=palette_indices)
    # Pillow reduces 16-bit colour to 8 bits; OpenCV keeps it.
    arr = cv2.imdecode(np.frombuffer(data, np.uint8), cv2.IMREAD_UNCHANGED)
    if arr is None or arr.ndim != 3:
        raise ImageReadError(f"{name}: corrupt or truncated PNG")
    return np.ascontiguousarray(cv2.cvtColor(arr[..., :3], cv2.COLOR_BGR2RGB))


def _read_pillow(name: str, data: bytes, kind: str, max_pixels: int,
                 keep_palette: bool = False) -> np.ndarray:
    try:
        with warnings.catch_warnings():
            # We apply our own limit (max_pixels) below.
            warnings.simplefilter("ignore", Image.DecompressionBombWarning)
            with Image.open(_io.BytesIO(data)) as im:
                width, height = im.size
                _check_size(name, (height, width, len(im.getbands())), max_pixels)
                if im.mode in ("P", "PA"):
                    if not keep_palette:
                        im = im.convert("RGB")
                    elif im.mode == "PA":
                        im = im.getchannel(0)
                elif im.mode in ("CMYK", "YCbCr", "LAB", "HSV"):
                    im = im.convert("RGB")
                elif im.mode in ("LA", "La"):
                    im = im.getchannel(0)
                elif im.mode == "1":
                    im = im.convert("L")
                im.load()
                arr = np.asarray(im)
    except ImageReadError:
        raise
    except Image.DecompressionBombError as exc:
        raise ImageReadError(f"{name}: too many pixels ({exc})") from exc
    except MemoryError:
        raise
    except Exception as exc:  # Pillow raises OSError, SyntaxError, ValueError ...
        raise ImageReadError(f"{name}: corrupt or truncated {kind} ({type(exc).__name__}: "
                             f"{exc})") from exc
    if arr.ndim == 3 and arr.shape[-1] == 4:
        arr = arr[..., :3]
    return np.ascontiguousarray(arr)


def _read_any(source, max_pixels: int, palette_indices: bool = False):
    """Returns (name, array, format, axes reported by the file or None)."""
    src = _Source(source)
    name = src.name
    fmt = _sniff(src.head)
    if fmt == "tiff":
        arr, axes = _read_tiff(name, src, max_pixels)
    elif fmt == "png":
        arr, axes = _read_png(name, src.read(), max_pixels, palette_indices), None
    elif fmt == "jpeg":
        arr, axes = _read_pillow(name, src.read(), "JPEG", max_pixels), None
    else:
        what = "unrecognised content" if fmt == "unknown" else f"looks like {fmt}"
        raise ImageReadError(f"{name}: unsupported format ({what}); "
                             "supported formats are TIFF, PNG and JPEG")
    _check_size(name, arr.shape, max_pixels)
    if arr.dtype == bool:
        arr = arr.astype(np.uint8)
    elif np.iscomplexobj(arr) or arr.dtype.kind not in "uif":
        raise ImageReadError(f"{name}: unsupported pixel type {arr.dtype}")
    if arr.dtype.kind == "f" and not np.isfinite(arr).any():
        raise ImageReadError(f"{name}: image holds no finite values (all NaN or infinite)")
    return name, arr, fmt, axes


def imread(path, *, max_pixels: int = MAX_PIXELS) -> np.ndarray:
    """Read a TIFF, PNG or JPEG image.

    Parameters
    ----------
    path : str, os.PathLike or binary file object
        The format is recognised from the content, not the name.
    max_pixels : int
        Largest number of values (planes x height x width x channels) accepted; checked from
        the header before anything is decoded.

    Returns
    -------
    image : ndarray, shape (Ly, Lx), (Ly, Lx, 3), (Lz, Ly, Lx), (Lz, C, Ly, Lx), ...
        The pixel values as stored (uint8, uint16, int*, float*); TIFF axes in the file's order,
        PNG/JPEG colour as (Ly, Lx, 3) RGB without alpha. Float images may hold some NaNs but not
        only NaNs.

    Raises
    ------
    ImageReadError
        For a missing, empty, unsupported, corrupt, truncated, zero-size, all-NaN or too large
        file; the message names the file.
    """
    return _read_any(path, max_pixels)[1]


def read_labels(path, *, max_pixels: int = MAX_PIXELS) -> np.ndarray:
    """Read a label image (0 = background, 1..N = objects) from a TIFF or PNG file.

    Parameters
    ----------
    path : str, os.PathLike or binary file object

    Returns
    -------
    labels : ndarray of int32, shape (Ly, Lx) or (Lz, Ly, Lx)
        Palette PNGs give their palette indices. Float files are accepted when every value is a
        whole number.

    Raises
    ------
    ImageReadError
        As `imread`, and for JPEG (lossy), colour images, more than 3 axes, negative,
        fractional or > 2**31-1 values.
    """
    name, arr, fmt, axes = _read_any(path, max_pixels, palette_indices=True)
    if fmt == "jpeg":
        raise ImageReadError(f"{name}: JPEG is lossy and cannot hold a label image; "
                             "use PNG or TIFF")
    if (fmt == "png" and arr.ndim == 3) or (axes is not None and "S" in axes):
        raise ImageReadError(f"{name}: label image has colour channels (shape {arr.shape}); "
                             "expected one integer value per pixel")
    if arr.ndim not in (2, 3):
        raise ImageReadError(f"{name}: label image must be 2D (Ly, Lx) or 3D (Lz, Ly, Lx), "
                             f"got shape {arr.shape}")
    if arr.dtype.kind == "f":
        if not (np.isfinite(arr).all() and np.array_equal(arr, np.round(arr))):
            raise ImageReadError(f"{name}: label image holds fractional or NaN values "
                                 f"(dtype {arr.dtype}); expected integer labels")
    if arr.min() < 0:
        raise ImageReadError(f"{name}: label image holds negative values")
    if arr.max() > np.iinfo(np.int32).max:
        raise ImageReadError(f"{name}: label values exceed 2**31-1")
    return arr.astype(np.int32)


def _guess_axes(shape: tuple[int, ...]) -> str | None:
    small = [s <= 4 for s in shape]
    if len(shape) == 2:
        return "YX"
    if len(shape) == 3:
        if small[2]:
            return "YXC"
        if small[0]:
            return "CYX"
        return "ZYX"
    if len(shape) == 4:
        if small[3]:
            return "ZYXC"
        if small[1]:
            return "ZCYX"
        if small[0]:
            return "CZYX"
    return None


def image_info(image: np.ndarray) -> dict:
    """Describe an image array and guess what its axes are.

    Heuristic: a 2D array is 'YX'. An axis of size <= 4 is taken as channels, looked for last,
    then (4D) second, then first: 3D arrays are 'YXC', 'CYX' or else 'ZYX'; 4D arrays are
    'ZYXC', 'ZCYX' or 'CZYX'. Other shapes get axes None.

    Parameters
    ----------
    image : ndarray, any shape

    Returns
    -------
    dict with keys
        shape (tuple), dtype (str), ndim, axes (str or None), channels (int), planes (int),
        height, width (int or None when axes is None), min, max (float, ignoring NaN).
    """
    image = np.asarray(image)
    axes = _guess_axes(image.shape)
    info = {"shape": tuple(int(s) for s in image.shape), "dtype": str(image.dtype),
            "ndim": image.ndim, "axes": axes, "channels": 1, "planes": 1,
            "height": None, "width": None, "min": None, "max": None}
    if axes is not None:
        size = dict(zip(axes, image.shape))
        info.update(channels=int(size.get("C", 1)), planes=int(size.get("Z", 1)),
                    height=int(size["Y"]), width=int(size["X"]))
    if image.size and image.dtype.kind in "uifb":
        finite = image[np.isfinite(image)] if image.dtype.kind == "f" else image
        if finite.size:
            info["min"], info["max"] = float(finite.min()), float(finite.max())
    return info


def imsave(path, image: np.ndarray) -> None:
    """Write an image to a TIFF (any dtype and shape) or PNG (uint8/uint16, (Ly, Lx) or
    (Ly, Lx, 3|4) RGB(A)) file, chosen by the extension (.tif, .tiff, .png).

    TIFFs are zlib-compressed; an 8- or 16-bit (Ly, Lx, 3|4) array is stored as RGB(A), any
    other array as grey planes.
    """
    image = np.asarray(image)
    ext = Path(path).suffix.lower()
    if ext in (".tif", ".tiff"):
        rgb = image.ndim == 3 and image.shape[-1] in (3, 4) and image.dtype in (np.uint8,
                                                                                np.uint16)
        tifffile.imwrite(path, image, photometric="rgb" if rgb else "minisblack",
                         compression="zlib")
        return
    if ext != ".png":
        raise ValueError(f"imsave writes .tif, .tiff or .png files, got {os.fspath(path)!r}")
    if image.dtype not in (np.uint8, np.uint16):
        raise ValueError(f"PNG holds uint8 or uint16 pixels, got {image.dtype}")
    if image.ndim == 3 and image.shape[-1] in (3, 4):
        code = cv2.COLOR_RGB2BGR if image.shape[-1] == 3 else cv2.COLOR_RGBA2BGRA
        image = cv2.cvtColor(image, code)
    elif image.ndim != 2:
        raise ValueError(f"PNG image must be (Ly, Lx) or (Ly, Lx, 3|4), got shape {image.shape}")
    ok, buf = cv2.imencode(".png", image)
    if not ok:
        raise ValueError(f"OpenCV could not encode an image of shape {image.shape} as PNG")
    Path(path).write_bytes(buf.tobytes())
