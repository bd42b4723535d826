"""Reading existing annotations as a label image for an image of known shape.

`read_annotations` recognises the format from the file's content:

    _seg.npy     Cellpose GUI file (read safely by ``seg_file``): its masks
    TIFF, PNG    label image (``io.read_labels``): 0 = background, other values = cells
    ImageJ ROIs  a ROI Manager ``.zip`` or one ``.roi`` (``imagej_roi``): one cell per area ROI
    GeoJSON      FeatureCollection, Feature or list of Features (QuPath, napari, GIS tools):
                 one cell per Polygon / MultiPolygon feature, holes kept
    COCO         instance annotations of one image: one cell per annotation (polygons or RLE)

Polygons are filled by pixel centres with the even-odd rule (``pixel_polygons.fill_polygons``),
as QuPath, ImageJ and ``pycocotools`` do, so the files ``export`` writes come back exactly: for
a 2D image, export then import is the identity for every one of these formats except COCO, which
renumbers the cells 1..N in label order. Where shapes overlap, the later one wins.

Labels: GeoJSON features keep their ``properties.label`` when it is a positive integer (ours
write it; a cell may span several features, as the planes of a 3D cell do) and others get new
labels after the largest; ImageJ ROIs named as ``export`` names them (``LLLL-YYYY-XXXX``, or
``LLLL-ZZZZ-YYYY-XXXX`` in 3D) keep label LLLL, other ROI sets are numbered in file order.

Which GeoJSON objects are cells: QuPath detections and cells (``objectType`` "detection" or
"cell") when the file has any, else every other feature (annotations, plain GeoJSON); tiles, TMA
cores and the root object never. A cell object's nucleus geometry is not used.

3D images (Lz, Ly, Lx): ImageJ ROIs go to their stack position (ImageJ's ``position``, else their
hyperstack z; a ROI without one is refused), GeoJSON features to QuPath's geometry
``plane.z``, else ``properties.z``, else plane 0 (QuPath's default plane). COCO is 2D only.

Limits against hostile files (each raises `AnnotationImportError`): JSON up to `MAX_JSON_BYTES`;
zips up to `MAX_ZIP_MEMBERS` ROIs of up to `MAX_ROI_BYTES` each and `MAX_ZIP_BYTES` in all,
sizes checked while decompressing; coordinates within +-2**30; filling all shapes may take at
most `WORK_PER_PIXEL` steps per pixel of the image (plus 10**7), which bounds the work that
huge, numerous or far-away polygons can cause.
"""

from __future__ import annotations

import io as _io
import json
import os
import re
import zipfile

import numpy as np

from . import imagej_roi
from .coco_rle import decode_rle
from .io import ImageReadError, read_labels
from .pixel_polygons import TooComplexError, WorkBudget, fill_polygons
from .seg_file import SegFileError, read_seg_npy

__all__ = ["AnnotationImportError", "read_annotations", "MAX_JSON_BYTES", "MAX_ZIP_MEMBERS",
           "MAX_ROI_BYTES", "MAX_ZIP_BYTES", "WORK_PER_PIXEL"]

MAX_JSON_BYTES = 64 * 2**20
MAX_ZIP_MEMBERS = 200_000
MAX_ROI_BYTES = 16 * 2**20
MAX_ZIP_BYTES = 256 * 2**20
WORK_PER_PIXEL = 32
MAX_STREAM_BYTES = 2**31  # a file object that cannot seek is read into memory first
_MAX_LABEL = 2**31 - 1
_HEAD = 132

_CELL_TYPES = {"detection", "cell", "PathDetectionObject", "PathCellObject"}
_NEVER_TYPES = {"tile", "tmaCore", "tma_core", "root", "PathTileObject", "TMACoreObject",
                "PathRootObject"}
_OUR_ROI_NAME = re.compile(r"^(\d+)-(\d+)-(\d+)(?:-(\d+))?$")


class AnnotationImportError(ValueError):
    """A file could not be read as annotations; the message names the file and the problem."""


# ---------------------------------------------------------------------------------------------
# entry point

