"""Linking 2D masks of successive planes into 3D objects ("stitching", Cellpose's
``stitch_threshold``).

A stack whose planes are far apart, or too few for the 3D path, is segmented one plane at a time
in 2D; a mask then continues the object of the previous plane that it overlaps best, if their
intersection over union reaches the threshold, and starts a new object otherwise. An object of
the previous plane continues into at most one mask (the one overlapping it best), so two cells
that touch in one plane do not fuse.
"""
from __future__ import annotations

import numpy as np

from .metrics import mask_ious

__all__ = ["stitch_planes"]


def check_threshold(value) -> float:
    """``value`` as a float if it is a number in (0, 1], else ValueError (checked by `segment` and
    `recompute_masks` before any work, and by `stitch_planes`)."""
    try:
        threshold = float(value)
    except (TypeError, ValueError):
        threshold = float("nan")
    if not 0 < threshold <= 1:
        raise ValueError(f"stitch_threshold must be a number in (0, 1], got {value!r}")
    return threshold


def stitch_planes(masks, threshold: float = 0.25) -> np.ndarray:
    """Give the masks of successive planes that overlap enough one label.

    Parameters
    ----------
    masks : ndarray of int, shape (Lz, Ly, Lx)
        Each plane's own 2D labels (0 = background; labels may repeat between planes).
    threshold : float in (0, 1]
        Smallest IoU between a mask and a mask of the plane before it for the two to be one object.

    Returns
    -------
    ndarray of int32, shape (Lz, Ly, Lx)
        0 = background, 1..N: one label per object across planes, numbered in order of first
        appearance (plane by plane, then by the plane's own label).
    """
    masks = np.asarray(masks)
    if masks.ndim != 3 or not np.issubdtype(masks.dtype, np.integer):
        raise ValueError(f"masks must be integer labels of shape (Lz, Ly, Lx), got {masks.dtype} {masks.shape}")
    threshold = check_threshold(threshold)
    if masks.size and masks.min() < 0:
        raise ValueError("masks must not hold negative labels")
    out = np.zeros(masks.shape, np.int32)
    n = 0
    for z in range(masks.shape[0]):
        plane = masks[z]
        labels = np.unique(plane[plane > 0])
        new = np.zeros(int(labels[-1]) + 1 if labels.size else 1, np.int32)
        if z > 0 and labels.size and out[z - 1].any():
            links = _links(plane, out[z - 1], threshold)
            new[list(links)] = list(links.values())
        fresh = labels[new[labels] == 0]
        new[fresh] = np.arange(n + 1, n + 1 + fresh.size, dtype=np.int32)
        n += fresh.size
        out[z] = new[plane]
    return out


def _links(plane, previous, threshold) -> dict[int, int]:
    """{label in plane: label in previous} for the masks that continue an object."""
    iou, rows, cols = mask_ious(plane, previous)
    iou = iou.toarray()
    iou[iou < threshold] = 0.0
    linked = np.flatnonzero(iou.max(axis=0) > 0)
    best_row = np.zeros(iou.shape, bool)  # each previous object continues into its best mask only
    best_row[iou.argmax(axis=0)[linked], linked] = True
    iou[~best_row] = 0.0
    best = iou.argmax(axis=1)
    return {int(rows[i]): int(cols[best[i]]) for i in np.flatnonzero(iou.max(axis=1) > 0)}
