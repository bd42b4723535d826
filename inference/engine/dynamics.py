"""Flow following, mask recovery, flow-error QC and hole filling (Stringer et al. 2020,
"Mask recovery from vector flows" and "Mask quality threshold").

`compute_masks` turns the network's flows and cell probability into labels:

1. pixels with cellprob > threshold follow the flow field dP / 5 (set to 0 outside those pixels)
   for `niter` Euler steps, with bilinear (trilinear) interpolation, clamped to the image;
2. end points are binned in a histogram; seeds are histogram bins that are the maximum of their
   5x5 (5x5x5) window and hold more than 10 end points; each seed grows for 5 steps over
   neighbouring bins with at least 3 end points; every pixel takes the label of its end bin;
   masks larger than `max_size_fraction` of the image are dropped;
3. flow-error QC: flows recomputed from each mask (`flows.masks_to_flows`) are compared with dP / 5,
   and masks whose mean squared difference exceeds `flow_threshold` are dropped;
4. holes are filled, masks under `min_size` pixels dropped, and labels renumbered 1..N.

Flow following runs in numba on CPU arrays and in torch for CUDA tensors (or ``device="cuda"``);
`follow_flows` chooses. The numba kernels live in the private module `_dynamics_kernels`; this
module checks inputs and calls them.
"""

import numpy as np
import torch

from ._dynamics_kernels import (  # noqa: F401 (the constants are re-exported)
    BURST,
    CHUNK,
    GROW_MIN_COUNT,
    GROW_STEPS,
    SEED_MIN_COUNT,
    SEED_RADIUS,
    SLOTS,
    _end_bins,
    _fill_holes,
    _follow_2d,
    _follow_3d,
    _mean_sq_error,
    _scale_and_interleave,
    _seeds_and_grow,
)
from .flows import _bounding_boxes_2d, _bounding_boxes_3d, _check_masks, _compact_labels, \
    _flows_from_compact

__all__ = [
    "BASE_NITER",
    "compute_masks",
    "default_niter",
    "follow_flows",
    "follow_flows_torch",
    "get_masks",
    "flow_error",
    "remove_bad_flow_masks",
    "fill_holes_and_remove_small_masks",
]


BASE_NITER = 200


def default_niter(diameter: float, diam_mean: float = 30.0) -> int:
    """Flow-following iterations for cells `diameter` px across at the original size (as Cellpose:
    `BASE_NITER` at the network's scale, proportionally more for larger cells)."""
    return max(1, int(round(BASE_NITER * diameter / diam_mean)))


def compute_masks(dP, cellprob, *, niter=200, cellprob_threshold=0.0, flow_threshold=0.4,
                  min_size=15, max_size_fraction=0.4, device=None):
    """Masks from the network's flows and cell probability.

    Parameters
    ----------
    dP : ndarray or torch.Tensor of float, shape (2, Ly, Lx) or (3, Lz, Ly, Lx)
        Flows on the network's scale (5 x unit vectors), order (dy, dx) or (dz, dy, dx).
    cellprob : ndarray or torch.Tensor of float, shape (Ly, Lx) or (Lz, Ly, Lx)
        Cell probability logits; pixels above `cellprob_threshold` are followed.
    niter : int
        Euler steps of flow following.
    cellprob_threshold : float
    flow_threshold : float or None
        Masks whose mean squared flow error exceeds this are dropped; None or 0 skips the check.
    min_size : int
        Masks with fewer pixels (after hole filling) are dropped; 0 keeps all.
    max_size_fraction : float
        Masks covering more than this fraction of the image are dropped.
    device : str or torch.device or None
        Where flows are followed: None uses torch on the tensor's device when `dP` is a CUDA tensor
        and numba otherwise; a CUDA device uses torch on it; "cpu" uses numba.

    Returns
    -------
    masks : ndarray of int32, shape (Ly, Lx) or (Lz, Ly, Lx)
        0 = background, 1..N = cells.
    """
    on_gpu = _wants_torch(dP, device)
    dP_np = _to_numpy(dP)
    cellprob_np = _to_numpy(cellprob)
    _check_flows(dP_np, "dP")
    if cellprob_np.shape != dP_np.shape[1:]:
        raise ValueError(
            f"cellprob must have shape {dP_np.shape[1:]} (the spatial shape of dP {dP_np.shape}), "
            f"got {cellprob_np.shape}"
        )
    foreground = cellprob_np > cellprob_threshold
    if not foreground.any():
        return np.zeros(foreground.shape, np.int32)

    if on_gpu:
        dev = torch.device(device) if device is not None else dP.device
        dP_t = torch.as_tensor(dP_np, device=dev) if not torch.is_tensor(dP) else dP.to(dev)
        fg_t = torch.as_tensor(foreground, device=dev)
        step = dP_t.float() * fg_t / 5.0
        points = torch.nonzero(fg_t).T.float()
        p = follow_flows_torch(step, points, niter=niter).cpu().numpy()
    else:
        p = _follow_numba(_step_field(dP_np, foreground), foreground, niter)

    labels, n = _cluster(p, foreground, max_size_fraction)
    if n and flow_threshold:
        errors = _flow_errors(labels, n, dP_np)
        labels, n = _keep(labels, errors <= flow_threshold)
    if n:
        labels, n = _fill_and_filter(labels, n, min_size)
    return labels