def read_annotations(source, shape) -> np.ndarray:
    """Read annotations from a file as the label image of an image of the given shape.

    Parameters
    ----------
    source : str, os.PathLike or binary file object
        A ``_seg.npy``, TIFF or PNG label image, ImageJ ROI ``.zip`` or ``.roi``, GeoJSON or
        COCO JSON file (recognised from its content).
    shape : (Ly, Lx) or (Lz, Ly, Lx)
        Shape of the image the annotations belong to.

    Returns
    -------
    labels : ndarray of int32, shape `shape`
        0 = background, 1..N = cells (see the module notes for how labels are chosen).

    Raises
    ------
    AnnotationImportError
        For a file of another format, a corrupt or hostile file, annotations that do not fit the
        image (label image of another shape, ROI on a plane the image lacks, every shape outside
        the image), or shapes that hold no area (lines, points).
    """
    shape = _check_shape(shape)
    name = _name(source)
    try:
        source, head = _open(source, name)
        kind = _sniff(head)
        if kind == "npy":
            labels = read_seg_npy(source).masks
            return _fit(name, labels, shape, "the _seg.npy masks")
        if kind == "image":
            return _fit(name, read_labels(source), shape, "the label image")
        if kind == "zip":
            return _from_rois(name, _zip_rois(name, source), shape)
        if kind == "roi":
            data = _read_bounded(source, MAX_ROI_BYTES, name, "an ImageJ ROI")
            return _from_rois(name, [(os.path.basename(name), data)], shape)
        if kind == "json":
            doc = _load_json(name, source)
            if isinstance(doc, dict) and isinstance(doc.get("annotations"), list):
                return _from_coco(name, doc, shape)
            return _from_geojson(name, doc, shape)
    except (SegFileError, ImageReadError) as exc:
        raise AnnotationImportError(str(exc)) from None
    except imagej_roi.RoiFormatError as exc:
        raise AnnotationImportError(f"{name}: {exc}") from None
    except TooComplexError:
        raise AnnotationImportError(
            f"{name}: the shapes are too large or too many to fill for a {_dims(shape)} image "
            f"(more than {WORK_PER_PIXEL} steps per pixel)") from None
    raise AnnotationImportError(
        f"{name}: not a format annotations can be imported from; expected a Cellpose _seg.npy, "
        "a TIFF or PNG label image, an ImageJ ROI .zip or .roi, GeoJSON or COCO JSON")


# ---------------------------------------------------------------------------------------------
# input

def _check_shape(shape) -> tuple[int, ...]:
    try:
        shape = tuple(int(s) for s in shape)
    except (TypeError, ValueError):
        raise ValueError(f"shape must be (Ly, Lx) or (Lz, Ly, Lx), got {shape!r}") from None
    if len(shape) not in (2, 3) or min(shape) < 1:
        raise ValueError(f"shape must be (Ly, Lx) or (Lz, Ly, Lx) of positive sizes, got {shape}")
    return shape


def _dims(shape) -> str:
    return " x ".join(str(s) for s in shape)


def _name(source) -> str:
    if isinstance(source, (str, os.PathLike)):
        return os.fspath(source)
    return str(getattr(source, "name", "<stream>"))


def _open(source, name: str):
    """(source to read from, its first bytes); file objects are rewound or copied."""
    if isinstance(source, (str, os.PathLike)):
        try:
            with open(source, "rb") as fh:
                head = fh.read(_HEAD)
        except OSError as exc:
            raise AnnotationImportError(f"{name}: cannot be read ({exc.strerror or exc})") from None
        if not head:
            raise AnnotationImportError(f"{name}: empty file (0 bytes)")
        return source, head
    if not hasattr(source, "read"):
        raise TypeError(f"expected a path or a binary file object, got {type(source).__name__}")
    if hasattr(source, "seekable") and source.seekable():
        start = source.tell()
        head = source.read(_HEAD)
        source.seek(start)
    else:
        data = source.read(MAX_STREAM_BYTES + 1)
        if len(data) > MAX_STREAM_BYTES:
            raise AnnotationImportError(f"{name}: larger than {MAX_STREAM_BYTES} bytes")
        source, head = _io.BytesIO(data), data[:_HEAD]
        source.name = name
    if not isinstance(head, bytes):
        raise AnnotationImportError(f"{name}: file object must be opened in binary mode")
    if not head:
        raise AnnotationImportError(f"{name}: empty file (0 bytes)")
    return source, head


def _sniff(head: bytes) -> str | None:
    if head.startswith(b"\x93NUMPY"):
        return "npy"
    if head[:4] in (b"II*\x00", b"MM\x00*", b"II+\x00", b"MM\x00+") or \
            head.startswith((b"\x89PNG\r\n\x1a\n", b"\xff\xd8\xff")):
        return "image"  # read_labels explains why JPEG cannot hold labels
    if head[:4] in (b"PK\x03\x04", b"PK\x05\x06"):
        return "zip"
    if head[:4] == b"Iout":
        return "roi"
    if head.removeprefix(b"\xef\xbb\xbf").lstrip()[:1] in (b"{", b"["):
        return "json"
    return None


