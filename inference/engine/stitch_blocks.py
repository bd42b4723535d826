"""One label image from the labels of overlapping blocks (block-wise segmentation, `blocks.py`).

Each block of a plan (`blocks.plan_blocks`) was segmented on its padded region, so a cell cut by a
block border is seen whole, or nearly, by every block whose padded region reaches it. Two blocks
whose padded regions intersect both label the pixels of that intersection (a strip along their
common border, or a corner square for diagonal neighbours). Within it, a label of one block and a
label of the other are the same cell when their intersection over union, measured in the strip,
reaches a threshold; those pairs are merged by connected components over all blocks (union-find).
Every pixel of the final image takes the label its own block (the one whose core holds it) gave
it, mapped through the merge, so a cell crossing a border keeps one label on both sides, while two
different cells touching at a border overlap each other too little to merge.

Labels are then renumbered 1..N in the order blocks are written. Only a few blocks are in memory
at a time: the labels are read twice, block by block, through a callback.
"""
from __future__ import annotations

import itertools
from collections.abc import Callable, Sequence
from typing import TYPE_CHECKING

import numpy as np
from scipy import sparse
from scipy.sparse.csgraph import connected_components

if TYPE_CHECKING:
    from .blocks import Block

__all__ = ["stitch_labels"]


def stitch_labels(
    blocks: Sequence["Block"],
    read_block_labels: Callable[["Block"], np.ndarray],
    sink,
    *,
    iou_threshold: float = 0.25,
) -> int:
    """Merge the labels of overlapping blocks and write consecutive global labels into `sink`.

    Parameters
    ----------
    blocks : sequence of Block
        A whole plan from `blocks.plan_blocks`: the cores tile the image; padded regions overlap.
    read_block_labels : callable(Block) -> ndarray of uint32, shape of the block's padded region
        A block's own labels (0 = background, 1..n = its cells; numbering is per block). Called
        at most a few times per block; a memory-mapped array is read only where it is sliced.
    sink : ndarray or zarr.Array of an integer dtype (uint32 advised), shape = the image's
        spatial shape (Ly, Lx) or (Lz, Ly, Lx)
        Receives, block by block, ``sink[block.core]`` = global labels (0 = background, 1..N).
    iou_threshold : float in (0, 1]
        The smallest IoU, within the strip two padded blocks share, for a label of one and a label
        of the other to be one cell. With ``overlap=0`` blocks share no strip and nothing merges.

    Returns
    -------
    int
        N, the number of cells written (the labels in `sink` are exactly 1..N).
    """
    blocks = list(blocks)
    if not blocks:
        raise ValueError("stitch_labels needs at least one block")
    threshold = float(iou_threshold)
    if not 0 < threshold <= 1:
        raise ValueError(f"iou_threshold must be a number in (0, 1], got {iou_threshold!r}")
    shape = tuple(max(b.core[a].stop for b in blocks) for a in range(len(blocks[0].core)))
    if tuple(getattr(sink, "shape", ())) != shape:
        raise ValueError(f"sink must have the image's spatial shape {shape}, got {getattr(sink, 'shape', None)}")
    if not np.issubdtype(np.dtype(sink.dtype), np.integer):
        raise ValueError(f"sink must have an integer dtype (uint32 advised), got {sink.dtype}")

    position = {b.index: i for i, b in enumerate(blocks)}
    counts = np.zeros(len(blocks), np.int64)
    links: list[tuple[int, np.ndarray, int, np.ndarray]] = []
    for i, block in enumerate(blocks):
        labels = _read(read_block_labels, block)
        counts[i] = int(labels.max()) if labels.size else 0
        for j in _later_neighbours(block, position):
            region = _intersection(block.padded, blocks[j].padded)
            if region is None:
                continue
            other = _read(read_block_labels, blocks[j])
            mine, theirs = _matching_labels(labels[_relative(region, block.padded)],
                                            other[_relative(region, blocks[j].padded)], threshold)
            if mine.size:
                links.append((i, mine, j, theirs))
        del labels

    offsets = np.concatenate([[0], np.cumsum(counts)])  # block i's label l is global id offsets[i] + l
    cell_of = _merge(int(offsets[-1]) + 1, offsets, links)
    return _write(blocks, read_block_labels, sink, offsets, cell_of)


