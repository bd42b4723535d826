"""3D segmentation with the 2D network (Stringer et al. 2020, "3D model").

The 2D network runs on every XY, ZY and ZX slice of the volume, resampled first so that voxels are
isotropic on the network's scale (Z stretched by ``anisotropy``, all axes by ``rescale``). Each
flow component is predicted by two of the three slice orientations and the two estimates are
averaged; the three cell-probability estimates are averaged too. The result is resampled back to
the input grid. Flow magnitudes are not rescaled by the resampling (as in Cellpose): the dynamics
only need their direction.

`remove_small_objects_3d` drops the fragments that 3D flow following tends to leave: objects under
10 % of the median object volume.
"""
from __future__ import annotations

import numpy as np

from .tiling import Progress, run_tiled
from .transforms import resize_image

__all__ = ["run_3d", "resample_volume", "remove_small_objects_3d"]


def resample_volume(vol, shape: tuple[int, int, int]) -> np.ndarray:
    """Bilinearly resample the last three axes (Z, Y, X) of `vol`.

    Parameters
    ----------
    vol : ndarray, shape (C, Lz, Ly, Lx)
    shape : (Lz', Ly', Lx')

    Returns
    -------
    ndarray of float32, shape (C, Lz', Ly', Lx')
        YX planes are resized first, then ZX planes (separable bilinear interpolation).
    """
    vol = np.asarray(vol, dtype=np.float32)
    Lz, Ly, Lx = (int(s) for s in shape)
    out = resize_image(vol, Ly, Lx) if vol.shape[-2:] != (Ly, Lx) else vol
    if out.shape[1] != Lz:
        out = resize_image(out.transpose(0, 2, 1, 3), Lz, Lx).transpose(0, 2, 1, 3)
    return np.ascontiguousarray(out, dtype=np.float32)


def run_3d(
    nets,
    x,
    *,
    anisotropy: float | None = None,
    rescale: float = 1.0,
    augment: bool = True,
    tile_overlap: float = 0.5,
    bsize: int = 224,
    batch_size: int = 8,
    progress: Progress | None = None,
) -> tuple[np.ndarray, np.ndarray]:
    """Flows and cell probability of a volume from the 2D network on its three slice orientations.

    Parameters
    ----------
    nets : list of CellposeNet, on one device, in eval mode
    x : ndarray of float32, shape (Lz, 2, Ly, Lx)
        (cytoplasm, nucleus-or-zeros) per plane, normalised by `transforms.normalize99` over the stack.
    anisotropy : float, optional
        Z voxel size / XY pixel size (None = 1). Z is stretched by it before the network runs.
    rescale : float
        Scale of all axes for the network (``diam_mean / diameter``).
    augment, tile_overlap, bsize, batch_size
        As in `tiling.run_net`, for every slice.
    progress : callable(stage, fraction), optional
        Called as ``progress("network", fraction)`` over the three orientations together.

    Returns
    -------
    y : ndarray of float32, shape (4, Lz, Ly, Lx)
        (flow Z, flow Y, flow X, cellprob logit) on the network's scale, on the input grid.
    style : ndarray of float32, shape (D,)
        The mean style of the XY slices, L2-normalised.
    """
    arr = np.asarray(x)
    if arr.ndim != 4 or arr.shape[1] != 2:
        raise ValueError(f"run_3d needs x of shape (Lz, 2, Ly, Lx), got shape {arr.shape}")
    aniso = 1.0 if anisotropy is None else float(anisotropy)
    if not (aniso > 0 and np.isfinite(aniso)):
        raise ValueError(f"anisotropy must be a positive number, got {anisotropy}")
    if not (rescale > 0 and np.isfinite(rescale)):
        raise ValueError(f"rescale must be a positive number, got {rescale}")

    Lz, _, Ly, Lx = arr.shape
    shape_net = (
        max(1, round(Lz * aniso * rescale)),
        max(1, round(Ly * rescale)),
        max(1, round(Lx * rescale)),
    )
    vol = resample_volume(arr.transpose(1, 0, 2, 3), shape_net)  # (2, Lz', Ly', Lx')

    # (slices as (N, 2, A, B), how to put the (N, 3, A, B) output back as (3, Lz', Ly', Lx'))
    orientations = [
        ("xy", vol.transpose(1, 0, 2, 3), (1, 0, 2, 3)),
        ("zy", vol.transpose(3, 0, 1, 2), (1, 2, 3, 0)),
        ("zx", vol.transpose(2, 0, 1, 3), (1, 2, 0, 3)),
    ]
    outs = {}
    style = None
    for k, (name, slices, back) in enumerate(orientations):
        sub = None if progress is None else _sub_progress(progress, k, len(orientations))
        y, styles = run_tiled(  # copies the slices into its padded input: no copy here
            nets, slices, augment=augment, tile_overlap=tile_overlap,
            bsize=bsize, batch_size=batch_size, progress=sub,
        )
        outs[name] = y.transpose(back)
        if name == "xy":
            style = styles.mean(axis=0)
            style = (style / max(float(np.linalg.norm(style)), 1e-12)).astype(np.float32)

    xy, zy, zx = outs["xy"], outs["zy"], outs["zx"]
    y = np.empty((4, *shape_net), np.float32)
    np.add(zy[0], zx[0], out=y[0])  # Z flow: from ZY and ZX slices
    np.add(xy[0], zy[1], out=y[1])  # Y flow: from XY and ZY slices
    np.add(xy[1], zx[1], out=y[2])  # X flow: from XY and ZX slices
    np.add(xy[2], zy[2], out=y[3])
    y[3] += zx[2]
    y[:3] *= 0.5
    y[3] *= 1.0 / 3.0
    del outs, xy, zy, zx
    return resample_volume(y, (Lz, Ly, Lx)), style


def _sub_progress(progress: Progress, k: int, n: int) -> Progress:
    return lambda stage, fraction: progress(stage, (k + fraction) / n)


def remove_small_objects_3d(masks, fraction: float = 0.1) -> np.ndarray:
    """Remove objects smaller than `fraction` of the median object volume and relabel 1..N.

    Parameters
    ----------
    masks : ndarray of int, shape (Lz, Ly, Lx)
        0 = background, positive = objects.

    Returns
    -------
    ndarray of int32, shape (Lz, Ly, Lx)
        Labels 1..N in the order of the surviving input labels.
    """
    m = np.asarray(masks)
    if m.ndim != 3 or not np.issubdtype(m.dtype, np.integer):
        raise ValueError(f"remove_small_objects_3d needs integer masks (Lz, Ly, Lx), got {m.dtype} {m.shape}")
    if m.size and m.min() < 0:
        raise ValueError("remove_small_objects_3d needs labels >= 0 (0 = background)")
    if m.size == 0 or m.max() <= 0:
        return np.zeros(m.shape, np.int32)
    counts = np.bincount(m.ravel().astype(np.int64))
    labels = np.nonzero(counts)[0]
    labels = labels[labels > 0]
    keep = labels[counts[labels] >= fraction * np.median(counts[labels])]
    lut = np.zeros(counts.size, np.int32)
    lut[keep] = np.arange(1, keep.size + 1, dtype=np.int32)
    return lut[m]
