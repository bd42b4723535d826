"""Matching predicted masks to true masks: IoU, average precision, aggregated Jaccard index.

Average precision follows the Cellpose paper (Stringer et al. 2020) and the 2018 Data Science
Bowl: for one image and one IoU threshold ``t``, true and predicted masks are paired one-to-one so
that the number of pairs with IoU >= ``t`` is as large as possible, then

    AP = TP / (TP + FP + FN)

where TP is the number of such pairs, FP the predicted masks left unpaired and FN the true masks
left unpaired. An image with no true and no predicted masks scores AP = 1.

The IoU of every overlapping pair of masks comes from one sparse contingency table (a single pass
over the pixels), so images with thousands of masks are cheap. The matching is solved exactly with
``scipy.optimize.linear_sum_assignment`` on each connected group of candidate pairs; for
thresholds >= 0.5 every group is a single pair, because a mask can overlap at most one other mask
by more than half of their union.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
from scipy import sparse
from scipy.optimize import linear_sum_assignment
from scipy.sparse.csgraph import connected_components

__all__ = ["mask_ious", "average_precision", "aggregated_jaccard_index"]


def _check_label_image(masks, name: str) -> np.ndarray:
    masks = np.asarray(masks)
    if masks.ndim not in (2, 3):
        raise ValueError(f"{name} must be a 2D (Ly, Lx) or 3D (Lz, Ly, Lx) label image, "
                         f"got shape {masks.shape}")
    if masks.dtype == bool:
        return masks.astype(np.int32)
    if not np.issubdtype(masks.dtype, np.integer):
        raise ValueError(f"{name} must be an integer label image (0 = background), "
                         f"got dtype {masks.dtype}")
    if masks.size and masks.min() < 0:
        raise ValueError(f"{name} has negative labels; labels must be >= 0 (0 = background)")
    return masks


def _dense_index(flat: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Map labels to 0 (background) and 1..n (labels in increasing order).

    Returns (index per pixel, intp; labels present excluding 0).
    """
    top = int(flat.max()) if flat.size else 0
    if top <= 4 * flat.size + 1024:
        flat = flat.astype(np.intp, copy=False)
        # A lookup table is much faster than sorting all pixels.
        present = np.flatnonzero(np.bincount(flat, minlength=top + 1))
        present = present[present > 0]
        lut = np.zeros(top + 1, dtype=np.intp)
        lut[present] = np.arange(1, present.size + 1)
        return lut[flat], present
    labels, inverse = np.unique(flat, return_inverse=True)
    if labels[0] != 0:
        return inverse.astype(np.intp) + 1, labels
    return inverse.astype(np.intp), labels[1:]


def _overlap(masks_true: np.ndarray, masks_pred: np.ndarray):
    """Sparse intersection counts and mask areas.

    Returns (inter: csr (n_true, n_pred) int64, area_true (n_true,), area_pred (n_pred,),
    labels_true, labels_pred).
    """
    it, labels_true = _dense_index(masks_true.ravel())
    ip, labels_pred = _dense_index(masks_pred.ravel())
    n_true, n_pred = labels_true.size, labels_pred.size
    area_true = np.bincount(it, minlength=n_true + 1)[1:]
    area_pred = np.bincount(ip, minlength=n_pred + 1)[1:]
    both = (it > 0) & (ip > 0)
    counts = np.ones(int(both.sum()), dtype=np.int64)
    inter = sparse.csr_array((counts, (it[both] - 1, ip[both] - 1)), shape=(n_true, n_pred))
    inter.sum_duplicates()
    return inter, area_true, area_pred, labels_true, labels_pred


def _iou_from_overlap(inter: sparse.csr_array, area_true, area_pred) -> sparse.csr_array:
    """IoU with the same sparsity structure (indptr, indices) as ``inter``."""
    rows = np.repeat(np.arange(inter.shape[0]), np.diff(inter.indptr))
    data = inter.data.astype(np.float64)
    data /= area_true[rows] + area_pred[inter.indices] - inter.data
    return sparse.csr_array((data, inter.indices.copy(), inter.indptr.copy()), shape=inter.shape)


