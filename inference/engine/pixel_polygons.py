"""Exact conversion between label masks and polygons with vertices on pixel corners.

Coordinates are (x, y) in pixel units with the origin at the top-left corner of the image: pixel
(row r, column c) is the unit square [c, c + 1] x [r, r + 1] and its centre is (c + 0.5, r + 0.5).
This is the convention of ImageJ, QuPath, GeoJSON tools and COCO (``pycocotools``).

Tracing (`trace_mask`) follows the boundary between a cell's pixels and the rest, so every vertex
is a pixel corner and every edge is horizontal or vertical. Filling (`fill_polygons`) marks the
pixels whose centre lies inside, by the even-odd rule. The two are inverse: filling the traced
polygons of a cell gives back exactly its pixels, and the shoelace area of the polygons equals its
pixel count. ``polygons.cell_polygons`` traces every cell of a label image.

A cell is described piece by piece: a piece is a 4-connected set of its pixels (pixels touching
only at a corner are different pieces) and has one exterior ring and one ring per hole. A hole is a
4-connected region of other pixels (background or other cells) that the piece encloses. Exterior
rings run counter-clockwise in (x, y) (positive shoelace area), holes clockwise, as RFC 7946
asks; every ring is simple, a hole may touch its exterior or another hole at single corners only,
so each piece is a valid OGC/shapely polygon and the pieces of a cell form a valid MultiPolygon.

ring : ndarray of int32, shape (N, 2)
    Vertices (x, y) in order, not repeating the first; N >= 4.
"""

from __future__ import annotations

from collections.abc import Sequence

import cv2
import numpy as np
from scipy import ndimage

__all__ = ["trace_mask", "ring_area", "bridge_holes", "fill_polygons", "WorkBudget",
           "TooComplexError"]

#: Largest absolute coordinate `fill_polygons` accepts (pixels).
_MAX_COORD = 2.0**30

class TooComplexError(ValueError):
    """Filling would take more work than the caller's `WorkBudget` allows."""


class WorkBudget:
    """Steps that filling may still take, shared by many calls (a guard against hostile input:
    one step is one pixel of a bounding box or one crossing of an edge with a row)."""

    def __init__(self, steps: int):
        self.left = int(steps)

    def spend(self, steps: int) -> None:
        self.left -= int(steps)
        if self.left < 0:
            raise TooComplexError("filling these polygons takes more steps than allowed")


# ---------------------------------------------------------------------------------------------
# tracing

def trace_mask(mask) -> list[list[np.ndarray]]:
    """Pieces of a binary mask as rings on pixel corners.

    Parameters
    ----------
    mask : ndarray of bool, shape (Ly, Lx)

    Returns
    -------
    list of list of ndarray of int32, shape (N, 2)
        Per 4-connected piece, largest first: exterior ring then holes, in mask coordinates.
    """
    mask = np.asarray(mask, dtype=bool)
    if not mask.any():
        return []
    n, comp = cv2.connectedComponents(mask.astype(np.uint8), connectivity=4)
    if n == 2:
        return [_trace_piece(mask, 0, 0)]
    sizes = np.bincount(comp.ravel(), minlength=n)[1:]
    pieces = []
    for idx, (sy, sx) in enumerate(ndimage.find_objects(comp), start=1):
        rings = _trace_piece(comp[sy, sx] == idx, sx.start, sy.start)
        pieces.append((-int(sizes[idx - 1]), sy.start, sx.start, rings))
    pieces.sort(key=lambda p: p[:3])
    return [p[3] for p in pieces]


def _trace_piece(piece: np.ndarray, x0: int, y0: int) -> list[np.ndarray]:
    """Rings of one 4-connected piece: exterior first, then holes (by their first vertex)."""
    h, w = piece.shape
    p = np.pad(piece, 1)
    stride = w + 3  # vertices (x, y) of the padded crop, x in 0..w+2, as y * stride + x
    # Directed boundary edges with the piece on their left (positive cross-product side):
    # out[d][v] is True when an edge leaves vertex v in direction d.
    out = np.zeros((4, (h + 3) * stride), bool)
    vy, vx = np.nonzero(p[1:, :] & ~p[:-1, :])   # top edges: piece below the line y = r
    out[0, (vy + 1) * stride + vx] = True        # (x, y) -> (x + 1, y), y = row index in p
    vy, vx = np.nonzero(p[:-1, :] & ~p[1:, :])   # bottom edges
    out[2, (vy + 1) * stride + vx + 1] = True
    vy, vx = np.nonzero(p[:, :-1] & ~p[:, 1:])   # right edges: piece left of x = c + 1
    out[1, vy * stride + vx + 1] = True
    vy, vx = np.nonzero(p[:, 1:] & ~p[:, :-1])   # left edges
    out[3, (vy + 1) * stride + vx + 1] = True
    starts = np.flatnonzero(out[0])  # every ring has a top edge; ordered by (y, x)
    size = out.shape[1]
    flat = bytearray(out.tobytes())  # Python indexing is faster than numpy's in the walk
    rings = []
    for start in starts.tolist():
        if flat[start]:
            rings.append(_walk(flat, size, start, stride))
    result = []
    for ring in rings:
        ring = np.asarray(ring, np.int32)
        ring[:, 0] += x0 - 1
        ring[:, 1] += y0 - 1
        result.append(ring)
    # the first top edge in raster order is the top of the piece's top-left pixel: the exterior
    return result


