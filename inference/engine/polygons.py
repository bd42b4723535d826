"""Cell outlines as polygons, and the polygon formats: ImageJ ROI sets, Cellpose outline text,
GeoJSON and COCO.

Every writer takes a destination (a path or a binary file object) and the masks, writes one file
and returns nothing; ``export.save_masks`` calls them by format name.

masks : ndarray of int, shape (Ly, Lx) or (Lz, Ly, Lx)
    0 = background, 1..N = cells (labels need not be consecutive).

Polygons are traced on pixel centres with ``cv2.findContours``: vertex (x, y) is the centre of a
boundary pixel of the cell, so filling the polygon (``cv2.fillPoly``) gives back the cell's pixels.
A cell made of several pieces is described by its largest piece.

3D masks, per format:
    txt, coco   refused (ValueError): these formats are 2D
    roi         one ImageJ ROI per cell per plane, with its stack position (z + 1)
    geojson     one feature per cell per plane, properties {"label", "z"}

The mask checks and label helpers at the top are shared with ``export``.
"""

from __future__ import annotations

import contextlib
import json
import struct
import zipfile
from collections.abc import Iterator

import cv2
import numpy as np
from scipy import ndimage

__all__ = ["outlines_list", "save_roi_zip", "save_outlines_txt", "save_geojson", "save_coco"]


# ---------------------------------------------------------------------------------------------
# checks and helpers (shared with export)

def _check_masks(masks, ndims=(2, 3)) -> np.ndarray:
    masks = np.asarray(masks)
    if masks.ndim not in ndims:
        layouts = {2: "(Ly, Lx)", 3: "(Lz, Ly, Lx)"}
        expected = " or ".join(layouts[n] for n in ndims)
        raise ValueError(f"masks must be a label image of shape {expected}, got {masks.shape}")
    if masks.dtype == bool:
        return masks.astype(np.int32)
    if not np.issubdtype(masks.dtype, np.integer):
        raise ValueError(f"masks must hold integer labels (0 = background), got {masks.dtype}")
    if masks.size and masks.min() < 0:
        raise ValueError("masks hold negative labels; expected 0 = background, 1..N = cells")
    return masks


@contextlib.contextmanager
def _binary_out(dest):
    """Yield a binary file object for a path (opened and closed here) or a file object."""
    if hasattr(dest, "write"):
        yield dest
    else:
        with open(dest, "wb") as fh:
            yield fh


