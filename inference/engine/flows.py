"""Masks -> unit vector flows by heat diffusion (Stringer et al. 2020, "Flow construction").

For every object we run a heat diffusion on its own bounding box: a unit of heat is added at the
object's centre (the mask pixel closest to the median y and x, and z), then every mask pixel takes
the mean of its 3x3 (3x3x3) neighbourhood. Pixels outside the object are held at 0, so heat leaks
out through the boundary. After N = 2 x (sum of the object's extents) iterations the flow at a
pixel is the normalised central-difference gradient of the heat map, which points towards the
centre along paths that stay inside the object (also for non-convex shapes).

Objects are independent, so they run in parallel (numba ``prange``) over balanced groups.
"""

import numba
import numpy as np
from numba import prange

__all__ = ["masks_to_flows", "labels_to_training_targets"]


def masks_to_flows(masks):
    """Unit vector flows that point to each object's centre.

    Parameters
    ----------
    masks : ndarray of int or bool, shape (Ly, Lx) or (Lz, Ly, Lx)
        0 = background, positive integers = objects. Labels need not be consecutive.

    Returns
    -------
    flows : ndarray of float32, shape (2, Ly, Lx) or (3, Lz, Ly, Lx)
        (dy, dx) or (dz, dy, dx) unit vectors inside objects, 0 outside. A pixel where the heat
        gradient vanishes exactly (the centre of a perfectly symmetric object) has flow 0.
    """
    labels, n = _compact_labels(_check_masks(masks))
    return _flows_from_compact(labels, n)


def labels_to_training_targets(masks):
    """Training targets for the network: cell probability and flows.

    Parameters
    ----------
    masks : ndarray of int or bool, shape (Ly, Lx) or (Lz, Ly, Lx)
        0 = background, positive integers = objects.

    Returns
    -------
    targets : ndarray of float32, shape (3, Ly, Lx) or (4, Lz, Ly, Lx)
        Channel 0 is 1 inside objects and 0 outside; the rest are the flows of `masks_to_flows`.
    """
    labels, n = _compact_labels(_check_masks(masks))
    targets = np.empty((1 + labels.ndim,) + labels.shape, np.float32)
    targets[0] = labels > 0
    targets[1:] = _flows_from_compact(labels, n)
    return targets


# ------------------------------------------------------------------------------------------------
# helpers shared with dynamics.py (private to the engine)


def _check_masks(masks, name="masks"):
    """Return `masks` as an ndarray after checking dtype and layout (raises ValueError)."""
    if not isinstance(masks, np.ndarray):
        raise ValueError(
            f"{name} must be a numpy array of integer labels with shape (Ly, Lx) or (Lz, Ly, Lx), "
            f"got {type(masks).__name__}"
        )
    if masks.ndim not in (2, 3):
        raise ValueError(
            f"{name} must have shape (Ly, Lx) or (Lz, Ly, Lx), got shape {masks.shape}"
        )
    if not (np.issubdtype(masks.dtype, np.integer) or masks.dtype == np.bool_):
        raise ValueError(
            f"{name} must hold integer (or bool) labels with shape (Ly, Lx) or (Lz, Ly, Lx), "
            f"got dtype {masks.dtype}"
        )
    if masks.dtype.kind == "i" and masks.size and masks.min() < 0:
        raise ValueError(f"{name} must hold labels >= 0 (0 = background), found negative labels")
    return masks


def _compact_labels(masks):
    """Relabel to consecutive int32 labels 1..n (0 stays background), in order of label value.

    Returns (labels int32 C-contiguous array of masks.shape, n).
    """
    if masks.dtype == np.bool_:
        return np.ascontiguousarray(masks, dtype=np.int32), int(masks.any())
    top = int(masks.max()) if masks.size else 0
    if top == 0:
        return np.zeros(masks.shape, np.int32), 0
    if top <= max(4 * masks.size, 1 << 16):
        present = np.zeros(top + 1, np.bool_)
        present[masks.ravel()] = True
        present[0] = False
        lut = np.cumsum(present, dtype=np.int32)
        n = int(lut[-1])
        if n == top:  # already consecutive
            return np.ascontiguousarray(masks, dtype=np.int32), n
        lut[~present] = 0
        return lut[masks], n
    values, inverse = np.unique(masks, return_inverse=True)
    inverse = inverse.reshape(masks.shape).astype(np.int32)
    if values[0] == 0:
        return inverse, len(values) - 1
    return inverse + 1, len(values)


def _flows_from_compact(labels, n):
    """masks_to_flows for consecutive int32 labels 1..n (no checks)."""
    flows = np.zeros((labels.ndim,) + labels.shape, np.float32)
    if n == 0:
        return flows
    if labels.ndim == 2:
        boxes = _bounding_boxes_2d(labels, n)
        groups = _balanced_groups(boxes, 2)
        _diffuse_objects_2d(labels, boxes, groups[0], groups[1], flows)
    else:
        boxes = _bounding_boxes_3d(labels, n)
        groups = _balanced_groups(boxes, 3)
        _diffuse_objects_3d(labels, boxes, groups[0], groups[1], flows)
    return flows