def _walk(out: bytearray, size: int, start: int, stride: int) -> list[tuple[int, int]]:
    """Corners met following the edges from vertex `start` (leaving along +x) round to it;
    the edges walked are cleared from `out` (flat (4, size) flags: an edge leaves vertex v in
    direction d when out[d * size + v]).

    Where two ways lead on (two pixels of the piece touching only at this corner), the walk
    turns towards the outside of the piece, so each ring bounds one 4-connected region of other
    pixels and never meets itself.
    """
    steps = (1, stride, -1, -stride)
    vertices = [divmod(start, stride)[::-1]]
    v, d = start, 0
    while True:
        out[d * size + v] = 0
        nxt = v + steps[d]
        if nxt == start:
            return vertices
        for nd in ((d + 3) % 4, d, (d + 1) % 4):  # outward turn, straight on, inward turn
            if out[nd * size + nxt]:
                break
        else:  # cannot happen: every vertex has as many edges in as out
            raise RuntimeError("pixel outline does not close")
        if nd != d:
            vertices.append(divmod(nxt, stride)[::-1])
        v, d = nxt, nd


def ring_area(ring) -> float:
    """Signed shoelace area: positive for counter-clockwise rings in (x, y)."""
    r = np.asarray(ring, dtype=np.float64)
    x, y = r[:, 0], r[:, 1]
    cross = np.dot(x[:-1], y[1:]) - np.dot(x[1:], y[:-1]) + x[-1] * y[0] - x[0] * y[-1]
    return 0.5 * float(cross)


# ---------------------------------------------------------------------------------------------
# one ring per piece (COCO)

def bridge_holes(rings: Sequence[np.ndarray]) -> np.ndarray:
    """Join a piece's holes to its exterior ring by zero-width cuts along pixel edges.

    The result is one ring whose even-odd (and non-zero) fill is the piece and whose shoelace
    area is the piece's area: each hole is reached from its top-left corner by a vertical cut
    going up to the nearest other ring, travelled down and back up. For formats that hold one
    ring per polygon (COCO); not a simple polygon when there are holes.

    Parameters
    ----------
    rings : sequence of ndarray of int32, shape (N, 2)
        Exterior ring then holes, as `trace_mask` gives them for one piece.

    Returns
    -------
    ndarray of int32, shape (M, 2)
        No two consecutive vertices equal (the last and first included).
    """
    rings = [np.asarray(r, np.int64) for r in rings]
    if len(rings) == 1:
        return rings[0].astype(np.int32)
    # every edge of every ring: start a, end b, ring id, index in its ring
    a = np.concatenate(rings)
    b = np.concatenate([np.roll(r, -1, axis=0) for r in rings])
    ring_id = np.repeat(np.arange(len(rings)), [len(r) for r in rings])
    index = np.concatenate([np.arange(len(r)) for r in rings])
    horizontal = a[:, 1] == b[:, 1]
    lo, hi = np.minimum(a[:, 0], b[:, 0]), np.maximum(a[:, 0], b[:, 0])
    splices: list[dict[int, list]] = [{} for _ in rings]  # ring -> edge -> [(dist, child, start)]
    for k in range(1, len(rings)):
        hole = rings[k]
        start = int(np.lexsort((hole[:, 0], hole[:, 1]))[0])
        hx, hy = (int(v) for v in hole[start])
        # points of other rings on the line x = hx at or above the hole's top-left corner:
        # their vertices, and horizontal edges crossing the line between their ends
        on = (a[:, 0] == hx) & (a[:, 1] <= hy) & (ring_id != k)
        cross = horizontal & (lo < hx) & (hx < hi) & (a[:, 1] <= hy) & (ring_id != k)
        candidates = np.flatnonzero(on | cross)  # never empty: the exterior lies above
        e = int(candidates[np.argmax(a[candidates, 1])])  # the lowest: the cut meets nothing
        dist = 0 if on[e] else abs(hx - int(a[e, 0]))
        splices[ring_id[e]].setdefault(int(index[e]), []).append((dist, k, start))
    # walk the exterior, detouring into each hole where its cut meets the ring walked
    seq: list[tuple[int, int]] = []
    todo: list = [("ring", 0, 0)]
    while todo:  # explicit stack: chains of holes can be deeper than Python's recursion
        item = todo.pop()
        if item[0] == "point":
            seq.append(item[1])
            continue
        _, k, start = item
        ring, n, actions = rings[k], len(rings[k]), []
        for j in range(n + 1):
            i = (start + j) % n
            x, y = int(ring[i, 0]), int(ring[i, 1])
            actions.append(("point", (x, y)))
            if j == n:
                break
            for dist, child, cstart in sorted(splices[k].get(i, [])):
                nx, ny = ring[(i + 1) % n]
                p = (x + int(np.sign(nx - x)) * dist, y + int(np.sign(ny - y)) * dist)
                actions += [("point", p), ("ring", child, cstart), ("point", p)]
        todo.extend(reversed(actions))
    pts = np.asarray(seq, np.int32)
    keep = np.any(pts != np.roll(pts, 1, axis=0), axis=1)
    return pts[keep]


