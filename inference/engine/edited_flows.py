"""Flows for masks edited after a segmentation, so a ``_seg.npy`` of edited masks stays complete.

Where a cell (or the background) is exactly what the segmentation found, the network's flows and
cell probability are kept. Where the masks changed (a cell drawn, deleted, merged, split, brushed),
the flows are the ideal ones of the edited masks: ``FLOW_SCALE`` times the unit vectors of
`flows.masks_to_flows` (the scale the network is trained to output) and a cell probability of
``+EDITED_CELLPROB`` inside cells, ``-EDITED_CELLPROB`` outside, so following them at any threshold
the Cellpose GUI offers (-6..6) gives back the edited cells.
"""
from __future__ import annotations

import math

import numpy as np

from .flows import masks_to_flows

__all__ = ["FLOW_SCALE", "EDITED_CELLPROB", "unchanged_pixels", "flows_after_edits", "masks_diameter"]

#: The network's flows are this many times the unit flows (train.TrainConfig.flow_scale).
FLOW_SCALE = 5.0
#: Cell probability logit given to edited pixels (inside cells; minus this outside).
EDITED_CELLPROB = 6.0


def _check_pair(segmented, masks):
    segmented, masks = np.asarray(segmented), np.asarray(masks)
    if segmented.shape != masks.shape or masks.ndim not in (2, 3):
        raise ValueError(
            f"segmented and masks must be label images of one shape (Ly, Lx) or (Lz, Ly, Lx); "
            f"got {segmented.shape} and {masks.shape}"
        )
    return segmented.astype(np.int64, copy=False), masks.astype(np.int64, copy=False)


def unchanged_pixels(segmented, masks) -> np.ndarray:
    """Where the masks are what the segmentation found.

    Parameters
    ----------
    segmented, masks : ndarray of int, shape (Ly, Lx) or (Lz, Ly, Lx)
        The segmentation's labels and the edited ones (0 = background; label values may differ).

    Returns
    -------
    ndarray of bool, same shape
        True on background in both, and on every pixel of a cell whose pixels are exactly those of
        one segmented cell.
    """
    a, b = _check_pair(segmented, masks)
    a, b = a.ravel(), b.ravel()
    n = int(b.max(initial=0)) + 1
    big = np.iinfo(np.int64).max
    low = np.full(n, big, np.int64)
    high = np.full(n, -1, np.int64)
    np.minimum.at(low, b, a)
    np.maximum.at(high, b, a)
    size_b = np.bincount(b, minlength=n)
    size_a = np.bincount(a)
    same = (low == high) & (low > 0)
    same[same] = size_a[low[same]] == size_b[same]
    same[0] = False
    keep = np.where(b > 0, same[b], a == 0)
    return keep.reshape(np.shape(masks))


def flows_after_edits(dP, cellprob, segmented, masks) -> tuple[np.ndarray, np.ndarray]:
    """The segmentation's flows where the masks are unchanged, the edited masks' own elsewhere.

    Parameters
    ----------
    dP : ndarray of float, shape (2, Ly, Lx) or (3, Lz, Ly, Lx)
        The network's flows for ``segmented``.
    cellprob : ndarray of float, shape (Ly, Lx) or (Lz, Ly, Lx)
        Its cell probability logits.
    segmented, masks : ndarray of int, shape of ``cellprob``
        The labels the flows gave, and the edited labels.

    Returns
    -------
    (dP, cellprob) : float32 arrays of the input shapes (new arrays)
    """
    segmented, masks = _check_pair(segmented, masks)
    dP, cellprob = np.asarray(dP, np.float32), np.asarray(cellprob, np.float32)
    if cellprob.shape != masks.shape or dP.shape != (masks.ndim, *masks.shape):
        raise ValueError(
            f"dP must be ({masks.ndim}, *{masks.shape}) and cellprob {masks.shape}; "
            f"got {dP.shape} and {cellprob.shape}"
        )
    keep = unchanged_pixels(segmented, masks)
    dP, cellprob = dP.copy(), cellprob.copy()
    if keep.all():
        return dP, cellprob
    changed_cells = np.where(keep, 0, masks)
    dP[:, ~keep] = FLOW_SCALE * masks_to_flows(changed_cells)[:, ~keep]
    cellprob[~keep] = np.where(masks[~keep] > 0, EDITED_CELLPROB, -EDITED_CELLPROB)
    return dP, cellprob


def masks_diameter(masks) -> float:
    """Cellpose's diameter of a label image (2 sqrt(median area / pi)), in pixels.

    masks : ndarray of int, shape (Ly, Lx) or (Lz, Ly, Lx); for stacks the median runs over the
        cells' sections in every plane. 0.0 when there is no cell.
    """
    masks = np.asarray(masks)
    planes = masks[None] if masks.ndim == 2 else masks
    areas = []
    for plane in planes:
        _, counts = np.unique(plane[plane > 0], return_counts=True)
        areas.append(counts)
    counts = np.concatenate(areas) if areas else np.zeros(0)
    if counts.size == 0:
        return 0.0
    return float(np.median(np.sqrt(counts)) / (math.sqrt(math.pi) / 2))