def mask_ious(masks_true, masks_pred):
    """Intersection over union of every overlapping pair of true and predicted masks.

    Parameters
    ----------
    masks_true, masks_pred : ndarray of int, shape (Ly, Lx) or (Lz, Ly, Lx), same shape
        0 = background, other values = mask labels (need not be consecutive).

    Returns
    -------
    iou : scipy.sparse.csr_array of float64, shape (n_true, n_pred)
        IoU of true mask i and predicted mask j; pairs that do not overlap are not stored
        (``iou.toarray()`` gives the dense matrix).
    labels_true : ndarray of int, shape (n_true,)
        The label of each row, increasing.
    labels_pred : ndarray of int, shape (n_pred,)
        The label of each column, increasing.
    """
    masks_true = _check_label_image(masks_true, "masks_true")
    masks_pred = _check_label_image(masks_pred, "masks_pred")
    if masks_true.shape != masks_pred.shape:
        raise ValueError(f"masks_true and masks_pred must have the same shape, "
                         f"got {masks_true.shape} and {masks_pred.shape}")
    inter, area_true, area_pred, labels_true, labels_pred = _overlap(masks_true, masks_pred)
    iou = _iou_from_overlap(inter, area_true, area_pred)
    return iou, labels_true, labels_pred


def _count_matches(iou: sparse.csr_array, threshold: float) -> int:
    """Largest number of one-to-one pairs with IoU >= threshold."""
    coo = iou.tocoo()
    keep = coo.data >= threshold
    rows, cols, vals = coo.row[keep], coo.col[keep], coo.data[keep]
    if rows.size == 0:
        return 0
    n_true, n_pred = iou.shape
    # Connected groups of the bipartite candidate graph can be matched independently.
    graph = sparse.coo_array((np.ones(rows.size), (rows, cols + n_true)),
                             shape=(n_true + n_pred, n_true + n_pred))
    _, group = connected_components(graph, directed=False)
    edge_group = group[rows]
    order = np.argsort(edge_group, kind="stable")
    bounds = np.flatnonzero(np.diff(edge_group[order])) + 1
    tp = 0
    for edges in np.split(order, bounds):
        if edges.size == 1:
            tp += 1
            continue
        r_ids, r = np.unique(rows[edges], return_inverse=True)
        c_ids, c = np.unique(cols[edges], return_inverse=True)
        # Maximise the number of pairs first, then the summed IoU to break ties.
        weight = np.zeros((r_ids.size, c_ids.size))
        weight[r, c] = 1.0 + vals[edges] / (2.0 * min(r_ids.size, c_ids.size))
        ri, ci = linear_sum_assignment(weight, maximize=True)
        tp += int(np.count_nonzero(weight[ri, ci] > 0))
    return tp


def _as_image_list(masks, name: str) -> list:
    if isinstance(masks, np.ndarray):
        return [masks]
    if isinstance(masks, Sequence) and not isinstance(masks, (str, bytes)):
        return list(masks)
    raise ValueError(f"{name} must be a label image or a list of label images, "
                     f"got {type(masks).__name__}")


def _pair_lists(masks_true, masks_pred) -> list[tuple[np.ndarray, np.ndarray]]:
    true_list = _as_image_list(masks_true, "masks_true")
    pred_list = _as_image_list(masks_pred, "masks_pred")
    if len(true_list) != len(pred_list):
        raise ValueError(f"masks_true has {len(true_list)} images but masks_pred has "
                         f"{len(pred_list)}")
    return list(zip(true_list, pred_list))


