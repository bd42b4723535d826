"""Writing masks in every format users ask for; outlines; per-cell measurements.

Every writer takes a destination (a path or a binary file object) and the masks, writes one file
and returns nothing. `save_masks` writes several formats next to each other and returns the paths.

masks : ndarray of int, shape (Ly, Lx) or (Lz, Ly, Lx)
    0 = background, 1..N = cells (labels need not be consecutive).

Polygons (``cell_polygons``, ``outlines_list``, ImageJ ROIs, outline text, GeoJSON, COCO) are
traced and written by ``polygons``; their writers are re-exported here so every format is
reachable from this module. GeoJSON, COCO and ImageJ ROIs are exact (vertices on pixel corners:
filling them by pixel centres gives back the masks); outline text keeps Cellpose's pixel-centre
convention.

3D masks, per format:
    png, txt, coco        refused (ValueError): these formats are 2D
    tif, npy, flows, csv  the whole volume (csv adds centroid_z; area counts voxels)
    roi                   one ImageJ ROI per cell per plane, with its stack position (z + 1)
    geojson               one feature per cell per plane, properties {..., "label", "z"} and
                          QuPath's geometry "plane"
"""

from __future__ import annotations

import csv
import io as _io
import os
import re
import unicodedata
from pathlib import Path

import cv2
import numpy as np
import tifffile

from .polygons import (
    _binary_out,
    _check_masks,
    _dense_labels,
    cell_polygons,
    outlines_list,
    save_coco,
    save_geojson,
    save_outlines_txt,
    save_roi_zip,
)

__all__ = [
    "FORMATS", "SUFFIXES", "safe_stem", "masks_to_outlines", "cell_polygons", "outlines_list",
    "flows_to_rgb",
    "measurements", "save_png", "save_tif", "save_seg_npy", "save_roi_zip", "save_outlines_txt",
    "save_geojson", "save_coco", "save_csv", "save_flows_tif", "save_masks",
]

#: Formats `save_masks` can write, and the suffix appended to the base name for each.
SUFFIXES = {
    "png": "_masks.png",
    "tif": "_masks.tif",
    "npy": "_seg.npy",
    "roi": "_rois.zip",
    "txt": "_outlines.txt",
    "geojson": "_masks.geojson",
    "coco": "_coco.json",
    "csv": "_cells.csv",
    "flows": "_flows.tif",
}
FORMATS = tuple(SUFFIXES)
_FORMATS_2D_ONLY = ("png", "txt", "coco")


# ---------------------------------------------------------------------------------------------
# checks and helpers

def _renumber(masks: np.ndarray) -> np.ndarray:
    """Labels 1..N in the order of the original labels (0 stays 0)."""
    return _dense_labels(masks)[0]


def _smallest_uint(masks: np.ndarray) -> np.ndarray:
    return masks.astype(np.uint16 if masks.max(initial=0) <= 65535 else np.uint32)


def safe_stem(name: str) -> str:
    """A file-name stem safe on every platform, from a file name or path.

    Keeps the last path component (``/`` and ``\\`` both separate), drops the extension
    (``.ome.tif`` counts as one), transliterates to ASCII, replaces anything but letters, digits,
    ``.``, ``_`` and ``-`` with ``_``, and trims to 100 characters; "image" if nothing is left.
    """
    base = re.split(r"[\\/]", str(name))[-1]
    base = re.sub(r"(\.ome)?\.[A-Za-z0-9]{1,5}$", "", base, flags=re.IGNORECASE)
    base = unicodedata.normalize("NFKD", base).encode("ascii", "ignore").decode("ascii")
    base = re.sub(r"[^A-Za-z0-9._-]+", "_", base)
    base = re.sub(r"_+", "_", base).strip("._- ")[:100].rstrip("._- ")
    return base or "image"


# ---------------------------------------------------------------------------------------------
# outlines