def follow_flows(flow, mask, *, niter=200, device=None):
    """Euler-integrate every pixel of `mask` through the flow field.

    Parameters
    ----------
    flow : ndarray or torch.Tensor of float, shape (2, Ly, Lx) or (3, Lz, Ly, Lx)
        Displacement per step in pixels, order (dy, dx) or (dz, dy, dx). `compute_masks` passes
        dP / 5 set to 0 outside the foreground.
    mask : ndarray or torch.Tensor of bool, shape (Ly, Lx) or (Lz, Ly, Lx)
        Pixels to follow.
    niter : int
        Number of steps. Positions are interpolated bilinearly (trilinearly) and clamped to the
        image after every step.
    device : str or torch.device or None
        None: torch on the tensor's device for a CUDA tensor, numba otherwise. A CUDA device:
        torch on it. "cpu": numba.

    Returns
    -------
    p : ndarray of float32, shape (ndim, n)
        End positions of the pixels of `mask`, in the order of ``np.nonzero(mask)``.
    """
    use_torch = _wants_torch(flow, device)
    flow_np = None if use_torch else _to_numpy(flow)
    mask_np = None if use_torch else _to_numpy(mask)
    shape = tuple(flow.shape)
    _check_flows(flow if flow_np is None else flow_np, "flow")
    if tuple(mask.shape) != shape[1:]:
        raise ValueError(f"mask must have shape {shape[1:]} (the spatial shape of flow), "
                         f"got {tuple(mask.shape)}")
    if use_torch:
        dev = torch.device(device) if device is not None else flow.device
        flow_t = torch.as_tensor(flow, device=dev).float()
        mask_t = torch.as_tensor(mask, device=dev).bool()
        points = torch.nonzero(mask_t).T.float()
        return follow_flows_torch(flow_t, points, niter=niter).cpu().numpy()
    field = np.ascontiguousarray(np.moveaxis(flow_np.astype(np.float32, copy=False), 0, -1))
    return _follow_numba(field, mask_np.astype(bool, copy=False), niter)


@torch.inference_mode()
def follow_flows_torch(flow, points, *, niter=200):
    """Torch tier of `follow_flows`: integrate a batch of points on the flow's device.

    Parameters
    ----------
    flow : torch.Tensor of float32, shape (2, Ly, Lx) or (3, Lz, Ly, Lx)
        Displacement per step in pixels; must be finite (not checked here).
    points : torch.Tensor of float32, shape (ndim, n)
        Start positions in pixel coordinates (clamped to the image).
    niter : int

    Returns
    -------
    p : torch.Tensor of float32, shape (ndim, n)
        End positions, on the same device. Same arithmetic as the numba path: interpolate along
        x, then y (then z), each as (1 - w) * a + w * b.
    """
    ndim = flow.shape[0]
    shape = flow.shape[1:]
    flat = flow.reshape(ndim, -1).float()
    p = points.float().clone()
    high = [float(s - 1) for s in shape]
    for a in range(ndim):
        p[a].clamp_(0.0, high[a])
    strides = [int(np.prod(shape[a + 1:])) for a in range(ndim)]
    for _ in range(niter):
        lo_idx, hi_idx, weights = [], [], []
        for a in range(ndim):
            lo = p[a].floor()
            weights.append(p[a] - lo)
            lo = lo.long()
            lo_idx.append(lo * strides[a])
            hi_idx.append(torch.clamp(lo + 1, max=shape[a] - 1) * strides[a])
        # corner values, one tensor of shape (ndim, n) per corner, keyed by (axis0 hi?, ...)
        corners = {}
        for bits in range(1 << ndim):
            index = 0
            for a in range(ndim):
                use_hi = (bits >> (ndim - 1 - a)) & 1
                index = index + (hi_idx[a] if use_hi else lo_idx[a])
            corners[bits] = flat[:, index]
        # interpolate along the last axis first, then the earlier ones
        for a in range(ndim - 1, -1, -1):
            w = weights[a]
            bit = 1 << (ndim - 1 - a)
            corners = {b: (1.0 - w) * corners[b] + w * corners[b | bit]
                       for b in corners if not b & bit}
        step = corners[0]
        p += step
        for a in range(ndim):
            p[a].clamp_(0.0, high[a])
    return p