def _read_bounded(source, limit: int, name: str, what: str) -> bytes:
    if isinstance(source, (str, os.PathLike)):
        if os.path.getsize(source) > limit:
            raise AnnotationImportError(f"{name}: larger than {limit} bytes for {what}")
        with open(source, "rb") as fh:
            return fh.read()
    data = source.read(limit + 1)
    if len(data) > limit:
        raise AnnotationImportError(f"{name}: larger than {limit} bytes for {what}")
    return data


def _fit(name: str, labels: np.ndarray, shape: tuple[int, ...], what: str) -> np.ndarray:
    if len(shape) == 2 and labels.ndim == 3 and labels.shape[0] == 1:
        labels = labels[0]
    if labels.shape != shape:
        raise AnnotationImportError(f"{name}: {what} is {_dims(labels.shape)}, the image is "
                                    f"{_dims(shape)}")
    return np.ascontiguousarray(labels, dtype=np.int32)


class _Canvas:
    """The label image being painted, with the fill budget and the plane checks."""

    def __init__(self, name: str, shape: tuple[int, ...]):
        self.name = name
        self.shape = shape
        self.labels = np.zeros(shape, np.int32)
        self.budget = WorkBudget(WORK_PER_PIXEL * self.labels.size + 10**7)
        self.shapes = 0
        self.painted = 0

    def plane(self, z: int, what: str) -> np.ndarray:
        if len(self.shape) == 2:
            if z != 0:
                raise AnnotationImportError(f"{self.name}: {what} is on plane {z + 1}, the "
                                            f"image is 2D")
            return self.labels
        if not 0 <= z < self.shape[0]:
            raise AnnotationImportError(f"{self.name}: {what} is on plane {z + 1}, the image "
                                        f"has {self.shape[0]} planes")
        return self.labels[z]

    def paint(self, plane: np.ndarray, label: int, filled) -> None:
        (rows, cols), inside = filled
        self.shapes += 1
        if inside.any():
            self.painted += 1
            plane[rows, cols][inside] = label

    def result(self) -> np.ndarray:
        if self.shapes and not self.painted:
            raise AnnotationImportError(
                f"{self.name}: none of the {self.shapes} shapes covers a pixel of the "
                f"{_dims(self.shape)} image; were they drawn on another image?")
        return self.labels


# ---------------------------------------------------------------------------------------------
# ImageJ ROIs

def _zip_rois(name: str, source) -> list[tuple[str, bytes]]:
    try:
        zf = zipfile.ZipFile(source)
    except (zipfile.BadZipFile, OSError, ValueError) as exc:
        raise AnnotationImportError(f"{name}: not a readable zip ({exc})") from None
    with zf:
        infos = [i for i in zf.infolist() if not i.is_dir()
                 and i.filename.lower().endswith(".roi")
                 and not i.filename.startswith("__MACOSX/")]
        if not infos:
            raise AnnotationImportError(f"{name}: the zip holds no ImageJ .roi files")
        if len(infos) > MAX_ZIP_MEMBERS:
            raise AnnotationImportError(f"{name}: the zip holds {len(infos)} ROIs, more than "
                                        f"{MAX_ZIP_MEMBERS}")
        rois, total = [], 0
        for info in infos:
            if info.file_size > MAX_ROI_BYTES:
                raise AnnotationImportError(f"{name}: {info.filename} is larger than "
                                            f"{MAX_ROI_BYTES} bytes")
            try:
                with zf.open(info) as fh:
                    data = fh.read(MAX_ROI_BYTES + 1)
            except (zipfile.BadZipFile, RuntimeError, NotImplementedError, OSError,
                    EOFError) as exc:
                raise AnnotationImportError(f"{name}: cannot read {info.filename} ({exc})") \
                    from None
            if len(data) > MAX_ROI_BYTES:
                raise AnnotationImportError(f"{name}: {info.filename} is larger than "
                                            f"{MAX_ROI_BYTES} bytes")
            total += len(data)
            if total > MAX_ZIP_BYTES:
                raise AnnotationImportError(f"{name}: the ROIs hold more than {MAX_ZIP_BYTES} "
                                            "bytes")
            rois.append((info.filename.rsplit("/", 1)[-1], data))
    return rois


