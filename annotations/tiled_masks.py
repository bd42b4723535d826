"""Annotation versions of tiled images: masks kept as chunked OME-Zarr labels, with a per-cell table.

A tiled image (annotations.slides) is too large for one masks array: a version of its masks is
the labels group ``labels_key`` under the image's pixels (``slides.create_labels`` /
``open_labels``, uint32, 0 = background, 1..n_masks), written before the row is added, and a
per-cell table stored in ``Annotation.cells`` (a compressed ``.npz``):

    label : uint32 (N,)            the cell's label in the labels group
    bbox : int64 (N, 2 * ndim)     start of each axis, then stop: (y0, x0, y1, x1) / (z0, y0, x0, z1, y1, x1)
    area : int64 (N,)              pixels (voxels)
    centroid : float64 (N, ndim)   mean (row, col) / (plane, row, col)
    origin : uint8 (N,)            annotations.models.MaskOrigin of each cell
    job : int64 ()                 the segmentation job that made the masks (-1: none)

A version made by segmentation writes a whole labels group and is not compared with the one
before it (``changes`` stays empty). A version made by editing a region
(annotations.tiled_edits) writes a delta group holding only the chunks it changed, resolved chunk
by chunk through its manifest (annotations.label_chain): every reader of a version's labels
(`label_tile`, the exports) goes through ``label_chain.resolve_labels``. Paths that need a whole
masks array (the small-image editor's save, restore, re-threshold, import) refuse a tiled version
with a clear message (`refuse_tiled`, `refuse_tiled_image`).
"""
import io
import zlib

import numpy as np
from django.db.models import Max

from annotations import label_chain, slides
from annotations.models import Annotation, Image, MaskOrigin
from cellposeweb.exceptions import ApplicationError, NotFoundError

__all__ = ["CELL_COLUMNS", "annotation_prepare_tiled", "cell_table_load", "label_tile", "refuse_tiled",
           "refuse_tiled_image"]

CELL_COLUMNS = ("label", "bbox", "area", "centroid", "origin")


def refuse_tiled(annotation: Annotation, *, what: str) -> None:
    """ApplicationError (400) when ``annotation`` is a tiled version, which ``what`` cannot handle."""
    if annotation.labels_key:
        raise ApplicationError(
            f"{annotation.image.name} is a large tiled image: {what} is not available for its masks; "
            "view them as label tiles and download them as GeoJSON, CSV or OME-Zarr labels "
            "(format=geojson, csv or zarr)."
        )


def refuse_tiled_image(image: Image, *, what: str) -> None:
    """ApplicationError (400) when ``image`` is tiled: ``what`` needs its whole masks array in one
    piece (a save from the editor, an import), which a large image cannot have."""
    if slides.is_tiled(image):
        raise ApplicationError(
            f"{image.name} is a large tiled image: {what} of its whole masks in one piece is not available; "
            "its masks come from segmentation and are read as label tiles."
        )


def _cells_bytes(cells: dict, *, job_id: int | None) -> bytes:
    n = int(np.asarray(cells["label"]).size)
    origin = np.asarray(cells.get("origin", np.full(n, MaskOrigin.MODEL, np.uint8)), np.uint8)
    buf = io.BytesIO()
    np.savez_compressed(
        buf, label=np.asarray(cells["label"], np.uint32), bbox=np.asarray(cells["bbox"], np.int64),
        area=np.asarray(cells["area"], np.int64), centroid=np.asarray(cells["centroid"], np.float64),
        origin=origin, job=np.int64(-1 if job_id is None else job_id),
    )
    return buf.getvalue()


def annotation_prepare_tiled(*, image: Image, labels_key: str, cells: dict, source: str, created_by=None,
                             job=None, summary: dict | None = None, changes: dict | None = None,
                             base_version: int | None = None) -> Annotation:
    """The unsaved next version of a tiled image whose labels are already written under
    ``labels_key``, with its cell table stored (storage I/O, no lock held). Add the row with
    ``annotation_prepared_save`` (which locks the image and refuses a stale version) or drop the
    table with ``annotation_prepared_discard``.

    cells : dict with label (N,), bbox (N, 2 * ndim), area (N,), centroid (N, ndim) as the
        engine's ``CellTable.result()`` gives them; ``origin`` (N,) optional (default "model").
    changes, base_version : what an edit changed and the version it was edited from (default:
        none, and the latest version).
    """
    from django.core.files.base import ContentFile

    if not labels_key:
        raise ValueError("labels_key must name the labels group the version's masks are in")
    latest = image.annotations.aggregate(v=Max("version"))["v"] or 0
    area = np.asarray(cells["area"], np.int64)
    key = "volume_median" if np.asarray(cells["bbox"]).shape[-1] == 6 else "area_median"
    counted = {"n_masks": int(area.size)}
    if area.size:
        counted.update({key: float(np.median(area)), "area_total": int(area.sum())})
    annotation = Annotation(
        image=image, version=latest + 1, source=source, created_by=created_by, job=job, n_masks=int(area.size),
        base_version=base_version or latest or None, labels_key=labels_key, changes=changes or {},
        summary={**counted, **(summary or {})},
    )
    annotation.cells.save("cells.npz", ContentFile(_cells_bytes(cells, job_id=getattr(job, "pk", None))), save=False)
    annotation._expected_latest = latest
    return annotation


def cell_table_load(annotation: Annotation) -> dict[str, np.ndarray]:
    """The cell table of a tiled version (the arrays of the module docstring)."""
    if not annotation.cells:
        raise ApplicationError(f"Version {annotation.version} of {annotation.image.name} has no cell table.")
    with annotation.cells.storage.open(annotation.cells.name, "rb") as fh:
        with np.load(io.BytesIO(fh.read()), allow_pickle=False) as data:
            return {key: data[key] for key in data.files}



def label_tile(image: Image, *, key: str, level: int, z: int, col: int, row: int) -> tuple[bytes, int, int]:
    """One 512 x 512 tile (edge tiles smaller) of the labels ``key`` at ``level``, plane ``z``,
    as the viewer reads it: (zlib-compressed little-endian int32 bytes in C order, width, height)
    — the encoding of annotations.encoding without base64. NotFoundError when the image is not
    tiled, has no such labels or level, or the tile is outside the grid."""
    if not slides.is_tiled(image):
        raise NotFoundError(f"{image.name} is not a tiled image; read its masks from its annotation.")
    try:
        labels = label_chain.resolve_labels(image, key=key, level=level)
    except (KeyError, ValueError):
        raise NotFoundError(f"{image.name} has no labels {key!r} at level {level}.") from None
    depth = labels.shape[0] if labels.ndim == 3 else 1
    height, width = labels.shape[-2:]
    tile = slides.TILE
    if not (0 <= z < depth and 0 <= col * tile < width and 0 <= row * tile < height):
        raise NotFoundError(f"{image.name}: label tile {col}/{row} of plane {z} is outside the grid of level {level}.")
    index = ((z,) if labels.ndim == 3 else ()) + (slice(row * tile, (row + 1) * tile),
                                                   slice(col * tile, (col + 1) * tile))
    region = np.asarray(labels[index])
    data = zlib.compress(np.ascontiguousarray(region, dtype="<i4").tobytes(), 6)
    return data, int(region.shape[1]), int(region.shape[0])
