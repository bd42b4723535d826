"""The ImageJ ROI format (``.roi``, the files inside a ROI Manager ``.zip``): writing traced and
composite ROIs, reading the area ROIs back.

The format is ImageJ's own (``ij/io/RoiDecoder.java`` describes it): a 64-byte big-endian header
("Iout", version, type, bounds top/left/bottom/right, vertex count, ..., stack position at 56,
offset of a second header at 60), then the vertices as int16 offsets from left/top (x values
then y values), optionally followed by float32 absolute sub-pixel vertices; composite ROIs hold a
float32 path (segment type, then its points) instead. Coordinates are pixel corners: pixel
(row r, column c) is the square [c, c + 1] x [r, r + 1], and ImageJ's masks hold the pixels whose
centre is inside (``ShapeRoi.getMask``, ``OvalRoi.contains``).

Written here: type 8 (traced, the wand's outlines) for a cell of one piece without holes, and a
composite ROI (type 1 with a path; ImageJ fills it by the even-odd rule) for a cell with holes or
in several pieces; the stack position is 1-based, 0 for none.

Read here (`decode`, then `roi_mask`): polygon (0), rectangle (1, rounded corners included),
oval (2), freehand (7, ellipse and rotated-rectangle subtypes included), traced (8), and
composite ROIs; integer or sub-pixel vertices. Lines, points, text and image ROIs hold no area
and are refused.
"""

from __future__ import annotations

import struct
from dataclasses import dataclass

import numpy as np

from .pixel_polygons import WorkBudget, fill_polygons

__all__ = ["RoiFormatError", "Roi", "traced_roi_bytes", "composite_roi_bytes", "decode",
           "roi_mask"]

VERSION = 228
_HEADER = 64
_TYPES = {0: "polygon", 1: "rectangle", 2: "oval", 3: "line", 4: "freeline", 5: "polyline",
          6: "no ROI", 7: "freehand", 8: "traced", 9: "angle", 10: "point"}
_AREA_TYPES = {0, 1, 2, 7, 8}
_SUBTYPES = {1: "text", 2: "arrow", 4: "image"}  # subtypes that hold no area
_SUB_PIXEL = 128
# path segment types (java.awt.geom.PathIterator) and how many numbers follow each
_MOVETO, _LINETO, _QUADTO, _CUBICTO, _CLOSE = 0, 1, 2, 3, 4
_SEGMENT_COORDS = {_MOVETO: 2, _LINETO: 2, _QUADTO: 4, _CUBICTO: 6, _CLOSE: 0}
_CURVE_STEPS = 16  # line segments per Bezier curve when flattening


class RoiFormatError(ValueError):
    """Bytes that are not an ImageJ ROI this module can read."""


@dataclass
class Roi:
    """One decoded ImageJ ROI.

    kind : str
        "polygon", "rectangle", "oval", "freehand", "traced", "composite", or a kind that holds
        no area ("line", "point", ...).
    left, top, right, bottom : int
        Integer bounds.
    points : ndarray of float64, shape (N, 2), or None
        Absolute (x, y) vertices of polygon-like ROIs (sub-pixel when the ROI has them).
    path : list of ndarray of float64, shape (N, 2)
        Composite ROIs: the closed sub-paths (curves flattened), combined by the even-odd rule.
    bounds : (x, y, width, height) floats, or None
        Sub-pixel bounds of rectangles and ovals.
    arc_size : int
        Corner diameter of a rounded rectangle (0 = square corners).
    position : int
        1-based stack position (ImageJ's ``position``, else its hyperstack z), 0 = none.
    """

    kind: str
    left: int
    top: int
    right: int
    bottom: int
    points: np.ndarray | None = None
    path: list | None = None
    bounds: tuple[float, float, float, float] | None = None
    arc_size: int = 0
    position: int = 0


# ---------------------------------------------------------------------------------------------
# writing