def _from_rois(name: str, members: list[tuple[str, bytes]], shape) -> np.ndarray:
    rois = []
    for member, data in members:
        try:
            rois.append((member[:-4] if member.lower().endswith(".roi") else member,
                         imagej_roi.decode(data)))
        except imagej_roi.RoiFormatError as exc:
            raise AnnotationImportError(f"{name}: {member}: {exc}") from None
    labels = _roi_labels(rois, len(shape) == 3)
    canvas = _Canvas(name, shape)
    plane_shape = shape[-2:]
    for (roi_name, roi), label in zip(rois, labels):
        if len(shape) == 3 and roi.position == 0:
            raise AnnotationImportError(
                f"{name}: ROI {roi_name!r} has no stack position; on a 3D image every ROI "
                "needs one (ImageJ: Image > Stacks > Tools or the ROI's Properties)")
        plane = canvas.plane(max(roi.position - 1, 0), f"ROI {roi_name!r}")
        try:
            filled = imagej_roi.roi_mask(roi, plane_shape, budget=canvas.budget)
        except imagej_roi.RoiFormatError as exc:
            raise AnnotationImportError(f"{name}: ROI {roi_name!r}: {exc}") from None
        canvas.paint(plane, label, filled)
    return canvas.result()


def _roi_labels(rois, is_3d: bool) -> list[int]:
    """Labels from the names `export` writes when every ROI has such a name, else 1..N."""
    in_order = list(range(1, len(rois) + 1))
    fields = 4 if is_3d else 3  # LLLL-YYYY-XXXX, LLLL-ZZZZ-YYYY-XXXX (ZZZZ = position)
    labels = []
    for roi_name, roi in rois:
        m = _OUR_ROI_NAME.match(roi_name)
        if m is None or sum(g is not None for g in m.groups()) != fields:
            return in_order
        label, position = int(m.group(1)), int(m.group(2)) if is_3d else 0
        if not 0 < label <= _MAX_LABEL or roi.position != position:
            return in_order
        labels.append(label)
    if not is_3d and len(set(labels)) != len(labels):
        return in_order  # a 2D set names each cell once
    return labels


# ---------------------------------------------------------------------------------------------
# JSON: GeoJSON and COCO

def _load_json(name: str, source):
    data = _read_bounded(source, MAX_JSON_BYTES, name, "a JSON file")

    def refuse(token):
        raise ValueError(f"{token} is not a number JSON allows")

    try:
        return json.loads(data.decode("utf-8-sig"), parse_constant=refuse)
    except UnicodeDecodeError:
        raise AnnotationImportError(f"{name}: JSON must be UTF-8 text") from None
    except RecursionError:
        raise AnnotationImportError(f"{name}: JSON nested too deeply") from None
    except ValueError as exc:
        raise AnnotationImportError(f"{name}: not valid JSON ({exc})") from None


def _object_type(feature: dict) -> str | None:
    props = feature.get("properties")
    if not isinstance(props, dict):
        return None
    for key in ("objectType", "object_type", "type"):
        if isinstance(props.get(key), str):
            return props[key]
    legacy = feature.get("id")  # QuPath 0.2 stored the class name as the feature id
    return legacy if isinstance(legacy, str) and legacy.startswith("Path") else None


def _from_geojson(name: str, doc, shape) -> np.ndarray:
    if isinstance(doc, list):
        features = doc
    elif isinstance(doc, dict) and doc.get("type") == "FeatureCollection":
        features = doc.get("features")
    elif isinstance(doc, dict) and doc.get("type") == "Feature":
        features = [doc]
    elif isinstance(doc, dict) and doc.get("type") in ("Polygon", "MultiPolygon"):
        features = [{"type": "Feature", "geometry": doc, "properties": {}}]
    else:
        raise AnnotationImportError(f"{name}: JSON that is neither GeoJSON (a FeatureCollection, "
                                    "Feature or list of Features) nor COCO")
    if not isinstance(features, list) or not all(isinstance(f, dict) for f in features):
        raise AnnotationImportError(f"{name}: GeoJSON 'features' must be a list of objects")
    kinds = [_object_type(f) for f in features]
    numbered = list(enumerate(features, start=1))
    if any(k in _CELL_TYPES for k in kinds):
        numbered = [(i, f) for (i, f), k in zip(numbered, kinds) if k in _CELL_TYPES]
    else:
        numbered = [(i, f) for (i, f), k in zip(numbered, kinds) if k not in _NEVER_TYPES]
    given = [_feature_label(f) for _, f in numbered]
    fresh = max([g for g in given if g is not None], default=0)
    canvas = _Canvas(name, shape)
    for (index, feature), label in zip(numbered, given):
        if label is None:
            fresh += 1
            if fresh > _MAX_LABEL:
                raise AnnotationImportError(f"{name}: more than {_MAX_LABEL} cells")
            label = fresh
        what = f"feature {index}"
        polygons = _geometry_polygons(name, feature.get("geometry"), what)
        plane = canvas.plane(_feature_plane(name, feature, what), what)
        canvas.paint(plane, label, _fill(name, polygons, shape[-2:], canvas.budget, what))
    return canvas.result()


