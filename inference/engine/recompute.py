"""Masks from saved network outputs, without the network: re-thresholding a segmentation.

`SegmentationResult` keeps the flows (``dP``) and cell probability; `recompute_masks` follows
them again with other thresholds (the web's re-threshold, `CellposeModel.recompute_masks`).
"""
from __future__ import annotations

import numpy as np

from .dynamics import BASE_NITER, compute_masks
from .stitch import check_threshold as _check_stitch_threshold
from .stitch import stitch_planes
from .volume import remove_small_objects_3d

__all__ = ["recompute_masks"]


def recompute_masks(
    dP,
    cellprob,
    *,
    cellprob_threshold: float = 0.0,
    flow_threshold: float = 0.4,
    min_size: int = 15,
    niter: int | None = None,
    device=None,
    stitch_threshold: float | None = None,
) -> np.ndarray:
    """Masks from saved network outputs, without running the network (for re-thresholding).

    Parameters
    ----------
    dP : ndarray of float32, shape (2, Ly, Lx) or (3, Lz, Ly, Lx)
        `SegmentationResult.dP`.
    cellprob : ndarray of float32, shape (Ly, Lx) or (Lz, Ly, Lx)
        `SegmentationResult.cellprob`.
    cellprob_threshold, flow_threshold, min_size
        As in `dynamics.compute_masks`. The flow-error check (`flow_threshold`) is 2D only, as in
        Cellpose: 3D flows are averaged over slice orientations and resampled, so their error
        against `flows.masks_to_flows` is not calibrated.
    niter : int, optional
        `SegmentationResult.niter`; 200 when not given.
    device : str or torch.device, optional
        Where flows are followed (`dynamics.compute_masks`); None = numba on the CPU.
    stitch_threshold : float in (0, 1], optional
        For a stack segmented plane by plane (`segment` with ``stitch_threshold``): masks are
        found in each plane from its Y and X flows (dZ, zero, is ignored), then linked across
        planes (`stitch.stitch_planes`).

    Returns
    -------
    ndarray of int32, shape (Ly, Lx) or (Lz, Ly, Lx)
        In 3D, objects under 10 % of the median volume are removed as in `segment`.
    """
    dP = np.asarray(dP, dtype=np.float32)
    cellprob = np.asarray(cellprob, dtype=np.float32)
    if dP.ndim not in (3, 4) or dP.shape[0] != dP.ndim - 1 or dP.shape[1:] != cellprob.shape:
        raise ValueError(
            "recompute_masks needs dP (2, Ly, Lx) with cellprob (Ly, Lx), or dP (3, Lz, Ly, Lx) with "
            f"cellprob (Lz, Ly, Lx); got {dP.shape} and {cellprob.shape}"
        )
    niter = BASE_NITER if niter is None else int(niter)
    if niter < 1:
        raise ValueError(f"niter must be >= 1, got {niter}")
    if stitch_threshold is not None:
        _check_stitch_threshold(stitch_threshold)
        if dP.ndim != 4:
            raise ValueError(f"stitch_threshold needs the flows of a stack (3, Lz, Ly, Lx), got {dP.shape}")
        planes = [
            compute_masks(dP[1:, z], cellprob[z], niter=niter, cellprob_threshold=float(cellprob_threshold),
                          flow_threshold=flow_threshold, min_size=int(min_size), device=device)
            for z in range(cellprob.shape[0])
        ]
        return stitch_planes(np.stack([np.asarray(m) for m in planes]), float(stitch_threshold))
    masks = compute_masks(
        dP, cellprob, niter=niter, cellprob_threshold=float(cellprob_threshold),
        flow_threshold=None if dP.ndim == 4 else flow_threshold, min_size=int(min_size), device=device,
    )
    masks = np.asarray(masks, dtype=np.int32)
    if masks.ndim == 3:
        masks = remove_small_objects_3d(masks)
    return masks