def _header(kind: int, left: int, top: int, right: int, bottom: int, n: int, *,
            shape_size: int = 0, position: int = 0) -> bytes:
    if min(left, top) < -32768 or max(right, bottom) > 32767:
        raise ValueError("ImageJ ROIs hold coordinates from -32768 to 32767 only")
    header = struct.pack(
        ">4shBxhhhhH4fhiiihhBBhii",
        b"Iout", VERSION, kind,
        top, left, bottom, right, n,
        0.0, 0.0, 0.0, 0.0,     # line end points / sub-pixel bounds (unused)
        0, shape_size, 0, 0,    # stroke width, composite path length, stroke and fill colour
        0, 0, 0, 0, 0,          # subtype, options, arrow style, arrow head size, arc size
        position, 0,            # stack position (1-based, 0 = none), no second header
    )
    assert len(header) == _HEADER
    return header


def traced_roi_bytes(ring, position: int = 0) -> bytes:
    """A traced ROI (type 8) from one ring of integer corner coordinates.

    Parameters
    ----------
    ring : ndarray of int, shape (N, 2)
        (x, y) vertices, 3 <= N <= 65535.
    position : int
        1-based stack position, 0 for none.
    """
    ring = np.asarray(ring, np.int64)
    n = len(ring)
    if not 3 <= n <= 65535:
        raise ValueError(f"a traced ROI holds 3 to 65535 vertices, this outline has {n}")
    x, y = ring[:, 0], ring[:, 1]
    left, top, right, bottom = int(x.min()), int(y.min()), int(x.max()), int(y.max())
    header = _header(8, left, top, right, bottom, n, position=position)
    coords = np.concatenate([x - left, y - top]).astype(">i2")
    return header + coords.tobytes()


def composite_roi_bytes(rings, position: int = 0) -> bytes:
    """A composite ROI: every ring a closed sub-path, filled by the even-odd rule.

    Parameters
    ----------
    rings : sequence of ndarray of int, shape (N, 2)
        (x, y) vertices of each ring; holes are rings inside other rings.
    position : int
        1-based stack position, 0 for none.
    """
    parts, lo, hi = [], None, None
    for ring in rings:
        ring = np.asarray(ring, np.float64)
        codes = np.full((len(ring), 1), float(_LINETO))
        codes[0] = _MOVETO
        parts.append(np.hstack([codes, ring]).ravel())
        parts.append(np.array([float(_CLOSE)]))
        lo = ring.min(axis=0) if lo is None else np.minimum(lo, ring.min(axis=0))
        hi = ring.max(axis=0) if hi is None else np.maximum(hi, ring.max(axis=0))
    path = np.concatenate(parts).astype(">f4")
    header = _header(1, int(lo[0]), int(lo[1]), int(hi[0]), int(hi[1]), 0,
                     shape_size=len(path), position=position)
    return header + path.tobytes()


# ---------------------------------------------------------------------------------------------
# reading

class _Reader:
    def __init__(self, data: bytes):
        self.data = data

    def need(self, end: int, what: str) -> None:
        if end > len(self.data):
            raise RoiFormatError(f"truncated ROI: {what} needs {end} bytes, the file has "
                                 f"{len(self.data)}")

    def short(self, offset: int) -> int:
        """ImageJ's getShort: signed, but values below -5000 are read as unsigned."""
        (v,) = struct.unpack_from(">h", self.data, offset)
        return v + 65536 if v < -5000 else v

    def ushort(self, offset: int) -> int:
        return struct.unpack_from(">H", self.data, offset)[0]

    def int(self, offset: int) -> int:
        return struct.unpack_from(">i", self.data, offset)[0]

    def floats(self, offset: int, n: int) -> np.ndarray:
        self.need(offset + 4 * n, "the coordinates")
        return np.frombuffer(self.data, ">f4", n, offset).astype(np.float64)


