"""Editing a rectangle of a tiled image's masks: read its labels, save the edited labels as a new
version that writes only the chunks whose content changed (annotations.label_chain).

A region is one plane's rectangle ``(z, y, x, height, width)`` of level 0, each side at most
``settings.TILED_EDIT_MAX_SIDE``. Labels stay unique across the whole image: a label the client
sends that was not in the region it read is a new cell and gets an id above the image-wide
largest (``summary["max_label"]``, never reused after a delete); labels that were in the region
keep their cell, so a cell cut by the region's border stays one cell. The cell table is
recomputed only for the cells whose pixels changed (from a read of their old bounding boxes and
the region), and the pyramid levels only where level 0 changed.
"""
from dataclasses import dataclass

import numpy as np
from django.conf import settings

from annotations import label_chain, slides
from annotations.changes import LIST_LIMIT
from annotations.models import Annotation, Image, MaskOrigin
from annotations.services import StaleVersionError, annotation_prepared_discard, annotation_prepared_save
from annotations.tiled_masks import annotation_prepare_tiled, cell_table_load
from cellposeweb.exceptions import ApplicationError

__all__ = ["Region", "region_check", "region_labels", "tiled_region_save"]

LABEL_MAX = 2**31 - 1  # the viewer and the API carry labels as int32


@dataclass(frozen=True)
class Region:
    """A rectangle of one plane at level 0: rows y..y+height, columns x..x+width of plane z."""

    z: int
    y: int
    x: int
    height: int
    width: int

    def index(self, ndim: int) -> tuple:
        rows, cols = slice(self.y, self.y + self.height), slice(self.x, self.x + self.width)
        return ((self.z,) if ndim == 3 else ()) + (rows, cols)


def _latest_tiled(image: Image) -> Annotation:
    annotation = image.annotations.order_by("-version").first()
    if annotation is None or not annotation.labels_key:
        raise ApplicationError(f"{image.name} has no tiled masks to edit yet: segment it first.")
    return annotation


def region_check(image: Image, region: Region) -> Region:
    """``region`` when it lies inside the image and within the size limit; ApplicationError (400)
    saying what is wrong otherwise."""
    if not slides.is_tiled(image):
        raise ApplicationError(f"{image.name} is not a tiled image: edit its masks in the image editor.")
    shape = slides.level_shapes(image)[0]
    named = dict(zip(image.axes, shape))
    depth, height, width = int(named.get("Z", 1)), int(named["Y"]), int(named["X"])
    limit = int(settings.TILED_EDIT_MAX_SIDE)
    if region.height < 1 or region.width < 1:
        raise ApplicationError("A region needs a width and a height of at least 1 pixel.")
    if region.height > limit or region.width > limit:
        raise ApplicationError(
            f"A region of {region.width} x {region.height} pixels is too large to edit at once: "
            f"each side may be at most {limit} pixels (TILED_EDIT_MAX_SIDE). Zoom in and edit a smaller region."
        )
    if not (0 <= region.z < depth and 0 <= region.y and region.y + region.height <= height
            and 0 <= region.x and region.x + region.width <= width):
        raise ApplicationError(
            f"The region (plane {region.z}, x {region.x}..{region.x + region.width}, "
            f"y {region.y}..{region.y + region.height}) is outside the image ({width} x {height}, {depth} plane(s))."
        )
    return region


def region_labels(image: Image, region: Region, *, version: int | None = None) -> tuple[Annotation, np.ndarray]:
    """(the version read, its labels in ``region``: int32 (height, width), 0 = background)."""
    region_check(image, region)
    if version is None:
        annotation = _latest_tiled(image)
    else:
        annotation = image.annotations.filter(version=version).first()
        if annotation is None or not annotation.labels_key:
            raise ApplicationError(f"{image.name} has no tiled version {version}.")
    labels = label_chain.labels_for_version(annotation)
    return annotation, np.asarray(labels[region.index(labels.ndim)]).astype(np.int32)


def _max_label(annotation: Annotation, cells: dict) -> int:
    return max(int((annotation.summary or {}).get("max_label", 0)), int(cells["label"].max(initial=0)))


def _write_changed(array, target, old_window: np.ndarray, new_window: np.ndarray, window_start) -> list[tuple]:
    """Write to ``target`` each chunk of ``new_window`` (placed at ``window_start``, chunk aligned)
    that differs from ``old_window``; returns the written chunks' grid indices."""
    written = []
    window_stop = [s + n for s, n in zip(window_start, new_window.shape)]
    for grid in label_chain.grid_range(window_start, window_stop, array.chunks):
        box = label_chain.chunk_slices(array.shape, array.chunks, grid)
        local = tuple(slice(s.start - o, s.stop - o) for s, o in zip(box, window_start))
        if not np.array_equal(old_window[local], new_window[local]):
            target[box] = new_window[local]
            written.append(grid)
    return written


