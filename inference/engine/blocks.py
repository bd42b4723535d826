"""Block-wise segmentation of images and volumes too large to segment in one piece.

The image is cut into blocks (`plan_blocks`): each block *owns* a core, the cores tile the image
exactly, and each block is segmented on its core grown by ``overlap`` pixels on every side (its
padded region), so that a cell cut by a core border is seen whole by the blocks on both sides.
The pieces are then joined by `stitch_blocks.stitch_labels`: labels that cover the same pixels in
the strip two padded regions share are merged, and each core is written with consecutive global
labels. Every block is normalised with the same percentiles, computed once from a bounded sample
of the whole image (`global_normalisation`), and segmented at one diameter, so a block sees the
image as a whole-image segmentation would.

The steps are separate so that blocks can run anywhere (worker processes, GPUs) and be collected
later; `segment_blocks` runs them all in this process::

    plan = plan_blocks(image.shape[:2], block_size=2048, overlap=128)
    lo_hi = global_normalisation(image, channel_axis=2)
    labels = {b.index: segment_block(model, image[b.padded], b, diameter=17.0,
                                     normalisation=lo_hi, channels=(0, 0)) for b in plan}
    n = stitch_labels(plan, lambda b: labels[b.index], sink)

Memory is bounded by the block size: the source and the sink are only read and written one block
(or one bounded sample) at a time, so they can be `np.memmap` or `zarr` arrays larger than memory.
"""
from __future__ import annotations

import itertools
import math
import os
import shutil
import tempfile
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from .lattice import NetLattice, Region
from .stitch_blocks import stitch_labels

__all__ = [
    "Block",
    "SegmentationCancelled",
    "estimate_block_diameter",
    "global_normalisation",
    "plan_blocks",
    "segment_block",
    "segment_blocks",
    "stitch_labels",
]

#: Pixels sampled per channel by `global_normalisation` when not told otherwise.
MAX_SAMPLES = 2**20
#: Rows (planes for a volume) per band in which `global_normalisation` reads its sample.
SAMPLE_BAND = 256
#: Side of the full-resolution windows `segment_blocks` estimates the diameter on.
DIAMETER_WINDOW = 1024


class SegmentationCancelled(Exception):
    """Raised by `segment_blocks` when its ``should_stop()`` returns True (between blocks)."""


@dataclass(frozen=True)
class Block:
    """One block of a plan, in the image's spatial coordinates ((Y, X) or (Z, Y, X)).

    index : tuple of int
        The block's position in the grid of blocks, one entry per spatial axis.
    core : tuple of slice
        The region whose final labels this block writes; the cores of a plan tile the image.
    padded : tuple of slice
        The region the block is segmented on and labels: the core grown by the overlap on each
        side, clipped to the image.
    image_shape : tuple of int, optional
        The whole image's spatial shape: `segment_block` runs the block on the whole image's
        network lattice (resize, tiles and flips) when it is known.
    context : tuple of slice, optional
        The region the network reads: the padded region grown in Y and X to the whole network
        tiles it needs when planned with a lattice, so that the network output over the padded
        region is the whole image's. None (the default) = the padded region.
    """

    index: tuple[int, ...]
    core: tuple[slice, ...]
    padded: tuple[slice, ...]
    image_shape: tuple[int, ...] | None = None
    context: tuple[slice, ...] | None = None

    def __post_init__(self):
        if self.context is None:
            object.__setattr__(self, "context", self.padded)
        elif any(c.start > p.start or c.stop < p.stop for c, p in zip(self.context, self.padded)):
            raise ValueError(f"a block's context {self.context} must hold its padded region {self.padded}")

    @property
    def shape(self) -> tuple[int, ...]:
        """The padded region's shape."""
        return tuple(s.stop - s.start for s in self.padded)