def decode(data: bytes) -> Roi:
    """Parse one ``.roi`` file.

    Raises
    ------
    RoiFormatError
        For bytes that are not an ImageJ ROI, are truncated or hold non-finite coordinates.
    """
    if len(data) < _HEADER or data[:4] != b"Iout":
        raise RoiFormatError("not an ImageJ ROI (no 'Iout' header)")
    r = _Reader(data)
    version = r.short(4)
    code = data[6]
    top, left, bottom, right = r.short(8), r.short(10), r.short(12), r.short(14)
    options, subtype, arc = r.short(50), r.short(48), r.short(54)
    position = max(r.int(56), 0)
    hdr2 = r.int(60)
    if 0 < hdr2 and hdr2 + 16 <= len(data):
        z = r.int(hdr2 + 8)  # hyperstack z position, when the ROI has one
        if z > 0:
            position = z
    shape_size = r.int(36)
    if shape_size > 0:
        if code != 1:
            raise RoiFormatError(f"composite ROI of type {code}; expected 1 (rectangle)")
        path = _parse_path(r.floats(_HEADER, shape_size))
        return Roi("composite", left, top, right, bottom, path=path, position=position)
    kind = _TYPES.get(code)
    if kind is None:
        raise RoiFormatError(f"unknown ROI type {code}")
    roi = Roi(kind, left, top, right, bottom, position=position)
    if code not in _AREA_TYPES:
        return roi
    if subtype in _SUBTYPES:  # a text or image ROI in a rectangle
        roi.kind = _SUBTYPES[subtype]
        return roi
    sub_pixel = bool(options & _SUB_PIXEL) and version >= 222
    if code in (1, 2):
        if sub_pixel and version >= 223:
            bounds = tuple(float(v) for v in r.floats(18, 4))
            if not np.isfinite(bounds).all():
                raise RoiFormatError("ROI bounds are not finite numbers")
            roi.bounds = bounds
        roi.arc_size = max(arc, 0) if code == 1 else 0
        return roi
    n = r.ushort(16) or max(r.int(18), 0)
    if sub_pixel:
        base = _HEADER + 4 * n
        r.need(base + 8 * n, f"{n} sub-pixel vertices")
        pts = np.stack([r.floats(base, n), r.floats(base + 4 * n, n)], axis=1)
        if not np.isfinite(pts).all():
            raise RoiFormatError("ROI vertices are not finite numbers")
    else:
        r.need(_HEADER + 4 * n, f"{n} vertices")
        xs = np.frombuffer(data, ">i2", n, _HEADER).astype(np.int64)
        ys = np.frombuffer(data, ">i2", n, _HEADER + 2 * n).astype(np.int64)
        # as ImageJ: negative offsets are clamped to 0
        pts = np.stack([np.maximum(xs, 0) + left, np.maximum(ys, 0) + top], axis=1)
        pts = pts.astype(np.float64)
    roi.points = pts
    return roi


def _parse_path(values: np.ndarray) -> list[np.ndarray]:
    """Closed sub-paths of a composite ROI's path array, curves flattened."""
    if not np.isfinite(values).all():
        raise RoiFormatError("composite ROI path holds non-finite numbers")
    paths, current, i, n = [], [], 0, len(values)
    while i < n:
        seg = int(values[i])
        if seg not in _SEGMENT_COORDS or values[i] != seg:
            raise RoiFormatError(f"composite ROI path has an unknown segment type {values[i]}")
        k = _SEGMENT_COORDS[seg]
        if i + 1 + k > n:
            raise RoiFormatError("composite ROI path ends inside a segment")
        pts = values[i + 1:i + 1 + k].reshape(-1, 2)
        i += 1 + k
        if seg == _MOVETO:
            if len(current) >= 3:
                paths.append(np.asarray(current))
            current = [pts[0]]
        elif seg == _CLOSE:
            if len(current) >= 3:
                paths.append(np.asarray(current))
            current = []
        else:
            if not current:
                raise RoiFormatError("composite ROI path draws before it moves")
            if seg == _LINETO:
                current.append(pts[0])
            else:
                current.extend(_bezier(np.vstack([current[-1], pts])))
    if len(current) >= 3:
        paths.append(np.asarray(current))
    return paths