def masks_to_outlines(masks) -> np.ndarray:
    """Pixels on the boundary of their cell.

    A cell pixel is on the outline when one of its 4 neighbours in the same plane has another
    label (background and the image border count as other labels); 3D masks get the outlines of
    each plane.

    Parameters
    ----------
    masks : ndarray of int, shape (Ly, Lx) or (Lz, Ly, Lx)

    Returns
    -------
    outlines : ndarray of bool, same shape as masks
    """
    masks = _check_masks(masks)
    pad = [(0, 0)] * (masks.ndim - 2) + [(1, 1), (1, 1)]
    p = np.pad(masks, pad)
    c = p[..., 1:-1, 1:-1]
    edge = ((c != p[..., :-2, 1:-1]) | (c != p[..., 2:, 1:-1])
            | (c != p[..., 1:-1, :-2]) | (c != p[..., 1:-1, 2:]))
    return edge & (c != 0)


# ---------------------------------------------------------------------------------------------
# images of masks and flows

def save_png(path, masks) -> None:
    """16-bit PNG label image. Refuses 3D masks and more than 65535 labels (use TIFF)."""
    masks = _check_masks(masks, ndims=(2,))
    if masks.max(initial=0) > 65535:
        raise ValueError(f"PNG holds labels up to 65535, masks go up to {masks.max()}; use tif")
    ok, buf = cv2.imencode(".png", masks.astype(np.uint16))
    if not ok:
        raise ValueError("OpenCV could not encode the masks as PNG")
    with _binary_out(path) as fh:
        fh.write(buf.tobytes())


def save_tif(path, masks) -> None:
    """zlib-compressed TIFF label image: uint16 when labels fit, else uint32; 3D as a stack."""
    masks = _check_masks(masks)
    axes = "YX" if masks.ndim == 2 else "ZYX"
    with _binary_out(path) as fh:
        tifffile.imwrite(fh, _smallest_uint(masks), photometric="minisblack", compression="zlib",
                         metadata={"axes": axes})


def _normalize01(x: np.ndarray) -> np.ndarray:
    lo, hi = np.percentile(x, (1, 99))
    return np.clip((x - lo) / max(hi - lo, 1e-12), 0, 1)


def flows_to_rgb(dP) -> np.ndarray:
    """Colour picture of flows: direction as hue, magnitude as brightness (paper Fig. 1b).

    Parameters
    ----------
    dP : ndarray of float, shape (2, Ly, Lx) or (3, Lz, Ly, Lx)
        Flows (Y, X) or (Z, Y, X); for 3D the Y and X components of each plane are drawn.

    Returns
    -------
    rgb : ndarray of uint8, shape (Ly, Lx, 3) or (Lz, Ly, Lx, 3)
        Brightness is the magnitude over its 99th percentile, clipped to 1.
    """
    dP = np.asarray(dP, dtype=np.float32)
    if not ((dP.ndim == 3 and dP.shape[0] == 2) or (dP.ndim == 4 and dP.shape[0] == 3)):
        raise ValueError(f"dP must be (2, Ly, Lx) or (3, Lz, Ly, Lx), got shape {dP.shape}")
    dy, dx = dP[-2], dP[-1]
    mag = np.hypot(dy, dx)
    scale = np.percentile(mag, 99) if mag.size else 0.0
    hsv = np.empty((*dy.shape, 3), np.float32)
    hsv[..., 0] = (np.degrees(np.arctan2(dy, dx)) + 360.0) % 360.0
    hsv[..., 1] = 1.0
    hsv[..., 2] = np.clip(mag / scale, 0, 1) if scale > 0 else 0.0
    flat = hsv.reshape(-1, dy.shape[-1], 3)
    rgb = cv2.cvtColor(flat, cv2.COLOR_HSV2RGB).reshape(hsv.shape)
    return np.round(rgb * 255).astype(np.uint8)


def _check_flows(dP, cellprob, shape) -> tuple[np.ndarray, np.ndarray]:
    dP = np.asarray(dP, dtype=np.float32)
    cellprob = np.asarray(cellprob, dtype=np.float32)
    if dP.shape != (len(shape), *shape) or cellprob.shape != tuple(shape):
        raise ValueError(f"flows must be dP of shape {(len(shape), *shape)} and cellprob of "
                         f"shape {tuple(shape)}, got {dP.shape} and {cellprob.shape}")
    return dP, cellprob


