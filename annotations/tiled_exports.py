"""Exports of a tiled image's annotation version that stream: each is a generator of bytes whose
memory is bounded by one chunk of the labels (plus the per-cell table), whatever the image size.

    geojson  a FeatureCollection for QuPath (File > Import objects), one Feature per cell (per
             plane in 3D), vertices on pixel corners: the engine's ``geojson_features``, the same
             polygons as the small-image export. The labels are read one chunk at a time; a cell
             that spans chunks is traced from a read of its own bounding box.
    csv      the per-cell table: label, bounding box, area, centroid, origin, job.
    zarr     the OME-Zarr labels group as a zip (stored, not recompressed: the chunks are already
             compressed), which napari, QuPath's OME-Zarr reader or ``zarr`` open as a label image.
"""
import csv
import io
import json
import zipfile
from collections.abc import Iterator

import zarr

from annotations import label_chain, slides
from annotations.models import Annotation, MaskOrigin
from annotations.tiled_masks import cell_table_load
from inference.engine import geojson_chunks

__all__ = ["TILED_FORMATS", "cells_csv", "labels_geojson", "labels_zarr_zip", "tiled_export_chunks"]

TILED_FORMATS = ("geojson", "csv", "zarr")
CSV_BATCH = 10_000  # rows per chunk of the CSV stream
ORIGIN_NAMES = {origin.value: origin.label for origin in MaskOrigin}


def labels_geojson(annotation: Annotation) -> Iterator[bytes]:
    """The version's cells as a GeoJSON FeatureCollection, chunk region by chunk region."""
    labels = label_chain.labels_for_version(annotation)
    cells = cell_table_load(annotation)
    yield from geojson_chunks(labels, label=cells["label"], bbox=cells["bbox"])


def cells_csv(annotation: Annotation) -> Iterator[bytes]:
    """The version's per-cell table as CSV: a header, then one row per cell in label order."""
    cells = cell_table_load(annotation)
    ndim = cells["bbox"].shape[1] // 2
    axes = ("z", "y", "x")[-ndim:]
    header = (["label"] + [f"bbox_{a}0" for a in axes] + [f"bbox_{a}1" for a in axes] + ["area"]
              + [f"centroid_{a}" for a in axes] + ["origin", "job"])
    job = int(cells["job"]) if int(cells["job"]) >= 0 else ""
    buf = io.StringIO()
    writer = csv.writer(buf, lineterminator="\n")
    writer.writerow(header)
    n = cells["label"].size
    for begin in range(0, max(n, 1), CSV_BATCH):
        end = min(begin + CSV_BATCH, n)
        for k in range(begin, end):
            writer.writerow([int(cells["label"][k]), *cells["bbox"][k].tolist(), int(cells["area"][k]),
                             *[round(float(c), 4) for c in cells["centroid"][k]],
                             ORIGIN_NAMES.get(int(cells["origin"][k]), "model"), job])
        yield buf.getvalue().encode("utf-8")
        buf.seek(0)
        buf.truncate()


class _Pipe(io.RawIOBase):
    """A write-only, unseekable sink whose bytes a generator takes out as they come."""

    def __init__(self):
        self.parts: list[bytes] = []

    def writable(self) -> bool:
        return True

    def write(self, data) -> int:
        self.parts.append(bytes(data))
        return len(data)

    def take(self) -> bytes:
        data, self.parts = b"".join(self.parts), []
        return data


def _group_keys(store, root: str) -> Iterator[str]:
    """The keys of a zarr v2 labels group: its metadata files, and each level's metadata and
    chunks (zarr's "." dimension separator keeps a level's chunks in one folder)."""
    for name in store.listdir(root):
        if name.startswith("."):
            yield f"{root}/{name}"
        else:
            for member in store.listdir(f"{root}/{name}"):
                yield f"{root}/{name}/{member}"


def _version_files(annotation: Annotation) -> Iterator[tuple[str, str]]:
    """(name in the group, stored key) of every file of the version's labels as one whole group:
    an edited version's chunks come from the version that owns each (annotations.label_chain),
    its metadata from its own group, less the chunk manifest."""
    image, key = annotation.image, annotation.labels_key
    info = label_chain.delta_info(image, key)
    if info is None:
        root = f"labels/{key}"
        store = slides.open_labels(image, key=key).store
        for stored in _group_keys(store, root):
            yield stored[len(root) + 1:], stored
        return
    store = slides.open_labels(image, key=info["base"]).store
    base_root, root = f"labels/{info['base']}", f"labels/{key}"
    for stored in _group_keys(store, base_root):
        name = stored[len(base_root) + 1:]
        level, _, member = name.rpartition("/")
        if not level:
            continue  # the group's metadata: this version's own, below
        owner = info["owners"].get(level, {}).get(member)
        if member.startswith(".") or owner is None:
            yield name, stored
    for level, owned in info["owners"].items():
        for member, owner in sorted(owned.items()):
            yield f"{level}/{member}", f"labels/{owner}/{level}/{member}"
    yield ".zgroup", f"{root}/.zgroup"


def _version_attrs(annotation: Annotation) -> bytes:
    attrs = dict(zarr.open_group(slides.open_labels(annotation.image, key=annotation.labels_key).store,
                                 path=f"labels/{annotation.labels_key}", mode="r").attrs.asdict())
    attrs.pop(label_chain.DELTA_ATTR, None)
    return json.dumps(attrs, indent=2, sort_keys=True).encode("utf-8")


def labels_zarr_zip(annotation: Annotation, *, folder: str) -> Iterator[bytes]:
    """The version's OME-Zarr labels group as a zip holding ``<folder>/`` (one chunk at a time);
    an edited version's zip is a whole group, as a segmented one's."""
    store = slides.open_labels(annotation.image, key=annotation.labels_key).store
    pipe = _Pipe()
    with zipfile.ZipFile(pipe, "w", compression=zipfile.ZIP_STORED, allowZip64=True) as zf:
        files = [(".zattrs", None)] + [(n, k) for n, k in _version_files(annotation) if n != ".zattrs"]
        for name, stored in files:
            info = zipfile.ZipInfo(f"{folder}/{name}", date_time=(2020, 1, 1, 0, 0, 0))
            try:
                data = _version_attrs(annotation) if stored is None else store[stored]
            except KeyError:  # a chunk its owner did not store is all background: zarr's fill value
                continue
            with zf.open(info, "w", force_zip64=True) as member:
                member.write(data)
            yield pipe.take()
    yield pipe.take()


def tiled_export_chunks(annotation: Annotation, fmt: str, *, folder: str = "labels.zarr") -> Iterator[bytes]:
    """The bytes of ``fmt`` (one of TILED_FORMATS) for a tiled version."""
    if fmt == "geojson":
        return labels_geojson(annotation)
    if fmt == "csv":
        return cells_csv(annotation)
    if fmt == "zarr":
        return labels_zarr_zip(annotation, folder=folder)
    raise ValueError(f"format must be one of {', '.join(TILED_FORMATS)} for a tiled image, got {fmt!r}")