def _bezier(ctrl: np.ndarray) -> np.ndarray:
    """Points of a quadratic or cubic Bezier curve (its start point excluded)."""
    t = np.linspace(0, 1, _CURVE_STEPS + 1)[1:, None]
    if len(ctrl) == 3:
        return (1 - t) ** 2 * ctrl[0] + 2 * (1 - t) * t * ctrl[1] + t ** 2 * ctrl[2]
    return ((1 - t) ** 3 * ctrl[0] + 3 * (1 - t) ** 2 * t * ctrl[1]
            + 3 * (1 - t) * t ** 2 * ctrl[2] + t ** 3 * ctrl[3])


def _rounded_rectangle(x: float, y: float, w: float, h: float, arc: float) -> np.ndarray:
    rx, ry = min(arc, w) / 2, min(arc, h) / 2
    t = np.linspace(0, np.pi / 2, 16)
    corners = []
    for cx, cy, a0 in ((x + w - rx, y + ry, -np.pi / 2), (x + w - rx, y + h - ry, 0.0),
                       (x + rx, y + h - ry, np.pi / 2), (x + rx, y + ry, np.pi)):
        corners.append(np.stack([cx + rx * np.cos(a0 + t), cy + ry * np.sin(a0 + t)], axis=1))
    return np.concatenate(corners)


def roi_mask(roi: Roi, shape: tuple[int, int], *, budget: WorkBudget | None = None):
    """The pixels of a 2D image inside an area ROI, as ImageJ's masks hold them (pixel centres
    inside; on an oval's border counts as inside).

    Parameters
    ----------
    roi : Roi
    shape : (Ly, Lx)
    budget : WorkBudget, optional
        Spent as in `pixel_polygons.fill_polygons`.

    Returns
    -------
    (rows, cols) : (slice, slice)
    inside : ndarray of bool, shape of that part of the image

    Raises
    ------
    RoiFormatError
        For ROIs that hold no area (lines, points, text, image ROIs).
    """
    if roi.kind == "oval":
        return _oval_mask(roi, shape, budget)
    if roi.kind == "rectangle":
        x, y, w, h = roi.bounds or (roi.left, roi.top, roi.right - roi.left, roi.bottom - roi.top)
        if roi.arc_size > 0:
            ring = _rounded_rectangle(x, y, w, h, roi.arc_size)
        else:
            ring = np.array([[x, y], [x + w, y], [x + w, y + h], [x, y + h]], np.float64)
        return fill_polygons([[ring]], shape, budget=budget)
    if roi.kind == "composite":
        return fill_polygons([roi.path], shape, budget=budget)
    if roi.kind in ("polygon", "freehand", "traced"):
        return fill_polygons([[roi.points]], shape, budget=budget)
    raise RoiFormatError(f"a {roi.kind} ROI holds no area; only polygon, rectangle, oval, "
                         "freehand, traced and composite ROIs can become masks")


def _oval_mask(roi: Roi, shape: tuple[int, int], budget: WorkBudget | None):
    x, y, w, h = roi.bounds or (roi.left, roi.top, roi.right - roi.left, roi.bottom - roi.top)
    ly, lx = shape
    r0, r1 = max(int(np.floor(y)), 0), min(int(np.ceil(y + h)), ly)
    c0, c1 = max(int(np.floor(x)), 0), min(int(np.ceil(x + w)), lx)
    if w <= 0 or h <= 0 or r1 <= r0 or c1 <= c0:
        return (slice(0, 0), slice(0, 0)), np.zeros((0, 0), bool)
    if budget is not None:
        budget.spend((r1 - r0) * (c1 - c0))
    a, b = w / 2, h / 2
    yy = (np.arange(r0, r1) + 0.5 - (y + b))[:, None] / b
    xx = (np.arange(c0, c1) + 0.5 - (x + a))[None, :] / a
    return (slice(r0, r1), slice(c0, c1)), xx * xx + yy * yy <= 1.0
