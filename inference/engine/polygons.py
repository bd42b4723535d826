"""Cell outlines as polygons, and the polygon formats: ImageJ ROI sets, Cellpose outline text,
GeoJSON and COCO.

Every writer takes a destination (a path or a binary file object) and the masks, writes one file
and returns nothing; ``export.save_masks`` calls them by format name.

masks : ndarray of int, shape (Ly, Lx) or (Lz, Ly, Lx)
    0 = background, 1..N = cells (labels need not be consecutive).

GeoJSON, COCO and ImageJ ROIs are exact: their vertices are pixel corners traced along the cell's
boundary (`cell_polygons`, see ``pixel_polygons``), so filling a polygon by pixel centres (QuPath,
ImageJ, ``pycocotools.annToMask``) gives back exactly the cell's pixels, holes and all.

    geojson  one Feature per cell (per plane in 3D): a Polygon, with holes as interior rings, or a
             MultiPolygon for a cell in several pieces; properties {"objectType": "detection",
             "classification": {"name", "color"}, "label"} (+ "z" in 3D, where the geometry
             also carries QuPath's "plane" {"c": -1, "z", "t": 0}).
    coco     one annotation per cell; ``segmentation`` holds one polygon per piece, each piece's
             holes joined to its outline by zero-width cuts along pixel edges (COCO polygons
             cannot hold holes; the even-odd fill of ``pycocotools`` leaves them empty);
             ``area`` is the pixel count, which equals the polygons' shoelace area.
    roi      one ROI per cell (per plane in 3D, with its 1-based stack position): a traced ROI
             for a cell of one piece without holes, else a composite ROI holding every ring.
    txt      Cellpose's outline text, kept in Cellpose's convention (``outlines_list``): the
             centres of the cell's boundary pixels, largest piece only, as Cellpose's
             ``outlines_list`` and ``imagej_roi_converter.py`` expect. Not exact; 2D only.

3D masks: txt and coco are refused (ValueError).

The mask checks and label helpers at the top are shared with ``export``.
"""

from __future__ import annotations

import contextlib
import json
import zipfile
from collections.abc import Iterator

import cv2
import numpy as np
from scipy import ndimage

from .imagej_roi import composite_roi_bytes, traced_roi_bytes
from .pixel_polygons import bridge_holes, trace_mask

__all__ = ["cell_polygons", "outlines_list", "save_roi_zip", "save_outlines_txt", "save_geojson",
           "geojson_features", "save_coco", "GEOJSON_CLASS"]

#: QuPath classification given to every exported cell: (name, RGB colour).
GEOJSON_CLASS = ("Cell", (0, 170, 255))


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
# exact outlines

def _iter_planes(masks: np.ndarray) -> Iterator[tuple[int | None, np.ndarray]]:
    if masks.ndim == 2:
        yield None, masks
    else:
        for z in range(masks.shape[0]):
            yield z, masks[z]


def _iter_cells(masks2d: np.ndarray) -> Iterator[tuple[int, list[list[np.ndarray]]]]:
    for label, (sy, sx) in _label_slices(masks2d):
        offset = np.array([sx.start, sy.start], np.int32)
        pieces = trace_mask(masks2d[sy, sx] == label)
        yield label, [[ring + offset for ring in rings] for rings in pieces]


def cell_polygons(masks) -> list[tuple[int, list[list[np.ndarray]]]]:
    """Exact outline of every cell of a 2D label image, on pixel corners.

    Parameters
    ----------
    masks : ndarray of int, shape (Ly, Lx)

    Returns
    -------
    list of (label, pieces), in increasing label order
        pieces : list of list of ndarray of int32, shape (N, 2)
            One entry per 4-connected piece of the cell, largest first: its exterior ring
            (counter-clockwise in (x, y)), then one ring per hole (clockwise). Vertices (x, y)
            are pixel corners; pixel (r, c) is the square [c, c + 1] x [r, r + 1].
    """
    masks = _check_masks(masks, ndims=(2,))
    return list(_iter_cells(masks))


def _closed(ring: np.ndarray) -> list[list[int]]:
    pts = ring.tolist()
    return pts + [pts[0]]


# ---------------------------------------------------------------------------------------------
# Cellpose outlines (pixel centres)

