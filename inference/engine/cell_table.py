"""A per-cell table (label, bounding box, area, centroid) of a label image too large to hold,
gathered one region at a time.

Feed `CellTable.add` the label image region by region (regions may come in any order and must
not overlap: e.g. the cores of ``plan_blocks``, or the chunks of a zarr array), then read the
table with `CellTable.result`. Memory is a few arrays of one entry per label plus one region.

    table = CellTable(ndim=2)
    for block in blocks:
        table.add(labels[block.core], offset=[s.start for s in block.core])
    cells = table.result()      # {"label", "bbox", "area", "centroid"}
"""
from __future__ import annotations

import numpy as np

__all__ = ["CellTable"]


class CellTable:
    """Accumulates, for every label of a label image seen region by region, its pixel count,
    the sum of its coordinates and its bounding box.

    Parameters
    ----------
    ndim : int
        Spatial dimensions of the label image: 2 (Y, X) or 3 (Z, Y, X).
    """

    def __init__(self, ndim: int):
        if ndim not in (2, 3):
            raise ValueError(f"ndim must be 2 (Y, X) or 3 (Z, Y, X), got {ndim}")
        self.ndim = ndim
        self._area = np.zeros(0, np.int64)
        self._sums = np.zeros((0, ndim), np.float64)
        self._lo = np.zeros((0, ndim), np.int64)
        self._hi = np.zeros((0, ndim), np.int64)

    def _grow(self, top: int) -> None:
        n = self._area.size
        if top < n:
            return
        size = max(top + 1, 2 * n)
        big = np.iinfo(np.int64).max
        self._area = np.concatenate([self._area, np.zeros(size - n, np.int64)])
        self._sums = np.concatenate([self._sums, np.zeros((size - n, self.ndim), np.float64)])
        self._lo = np.concatenate([self._lo, np.full((size - n, self.ndim), big, np.int64)])
        self._hi = np.concatenate([self._hi, np.full((size - n, self.ndim), -1, np.int64)])

    def add(self, labels, offset=None) -> None:
        """Count one region of the label image.

        Parameters
        ----------
        labels : ndarray of non-negative int, shape (Ly, Lx) or (Lz, Ly, Lx)
            The region's labels, 0 = background.
        offset : sequence of int, optional
            The position of ``labels[0, 0]`` (``[0, 0, 0]``) in the whole image.
        """
        labels = np.asarray(labels)
        if labels.ndim != self.ndim:
            raise ValueError(f"labels must have {self.ndim} spatial axes, got shape {labels.shape}")
        if labels.dtype.kind not in "iu":
            raise ValueError(f"labels must be integers (0 = background), got {labels.dtype}")
        offset = np.zeros(self.ndim, np.int64) if offset is None else np.asarray(offset, np.int64)
        coords = np.nonzero(labels)
        if coords[0].size == 0:
            return
        values = labels[coords].astype(np.int64)
        if values.min() < 0:
            raise ValueError("labels hold negative values; expected 0 = background, 1..N = cells")
        self._grow(int(values.max()))
        order = np.argsort(values, kind="stable")
        values = values[order]
        starts = np.flatnonzero(np.r_[True, values[1:] != values[:-1]])
        present = values[starts]
        self._area[present] += np.diff(np.r_[starts, values.size])
        for axis, coord in enumerate(coords):
            c = coord[order].astype(np.int64) + offset[axis]
            self._sums[present, axis] += np.add.reduceat(c.astype(np.float64), starts)
            self._lo[present, axis] = np.minimum(self._lo[present, axis], np.minimum.reduceat(c, starts))
            self._hi[present, axis] = np.maximum(self._hi[present, axis], np.maximum.reduceat(c, starts) + 1)

    def result(self) -> dict[str, np.ndarray]:
        """The table, one row per label seen, in increasing label order.

        Returns
        -------
        dict with
            label : ndarray of uint32, shape (N,)
            bbox : ndarray of int64, shape (N, 2 * ndim)
                Start (inclusive) of each axis, then stop (exclusive): (y0, x0, y1, x1) or
                (z0, y0, x0, z1, y1, x1).
            area : ndarray of int64, shape (N,)
                Pixels (voxels) of the cell.
            centroid : ndarray of float64, shape (N, ndim)
                Mean pixel coordinate (row, col) or (plane, row, col).
        """
        present = np.flatnonzero(self._area)
        area = self._area[present]
        return {
            "label": present.astype(np.uint32),
            "bbox": np.concatenate([self._lo[present], self._hi[present]], axis=1),
            "area": area,
            "centroid": self._sums[present] / np.maximum(area, 1)[:, None],
        }