def _aligned(start, stop, chunks, shape):
    lo = [a // c * c for a, c in zip(start, chunks)]
    hi = [min(-(-b // c) * c, n) for b, c, n in zip(stop, chunks, shape)]
    return lo, hi


def _write_levels(image, *, key: str, manifest: dict, targets: list, region: Region, new: np.ndarray) -> dict:
    """Write the changed chunks of every level into ``targets`` (the delta's arrays) and add them
    to ``manifest``; returns {"chunks": n} written."""
    def level_reader(level):
        base = slides.open_labels(image, key=manifest["base"], level=level)
        return label_chain.ChainedLabels(image, base=base, owners=manifest["owners"].get(str(level), {}),
                                         level=level)

    ndim = targets[0].ndim
    start = [region.z, region.y, region.x][-ndim:]
    stop = [region.z + 1, region.y + region.height, region.x + region.width][-ndim:]
    n_chunks = 0
    for level, target in enumerate(targets):
        reader = level_reader(level)
        lo, hi = _aligned(start, stop, reader.chunks, reader.shape)
        if any(a >= b for a, b in zip(lo, hi)):
            break
        old_window = reader[tuple(slice(a, b) for a, b in zip(lo, hi))]
        if level == 0:
            new_window = old_window.copy()
            new_window[tuple(slice(a - o, b - o) for a, b, o in zip(start, stop, lo))] = new
        else:  # nearest neighbour of the level below, as slides.build_label_pyramid makes it
            below = level_reader(level - 1)
            lead = tuple(slice(a, b) for a, b in zip(lo[:-2], hi[:-2]))
            rows = slice(2 * lo[-2], min(2 * hi[-2], below.shape[-2]))
            cols = slice(2 * lo[-1], min(2 * hi[-1], below.shape[-1]))
            new_window = below[lead + (rows, cols)][..., ::2, ::2]
        written = _write_changed(reader, target, old_window, new_window, lo)
        if not written:
            break  # the levels above sample only what this one holds
        owners = manifest["owners"].setdefault(str(level), {})
        owners.update({label_chain.chunk_key(g): key for g in written})
        n_chunks += len(written)
        # level + 1 samples every other pixel of this one: only [ceil(lo / 2), ceil(hi / 2)) may change
        start = list(lo[:-2]) + [-(-a // 2) for a in lo[-2:]]
        stop = list(hi[:-2]) + [-(-b // 2) for b in hi[-2:]]
    return {"chunks": n_chunks}


def _cell_stats(window: np.ndarray, offset, labels: np.ndarray) -> dict:
    """Area, bbox and centroid of each of ``labels`` (sorted) from ``window`` (its pixels at
    ``offset``); labels with no pixel get area 0."""
    ndim = window.ndim
    n = labels.size
    area = np.zeros(n, np.int64)
    lo = np.full((n, ndim), np.iinfo(np.int64).max, np.int64)
    hi = np.full((n, ndim), -1, np.int64)
    sums = np.zeros((n, ndim), np.float64)
    flat = window.ravel()
    picked = np.flatnonzero(np.isin(flat, labels))
    if picked.size:
        which = np.searchsorted(labels, flat[picked])
        coords = np.stack(np.unravel_index(picked, window.shape), axis=1) + np.asarray(offset, np.int64)
        area = np.bincount(which, minlength=n).astype(np.int64)
        for axis in range(ndim):
            np.minimum.at(lo[:, axis], which, coords[:, axis])
            np.maximum.at(hi[:, axis], which, coords[:, axis] + 1)
            sums[:, axis] = np.bincount(which, weights=coords[:, axis], minlength=n)
    centroid = sums / np.maximum(area, 1)[:, None]
    return {"area": area, "bbox": np.concatenate([lo, hi], axis=1), "centroid": centroid}


def _new_cells(image, *, annotation, cells: dict, key: str, region: Region, old: np.ndarray,
               new: np.ndarray, fresh: np.ndarray) -> tuple[dict, dict]:
    """The cell table after the edit, and the ``changes`` summary against the base version."""
    differ = old != new
    touched = np.union1d(old[differ], new[differ]).astype(np.int64)
    touched = touched[touched > 0]
    labels = cells["label"].astype(np.int64)
    ndim = cells["bbox"].shape[1] // 2
    known = np.isin(labels, touched)
    # every pixel of a touched cell is in the region or in its old bounding box
    start = np.array([region.z, region.y, region.x][-ndim:], np.int64)
    stop = np.array([region.z + 1, region.y + region.height, region.x + region.width][-ndim:], np.int64)
    if known.any():
        start = np.minimum(start, cells["bbox"][known, :ndim].min(axis=0))
        stop = np.maximum(stop, cells["bbox"][known, ndim:].max(axis=0))
    reader = label_chain.resolve_labels(image, key=key)
    window = reader[tuple(slice(int(a), int(b)) for a, b in zip(start, stop))]
    stats = _cell_stats(window, start, touched)
    alive = stats["area"] > 0
    old_origin = dict(zip(labels.tolist(), cells["origin"].tolist()))
    fresh_ids = set(fresh.tolist())
    origin = np.array([MaskOrigin.MANUAL if t in fresh_ids or t not in old_origin
                       else (MaskOrigin.EDITED if old_origin[t] == MaskOrigin.MODEL else old_origin[t])
                       for t in touched.tolist()], np.uint8)
    keep = ~known
    table = {
        "label": np.concatenate([labels[keep], touched[alive]]),
        "bbox": np.concatenate([cells["bbox"][keep], stats["bbox"][alive]]),
        "area": np.concatenate([cells["area"][keep], stats["area"][alive]]),
        "centroid": np.concatenate([cells["centroid"][keep], stats["centroid"][alive]]),
        "origin": np.concatenate([cells["origin"][keep], origin[alive]]),
    }
    order = np.argsort(table["label"], kind="stable")
    table = {name: column[order] for name, column in table.items()}
    added = touched[alive & ~np.isin(touched, labels)]
    removed = touched[~alive & np.isin(touched, labels)]
    edited = touched[alive & np.isin(touched, labels)]
    changes = {
        "added": int(added.size), "removed": int(removed.size), "edited": int(edited.size),
        "unchanged": int(table["label"].size - added.size - edited.size),
        "added_labels": added[:LIST_LIMIT].tolist(), "removed_labels": removed[:LIST_LIMIT].tolist(),
        "edited_labels": edited[:LIST_LIMIT].tolist(),
    }
    return table, changes


def _delta_key(annotation: Annotation) -> str:
    import secrets

    return f"edit-v{annotation.version + 1}-{secrets.token_hex(4)}"


def tiled_region_save(*, image: Image, region: Region, labels: np.ndarray, base_version: int | None,
                      created_by=None) -> Annotation:
    """Save ``labels`` (int32 (height, width), 0 = background) as ``region`` of the next version
    of a tiled image's masks, edited from ``base_version`` (StaleVersionError, HTTP 409, unless it
    is the latest). Only chunks whose content changed are stored; the version's ``summary`` says
    how many (``chunks_written``) and their bytes (``bytes_written``).

    Storage I/O happens before the row is added, with no lock held; a refused save deletes what
    it wrote.
    """
    region_check(image, region)
    annotation = _latest_tiled(image)
    if base_version != annotation.version:
        raise StaleVersionError(image=image, base_version=base_version, current_version=annotation.version)
    labels = np.asarray(labels)
    if labels.shape != (region.height, region.width):
        raise ApplicationError(f"labels must have the region's shape {[region.height, region.width]}, "
                               f"got {list(labels.shape)}.")
    if labels.size and (labels.min() < 0 or labels.max() > LABEL_MAX):
        raise ApplicationError(f"labels must be between 0 (background) and {LABEL_MAX}.")
    cells = cell_table_load(annotation)
    reader = label_chain.labels_for_version(annotation)
    old = np.asarray(reader[region.index(reader.ndim)]).astype(np.int64)
    new = labels.astype(np.int64)
    # labels the client did not read in this region are new cells: ids above the image-wide max
    fresh = np.setdiff1d(np.unique(new), np.unique(old))
    fresh = fresh[fresh > 0]
    top = _max_label(annotation, cells)
    if fresh.size:
        ids = np.arange(top + 1, top + 1 + fresh.size, dtype=np.int64)
        if ids[-1] > LABEL_MAX:
            raise ApplicationError("This image has run out of label ids.")
        at = np.searchsorted(fresh, new)
        hit = (at < fresh.size) & (fresh[np.minimum(at, fresh.size - 1)] == new)
        new = np.where(hit, ids[np.minimum(at, fresh.size - 1)], new)
        fresh, top = ids, int(ids[-1])
    key = _delta_key(annotation)
    manifest, targets = label_chain.delta_create(image, key=key, parent_key=annotation.labels_key)
    prepared = None
    try:
        written = _write_levels(image, key=key, manifest=manifest, targets=targets, region=region,
                                new=new.astype(np.uint32))
        label_chain.delta_commit(image, key=key, manifest=manifest)
        table, changes = _new_cells(image, annotation=annotation, cells=cells, key=key, region=region, old=old,
                                    new=new, fresh=fresh)
        summary = {"max_label": top, "chunks_written": written["chunks"],
                   "bytes_written": label_chain.stored_bytes(image, key=key),
                   "region": {"z": region.z, "y": region.y, "x": region.x, "height": region.height,
                              "width": region.width}}
        prepared = annotation_prepare_tiled(image=image, labels_key=key, cells=table, source=Annotation.Source.MANUAL,
                                            created_by=created_by, summary=summary, changes=changes,
                                            base_version=annotation.version)
        prepared._expected_latest = annotation.version
        return annotation_prepared_save(prepared)
    except BaseException:
        if prepared is not None:
            annotation_prepared_discard(prepared)
        label_chain.delta_delete(image, key=key)
        raise