def plan_blocks(shape, *, block_size=2048, overlap=128, lattice: NetLattice | None = None) -> list[Block]:
    """Cut an image into blocks of at most `block_size` with `overlap` pixels of context.

    Parameters
    ----------
    shape : tuple of int
        The image's spatial shape, (Ly, Lx) or (Lz, Ly, Lx) (no channel axis).
    block_size : int or tuple of int
        The largest core per axis. Each axis is cut into ceil(L / block_size) cores of equal
        size (to a pixel), so no block is a thin leftover.
    overlap : int or tuple of int
        Context added on each side of a core (clipped to the image); >= 0. It should exceed the
        largest cell diameter so that a cell on a border is seen whole from both sides.
    lattice : NetLattice, optional
        The whole image's network lattice over (Ly, Lx) (`CellposeModel.net_lattice` at the
        diameter and options the blocks will be segmented with). Each block's context (what the
        network reads) is then its padded region grown in Y and X to the whole tiles of the
        lattice that the padded region needs (`lattice.NetLattice.aligned`), so that the network
        output over the padded region equals the whole image's.

    Returns
    -------
    list of Block
        In C order of their index (the last axis fastest).
    """
    shape = tuple(int(n) for n in shape)
    if len(shape) not in (2, 3) or min(shape) < 1:
        raise ValueError(f"shape must be a spatial shape (Ly, Lx) or (Lz, Ly, Lx) of positive sizes, got {shape}")
    sizes = _per_axis(block_size, len(shape), "block_size", minimum=1)
    overlaps = _per_axis(overlap, len(shape), "overlap", minimum=0)
    if lattice is not None and tuple(lattice.shape) != shape[-2:]:
        raise ValueError(f"the lattice is for an image of {tuple(lattice.shape)}, not {shape[-2:]}")
    edges = []
    for n, size in zip(shape, sizes):
        count = -(-n // size)
        edges.append([round(k * n / count) for k in range(count + 1)])
    plan = []
    for index in itertools.product(*(range(len(e) - 1) for e in edges)):
        core = tuple(slice(e[k], e[k + 1]) for e, k in zip(edges, index))
        padded = tuple(slice(max(0, c.start - o), min(n, c.stop + o)) for c, o, n in zip(core, overlaps, shape))
        context = None if lattice is None else padded[:-2] + lattice.aligned(padded[-2:])
        plan.append(Block(index=tuple(index), core=core, padded=padded, image_shape=shape, context=context))
    return plan


def global_normalisation(source, *, channel_axis=None, max_samples: int = MAX_SAMPLES,
                         lower: float = 1.0, upper: float = 99.0) -> tuple[np.ndarray, np.ndarray]:
    """Per-channel percentiles of a large image from a bounded sample, for normalising every block alike.

    The percentiles are those `transforms.normalize99` takes (1 and 99 by default). The sample
    is every s-th pixel along each spatial axis, s the smallest step that keeps it within
    `max_samples` pixels (an image that small is read whole); it is read in bands of about 256
    rows (planes) of the image, so memory holds the sample and one band's share, never the image. A strided
    lattice estimates the percentiles far better than a few windows would (cells are clustered);
    the price is that a chunked array decompresses every chunk once to serve it.

    Parameters
    ----------
    source : array-like of a real dtype (ndarray, np.memmap, zarr.Array)
        2 to 4 dimensions: the spatial axes and, optionally, one channel axis. Read through
        strided slices (``source[a:b:s, ::s]``).
    channel_axis : int, optional
        The channel axis; None = one channel.
    max_samples : int
        About how many pixels (per channel) to read.
    lower, upper : float
        The percentiles.

    Returns
    -------
    lo, hi : ndarray of float32, shape (C,)
        Per channel (C = 1 without a channel axis): the values that map to 0 and 1.
    """
    shape = tuple(source.shape)
    if len(shape) not in (2, 3, 4):
        raise ValueError(f"source must have 2 or 3 spatial axes and at most one channel axis, got shape {shape}")
    if not 0.0 <= lower < upper <= 100.0:
        raise ValueError(f"global_normalisation needs 0 <= lower < upper <= 100, got {lower}, {upper}")
    if int(max_samples) < 1:
        raise ValueError(f"max_samples must be >= 1, got {max_samples}")
    c_ax = None if channel_axis is None else _axis(channel_axis, len(shape))
    spatial = [a for a in range(len(shape)) if a != c_ax]
    if len(spatial) not in (2, 3):
        raise ValueError(f"source must have 2 or 3 spatial axes, got shape {shape} with channel_axis={channel_axis}")
    n_channels = 1 if c_ax is None else shape[c_ax]
    values = []
    for window in _sample_bands([shape[a] for a in spatial], int(max_samples)):
        index = [slice(None)] * len(shape)
        for a, s in zip(spatial, window):
            index[a] = s
        part = np.asarray(source[tuple(index)])
        part = part[..., np.newaxis] if c_ax is None else np.moveaxis(part, c_ax, -1)
        values.append(part.reshape(-1, n_channels).astype(np.float32))
    sample = np.concatenate(values)
    if not np.isfinite(sample).all():
        raise ValueError("source contains NaN or infinite values; replace them before segmenting")
    lo, hi = np.percentile(sample, [lower, upper], axis=0).astype(np.float32)
    return lo, hi


def segment_block(model, pixels, block: Block, *, diameter, normalisation, **segment_options) -> np.ndarray:
    """Segment one block's padded region, normalised by the whole image's percentiles.

    The network reads the block's context and, when the block knows its image's shape, runs on
    the whole image's network lattice (`lattice` module: the whole image's resize, tiles and
    flips), so that its output over the padded region is the whole image's where the context
    holds the tiles it needs (`plan_blocks` with a lattice). 3D blocks segmented with ``do_3d``
    run on their own lattice.

    Parameters
    ----------
    model : CellposeModel
    pixels : ndarray of a real dtype, shape of ``block.context`` (+ (C,))
        The context's pixels (``source[block.context]``, which is ``source[block.padded]`` for a
        block planned without a lattice): spatial axes first, then an optional channel axis.
    block : Block
    diameter : float
        The cell diameter in pixels, one for the whole image (see `segment_blocks`).
    normalisation : (lo, hi)
        From `global_normalisation`: arrays of shape (C,) (or scalars), the values of each
        channel that map to 0 and 1. A channel with ``hi == lo`` is only shifted.
    **segment_options
        Passed to `CellposeModel.segment` (channels, do_3d or stitch_threshold for a 3D block,
        cellprob_threshold, flow_threshold, min_size, augment, ...). ``diameter``,
        ``channel_axis``, ``z_axis``, ``normalize`` and ``region`` are set here.

    Returns
    -------
    ndarray of uint32, shape ``block.shape``
        The block's own labels: 0 = background, 1..n = cells (cut at the padded border).
    """
    pixels = np.asarray(pixels)
    nd = len(block.padded)
    context = tuple(s.stop - s.start for s in block.context)
    if pixels.shape[:nd] != context or pixels.ndim not in (nd, nd + 1):
        raise ValueError(f"pixels must be the block's context {context} (its padded region unless planned "
                         f"with a lattice) with an optional trailing channel axis, got shape {pixels.shape}")
    if isinstance(diameter, bool) or not (isinstance(diameter, (int, float, np.number)) and math.isfinite(diameter)
                                          and diameter > 0):
        raise ValueError(f"diameter must be a positive number of pixels (one for the whole image), got {diameter!r}")
    fixed = {"diameter", "channel_axis", "z_axis", "normalize", "region"} & set(segment_options)
    if fixed:
        raise ValueError(f"segment_block sets {', '.join(sorted(fixed))} itself")
    if nd == 3:
        _check_3d_options(segment_options)
    x = _normalised(pixels, normalisation, n_channels=pixels.shape[-1] if pixels.ndim > nd else 1)
    region = None
    if block.image_shape is not None and not segment_options.get("do_3d"):  # 3D networks keep the block's own
        region = Region(tuple(block.image_shape[-2:]), tuple(block.context[-2:]))
    result = model.segment(x, diameter=float(diameter), channel_axis=nd if pixels.ndim > nd else None,
                           z_axis=0 if nd == 3 else None, normalize=False, region=region, **segment_options)
    return _consecutive(result.masks[tuple(slice(p.start - c.start, p.stop - c.start)
                                           for p, c in zip(block.padded, block.context))])


def segment_blocks(model, source, sink, *, block_size=2048, overlap=128, diameter=None, channels=(0, 0),
                   on_block: Callable[[int, int], None] | None = None,
                   should_stop: Callable[[], bool] | None = None, workdir=None, iou_threshold: float = 0.25,
                   **segment_options) -> int:
    """Segment a large image or volume block by block in this process and stitch the labels.

    Parameters
    ----------
    model : CellposeModel
    source : array-like of a real dtype (ndarray, np.memmap, zarr.Array)
        ``sink.shape`` (spatial: (Ly, Lx), or (Lz, Ly, Lx) with ``do_3d=True`` or
        ``stitch_threshold``) plus an optional trailing channel axis. Read one block (its context) at a
        time.
    sink : ndarray or zarr.Array of an integer dtype (uint32 advised), shape (Ly, Lx) or (Lz, Ly, Lx)
        Receives the labels: 0 = background, 1..N = cells.
    block_size, overlap : int or tuple of int
        See `plan_blocks`.
    diameter : float, optional
        Cell diameter in pixels. None: estimated by the size model on the 1024-pixel window (of
        the central plane of a volume) with the most contrast among a 3 x 3 grid of windows at full
        resolution, or the model's `diam_mean` without a size model.
    channels : (cyto, nucleus)
        As in `CellposeModel.segment`.
    on_block : callable(done: int, total: int), optional
        Called after each block is segmented.
    should_stop : callable() -> bool, optional
        Asked before each block and before stitching; True raises `SegmentationCancelled`.
    workdir : path, optional
        Where each block's labels are kept (one ``.npy`` file per block) until stitched; a
        temporary directory, removed afterwards, by default.
    iou_threshold : float
        See `stitch_labels`.
    **segment_options
        Passed to `segment_block` and on to `CellposeModel.segment`.

    Returns
    -------
    int
        N, the number of cells.
    """
    spatial = tuple(sink.shape)
    if len(spatial) not in (2, 3) or tuple(source.shape[: len(spatial)]) != spatial or \
            len(source.shape) not in (len(spatial), len(spatial) + 1):
        raise ValueError(f"source must have the sink's spatial shape {spatial} and an optional trailing "
                         f"channel axis, got source {tuple(source.shape)}")
    if not np.issubdtype(np.dtype(sink.dtype), np.integer):  # checked before hours of work, not after
        raise ValueError(f"sink must have an integer dtype (uint32 advised), got {sink.dtype}")
    if not 0 < float(iou_threshold) <= 1:
        raise ValueError(f"iou_threshold must be a number in (0, 1], got {iou_threshold!r}")
    if len(spatial) == 3:
        _check_3d_options(segment_options)
    channel_axis = len(spatial) if len(source.shape) > len(spatial) else None
    normalisation = global_normalisation(source, channel_axis=channel_axis)
    if diameter is None or diameter == 0:
        diameter = _estimate_diameter(model, source, spatial, normalisation, channels, segment_options)
    lattice = None
    if not segment_options.get("do_3d"):
        lattice = model.net_lattice(spatial[-2:], diameter, **{k: segment_options[k] for k in ("augment", "tile_overlap")
                                                               if k in segment_options})
    plan = plan_blocks(spatial, block_size=block_size, overlap=overlap, lattice=lattice)
    stop = should_stop if should_stop is not None else (lambda: False)
    own_dir = workdir is None
    folder = Path(tempfile.mkdtemp(prefix="cellpose-blocks-") if own_dir else workdir)
    folder.mkdir(parents=True, exist_ok=True)
    try:
        for done, block in enumerate(plan, start=1):
            if stop():
                raise SegmentationCancelled(f"stopped after {done - 1} of {len(plan)} blocks")
            labels = segment_block(model, source[_with_channels(block.context, channel_axis)], block,
                                   diameter=diameter, normalisation=normalisation, channels=channels,
                                   **segment_options)
            _save(folder / _file_name(block), labels)
            del labels
            if on_block is not None:
                on_block(done, len(plan))
        if stop():
            raise SegmentationCancelled(f"stopped after all {len(plan)} blocks, before stitching")
        return stitch_labels(plan, lambda b: np.load(folder / _file_name(b), mmap_mode="r"), sink,
                             iou_threshold=iou_threshold)
    finally:
        if own_dir:
            shutil.rmtree(folder, ignore_errors=True)


def estimate_block_diameter(model, source, *, spatial_ndim: int, normalisation, channels=(0, 0),
                            batch_size: int | None = None) -> float:
    """The one diameter for every block of ``source``, as `segment_blocks` estimates it when none
    is given: the size model on the full-resolution window (of the central plane of a volume)
    with the most contrast among a 3 x 3 grid of DIAMETER_WINDOW-pixel windows; the model's
    `diam_mean` without a size model. For callers that run the blocks elsewhere (web workers).

    Parameters
    ----------
    source : array-like of a real dtype, spatial axes then an optional trailing channel axis
    spatial_ndim : int
        2 for (Ly, Lx[, C]), 3 for (Lz, Ly, Lx[, C]).
    normalisation : (lo, hi)
        From `global_normalisation`.
    """
    if spatial_ndim not in (2, 3) or len(source.shape) not in (spatial_ndim, spatial_ndim + 1):
        raise ValueError(f"source must have {spatial_ndim} spatial axes and an optional trailing channel axis, "
                         f"got shape {tuple(source.shape)}")
    spatial = tuple(source.shape[:spatial_ndim])
    return _estimate_diameter(model, source, spatial, normalisation, channels, {"batch_size": batch_size})


# -- helpers -----------------------------------------------------------------------------------------


def _per_axis(value, ndim: int, name: str, minimum: int) -> tuple[int, ...]:
    values = (value,) * ndim if np.ndim(value) == 0 else tuple(value)
    if len(values) != ndim or any(int(v) != v or int(v) < minimum for v in values):
        raise ValueError(f"{name} must be an int >= {minimum} or {ndim} of them, got {value!r}")
    return tuple(int(v) for v in values)


def _check_3d_options(segment_options: dict) -> None:
    if not (segment_options.get("do_3d") or segment_options.get("stitch_threshold")):
        raise ValueError("a 3D block is segmented with do_3d=True (or plane by plane with stitch_threshold)")


def _axis(axis: int, ndim: int) -> int:
    if not -ndim <= int(axis) < ndim:
        raise ValueError(f"channel_axis={axis} is out of range for an array with {ndim} dimensions")
    return int(axis) % ndim


def _sample_bands(shape: list[int], max_samples: int) -> list[tuple[slice, ...]]:
    """Strided selections, band by band along the first axis, that together take every s-th pixel
    along each axis (s as small as keeps them within `max_samples` pixels)."""
    step = 1
    while math.prod(-(-n // step) for n in shape) > max_samples:
        step += 1
    rows = step * max(1, SAMPLE_BAND // step)
    rest = tuple(slice(0, n, step) for n in shape[1:])
    return [(slice(y, min(y + rows, shape[0]), step),) + rest for y in range(0, shape[0], rows)]


def _normalised(pixels: np.ndarray, normalisation, n_channels: int) -> np.ndarray:
    """float32 copy of pixels (channels last) with each channel's (lo, hi) mapped to (0, 1)."""
    try:
        lo, hi = (np.asarray(v, np.float32).reshape(-1) for v in normalisation)
    except (TypeError, ValueError):
        raise ValueError(f"normalisation must be a pair (lo, hi) from global_normalisation, "
                         f"got {normalisation!r}") from None
    if lo.shape != hi.shape or lo.size not in (1, n_channels) or not (np.isfinite(lo).all() and np.isfinite(hi).all()):
        raise ValueError(f"normalisation must hold finite (lo, hi) for 1 or {n_channels} channel(s), "
                         f"got shapes {lo.shape} and {hi.shape}")
    if pixels.dtype == bool or not np.issubdtype(pixels.dtype, np.number) or np.iscomplexobj(pixels):
        raise ValueError(f"pixels must be a real-valued array, got dtype {pixels.dtype}")
    x = pixels.astype(np.float32)
    if not np.isfinite(x).all():
        raise ValueError("pixels contain NaN or infinite values; replace them before segmenting")
    scale = hi - lo
    inv = np.where(scale > 0, 1.0 / np.where(scale > 0, scale, 1.0), 1.0).astype(np.float32)
    x -= lo if lo.size > 1 else lo[0]  # (C,) broadcasts over the trailing channel axis
    x *= inv if inv.size > 1 else inv[0]
    return x


def _consecutive(masks) -> np.ndarray:
    """Labels as uint32 numbered 1..n without gaps."""
    masks = np.asarray(masks)
    present = np.flatnonzero(np.bincount(masks.ravel(), minlength=1))
    present = present[present > 0]
    if present.size == 0 or present[-1] == present.size:
        return masks.astype(np.uint32)
    table = np.zeros(int(present[-1]) + 1, np.uint32)
    table[present] = np.arange(1, present.size + 1, dtype=np.uint32)
    return table[masks]


def _with_channels(region: tuple[slice, ...], channel_axis) -> tuple[slice, ...]:
    return region if channel_axis is None else region + (slice(None),)


def _file_name(block: Block) -> str:
    return "block_" + "_".join(str(k) for k in block.index) + ".npy"


def _save(path: Path, labels: np.ndarray) -> None:
    """Write atomically, so a file that exists holds a whole block."""
    partial = path.with_name(path.name + ".partial")
    with open(partial, "wb") as f:
        np.save(f, labels)
    os.replace(partial, path)


def _estimate_diameter(model, source, spatial, normalisation, channels, segment_options) -> float:
    """The model's estimate on the most contrasted full-resolution window (module docstring)."""
    if getattr(model, "size_model", None) is None:
        return float(model.diam_mean)
    channel_axis = len(spatial) if len(source.shape) > len(spatial) else None
    plane = (spatial[0] // 2,) if len(spatial) == 3 else ()
    ly, lx = spatial[-2:]
    wy, wx = min(ly, DIAMETER_WINDOW), min(lx, DIAMETER_WINDOW)
    best, best_contrast = None, -1.0
    for fy, fx in itertools.product((0.5, 0.2, 0.8), repeat=2):
        y0, x0 = round(fy * (ly - wy)), round(fx * (lx - wx))
        index = tuple(slice(p, p + 1) for p in plane) + (slice(y0, y0 + wy), slice(x0, x0 + wx))
        window = np.asarray(source[_with_channels(index, channel_axis)])
        window = window.reshape(window.shape[len(plane):])  # drop the plane axis
        contrast = float(_normalised(window, normalisation, window.shape[-1] if channel_axis else 1).std())
        if contrast > best_contrast:
            best, best_contrast = window, contrast
    return float(model.estimate_diameter(best, channels, channel_axis=2 if channel_axis else None,
                                         batch_size=segment_options.get("batch_size")))