def _dense_labels(masks: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(index per pixel: 0 = background, 1..N = labels in increasing order; the N labels)."""
    top = int(masks.max()) if masks.size else 0
    if top <= 4 * masks.size + 1024:  # a lookup table beats sorting every pixel
        present = np.flatnonzero(np.bincount(masks.ravel().astype(np.intp), minlength=top + 1))
        present = present[present > 0]
        lut = np.zeros(top + 1, dtype=np.intp)
        lut[present] = np.arange(1, present.size + 1)
        return lut[masks], present
    labels, inverse = np.unique(masks, return_inverse=True)
    inverse = inverse.reshape(masks.shape)
    if labels[0] != 0:
        return inverse + 1, labels
    return inverse, labels[1:]


def _label_slices(masks: np.ndarray) -> list[tuple[int, tuple[slice, ...]]]:
    """(label, bounding-box slices) of every label present, in increasing label order."""
    index, labels = _dense_labels(masks)
    return [(int(label), sl) for label, sl in zip(labels, ndimage.find_objects(index))]


# ---------------------------------------------------------------------------------------------
# outlines as polygons

def _cell_polygon(crop: np.ndarray) -> np.ndarray:
    """Largest outer contour of a binary crop, as (N, 2) int32 (x, y) in crop coordinates."""
    padded = np.pad(crop.astype(np.uint8), 1)
    contours, _ = cv2.findContours(padded, cv2.RETR_EXTERNAL, cv2.CHAIN_APPROX_NONE)
    best = max(contours, key=lambda c: (cv2.contourArea(c), len(c)))
    return best[:, 0, :].astype(np.int32) - 1


def _iter_polygons(masks2d: np.ndarray) -> Iterator[tuple[int, np.ndarray]]:
    """(label, polygon (N, 2) int32 (x, y)) for each label of a 2D label image."""
    for label, (sy, sx) in _label_slices(masks2d):
        poly = _cell_polygon(masks2d[sy, sx] == label)
        poly[:, 0] += sx.start
        poly[:, 1] += sy.start
        yield label, poly


def _iter_planes(masks: np.ndarray) -> Iterator[tuple[int | None, np.ndarray]]:
    if masks.ndim == 2:
        yield None, masks
    else:
        for z in range(masks.shape[0]):
            yield z, masks[z]


def outlines_list(masks) -> list[np.ndarray]:
    """Outline polygon of every cell, in increasing label order.

    Parameters
    ----------
    masks : ndarray of int, shape (Ly, Lx)

    Returns
    -------
    list of ndarray of int32, shape (N, 2)
        Vertices (x, y) on boundary-pixel centres, one polygon per label present (a label in
        several pieces gives its largest piece).
    """
    masks = _check_masks(masks, ndims=(2,))
    return [poly for _, poly in _iter_polygons(masks)]


def _closed_ring(poly: np.ndarray) -> list[list]:
    """A closed ring ([x, y] ..., first vertex repeated) enclosing a non-zero area.

    Cells whose outline encloses no area (one pixel, a one-pixel-wide line) get the rectangle
    around their pixels instead.
    """
    if cv2.contourArea(poly.reshape(-1, 1, 2)) > 0:
        pts = poly.tolist()
    else:
        x0, y0 = (poly.min(axis=0) - 0.5).tolist()
        x1, y1 = (poly.max(axis=0) + 0.5).tolist()
        pts = [[x0, y0], [x1, y0], [x1, y1], [x0, y1]]
    return pts + [pts[0]]


# ---------------------------------------------------------------------------------------------
# polygon formats

def _roi_bytes(poly: np.ndarray, position: int = 0) -> bytes:
    """One ImageJ polygon ROI (.roi, header version 228, big-endian)."""
    n = len(poly)
    if n > 65535:
        raise ValueError(f"an ImageJ polygon holds at most 65535 vertices, this outline has {n}")
    x, y = poly[:, 0].astype(np.int64), poly[:, 1].astype(np.int64)
    left, top = int(x.min()), int(y.min())
    right, bottom = int(x.max()), int(y.max())
    if max(right, bottom) > 32767:
        raise ValueError("ImageJ ROIs with coordinates beyond 32767 are not supported")
    header = struct.pack(
        ">4shBxhhhhH4fhiiihhBBhii",
        b"Iout", 228, 0,                 # magic, version, type 0 = polygon
        top, left, bottom, right, n,     # bounds (java.awt.Polygon convention), vertex count
        0.0, 0.0, 0.0, 0.0,              # line end points (unused for polygons)
        0, 0, 0, 0,                      # stroke width, shape size, stroke and fill colour
        0, 0, 0, 0, 0,                   # subtype, options, arrow style, head size, arc size
        position, 0,                     # stack position (1-based, 0 = none), no header 2
    )
    assert len(header) == 64
    coords = np.concatenate([x - left, y - top]).astype(">i2")
    return header + coords.tobytes()


def save_roi_zip(path, masks) -> None:
    """ImageJ/Fiji ROI set: a zip of polygon ROIs, one per cell (per plane in 3D), named
    ``LLLL-YYYY-XXXX.roi`` (label, bounding-box centre y and x; ``LLLL-ZZZZ-YYYY-XXXX.roi`` with
    the 1-based plane in 3D). Open with Fiji's ROI Manager (File > Open).
    """
    masks = _check_masks(masks)
    with _binary_out(path) as fh, zipfile.ZipFile(fh, "w", zipfile.ZIP_DEFLATED) as zf:
        for z, plane in _iter_planes(masks):
            for label, poly in _iter_polygons(plane):
                yc = int((poly[:, 1].min() + poly[:, 1].max()) // 2)
                xc = int((poly[:, 0].min() + poly[:, 0].max()) // 2)
                if z is None:
                    name = f"{label:04d}-{yc:04d}-{xc:04d}.roi"
                else:
                    name = f"{label:04d}-{z + 1:04d}-{yc:04d}-{xc:04d}.roi"
                zf.writestr(name, _roi_bytes(poly, position=0 if z is None else z + 1))


def save_outlines_txt(path, masks) -> None:
    """Cellpose's outline text file: one line per cell (increasing label),
    ``x0,y0,x1,y1,...``; Cellpose's ``imagej_roi_converter.py`` turns it into ImageJ ROIs.
    2D only."""
    masks = _check_masks(masks, ndims=(2,))
    lines = [",".join(map(str, poly.ravel().tolist())) for poly in outlines_list(masks)]
    text = "".join(line + "\n" for line in lines)
    with _binary_out(path) as fh:
        fh.write(text.encode("utf-8"))


def save_geojson(path, masks) -> None:
    """GeoJSON FeatureCollection (QuPath, napari, GIS tools): one Polygon feature per cell with
    properties {"label"} (and "z", the 0-based plane, for 3D masks); coordinates are (x, y)
    pixel positions."""
    masks = _check_masks(masks)
    features = []
    for z, plane in _iter_planes(masks):
        for label, poly in _iter_polygons(plane):
            props = {"label": label} if z is None else {"label": label, "z": z}
            features.append({
                "type": "Feature",
                "geometry": {"type": "Polygon", "coordinates": [_closed_ring(poly)]},
                "properties": props,
            })
    doc = {"type": "FeatureCollection", "features": features}
    with _binary_out(path) as fh:
        fh.write(json.dumps(doc, separators=(",", ":")).encode("utf-8"))


def save_coco(path, masks, *, image_name: str, image_id: int = 1) -> None:
    """COCO instance annotations for one image: ``images``, ``annotations`` (polygon
    ``segmentation``, ``bbox`` [x, y, width, height] covering the cell's pixels, ``area`` = pixel
    count, ``iscrowd`` 0, ids 1..N in label order) and ``categories`` [{id 1, "cell"}]. 2D only.
    """
    masks = _check_masks(masks, ndims=(2,))
    areas = dict(zip(*np.unique(masks[masks > 0], return_counts=True)))
    annotations = []
    for ann_id, (label, poly) in enumerate(_iter_polygons(masks), start=1):
        ring = _closed_ring(poly)[:-1]
        x0, y0 = poly.min(axis=0)
        x1, y1 = poly.max(axis=0)
        annotations.append({
            "id": ann_id,
            "image_id": int(image_id),
            "category_id": 1,
            "segmentation": [[c for pt in ring for c in pt]],
            "area": int(areas[label]),
            "bbox": [int(x0), int(y0), int(x1 - x0 + 1), int(y1 - y0 + 1)],
            "iscrowd": 0,
        })
    doc = {
        "images": [{"id": int(image_id), "file_name": str(image_name),
                    "height": int(masks.shape[0]), "width": int(masks.shape[1])}],
        "annotations": annotations,
        "categories": [{"id": 1, "name": "cell", "supercategory": "cell"}],
    }
    with _binary_out(path) as fh:
        fh.write(json.dumps(doc, separators=(",", ":")).encode("utf-8"))