def get_masks(p, mask, *, max_size_fraction=0.4):
    """Cluster end points of flow following into masks.

    Parameters
    ----------
    p : ndarray of float, shape (ndim, n)
        End positions of the pixels of `mask` (in ``np.nonzero(mask)`` order), from `follow_flows`.
    mask : ndarray of bool, shape (Ly, Lx) or (Lz, Ly, Lx)
        The pixels that were followed.
    max_size_fraction : float
        Masks covering more than this fraction of the image are dropped.

    Returns
    -------
    masks : ndarray of int32, shape of `mask`
        0 = background, 1..N = cells.
    """
    mask = _to_numpy(mask)
    if mask.ndim not in (2, 3):
        raise ValueError(f"mask must have shape (Ly, Lx) or (Lz, Ly, Lx), got {mask.shape}")
    mask = mask.astype(bool, copy=False)
    p = np.asarray(p)
    n_fg = int(np.count_nonzero(mask))
    if p.shape != (mask.ndim, n_fg):
        raise ValueError(
            f"p must have shape (ndim, n) = {(mask.ndim, n_fg)} for this mask, got {p.shape}"
        )
    return _cluster(p, mask, max_size_fraction)[0]


def flow_error(masks, dP):
    """Mean squared difference between each mask's own flows and the predicted flows.

    Parameters
    ----------
    masks : ndarray of int, shape (Ly, Lx) or (Lz, Ly, Lx)
        0 = background, positive = cells (labels need not be consecutive).
    dP : ndarray of float, shape (2, Ly, Lx) or (3, Lz, Ly, Lx)
        Predicted flows on the network's scale (5 x unit vectors).

    Returns
    -------
    errors : ndarray of float32, shape (masks.max(),)
        errors[k - 1] = mean over the pixels of label k of |masks_to_flows(masks) - dP / 5|^2
        (0 for labels that do not occur).
    """
    masks = _check_masks(masks)
    dP = _to_numpy(dP)
    _check_flows(dP, "dP")
    if dP.shape[1:] != masks.shape or dP.shape[0] != masks.ndim:
        raise ValueError(f"dP must have shape {(masks.ndim,) + masks.shape} to match masks "
                         f"{masks.shape}, got {dP.shape}")
    top = int(masks.max()) if masks.size else 0
    errors = np.zeros(top, np.float32)
    labels, n = _compact_labels(masks)
    if n:
        values = np.unique(masks[masks > 0])  # label of compact index k is values[k - 1]
        errors[values - 1] = _flow_errors(labels, n, dP)
    return errors


def remove_bad_flow_masks(masks, dP, *, threshold=0.4):
    """Drop masks whose flow error (see `flow_error`) exceeds `threshold`.

    Parameters
    ----------
    masks : ndarray of int, shape (Ly, Lx) or (Lz, Ly, Lx)
        0 = background, positive = cells.
    dP : ndarray of float, shape (2, Ly, Lx) or (3, Lz, Ly, Lx)
        Predicted flows on the network's scale.
    threshold : float

    Returns
    -------
    masks : ndarray of int32, same shape
        The masks that pass, renumbered 1..N in the order of their original labels.
    """
    masks = _check_masks(masks)
    dP = _to_numpy(dP)
    _check_flows(dP, "dP")
    if dP.shape[1:] != masks.shape or dP.shape[0] != masks.ndim:
        raise ValueError(f"dP must have shape {(masks.ndim,) + masks.shape} to match masks "
                         f"{masks.shape}, got {dP.shape}")
    labels, n = _compact_labels(masks)
    if n == 0:
        return labels
    return _keep(labels, _flow_errors(labels, n, dP) <= threshold)[0]


def fill_holes_and_remove_small_masks(masks, *, min_size=15):
    """Fill holes in every mask, then drop masks with fewer than `min_size` pixels.

    A hole is background enclosed by one mask (4-connected in 2D, 6-connected in 3D); other masks
    inside it are kept.

    Parameters
    ----------
    masks : ndarray of int, shape (Ly, Lx) or (Lz, Ly, Lx)
        0 = background, positive = cells.
    min_size : int
        0 keeps every mask.

    Returns
    -------
    masks : ndarray of int32, same shape
        Renumbered 1..N in the order of the original labels.
    """
    labels, n = _compact_labels(_check_masks(masks))
    if n == 0:
        return labels
    if labels is masks:
        labels = labels.copy()
    return _fill_and_filter(labels, n, min_size)[0]


# ------------------------------------------------------------------------------------------------
# private helpers


