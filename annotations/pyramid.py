"""Multiscale OME-Zarr pyramids (NGFF 0.4): writing one from a `BandSource`, downsampling a level
into the next one block by block, and the display range of a subsample.

Layout of a group: arrays "0", "1", ... each half the size of the one before in Y and X (Z and
channels are kept), chunks of `TILE` x `TILE` (one plane deep, all channels), and ``multiscales``
metadata naming the axes. Levels are added until one fits in a single tile. Label groups (uint32,
no channel axis) are downsampled by nearest neighbour, images by the mean of each 2 x 2 block.
Nothing here reads a whole level: blocks of 2 x 2 chunks at most, and bands of `TILE` rows of the
source.
"""
import math

import numpy as np
import zarr

__all__ = ["TILE", "chunks_for", "downsample_level", "halved", "level_count", "percentile_levels",
           "write_image_pyramid", "write_multiscales"]

TILE = 512
AXIS_META = {"Z": {"name": "z", "type": "space"}, "Y": {"name": "y", "type": "space"},
             "X": {"name": "x", "type": "space"}, "C": {"name": "c", "type": "channel"}}


def level_count(height: int, width: int, tile: int = TILE) -> int:
    """How many levels a (height, width) image gets: halving until the long side fits one tile."""
    n, side = 1, max(height, width)
    while side > tile:
        side = math.ceil(side / 2)
        n += 1
    return n


def chunks_for(shape: tuple, axes: str, tile: int) -> tuple:
    """The chunk shape of an array laid out as ``axes``: one plane, tile x tile, all channels."""
    return tuple({"Z": 1, "Y": tile, "X": tile}.get(a, n) for a, n in zip(axes, shape))


def halved(shape: tuple, axes: str) -> tuple:
    """The shape of the next level: Y and X halved (rounded up), Z and channels kept."""
    return tuple(math.ceil(n / 2) if a in "YX" else n for a, n in zip(axes, shape))


def write_multiscales(group: zarr.Group, *, axes: str, n_levels: int, name: str, extra: dict | None = None) -> None:
    """Write the NGFF 0.4 ``multiscales`` metadata of ``group`` (levels "0".."n_levels - 1")."""
    datasets = []
    for level in range(n_levels):
        scale = [float(2**level) if a in "YX" else 1.0 for a in axes]
        datasets.append({"path": str(level), "coordinateTransformations": [{"type": "scale", "scale": scale}]})
    attrs = {"multiscales": [{"version": "0.4", "name": name, "axes": [AXIS_META[a] for a in axes],
                              "datasets": datasets}]}
    attrs.update(extra or {})
    group.attrs.update(attrs)


def _mean_2x2(block: np.ndarray, y_axis: int) -> np.ndarray:
    """The mean of each 2 x 2 block of (Y, X) at axes (y_axis, y_axis + 1); odd edges repeat.
    Integers are summed exactly and rounded half up; floats keep their precision."""
    pad = [(0, 0)] * block.ndim
    pad[y_axis] = (0, block.shape[y_axis] % 2)
    pad[y_axis + 1] = (0, block.shape[y_axis + 1] % 2)
    if any(p[1] for p in pad):
        block = np.pad(block, pad, mode="edge")
    dtype = block.dtype
    wide = np.int64 if dtype.kind in "iub" else (np.float64 if dtype.itemsize > 4 else np.float32)

    def quarter(dy, dx):
        index = [slice(None)] * block.ndim
        index[y_axis], index[y_axis + 1] = slice(dy, None, 2), slice(dx, None, 2)
        return block[tuple(index)].astype(wide)

    total = quarter(0, 0)
    for dy, dx in ((0, 1), (1, 0), (1, 1)):
        total += quarter(dy, dx)
    if dtype.kind in "iub":
        return ((total + 2) // 4).astype(dtype)
    return (total * 0.25).astype(dtype)


def downsample_level(source: zarr.Array, target: zarr.Array, *, axes: str, labels: bool, tile: int = TILE) -> None:
    """Fill ``target`` (Y and X halved) from ``source`` one output chunk at a time.

    labels : nearest neighbour (every other pixel) instead of the 2 x 2 mean, so no label is invented.
    """
    y_axis = axes.index("Y")
    n_z = source.shape[0] if axes[0] == "Z" else 1
    height, width = target.shape[y_axis], target.shape[y_axis + 1]
    for z in range(n_z):
        lead = (z,) if axes[0] == "Z" else ()
        for y0 in range(0, height, tile):
            for x0 in range(0, width, tile):
                y1, x1 = min(y0 + tile, height), min(x0 + tile, width)
                block = source[lead + (slice(2 * y0, 2 * y1), slice(2 * x0, 2 * x1))]
                if labels:
                    small = block[::2, ::2]
                else:
                    small = _mean_2x2(block, 0)[: y1 - y0, : x1 - x0]
                target[lead + (slice(y0, y1), slice(x0, x1))] = small


def write_image_pyramid(source, group: zarr.Group, *, name: str, tile: int = TILE, progress=None) -> list[tuple]:
    """Write ``source`` (a `annotations.sources.BandSource`) as the multiscale image of ``group``.

    Level 0 is written in bands of ``tile`` rows read from the source; each further level is
    made from the one before. ``progress(done, total)`` is called after each band and level.
    Returns the shape of every level.
    """
    n_z, height, width, n_c = source.shape
    axes = source.axes
    full = tuple(n for a, n in zip("ZYXC", (n_z, height, width, n_c)) if a in axes)
    n_levels = level_count(height, width, tile)
    level0 = group.create_dataset("0", shape=full, chunks=chunks_for(full, axes, tile), dtype=source.dtype,
                                  fill_value=0, overwrite=True)
    bands = [(z, y0) for z in range(n_z) for y0 in range(0, height, tile)]
    total = len(bands) + n_levels - 1
    for done, (z, y0) in enumerate(bands, 1):
        y1 = min(y0 + tile, height)
        band = source.band(z, y0, y1)
        if "C" not in axes:
            band = band[..., 0]
        level0[((z,) if "Z" in axes else ()) + (slice(y0, y1),)] = band
        if progress:
            progress(done, total)
    shapes = [full]
    previous = level0
    for level in range(1, n_levels):
        shape = halved(previous.shape, axes)
        array = group.create_dataset(str(level), shape=shape, chunks=chunks_for(shape, axes, tile),
                                     dtype=source.dtype, fill_value=0, overwrite=True)
        downsample_level(previous, array, axes=axes, labels=False, tile=tile)
        shapes.append(shape)
        previous = array
        if progress:
            progress(len(bands) + level, total)
    write_multiscales(group, axes=axes, n_levels=n_levels, name=name)
    return shapes


def percentile_levels(sample: np.ndarray, *, lower: float = 1.0, upper: float = 99.0) -> list[list[float]]:
    """[[lo, hi], ...] per channel: the ``lower`` and ``upper`` percentiles of the finite values.

    sample : ndarray (..., C), any real dtype; the last axis is the channels.
    A channel with no finite value gets [0, 1].
    """
    levels = []
    for c in range(sample.shape[-1]):
        values = np.asarray(sample[..., c]).ravel()
        if values.dtype.kind == "f":
            values = values[np.isfinite(values)]
        if values.size == 0:
            levels.append([0.0, 1.0])
            continue
        lo, hi = np.percentile(values, [lower, upper])
        levels.append([float(lo), float(hi)])
    return levels