def _feature_label(feature: dict) -> int | None:
    props = feature.get("properties")
    value = props.get("label") if isinstance(props, dict) else None
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        return None
    if value != int(value) or not 0 < value <= _MAX_LABEL:
        return None
    return int(value)


def _feature_plane(name: str, feature: dict, what: str) -> int:
    geometry = feature.get("geometry")
    plane = geometry.get("plane") if isinstance(geometry, dict) else None
    props = feature.get("properties")
    if isinstance(plane, dict) and "z" in plane:
        z = plane["z"]
    elif isinstance(props, dict) and "z" in props:
        z = props["z"]
    else:
        return 0
    if isinstance(z, bool) or not isinstance(z, (int, float)) or z != int(z):
        raise AnnotationImportError(f"{name}: {what} has a plane z that is not an integer: {z!r}")
    return int(z)


def _ring(name: str, coords, what: str) -> np.ndarray:
    try:
        ring = np.asarray(coords, dtype=np.float64)
    except (TypeError, ValueError):
        ring = None
    if ring is None or ring.ndim != 2 or ring.shape[1] not in (2, 3):
        raise AnnotationImportError(f"{name}: {what} has a ring that is not a list of [x, y] "
                                    "positions")
    return ring[:, :2]


def _geometry_polygons(name: str, geometry, what: str) -> list[list[np.ndarray]]:
    if not isinstance(geometry, dict):
        raise AnnotationImportError(f"{name}: {what} has no geometry")
    kind, coords = geometry.get("type"), geometry.get("coordinates")
    if kind == "Polygon":
        coords = [coords]
    elif kind != "MultiPolygon":
        raise AnnotationImportError(f"{name}: {what} is a {kind}, which holds no area; only "
                                    "Polygon and MultiPolygon features can become cells")
    if not isinstance(coords, list) or not all(isinstance(p, list) for p in coords):
        raise AnnotationImportError(f"{name}: {what} has malformed coordinates")
    return [[_ring(name, ring, what) for ring in poly] for poly in coords]


def _fill(name: str, polygons, plane_shape, budget: WorkBudget, what: str):
    try:
        return fill_polygons(polygons, plane_shape, budget=budget)
    except TooComplexError:
        raise
    except ValueError as exc:
        raise AnnotationImportError(f"{name}: {what}: {exc}") from None


def _from_coco(name: str, doc: dict, shape) -> np.ndarray:
    if len(shape) != 2:
        raise AnnotationImportError(f"{name}: COCO annotations are 2D, the image is "
                                    f"{_dims(shape)}")
    anns = [a for a in doc["annotations"] if isinstance(a, dict)]
    if len(anns) != len(doc["annotations"]):
        raise AnnotationImportError(f"{name}: COCO 'annotations' must be a list of objects")
    image_ids = {a.get("image_id") for a in anns}
    if len(image_ids) > 1:
        raise AnnotationImportError(f"{name}: COCO annotations of {len(image_ids)} images; "
                                    "import one image's annotations at a time")
    for image in doc.get("images") or []:
        if isinstance(image, dict) and image.get("id") in image_ids:
            size = (image.get("height"), image.get("width"))
            if size != shape:
                raise AnnotationImportError(f"{name}: the COCO image is {size[0]} x {size[1]}, "
                                            f"the image is {_dims(shape)}")
    canvas = _Canvas(name, shape)
    label = 0
    for index, ann in enumerate(anns, start=1):
        if ann.get("iscrowd"):
            continue  # a crowd region is many objects, not one cell
        label += 1
        what = f"annotation {index}"
        seg = ann.get("segmentation")
        if isinstance(seg, dict):
            canvas.budget.spend(shape[0] * shape[1])
            try:
                inside = decode_rle(seg, shape)
            except ValueError as exc:
                raise AnnotationImportError(f"{name}: {what}: {exc}") from None
            filled = ((slice(0, shape[0]), slice(0, shape[1])), inside)
        elif isinstance(seg, list) and all(isinstance(p, list) for p in seg):
            polys = []
            for poly in seg:
                ring = _ring(name, [poly[i:i + 2] for i in range(0, len(poly) - 1, 2)], what)
                if len(poly) % 2:
                    raise AnnotationImportError(f"{name}: {what} has an odd number of "
                                                "polygon coordinates")
                polys.append([ring])
            filled = _fill(name, polys, shape, canvas.budget, what)
        else:
            raise AnnotationImportError(f"{name}: {what} has no polygon or RLE segmentation")
        canvas.paint(canvas.labels, label, filled)
    return canvas.result()