def _to_numpy(a):
    if torch.is_tensor(a):
        return a.detach().cpu().numpy()
    return np.asarray(a)


def _wants_torch(a, device):
    if device is not None:
        return torch.device(device).type == "cuda"
    return torch.is_tensor(a) and a.device.type == "cuda"


def _check_flows(dP, name):
    """Shape, dtype and finiteness of a flow field (NaN would send a pixel anywhere)."""
    shape = tuple(dP.shape)
    if len(shape) not in (3, 4) or shape[0] != len(shape) - 1:
        raise ValueError(
            f"{name} must have shape (2, Ly, Lx) or (3, Lz, Ly, Lx), got {shape}"
        )
    dtype = dP.dtype
    is_float = dtype.is_floating_point if torch.is_tensor(dP) else np.issubdtype(dtype, np.floating)
    if not is_float:
        raise ValueError(
            f"{name} must be floating point with shape (2, Ly, Lx) or (3, Lz, Ly, Lx), got {dtype}"
        )
    finite = torch.isfinite(dP).all().item() if torch.is_tensor(dP) else np.isfinite(dP).all()
    if not finite:
        raise ValueError(f"{name} must be finite, found NaN or infinity")


def _step_field(dP, foreground):
    """dP / 5 set to 0 outside the foreground, as a C-contiguous float32 (..., ndim) array."""
    ndim = dP.ndim - 1
    flat = np.ascontiguousarray(dP, dtype=np.float32).reshape(ndim, -1)
    field = np.empty((flat.shape[1], ndim), np.float32)
    _scale_and_interleave(flat, np.ascontiguousarray(foreground).reshape(-1), field)
    return field.reshape(foreground.shape + (ndim,))


def _follow_numba(field, mask, niter):
    """End positions (ndim, n) float32 of the pixels of `mask` moved through `field` (..., ndim)."""
    start = np.nonzero(mask)
    p = np.empty((len(start[0]), mask.ndim), np.float32)
    for a, coords in enumerate(start):
        p[:, a] = coords
    if mask.ndim == 2:
        _follow_2d(field, p, niter)
    else:
        _follow_3d(field, p, niter)
    return np.ascontiguousarray(p.T)


def _cluster(p, mask, max_size_fraction):
    """get_masks on checked inputs: (labels int32 consecutive, n)."""
    shape3 = (1,) * (3 - mask.ndim) + mask.shape
    flat_mask = mask.reshape(-1)
    n_fg = int(np.count_nonzero(flat_mask))
    if n_fg == 0:
        return np.zeros(mask.shape, np.int32), 0
    bins = _end_bins(np.ascontiguousarray(p, dtype=np.float32), np.array(mask.shape, np.int64))
    point_labels, n = _seeds_and_grow(bins, np.array(shape3, np.int64))
    labels = np.zeros(mask.size, np.int32)
    labels[flat_mask] = point_labels
    labels = labels.reshape(mask.shape)
    if n:
        counts = np.bincount(point_labels, minlength=n + 1)
        keep = counts <= max_size_fraction * mask.size
        if not keep[1:].all():
            labels, n = _keep(labels, keep[1:])
    return labels, n


def _keep(labels, keep):
    """Zero the labels k with keep[k - 1] False and renumber the rest 1..N in order."""
    lut = np.zeros(len(keep) + 1, np.int32)
    lut[1:][keep] = np.arange(1, int(keep.sum()) + 1, dtype=np.int32)
    return lut[labels], int(keep.sum())


def _flow_errors(labels, n, dP):
    flows = _flows_from_compact(labels, n)
    return _mean_sq_error(labels.reshape(-1), n, flows.reshape(labels.ndim, -1),
                          dP.reshape(labels.ndim, -1).astype(np.float32, copy=False))


def _fill_and_filter(labels, n, min_size):
    """Fill holes in place, drop masks under min_size, renumber: (labels int32, n)."""
    if labels.ndim == 2:
        boxes = np.zeros((n, 6), np.int32)  # as 3D boxes with z = 0
        boxes[:, [1, 2, 4, 5]] = _bounding_boxes_2d(labels, n)
    else:
        boxes = _bounding_boxes_3d(labels, n)
    volume = np.prod((boxes[:, 3:] - boxes[:, :3] + 1).astype(np.int64), axis=1)
    order = np.argsort(volume, kind="stable").astype(np.int32)  # innermost masks fill first
    _fill_holes(labels.reshape((-1,) + labels.shape[-2:]), boxes, order, labels.ndim == 3)
    counts = np.bincount(labels.reshape(-1), minlength=n + 1)[1:]
    keep = counts >= max(min_size, 1)
    if keep.all():
        return labels, n
    return _keep(labels, keep)
