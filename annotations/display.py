"""Turning stored image arrays into pictures for people: thumbnails and viewer planes (8-bit PNG).

Arrays are first put in (Lz, C, Ly, Lx) order from the ``axes`` recorded at upload (the engine's
``io.image_info`` guess): "YX", "YXC", "CYX", "ZYX", "ZYXC", "ZCYX" or "CZYX".
"""
import io

import numpy as np
from PIL import Image as PILImage

from inference.engine import normalize99

SUPPORTED_AXES = ("YX", "YXC", "CYX", "ZYX", "ZYXC", "ZCYX", "CZYX")


def to_zcyx(array: np.ndarray, axes: str) -> np.ndarray:
    """array : ndarray laid out as ``axes``. Returns a view of shape (Lz, C, Ly, Lx)."""
    if axes not in SUPPORTED_AXES or len(axes) != array.ndim:
        raise ValueError(f"cannot display an array of shape {array.shape} with axes {axes!r}")
    full = axes
    for axis in "ZC":
        if axis not in full:
            array = array[np.newaxis]
            full = axis + full
    return np.transpose(array, [full.index(a) for a in "ZCYX"])


def spatial_shape(shape, axes: str) -> tuple:
    """The (Ly, Lx) or (Lz, Ly, Lx) shape that masks of this image have."""
    sizes = dict(zip(axes, shape))
    return tuple(int(sizes[a]) for a in "ZYX" if a in sizes)


def render_plane(
    array: np.ndarray, axes: str, *, plane: int | None = None, channel: int | None = None, step: int = 1
) -> np.ndarray:
    """An 8-bit picture of one plane: each channel scaled from its 1st..99th percentile to 0..255.

    plane : index into Z (default: the middle plane). channel : 0-based channel shown in grey;
    None shows one channel in grey, two as red/green, three or more as RGB of the first three.
    step : keep every step-th row and column (a cheap preview of a large image).

    Returns ndarray of uint8, shape (Ly, Lx) or (Ly, Lx, 3) (divided by step, rounded up).
    """
    zcyx = to_zcyx(array, axes)[..., ::step, ::step]
    n_planes, n_channels = zcyx.shape[:2]
    if plane is None:
        plane = n_planes // 2
    if not 0 <= plane < n_planes:
        raise ValueError(f"plane must be between 0 and {n_planes - 1}")
    if channel is not None and not 0 <= channel < n_channels:
        raise ValueError(f"channel must be between 0 and {n_channels - 1}")
    cyx = zcyx[plane].astype(np.float32)
    cyx = np.nan_to_num(cyx, nan=0.0, posinf=0.0, neginf=0.0)
    if channel is not None:
        cyx = cyx[channel : channel + 1]
    else:
        cyx = cyx[:3]
    scaled = np.clip(normalize99(cyx, channel_axis=0), 0.0, 1.0)
    out = (scaled * 255.0 + 0.5).astype(np.uint8)
    if out.shape[0] == 1:
        return out[0]
    if out.shape[0] == 2:
        out = np.concatenate([out, np.zeros_like(out[:1])])
    return np.ascontiguousarray(np.moveaxis(out, 0, -1))


# Stored types sent as they are (little-endian); any other type is sent as float32.
CHANNEL_DTYPES = ("uint8", "uint16", "int16", "float32")


def channel_values(array: np.ndarray, axes: str, *, plane: int | None = None) -> np.ndarray:
    """The stored values of every channel of one plane, for measuring and display levels in the browser.

    plane : index into Z (default: the middle plane).

    Returns ndarray of shape (C, Ly, Lx), C order, little-endian: the stored type when it is one of
    ``CHANNEL_DTYPES`` (uint8, uint16, int16, float32), else float32; non-finite values become 0.
    """
    zcyx = to_zcyx(array, axes)
    n_planes = zcyx.shape[0]
    if plane is None:
        plane = n_planes // 2
    if not 0 <= plane < n_planes:
        raise ValueError(f"plane must be between 0 and {n_planes - 1}")
    cyx = zcyx[plane]
    dtype = cyx.dtype.name if cyx.dtype.name in CHANNEL_DTYPES else "float32"
    out = np.ascontiguousarray(cyx, dtype=np.dtype(dtype).newbyteorder("<"))
    if dtype == "float32":
        out = np.nan_to_num(out, copy=False, nan=0.0, posinf=0.0, neginf=0.0)
    return out


def thumbnail(array: np.ndarray, axes: str, *, size: int) -> np.ndarray:
    """The middle plane, all channels, at most ``size`` pixels on its long side (uint8)."""
    long_side = max(spatial_shape(array.shape, axes)[-2:])
    step = max(1, long_side // (4 * size))  # subsample huge images before scaling them
    picture = PILImage.fromarray(render_plane(array, axes, step=step))
    picture.thumbnail((size, size), PILImage.Resampling.LANCZOS)
    return np.asarray(picture)


def png_bytes(picture: np.ndarray) -> bytes:
    """picture : uint8 (Ly, Lx) grey or (Ly, Lx, 3) RGB."""
    buf = io.BytesIO()
    PILImage.fromarray(picture).save(buf, format="PNG", compress_level=3)
    return buf.getvalue()