def _read(read_block_labels, block) -> np.ndarray:
    labels = read_block_labels(block)
    expected = tuple(s.stop - s.start for s in block.padded)
    if getattr(labels, "shape", None) != expected:
        raise ValueError(f"block {block.index}: labels must have the padded region's shape {expected}, "
                         f"got {getattr(labels, 'shape', None)}")
    if not np.issubdtype(labels.dtype, np.integer):
        raise ValueError(f"block {block.index}: labels must be integers (uint32), got {labels.dtype}")
    if np.issubdtype(labels.dtype, np.signedinteger) and labels.size and labels.min() < 0:
        raise ValueError(f"block {block.index}: labels must not be negative")
    return labels


def _later_neighbours(block, position) -> list[int]:
    """Positions of the blocks after `block` (in plan order) among its 3**d - 1 grid neighbours."""
    out = []
    for step in itertools.product((-1, 0, 1), repeat=len(block.index)):
        index = tuple(a + b for a, b in zip(block.index, step))
        j = position.get(index)
        if j is not None and j > position[block.index]:
            out.append(j)
    return out


def _intersection(a: tuple[slice, ...], b: tuple[slice, ...]) -> tuple[slice, ...] | None:
    region = tuple(slice(max(x.start, y.start), min(x.stop, y.stop)) for x, y in zip(a, b))
    return region if all(s.start < s.stop for s in region) else None


def _relative(region: tuple[slice, ...], padded: tuple[slice, ...]) -> tuple[slice, ...]:
    return tuple(slice(r.start - p.start, r.stop - p.start) for r, p in zip(region, padded))


def _matching_labels(a: np.ndarray, b: np.ndarray, threshold: float) -> tuple[np.ndarray, np.ndarray]:
    """Label pairs (of `a`, of `b`) whose IoU over these equal-shaped arrays reaches `threshold`."""
    a = np.asarray(a).ravel().astype(np.int64)
    b = np.asarray(b).ravel().astype(np.int64)
    both = (a > 0) & (b > 0)
    if not both.any():
        return np.empty(0, np.int64), np.empty(0, np.int64)
    width = int(b.max()) + 1
    pairs, inter = np.unique(a[both] * width + b[both], return_counts=True)
    la, lb = pairs // width, pairs % width
    area_a = np.bincount(a, minlength=int(a.max()) + 1)
    area_b = np.bincount(b, minlength=width)
    iou = inter / (area_a[la] + area_b[lb] - inter)
    keep = iou >= threshold
    return la[keep], lb[keep]


def _merge(n_ids: int, offsets: np.ndarray, links) -> np.ndarray:
    """The merged cell of every global id 0..n_ids-1 (connected components of the links)."""
    if links:
        rows = np.concatenate([offsets[i] + mine for i, mine, _, _ in links])
        cols = np.concatenate([offsets[j] + theirs for _, _, j, theirs in links])
    else:
        rows = cols = np.empty(0, np.int64)
    graph = sparse.coo_array((np.ones(rows.size, np.int8), (rows, cols)), shape=(n_ids, n_ids))
    return connected_components(graph, directed=False)[1]


def _write(blocks, read_block_labels, sink, offsets, cell_of) -> int:
    """Write each core's labels as consecutive global labels; returns the number of labels."""
    number = np.zeros(int(cell_of.max()) + 1, np.int64)  # merged cell -> output label, 0 = not yet
    n = 0
    for i, block in enumerate(blocks):
        labels = np.asarray(_read(read_block_labels, block)[_relative(block.core, block.padded)])
        present = np.flatnonzero(np.bincount(labels.ravel(), minlength=1))
        present = present[present > 0]
        cells = cell_of[offsets[i] + present]
        fresh = np.unique(cells[number[cells] == 0])
        number[fresh] = np.arange(n + 1, n + 1 + fresh.size)
        n += fresh.size
        table = np.zeros(int(present[-1]) + 1 if present.size else 1, np.uint32)
        table[present] = number[cells]
        sink[block.core] = table[labels]
    return n