def _balanced_groups(boxes, ndim):
    """Split objects into groups of about equal work for `prange` (longest job first).

    The work of an object is (box volume) x (iterations). Returns (order, starts): the objects of
    group g are order[starts[g]:starts[g + 1]].
    """
    extent = (boxes[:, ndim:] - boxes[:, :ndim]).astype(np.int64)  # ptp per axis
    present = boxes[:, ndim] >= boxes[:, 0]
    cost = np.where(present, np.prod(extent + 1, axis=1) * (2 * extent.sum(axis=1) + 1), 0)
    n_groups = min(len(boxes), 8 * numba.get_num_threads())
    order = np.argsort(-cost, kind="stable")
    # deal objects round-robin in a snake pattern so every group gets big and small ones
    rank = np.arange(len(order))
    lap, pos = rank // n_groups, rank % n_groups
    group = np.where(lap % 2 == 0, pos, n_groups - 1 - pos)
    by_group = np.argsort(group, kind="stable")
    order = order[by_group].astype(np.int32)
    starts = np.searchsorted(group[by_group], np.arange(n_groups + 1)).astype(np.int32)
    return order, starts


# ------------------------------------------------------------------------------------------------
# numba kernels


@numba.njit("int32[:, :](int32[:, :], int64)", nogil=True, cache=True)
def _bounding_boxes_2d(labels, n):
    """Rows (ymin, xmin, ymax, xmax) inclusive per label 1..n; absent labels have ymax < ymin."""
    Ly, Lx = labels.shape
    boxes = np.empty((n, 4), np.int32)
    boxes[:, 0] = Ly
    boxes[:, 1] = Lx
    boxes[:, 2] = -1
    boxes[:, 3] = -1
    for y in range(Ly):
        for x in range(Lx):
            k = labels[y, x] - 1
            if k >= 0:
                if y < boxes[k, 0]:
                    boxes[k, 0] = y
                if x < boxes[k, 1]:
                    boxes[k, 1] = x
                if y > boxes[k, 2]:
                    boxes[k, 2] = y
                if x > boxes[k, 3]:
                    boxes[k, 3] = x
    return boxes


@numba.njit("int32[:, :](int32[:, :, :], int64)", nogil=True, cache=True)
def _bounding_boxes_3d(labels, n):
    """Rows (zmin, ymin, xmin, zmax, ymax, xmax) inclusive per label 1..n."""
    Lz, Ly, Lx = labels.shape
    boxes = np.empty((n, 6), np.int32)
    boxes[:, 0] = Lz
    boxes[:, 1] = Ly
    boxes[:, 2] = Lx
    boxes[:, 3:] = -1
    for z in range(Lz):
        for y in range(Ly):
            for x in range(Lx):
                k = labels[z, y, x] - 1
                if k >= 0:
                    if z < boxes[k, 0]:
                        boxes[k, 0] = z
                    if y < boxes[k, 1]:
                        boxes[k, 1] = y
                    if x < boxes[k, 2]:
                        boxes[k, 2] = x
                    if z > boxes[k, 3]:
                        boxes[k, 3] = z
                    if y > boxes[k, 4]:
                        boxes[k, 4] = y
                    if x > boxes[k, 5]:
                        boxes[k, 5] = x
    return boxes


@numba.njit("float64(int64[:], int64)", nogil=True, cache=True)
def _median_from_counts(counts, total):
    """Median (numpy's definition) of coordinates 0..len-1 given how many times each occurs."""
    lo_rank = (total - 1) // 2
    hi_rank = total // 2
    lo = -1
    hi = -1
    seen = 0
    for i in range(counts.shape[0]):
        seen += counts[i]
        if lo < 0 and seen > lo_rank:
            lo = i
        if seen > hi_rank:
            hi = i
            break
    return 0.5 * (lo + hi)


@numba.njit(nogil=True, cache=True)
def _diffuse_one_2d(labels, lab, box, flows):
    y0, x0, y1, x1 = box[0], box[1], box[2], box[3]
    H = y1 - y0 + 3  # crop with one pixel of padding on every side
    W = x1 - x0 + 3
    inside = np.zeros((H, W), np.float64)  # 1/9 inside the object, 0 outside
    rows = np.zeros(H, np.int64)
    cols = np.zeros(W, np.int64)
    npix = 0
    for i in range(1, H - 1):
        for j in range(1, W - 1):
            if labels[y0 + i - 1, x0 + j - 1] == lab:
                inside[i, j] = 1.0 / 9.0
                rows[i] += 1
                cols[j] += 1
                npix += 1
    ymed = _median_from_counts(rows, npix)
    xmed = _median_from_counts(cols, npix)
    cy, cx, best = 0, 0, np.inf
    for i in range(1, H - 1):
        for j in range(1, W - 1):
            if inside[i, j] > 0.0:
                d = (i - ymed) ** 2 + (j - xmed) ** 2
                if d < best:
                    best, cy, cx = d, i, j

    niter = 2 * ((y1 - y0) + (x1 - x0))
    T = np.zeros((H, W), np.float64)
    R = np.zeros((H, W), np.float64)  # sums over x of 3 neighbours
    for _ in range(niter):
        T[cy, cx] += 1.0
        for i in range(H):
            for j in range(1, W - 1):
                R[i, j] = T[i, j - 1] + T[i, j] + T[i, j + 1]
        for i in range(1, H - 1):
            for j in range(1, W - 1):
                T[i, j] = (R[i - 1, j] + R[i, j] + R[i + 1, j]) * inside[i, j]

    for i in range(1, H - 1):
        for j in range(1, W - 1):
            if inside[i, j] > 0.0:
                dy = T[i + 1, j] - T[i - 1, j]
                dx = T[i, j + 1] - T[i, j - 1]
                norm = np.sqrt(dy * dy + dx * dx)
                if norm > 0.0:
                    flows[0, y0 + i - 1, x0 + j - 1] = dy / norm
                    flows[1, y0 + i - 1, x0 + j - 1] = dx / norm