def _cell_polygon(crop: np.ndarray) -> np.ndarray:
    """Largest outer contour of a binary crop, as (N, 2) int32 (x, y) in crop coordinates."""
    padded = np.pad(crop.astype(np.uint8), 1)
    contours, _ = cv2.findContours(padded, cv2.RETR_EXTERNAL, cv2.CHAIN_APPROX_NONE)
    best = max(contours, key=lambda c: (cv2.contourArea(c), len(c)))
    return best[:, 0, :].astype(np.int32) - 1


def outlines_list(masks) -> list[np.ndarray]:
    """Outline of every cell through the centres of its boundary pixels (Cellpose's convention).

    Parameters
    ----------
    masks : ndarray of int, shape (Ly, Lx)

    Returns
    -------
    list of ndarray of int32, shape (N, 2)
        Vertices (x, y) = (column, row) of boundary pixels, one polygon per label present in
        increasing label order (a label in several pieces gives its largest piece). For exact
        outlines on pixel corners use `cell_polygons`.
    """
    masks = _check_masks(masks, ndims=(2,))
    polys = []
    for label, (sy, sx) in _label_slices(masks):
        poly = _cell_polygon(masks[sy, sx] == label)
        poly[:, 0] += sx.start
        poly[:, 1] += sy.start
        polys.append(poly)
    return polys


def save_outlines_txt(path, masks) -> None:
    """Cellpose's outline text file: one line per cell (increasing label),
    ``x0,y0,x1,y1,...`` through boundary-pixel centres (`outlines_list`); Cellpose's
    ``imagej_roi_converter.py`` turns it into ImageJ ROIs. 2D only."""
    masks = _check_masks(masks, ndims=(2,))
    lines = [",".join(map(str, poly.ravel().tolist())) for poly in outlines_list(masks)]
    text = "".join(line + "\n" for line in lines)
    with _binary_out(path) as fh:
        fh.write(text.encode("utf-8"))


# ---------------------------------------------------------------------------------------------
# exact formats

