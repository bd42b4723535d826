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
    array: np.ndarray, axes: str, *, plane: int | None = None, channel: int | None = None, step: int = 1,
    levels=None,
) -> np.ndarray:
    """An 8-bit picture of one plane: each channel scaled from its 1st..99th percentile to 0..255.

    plane : index into Z (default: the middle plane). channel : 0-based channel shown in grey;
    None shows one channel in grey, two as red/green, three or more as RGB of the first three.
    step : keep every step-th row and column (a cheap preview of a large image).
    levels : (lo, hi) of every channel (`display_levels`) instead of the plane's percentiles.

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
    shown = [channel] if channel is not None else list(range(min(3, n_channels)))
    if levels is not None:
        return compose(scale_to_levels(zcyx[plane][shown], [levels[c] for c in shown]))
    cyx = zcyx[plane].astype(np.float32)
    cyx = np.nan_to_num(cyx, nan=0.0, posinf=0.0, neginf=0.0)
    cyx = cyx[shown]
    scaled = np.clip(normalize99(cyx, channel_axis=0), 0.0, 1.0)
    return compose((scaled * 255.0 + 0.5).astype(np.uint8))


def display_levels_of(array: np.ndarray, axes: str, *, max_values: int = 2**22) -> list[list[float]]:
    """[[lo, hi], ...] per channel: the 1st and 99th percentiles of the finite values of a
    subsample of ``array`` (every step-th row, column and plane, at most about ``max_values``
    values per channel, from at most 16 planes), as `render_plane` shows them when given ``levels``."""
    zcyx = to_zcyx(array, axes)
    n_z, n_c, n_y, n_x = zcyx.shape
    planes = np.unique(np.linspace(0, n_z - 1, min(n_z, 16)).astype(int))
    step = max(1, int(np.ceil(np.sqrt(planes.size * n_y * n_x / max_values))))
    sample = zcyx[planes][:, :, ::step, ::step]
    levels = []
    for c in range(n_c):
        values = sample[:, c].astype(np.float64).ravel()
        values = values[np.isfinite(values)]
        lo, hi = np.percentile(values, [1.0, 99.0]) if values.size else (0.0, 1.0)
        levels.append([float(lo), float(hi)])
    return levels


def scale_to_levels(cyx: np.ndarray, levels) -> np.ndarray:
    """cyx : real ndarray (C, Ly, Lx); levels : (lo, hi) per channel. Returns uint8 (C, Ly, Lx):
    lo and below -> 0, hi and above -> 255 (a channel with lo == hi: 0 up to lo, 255 above)."""
    out = np.empty(cyx.shape, np.uint8)
    lookup = cyx.dtype.kind == "u" and cyx.dtype.itemsize <= 2  # 8/16-bit: one table look-up per pixel
    for c, (lo, hi) in enumerate(levels):
        if lookup:
            values = np.arange(2 ** (8 * cyx.dtype.itemsize), dtype=np.float32)
            out[c] = scale_to_levels(values[np.newaxis, np.newaxis], [(lo, hi)])[0, 0][cyx[c]]
            continue
        plane = np.nan_to_num(cyx[c].astype(np.float32), nan=0.0, posinf=0.0, neginf=0.0)
        if hi > lo:
            scaled = np.clip((plane - np.float32(lo)) / np.float32(hi - lo), 0.0, 1.0) * 255.0 + 0.5
        else:
            scaled = np.where(plane > lo, 255, 0)
        out[c] = scaled.astype(np.uint8)
    return out


def compose(out: np.ndarray) -> np.ndarray:
    """uint8 (C, Ly, Lx) with C of 1..3 -> grey (Ly, Lx) or RGB (Ly, Lx, 3) (two channels: red/green)."""
    if out.shape[0] == 1:
        return out[0]
    if out.shape[0] == 2:
        out = np.concatenate([out, np.zeros_like(out[:1])])
    return np.ascontiguousarray(np.moveaxis(out, 0, -1))


def thumbnail(array: np.ndarray, axes: str, *, size: int, levels=None) -> np.ndarray:
    """The middle plane, all channels, at most ``size`` pixels on its long side (uint8).
    levels : (lo, hi) per channel, as for `render_plane` (default: the plane's percentiles)."""
    long_side = max(spatial_shape(array.shape, axes)[-2:])
    step = max(1, long_side // (4 * size))  # subsample huge images before scaling them
    picture = PILImage.fromarray(render_plane(array, axes, step=step, levels=levels))
    picture.thumbnail((size, size), PILImage.Resampling.LANCZOS)
    return np.asarray(picture)


def png_bytes(picture: np.ndarray) -> bytes:
    """picture : uint8 (Ly, Lx) grey or (Ly, Lx, 3) RGB."""
    buf = io.BytesIO()
    PILImage.fromarray(picture).save(buf, format="PNG", compress_level=3)
    return buf.getvalue()