@numba.njit(
    "void(int32[:, :], int32[:, :], int32[:], int32[:], float32[:, :, :])",
    nogil=True, cache=True, parallel=True,
)
def _diffuse_objects_2d(labels, boxes, order, starts, flows):
    for g in prange(starts.shape[0] - 1):
        for i in range(starts[g], starts[g + 1]):
            k = order[i]
            if boxes[k, 2] >= boxes[k, 0]:
                _diffuse_one_2d(labels, k + 1, boxes[k], flows)


@numba.njit(nogil=True, cache=True)
def _diffuse_one_3d(labels, lab, box, flows):
    z0, y0, x0, z1, y1, x1 = box[0], box[1], box[2], box[3], box[4], box[5]
    D = z1 - z0 + 3
    H = y1 - y0 + 3
    W = x1 - x0 + 3
    inside = np.zeros((D, H, W), np.float64)  # 1/27 inside the object, 0 outside
    planes = np.zeros(D, np.int64)
    rows = np.zeros(H, np.int64)
    cols = np.zeros(W, np.int64)
    npix = 0
    for a in range(1, D - 1):
        for i in range(1, H - 1):
            for j in range(1, W - 1):
                if labels[z0 + a - 1, y0 + i - 1, x0 + j - 1] == lab:
                    inside[a, i, j] = 1.0 / 27.0
                    planes[a] += 1
                    rows[i] += 1
                    cols[j] += 1
                    npix += 1
    zmed = _median_from_counts(planes, npix)
    ymed = _median_from_counts(rows, npix)
    xmed = _median_from_counts(cols, npix)
    cz, cy, cx, best = 0, 0, 0, np.inf
    for a in range(1, D - 1):
        for i in range(1, H - 1):
            for j in range(1, W - 1):
                if inside[a, i, j] > 0.0:
                    d = (a - zmed) ** 2 + (i - ymed) ** 2 + (j - xmed) ** 2
                    if d < best:
                        best, cz, cy, cx = d, a, i, j

    niter = 2 * ((z1 - z0) + (y1 - y0) + (x1 - x0))
    T = np.zeros((D, H, W), np.float64)
    Rx = np.zeros((D, H, W), np.float64)  # sums over x of 3 neighbours
    Rxy = np.zeros((D, H, W), np.float64)  # then over y
    for _ in range(niter):
        T[cz, cy, cx] += 1.0
        for a in range(D):
            for i in range(H):
                for j in range(1, W - 1):
                    Rx[a, i, j] = T[a, i, j - 1] + T[a, i, j] + T[a, i, j + 1]
        for a in range(D):
            for i in range(1, H - 1):
                for j in range(1, W - 1):
                    Rxy[a, i, j] = Rx[a, i - 1, j] + Rx[a, i, j] + Rx[a, i + 1, j]
        for a in range(1, D - 1):
            for i in range(1, H - 1):
                for j in range(1, W - 1):
                    T[a, i, j] = (Rxy[a - 1, i, j] + Rxy[a, i, j] + Rxy[a + 1, i, j]) \
                        * inside[a, i, j]

    for a in range(1, D - 1):
        for i in range(1, H - 1):
            for j in range(1, W - 1):
                if inside[a, i, j] > 0.0:
                    dz = T[a + 1, i, j] - T[a - 1, i, j]
                    dy = T[a, i + 1, j] - T[a, i - 1, j]
                    dx = T[a, i, j + 1] - T[a, i, j - 1]
                    norm = np.sqrt(dz * dz + dy * dy + dx * dx)
                    if norm > 0.0:
                        z, y, x = z0 + a - 1, y0 + i - 1, x0 + j - 1
                        flows[0, z, y, x] = dz / norm
                        flows[1, z, y, x] = dy / norm
                        flows[2, z, y, x] = dx / norm


@numba.njit(
    "void(int32[:, :, :], int32[:, :], int32[:], int32[:], float32[:, :, :, :])",
    nogil=True, cache=True, parallel=True,
)
def _diffuse_objects_3d(labels, boxes, order, starts, flows):
    for g in prange(starts.shape[0] - 1):
        for i in range(starts[g], starts[g + 1]):
            k = order[i]
            if boxes[k, 3] >= boxes[k, 0]:
                _diffuse_one_3d(labels, k + 1, boxes[k], flows)