def save_flows_tif(path, dP, cellprob) -> None:
    """float32 TIFF of the network output: channels (flow Y, flow X, cellprob) in 2D, shape
    (3, Ly, Lx), or (flow Z, flow Y, flow X, cellprob) in 3D, shape (4, Lz, Ly, Lx).

    Parameters
    ----------
    dP : ndarray of float, shape (2, Ly, Lx) or (3, Lz, Ly, Lx)
    cellprob : ndarray of float, shape (Ly, Lx) or (Lz, Ly, Lx)
        Cell probability logits.
    """
    cellprob = np.asarray(cellprob)
    if cellprob.ndim not in (2, 3):
        raise ValueError(f"cellprob must be (Ly, Lx) or (Lz, Ly, Lx), got {cellprob.shape}")
    dP, cellprob = _check_flows(dP, cellprob, cellprob.shape)
    stack = np.concatenate([dP, cellprob[None]], axis=0)
    axes = "CYX" if cellprob.ndim == 2 else "CZYX"
    with _binary_out(path) as fh:
        tifffile.imwrite(fh, stack, photometric="minisblack", compression="zlib",
                         metadata={"axes": axes})


# ---------------------------------------------------------------------------------------------
# Cellpose GUI file

def save_seg_npy(path, *, image, masks, flows=None, diameter, channels, filename,
                 ismanual=None, positions=None) -> None:
    """A ``_seg.npy`` file that the Cellpose GUI opens (File > Load processed/masks image).

    It is a pickled dict written by ``np.save`` (read it with
    ``np.load(path, allow_pickle=True).item()``) with the keys the GUI's ``_load_seg`` reads:

    masks     uint16 (uint32 beyond 65535 cells), labels renumbered 1..N in label order
    outlines  same dtype and shape, the label on outline pixels and 0 elsewhere
    flows     the GUI's 5-item list (empty items when ``flows`` is None):
              [0] RGB flow picture, uint8 (1, Ly, Lx, 3) / (Lz, Ly, Lx, 3)
              [1] cell probability scaled to 0..255, uint8 (1, Ly, Lx) / (Lz, Ly, Lx)
              [2] Z flow scaled to 0..255 (zeros in 2D), uint8 (1, Ly, Lx) / (Lz, Ly, Lx)
              [3] final pixel positions of flow following (``positions``), or [] if not given
              [4] dP and cellprob stacked, float32 (3, Ly, Lx) / (4, Lz, Ly, Lx)
    chan_choose  [chan, chan2]
    ismanual  bool (N,), True for hand-drawn cells
    filename, diameter (nan when None), est_diam (when diameter is given; fills the GUI's
    diameter box), img (the image, when given)

    Without ``positions`` the GUI shows masks and flows but cannot recompute masks when its
    thresholds change.

    Parameters
    ----------
    path : str, os.PathLike or binary file object
    image : ndarray or None
        The segmented image as read from its file.
    masks : ndarray of int, shape (Ly, Lx) or (Lz, Ly, Lx)
    flows : (dP, cellprob) or None
        dP float (2, Ly, Lx) / (3, Lz, Ly, Lx) on the network's scale; cellprob logits.
    diameter : float or None
    channels : (int, int)
    filename : str
        The image file; the GUI reloads the image from it.
    ismanual : array-like of bool, shape (N,), optional
        In the order of the labels; all False if None.
    positions : ndarray of float, shape (2, Ly, Lx) / (3, Lz, Ly, Lx), optional
    """
    masks = _check_masks(masks)
    renumbered = _smallest_uint(_renumber(masks))
    n_cells = int(renumbered.max(initial=0))
    if ismanual is None:
        ismanual = np.zeros(n_cells, bool)
    else:
        ismanual = np.asarray(ismanual, dtype=bool)
        if ismanual.shape != (n_cells,):
            raise ValueError(f"ismanual must have one entry per cell ({n_cells}), "
                             f"got shape {ismanual.shape}")
    if len(channels) != 2:
        raise ValueError(f"channels must be (chan, chan2), got {channels!r}")
    outlines = renumbered * masks_to_outlines(renumbered)
    if flows is None:
        gui_flows = [[], [], [], [], [[]]]
    else:
        dP, cellprob = _check_flows(flows[0], flows[1], masks.shape)
        rgb = flows_to_rgb(dP)
        prob_u8 = (_normalize01(cellprob) * 255).astype(np.uint8)
        if masks.ndim == 2:  # the GUI indexes these by plane
            rgb, prob_u8 = rgb[None], prob_u8[None]
            zflow = np.zeros((1, *masks.shape), np.uint8)
        else:
            zflow = np.clip(dP[0] / 10 * 127 + 127, 0, 255).astype(np.uint8)
        pos = [] if positions is None else np.asarray(positions, dtype=np.float32)
        gui_flows = [rgb, prob_u8, zflow, pos,
                     np.concatenate([dP, cellprob[None]], axis=0).astype(np.float32)]
    dat = {
        "masks": renumbered,
        "outlines": outlines.astype(renumbered.dtype),
        "flows": gui_flows,
        "chan_choose": [int(channels[0]), int(channels[1])],
        "ismanual": ismanual,
        "filename": str(filename),
        "diameter": float("nan") if diameter is None else float(diameter),
    }
    if diameter is not None:
        dat["est_diam"] = float(diameter)
    if image is not None:
        dat["img"] = np.asarray(image)
    with _binary_out(path) as fh:
        np.save(fh, dat, allow_pickle=True)