def save_roi_zip(path, masks) -> None:
    """ImageJ/Fiji ROI set: a zip of ROIs on pixel corners, one per cell (per plane in 3D),
    named ``LLLL-YYYY-XXXX.roi`` (label, bounding-box centre y and x; ``LLLL-ZZZZ-YYYY-XXXX.roi``
    with the 1-based plane in 3D). A cell of one piece without holes is a traced ROI, others a
    composite ROI. Open with Fiji's ROI Manager (File > Open); Edit > Selection > Create Mask
    gives back the cell's pixels.
    """
    masks = _check_masks(masks)
    with _binary_out(path) as fh, zipfile.ZipFile(fh, "w", zipfile.ZIP_DEFLATED) as zf:
        for z, plane in _iter_planes(masks):
            position = 0 if z is None else z + 1
            for label, pieces in _iter_cells(plane):
                rings = [ring for piece in pieces for ring in piece]
                if len(rings) == 1 and len(rings[0]) <= 65535:
                    data = traced_roi_bytes(rings[0], position)
                else:
                    data = composite_roi_bytes(rings, position)
                lo = np.min([r.min(axis=0) for r in rings], axis=0)
                hi = np.max([r.max(axis=0) for r in rings], axis=0) - 1  # last pixel
                xc, yc = ((lo + hi) // 2).tolist()
                if z is None:
                    name = f"{label:04d}-{yc:04d}-{xc:04d}.roi"
                else:
                    name = f"{label:04d}-{position:04d}-{yc:04d}-{xc:04d}.roi"
                zf.writestr(name, data)


def geojson_features(masks, *, labels=None, offset=(0, 0), z: int | None = None,
                     object_type: str = "detection",
                     classification: tuple[str, tuple[int, int, int]] = GEOJSON_CLASS) -> Iterator[dict]:
    """GeoJSON Features of the cells of one 2D label image (or crop of a larger one), one at a
    time, so that a caller can write a FeatureCollection of any size without holding it.

    Parameters
    ----------
    masks : ndarray of int, shape (Ly, Lx)
        0 = background; a crop of a larger label image is fine (see ``offset``).
    labels : iterable of int, optional
        Trace only these labels (default: every label present). A cell must lie wholly inside
        ``masks``: a crop that cuts a cell gives the outline of the part inside it.
    offset : (row, col)
        Position of ``masks[0, 0]`` in the whole image; added to every vertex.
    z : int, optional
        The plane of a 3D label image this crop comes from (adds "z" and QuPath's "plane").
    object_type, classification
        As in `save_geojson`.

    Yields
    ------
    dict
        One Feature per cell (the format of `save_geojson`), in increasing label order.
    """
    masks = _check_masks(masks, ndims=(2,))
    name, color = classification
    klass = {"name": str(name), "color": [int(c) for c in color]}
    shift = np.array([int(offset[1]), int(offset[0])], np.int32)
    if labels is None:
        cells = _iter_cells(masks)
    else:
        cells = ((label, pieces) for label in sorted(int(v) for v in labels)
                 for _, pieces in _iter_cells(np.where(masks == label, label, 0)))
    for label, pieces in cells:
        polys = [[_closed(ring + shift) for ring in rings] for rings in pieces]
        if len(polys) == 1:
            geometry = {"type": "Polygon", "coordinates": polys[0]}
        else:
            geometry = {"type": "MultiPolygon", "coordinates": polys}
        props = {"objectType": object_type, "classification": klass, "label": label}
        if z is not None:
            geometry["plane"] = {"c": -1, "z": z, "t": 0}
            props["z"] = z
        yield {"type": "Feature", "geometry": geometry, "properties": props}


def save_geojson(path, masks, *, object_type: str = "detection",
                 classification: tuple[str, tuple[int, int, int]] = GEOJSON_CLASS) -> None:
    """GeoJSON FeatureCollection that QuPath imports (File > Import objects) and GIS tools read:
    one Feature per cell (per plane in 3D), coordinates (x, y) on pixel corners.

    Parameters
    ----------
    path : str, os.PathLike or binary file object
    masks : ndarray of int, shape (Ly, Lx) or (Lz, Ly, Lx)
    object_type : str
        QuPath's ``objectType``: "detection" (default) or "annotation".
    classification : (name, (r, g, b))
        QuPath class of every cell.

    A cell of one piece is a Polygon (exterior ring counter-clockwise in (x, y), holes as
    clockwise interior rings), a cell in several pieces a MultiPolygon; every geometry is valid
    (OGC). Properties: objectType, classification {"name", "color"}, label; 3D adds "z" (0-based
    plane) and QuPath's ``"plane": {"c": -1, "z": z, "t": 0}`` in the geometry.
    """
    masks = _check_masks(masks)
    features = [feature for z, plane in _iter_planes(masks)
                for feature in geojson_features(plane, z=z, object_type=object_type, classification=classification)]
    doc = {"type": "FeatureCollection", "features": features}
    with _binary_out(path) as fh:
        fh.write(json.dumps(doc, separators=(",", ":")).encode("utf-8"))


def save_coco(path, masks, *, image_name: str, image_id: int = 1) -> None:
    """COCO instance annotations for one image: ``images``, ``annotations`` and ``categories``
    [{id 1, "cell"}]. 2D only.

    Each annotation (ids 1..N in label order, ``iscrowd`` 0) has ``segmentation``: one polygon
    [x0, y0, x1, y1, ...] per piece of the cell, on pixel corners, holes joined to the outline
    by zero-width cuts so that ``pycocotools`` (``annToMask``) gives back exactly the cell;
    ``area``: the pixel count (equal to the polygons' shoelace area); ``bbox`` [x, y, width,
    height]: the pixels' bounding box in corner coordinates.
    """
    masks = _check_masks(masks, ndims=(2,))
    index, labels = _dense_labels(masks)
    counts = np.bincount(index.ravel(), minlength=labels.size + 1)
    areas = dict(zip(labels.tolist(), counts[1:].tolist()))
    annotations = []
    for ann_id, (label, pieces) in enumerate(_iter_cells(masks), start=1):
        outer = np.concatenate([rings[0] for rings in pieces])
        (x0, y0), (x1, y1) = outer.min(axis=0).tolist(), outer.max(axis=0).tolist()
        annotations.append({
            "id": ann_id,
            "image_id": int(image_id),
            "category_id": 1,
            "segmentation": [bridge_holes(rings).ravel().tolist() for rings in pieces],
            "area": int(areas[label]),
            "bbox": [x0, y0, x1 - x0, y1 - y0],
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
