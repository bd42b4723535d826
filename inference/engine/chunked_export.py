"""GeoJSON of a label image too large to hold, written region by region as a stream of bytes.

The label image is read one chunk region at a time (a zarr array's own chunks, or a given
region shape); each cell is traced once, from the region its bounding box starts in, or from a
read of its own bounding box when it spans regions. Memory is one region plus one cell's box,
whatever the image size; the per-cell table (label and bounding box, e.g. from `CellTable`)
says where every cell is::

    cells = table.result()
    with open("cells.geojson", "wb") as fh:
        for part in geojson_chunks(labels, label=cells["label"], bbox=cells["bbox"]):
            fh.write(part)

The features are those of `polygons.geojson_features` (QuPath's format, vertices on pixel
corners), so a small image's export and a large one's agree.
"""
from __future__ import annotations

import json
from collections.abc import Iterator

import numpy as np

from .polygons import geojson_features

__all__ = ["geojson_chunks"]

#: Region side per axis when the label array has no chunks of its own.
DEFAULT_REGION = 1024


def geojson_chunks(labels, *, label, bbox, region=None) -> Iterator[bytes]:
    """A GeoJSON FeatureCollection of the given cells, as consecutive pieces of UTF-8 bytes.

    Parameters
    ----------
    labels : array-like of int (zarr.Array, np.memmap, ndarray), shape (Ly, Lx) or (Lz, Ly, Lx)
        0 = background. Read through slices only.
    label : array-like of int, shape (N,)
        The cells to write.
    bbox : array-like of int, shape (N, 2 * ndim)
        Each cell's bounding box: the ndim start coordinates, then the ndim stops (exclusive).
    region : int or tuple of int, optional
        The region read at a time; default the array's ``chunks`` (zarr), else 1024 per axis.

    Yields
    ------
    bytes
        Pieces whose concatenation is one JSON document: ``{"type":"FeatureCollection",
        "features":[...]}``, one Feature per cell (per plane of a 3D cell, with ``z``).
    """
    ndim = len(labels.shape)
    if ndim not in (2, 3):
        raise ValueError(f"labels must be (Ly, Lx) or (Lz, Ly, Lx), got shape {tuple(labels.shape)}")
    ids = np.asarray(label, np.int64).reshape(-1)
    boxes = np.asarray(bbox, np.int64).reshape(-1, 2 * ndim) if ids.size else np.zeros((0, 2 * ndim), np.int64)
    if boxes.shape[0] != ids.size:
        raise ValueError(f"bbox must have one row of {2 * ndim} numbers per label, got {boxes.shape} for {ids.size} labels")
    shape = np.asarray(labels.shape, np.int64)
    starts, stops = boxes[:, :ndim], boxes[:, ndim:]
    if ids.size and ((starts < 0).any() or (stops > shape).any() or (stops <= starts).any()):
        raise ValueError(f"every bounding box must lie inside the label image {tuple(labels.shape)}")
    chunks = _region(labels, region, ndim)
    home = starts // chunks  # the region where each cell starts
    order = np.lexsort(tuple(home[:, axis] for axis in reversed(range(ndim))))
    yield b'{"type":"FeatureCollection","features":['
    first, i = True, 0
    while i < order.size:
        here = home[order[i]]
        j = i
        while j < order.size and (home[order[j]] == here).all():
            j += 1
        lo = here * chunks
        hi = np.minimum(lo + chunks, shape)
        pixels = np.asarray(labels[tuple(slice(a, b) for a, b in zip(lo, hi))])
        parts = []
        for k in order[i:j]:
            start, stop = starts[k], stops[k]
            if (stop <= hi).all():
                crop = pixels[tuple(slice(a - o, b - o) for a, b, o in zip(start, stop, lo))]
            else:  # the cell spans regions: read its bounding box
                crop = np.asarray(labels[tuple(slice(a, b) for a, b in zip(start, stop))])
            for feature in _cell_features(crop, int(ids[k]), start):
                parts.append(("" if first else ",") + json.dumps(feature, separators=(",", ":")))
                first = False
        if parts:
            yield "".join(parts).encode("utf-8")
        i = j
    yield b"]}"


def _region(labels, region, ndim: int) -> np.ndarray:
    if region is None:
        region = getattr(labels, "chunks", None) or DEFAULT_REGION
    sides = np.broadcast_to(np.asarray(region, np.int64), (ndim,)).copy()
    if (sides < 1).any():
        raise ValueError(f"region must be positive sizes, got {region!r}")
    return sides


def _cell_features(crop: np.ndarray, label: int, start) -> Iterator[dict]:
    """The features of one cell from a crop of its bounding box at ``start`` (per plane in 3D)."""
    if crop.ndim == 2:
        yield from geojson_features(crop, labels=[label], offset=(int(start[0]), int(start[1])))
        return
    for z, plane in enumerate(crop):
        if (plane == label).any():
            yield from geojson_features(plane, labels=[label], offset=(int(start[1]), int(start[2])),
                                        z=int(start[0]) + z)