# ---------------------------------------------------------------------------------------------
# measurements

def _channels_first(image: np.ndarray, shape: tuple[int, ...]) -> np.ndarray:
    """image as (C, *shape); accepts shape, (C, *shape), (*shape, C) and (Lz, C, Ly, Lx)."""
    if image.shape == shape:
        return image[None]
    if image.ndim == len(shape) + 1:
        if image.shape[1:] == shape:
            return image
        if image.shape[:-1] == shape:
            return np.moveaxis(image, -1, 0)
        if len(shape) == 3 and image.shape[0] == shape[0] and image.shape[2:] == shape[1:]:
            return np.moveaxis(image, 1, 0)
    raise ValueError(f"image of shape {image.shape} does not match masks of shape {shape}; "
                     f"expected {shape}, (C, {', '.join(map(str, shape))}) or channels last")


def measurements(masks, image=None) -> list[dict]:
    """Per-cell size, position and mean intensity.

    Parameters
    ----------
    masks : ndarray of int, shape (Ly, Lx) or (Lz, Ly, Lx)
    image : ndarray or None
        Same spatial shape as masks, with or without a channel axis: (Ly, Lx), (C, Ly, Lx),
        (Ly, Lx, C); in 3D (Lz, Ly, Lx), (C, Lz, Ly, Lx), (Lz, Ly, Lx, C) or (Lz, C, Ly, Lx).

    Returns
    -------
    list of dict, one per cell in increasing label order, with keys
        label, area (pixels or voxels), [centroid_z,] centroid_y, centroid_x (pixel units),
        and mean_ch0, mean_ch1, ... (mean intensity per channel) when image is given.
    """
    masks = _check_masks(masks)
    inverse, present = _dense_labels(masks)
    inverse = inverse.ravel()
    labels = np.concatenate([[0], present])
    n = labels.size
    area = np.bincount(inverse, minlength=n).astype(np.float64)
    safe = np.maximum(area, 1)
    axes = ("z", "y", "x")[-masks.ndim:]
    grids = np.indices(masks.shape, sparse=True)
    centroid = {}
    for ax, grid in zip(axes, grids):
        coord = np.broadcast_to(grid, masks.shape).ravel()
        centroid[ax] = np.bincount(inverse, weights=coord, minlength=n) / safe
    means = []
    if image is not None:
        img = _channels_first(np.asarray(image), masks.shape)
        for ch in img:
            vals = np.asarray(ch, dtype=np.float64).ravel()
            means.append(np.bincount(inverse, weights=vals, minlength=n) / safe)
    rows = []
    for i in range(1, n):
        row = {"label": int(labels[i]), "area": int(area[i])}
        for ax in axes:
            row[f"centroid_{ax}"] = float(centroid[ax][i])
        for c, m in enumerate(means):
            row[f"mean_ch{c}"] = float(m[i])
        rows.append(row)
    return rows