def average_precision(masks_true, masks_pred, thresholds=(0.5, 0.75, 0.9)):
    """Average precision of predicted masks at each IoU threshold.

    Parameters
    ----------
    masks_true, masks_pred : ndarray of int, shape (Ly, Lx) or (Lz, Ly, Lx), or lists of them
        Ground-truth and predicted label images, 0 = background (labels need not be
        consecutive). A single array is one image; a list is several, paired by position, and
        each pair must have the same shape.
    thresholds : float or sequence of float
        IoU thresholds in (0, 1].

    Returns
    -------
    ap : ndarray of float64, shape (n_images, n_thresholds)
        TP / (TP + FP + FN); 1.0 for an image where both label images are empty.
    tp, fp, fn : ndarray of int64, shape (n_images, n_thresholds)
        Matched pairs, unmatched predicted masks, unmatched true masks.
    """
    thresholds = np.atleast_1d(np.asarray(thresholds, dtype=np.float64))
    if thresholds.ndim != 1 or thresholds.size == 0:
        raise ValueError("thresholds must be a float or a 1D sequence of floats")
    if np.any(~(thresholds > 0) | (thresholds > 1)):
        raise ValueError(f"IoU thresholds must lie in (0, 1], got {thresholds.tolist()}")
    pairs = _pair_lists(masks_true, masks_pred)
    shape = (len(pairs), thresholds.size)
    ap = np.zeros(shape, dtype=np.float64)
    tp = np.zeros(shape, dtype=np.int64)
    fp = np.zeros(shape, dtype=np.int64)
    fn = np.zeros(shape, dtype=np.int64)
    for n, (mt, mp) in enumerate(pairs):
        iou, labels_true, labels_pred = mask_ious(mt, mp)
        for k, th in enumerate(thresholds):
            tp[n, k] = _count_matches(iou, th)
        fp[n] = labels_pred.size - tp[n]
        fn[n] = labels_true.size - tp[n]
        total = tp[n] + fp[n] + fn[n]
        ap[n] = np.where(total > 0, tp[n] / np.maximum(total, 1), 1.0)
    return ap, tp, fp, fn


def aggregated_jaccard_index(masks_true, masks_pred):
    """Aggregated Jaccard index (Kumar et al. 2017) of each image.

    Every true mask is paired with the predicted mask of highest IoU with it (0 if none
    overlaps); AJI = sum of their intersections / (sum of their unions + area of the predicted
    masks never paired).

    Parameters
    ----------
    masks_true, masks_pred : ndarray of int, shape (Ly, Lx) or (Lz, Ly, Lx), or lists of them
        As in `average_precision`.

    Returns
    -------
    aji : ndarray of float64, shape (n_images,)
        In [0, 1]; 1.0 for an image where both label images are empty.
    """
    pairs = _pair_lists(masks_true, masks_pred)
    out = np.zeros(len(pairs), dtype=np.float64)
    for n, (mt, mp) in enumerate(pairs):
        mt = _check_label_image(mt, "masks_true")
        mp = _check_label_image(mp, "masks_pred")
        if mt.shape != mp.shape:
            raise ValueError(f"image {n}: masks_true and masks_pred must have the same shape, "
                             f"got {mt.shape} and {mp.shape}")
        inter, area_true, area_pred, _, _ = _overlap(mt, mp)
        iou = _iou_from_overlap(inter, area_true, area_pred)
        inter_sum = 0
        union_sum = 0
        used = np.zeros(area_pred.size, dtype=bool)
        for i in range(area_true.size):
            start, stop = iou.indptr[i], iou.indptr[i + 1]
            if start == stop:
                union_sum += area_true[i]
                continue
            best = start + int(np.argmax(iou.data[start:stop]))
            j = iou.indices[best]
            inter_sum += inter.data[best]
            union_sum += area_true[i] + area_pred[j] - inter.data[best]
            used[j] = True
        union_sum += area_pred[~used].sum()
        out[n] = inter_sum / union_sum if union_sum > 0 else 1.0
    return out