# ---------------------------------------------------------------------------------------------
# filling

def fill_polygons(polygons: Sequence[Sequence[np.ndarray]], shape: tuple[int, int], *,
                  budget: WorkBudget | None = None):
    """Pixels whose centre lies inside any of the polygons (each filled by the even-odd rule).

    Parameters
    ----------
    polygons : sequence of sequence of ndarray of float, shape (N, 2)
        Each polygon is a list of rings (x, y) in pixel-corner coordinates (exterior and holes,
        or any rings combined by the even-odd rule); the result is their union. Rings need not
        be closed; fewer than 3 vertices fill nothing. Coordinates outside the image are fine.
    shape : (Ly, Lx)
    budget : WorkBudget, optional
        Spent as the work is done (pixels of the bounding box, crossings of edges with rows);
        `TooComplexError` when it runs out, before the memory is taken.

    Returns
    -------
    (rows, cols) : (slice, slice)
        The part of the image holding the result (empty slices when nothing is filled).
    inside : ndarray of bool, shape of that part

    A centre exactly on an edge counts as inside on the right and bottom edges of a shape and
    outside on its left and top edges (as ImageJ rounds); with corner vertices no centre is ever
    on an edge.
    """
    ly, lx = shape
    parts = []
    for rings in polygons:
        rings = [np.asarray(r, np.float64).reshape(-1, 2) for r in rings]
        rings = [r for r in rings if len(r) >= 3]
        if rings:
            parts.append(rings)
    if not parts:
        return (slice(0, 0), slice(0, 0)), np.zeros((0, 0), bool)
    allpts = np.concatenate([r for rings in parts for r in rings])
    if not (np.abs(allpts) <= _MAX_COORD).all():  # also refuses NaN
        raise ValueError(f"polygon coordinates must be finite numbers within +-{_MAX_COORD:g}")
    r0 = max(int(np.ceil(allpts[:, 1].min() - 0.5)), 0)
    r1 = min(int(np.ceil(allpts[:, 1].max() - 0.5)), ly)
    c0 = max(int(np.floor(allpts[:, 0].min() + 0.5)), 0)
    c1 = min(int(np.floor(allpts[:, 0].max() + 0.5)), lx)
    if r1 <= r0 or c1 <= c0:
        return (slice(0, 0), slice(0, 0)), np.zeros((0, 0), bool)
    h, w = r1 - r0, c1 - c0
    if budget is not None:
        budget.spend(h * w)
    inside = np.zeros((h, w), bool)
    for rings in parts:
        rows, cols = _crossings(rings, r0, r1, c0, c1, budget)
        toggles = np.zeros((h, w + 1), np.uint8)
        np.add.at(toggles, (rows - r0, cols - c0), 1)
        # uint8 sums wrap at 256, which keeps their parity
        inside |= (np.cumsum(toggles[:, :w], axis=1, dtype=np.uint8) & 1).astype(bool)
    return (slice(r0, r1), slice(c0, c1)), inside


def _crossings(rings, r0: int, r1: int, c0: int, c1: int, budget: WorkBudget | None):
    """Rows and first-affected columns of every crossing of the rings with row centres r0..r1-1."""
    a = np.concatenate(rings)
    b = np.concatenate([np.roll(r, -1, axis=0) for r in rings])
    ylo, yhi = np.minimum(a[:, 1], b[:, 1]), np.maximum(a[:, 1], b[:, 1])
    first = np.maximum(np.ceil(ylo - 0.5), r0)   # rows whose centre y + 0.5 is in [ylo, yhi)
    last = np.minimum(np.ceil(yhi - 0.5), r1)
    count = np.maximum(last - first, 0).astype(np.int64)
    total = int(count.sum())
    if budget is not None:
        budget.spend(total)
    keep = count > 0
    a, b, first, count = a[keep], b[keep], first[keep].astype(np.int64), count[keep]
    edge = np.repeat(np.arange(len(count)), count)
    offsets = np.arange(total) - np.repeat(np.cumsum(count) - count, count)
    rows = first[edge] + offsets
    ax, ay, bx, by = a[edge, 0], a[edge, 1], b[edge, 0], b[edge, 1]
    x = ax + (rows + 0.5 - ay) * (bx - ax) / (by - ay)
    # a crossing at x flips every pixel whose centre is right of x: columns >= floor(x + 0.5)
    cols = np.clip(np.floor(x + 0.5), c0, c1).astype(np.int64)
    return rows, cols