def save_csv(path, masks, image=None) -> None:
    """CSV of `measurements`: a header row, then one row per cell."""
    masks = _check_masks(masks)
    rows = measurements(masks, image)
    axes = ("z", "y", "x")[-masks.ndim:]
    fields = ["label", "area"] + [f"centroid_{ax}" for ax in axes]
    if image is not None:
        n_ch = _channels_first(np.asarray(image), masks.shape).shape[0]
        fields += [f"mean_ch{c}" for c in range(n_ch)]
    buf = _io.StringIO()
    writer = csv.DictWriter(buf, fieldnames=fields, lineterminator="\n")
    writer.writeheader()
    for row in rows:
        writer.writerow({k: (round(v, 4) if isinstance(v, float) else v) for k, v in row.items()})
    with _binary_out(path) as fh:
        fh.write(buf.getvalue().encode("utf-8"))


# ---------------------------------------------------------------------------------------------
# dispatcher

def save_masks(path_base, masks, *, formats=("png",), image=None, flows=None, diameter=None,
               channels=(0, 0), filename=None, ismanual=None) -> list[Path]:
    """Write masks in several formats as ``<path_base><suffix>`` (see `SUFFIXES`).

    Every request is checked before anything is written: an unknown format, a 2D-only format
    (png, txt, coco) with 3D masks, png with more than 65535 labels, or "flows" without flows
    raises ValueError and writes nothing. The parent folder is created if needed.

    Parameters
    ----------
    path_base : str or os.PathLike
        Output path without suffix, e.g. ``out/cells01``.
    masks : ndarray of int, shape (Ly, Lx) or (Lz, Ly, Lx)
    formats : iterable of str
        Any of `FORMATS`.
    image : ndarray or None
        The segmented image: stored in the ``_seg.npy`` and measured for the csv.
    flows : (dP, cellprob) or None
        Network output, for "npy" and "flows".
    diameter : float or None
        Cell diameter used, stored in the ``_seg.npy``.
    channels : (int, int)
        Channels used (chan, chan2), stored in the ``_seg.npy``.
    filename : str or None
        The image file name (for the ``_seg.npy`` and COCO); defaults to the base name.
    ismanual : array-like of bool, shape (N,), or None
        Which cells were drawn by hand, in label order (for the ``_seg.npy``).

    Returns
    -------
    list of Path
        The files written, in the order of `formats`.
    """
    masks = _check_masks(masks)
    formats = list(dict.fromkeys(formats))
    unknown = [f for f in formats if f not in SUFFIXES]
    if unknown:
        raise ValueError(f"unknown format(s) {unknown}; choose from {', '.join(FORMATS)}")
    if masks.ndim == 3:
        flat = [f for f in formats if f in _FORMATS_2D_ONLY]
        if flat:
            raise ValueError(f"{', '.join(flat)} cannot hold 3D masks; use tif or npy")
    if "png" in formats and masks.max(initial=0) > 65535:
        raise ValueError("PNG holds labels up to 65535; use tif")
    if "flows" in formats and flows is None:
        raise ValueError("format 'flows' needs flows=(dP, cellprob)")
    if flows is not None:
        _check_flows(flows[0], flows[1], masks.shape)
    base = Path(path_base)
    base.parent.mkdir(parents=True, exist_ok=True)
    filename = base.name if filename is None else str(filename)
    written = []
    for fmt in formats:
        out = base.with_name(base.name + SUFFIXES[fmt])
        if fmt == "png":
            save_png(out, masks)
        elif fmt == "tif":
            save_tif(out, masks)
        elif fmt == "npy":
            save_seg_npy(out, image=image, masks=masks, flows=flows, diameter=diameter,
                         channels=channels, filename=filename, ismanual=ismanual)
        elif fmt == "roi":
            save_roi_zip(out, masks)
        elif fmt == "txt":
            save_outlines_txt(out, masks)
        elif fmt == "geojson":
            save_geojson(out, masks)
        elif fmt == "coco":
            save_coco(out, masks, image_name=os.path.basename(filename))
        elif fmt == "csv":
            save_csv(out, masks, image)
        elif fmt == "flows":
            save_flows_tif(out, flows[0], flows[1])
        written.append(out)
    return written
