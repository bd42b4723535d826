"""Large ("tiled") images: their pixels stored as a chunked multiscale OME-Zarr, and label arrays
beside them.

An image is tiled when it has more than ``settings.TILED_MIN_PIXELS`` pixels (Y x X x Z); its
original file is kept as for any image, and its pixels are also stored in Django's default storage
(local disk, or S3) under ``images/<id>/pixels.zarr/`` (NGFF 0.4):

    pixels.zarr/.zattrs              multiscales: levels "0", "1", ... each 2x smaller in Y and X
    pixels.zarr/0, 1, ...            arrays (Y, X), (Y, X, C), (Z, Y, X) or (Z, Y, X, C), chunks of
                                     512 x 512 (one plane, all channels)
    pixels.zarr/labels/.zattrs       {"labels": [keys]}
    pixels.zarr/labels/<key>/0, ...  uint32 labels (Y, X) or (Z, Y, X), chunks 512 x 512, with
                                     "image-label" metadata; levels 1.. by `build_label_pyramid`

Readers get zarr arrays, so a caller reads only the chunks it slices.
"""
import re
import tempfile
from pathlib import Path

import numpy as np
import zarr
from django.conf import settings

from annotations import pyramid
from annotations.zarr_store import StorageStore

__all__ = [
    "TILE", "build_label_pyramid", "build_pixels", "create_labels", "delete_pixels", "display_levels",
    "is_tiled", "label_keys", "level_shapes", "open_labels", "open_level", "pixels_prefix", "should_tile",
    "store_pixels", "write_pixels",
]

TILE = pyramid.TILE
LABEL_KEY = re.compile(r"[A-Za-z0-9][A-Za-z0-9_.-]{0,63}")


def should_tile(n_pixels: int) -> bool:
    """Whether an image of ``n_pixels`` (Y x X x Z) is stored tiled."""
    return int(n_pixels) > int(settings.TILED_MIN_PIXELS)


def is_tiled(image) -> bool:
    """Whether ``image`` has its pixels stored as a multiscale OME-Zarr."""
    return bool(image.tiled)


def pixels_prefix(image) -> str:
    """The storage folder of the image's OME-Zarr: ``images/<id>/pixels.zarr``."""
    if image.pk is None:
        raise ValueError("an image must be saved before its pixels are stored")
    return f"images/{image.pk}/pixels.zarr"


def _store(image, *, writable: bool = False) -> StorageStore:
    if not is_tiled(image):
        raise ValueError(f"image {image.pk} is not tiled; read its file instead (annotations.files)")
    return StorageStore(pixels_prefix(image), read_only=not writable)


def _check_level(image, level: int) -> int:
    n_levels = len(level_shapes(image))
    if not isinstance(level, (int, np.integer)) or not 0 <= level < n_levels:
        raise ValueError(f"level must be between 0 and {n_levels - 1}, got {level!r}")
    return int(level)


def open_level(image, level: int = 0) -> zarr.Array:
    """The image's pixels at ``level`` (0: full resolution, each next one 2x smaller), read-only.

    Returns a zarr.Array of the image's dtype, shape (Y, X), (Y, X, C), (Z, Y, X) or (Z, Y, X, C)
    (channels last, as ``image.axes`` says).
    """
    level = _check_level(image, level)
    return zarr.open_array(_store(image), path=str(level), mode="r")


def level_shapes(image) -> list[tuple]:
    """The shape of every level, full resolution first (what the ingest recorded in ``display``)."""
    shapes = (image.display or {}).get("level_shapes")
    if shapes:
        return [tuple(int(n) for n in shape) for shape in shapes]
    group = zarr.open_group(_store(image), mode="r")
    datasets = group.attrs["multiscales"][0]["datasets"]
    return [tuple(group[d["path"]].shape) for d in datasets]


def display_levels(image) -> list[tuple[float, float]]:
    """(lo, hi) per channel: the values shown as black and white (1st and 99th percentiles of a
    bounded subsample, computed at ingest and kept in ``image.display``)."""
    return [(float(lo), float(hi)) for lo, hi in (image.display or {}).get("channels", [])]


def _check_key(key: str) -> str:
    if not isinstance(key, str) or not LABEL_KEY.fullmatch(key) or ".." in key:
        raise ValueError(f"a label key is 1-64 letters, digits, '_', '-' or '.', got {key!r}")
    return key


def _label_shape(image) -> tuple:
    shape = level_shapes(image)[0]
    return shape[:-1] if image.axes.endswith("C") else shape


def label_keys(image) -> list[str]:
    """The keys of the label arrays stored beside the image, in the order they were created."""
    store = _store(image)
    if "labels/.zattrs" not in store:
        return []
    return list(zarr.open_group(store, path="labels", mode="r").attrs.get("labels", []))


def create_labels(image, *, key: str) -> zarr.Array:
    """A new writable label array for ``image`` under ``labels/<key>/0`` (replacing one with that key).

    Returns a zarr.Array of uint32 (0 = background), shape (Y, X) or (Z, Y, X) of level 0, chunks
    512 x 512 (one plane deep), filled with 0. Call `build_label_pyramid` once it is written.
    Writers running in parallel (each reopening it with ``open_labels(..., writable=True)``) must
    write whole chunks each: a partial chunk is read, changed and written back.
    """
    key = _check_key(key)
    store = _store(image, writable=True)
    root = zarr.open_group(store, mode="a")
    labels = root.require_group("labels")
    shape = _label_shape(image)
    axes = "ZYX" if len(shape) == 3 else "YX"
    if key in labels:
        store.rmdir(f"labels/{key}")
    group = labels.create_group(key)
    array = group.create_dataset("0", shape=shape, chunks=pyramid.chunks_for(shape, axes, TILE), dtype=np.uint32,
                                 fill_value=0)
    pyramid.write_multiscales(group, axes=axes, n_levels=1, name=key,
                              extra={"image-label": {"version": "0.4", "source": {"image": "../../"}}})
    keys = [k for k in labels.attrs.get("labels", []) if k != key] + [key]
    labels.attrs["labels"] = keys
    return array


def open_labels(image, *, key: str, level: int = 0, writable: bool = False) -> zarr.Array:
    """The label array ``key`` at ``level``: uint32, shape (Y, X) or (Z, Y, X) of that level.
    Read-only unless ``writable`` (for workers filling an array `create_labels` made).

    Raises KeyError when there is no such label array or level.
    """
    key = _check_key(key)
    store = _store(image, writable=writable)
    path = f"labels/{key}/{int(level)}"
    if f"{path}/.zarray" not in store:
        raise KeyError(f"image {image.pk} has no labels {key!r} at level {level}")
    return zarr.open_array(store, path=path, mode="r+" if writable else "r")


def build_label_pyramid(image, *, key: str) -> None:
    """Write levels 1.. of the labels ``key`` (every other pixel of the level before, block by
    block, never a whole level at once), as many as the image has, and their metadata."""
    key = _check_key(key)
    store = _store(image, writable=True)
    group = zarr.open_group(store, path=f"labels/{key}", mode="a")
    if "0" not in group:
        raise KeyError(f"image {image.pk} has no labels {key!r}; create them first")
    previous = group["0"]
    axes = "ZYX" if previous.ndim == 3 else "YX"
    n_levels = len(level_shapes(image))
    for level in range(1, n_levels):
        shape = pyramid.halved(previous.shape, axes)
        array = group.create_dataset(str(level), shape=shape, chunks=pyramid.chunks_for(shape, axes, TILE),
                                     dtype=np.uint32, fill_value=0, overwrite=True)
        pyramid.downsample_level(previous, array, axes=axes, labels=True, tile=TILE)
        previous = array
    pyramid.write_multiscales(group, axes=axes, n_levels=n_levels, name=key,
                              extra={"image-label": {"version": "0.4", "source": {"image": "../../"}}})


def _display_sample(group: zarr.Group, shapes: list[tuple], axes: str) -> np.ndarray:
    """A bounded subsample for display levels: the largest level with at most 1024 pixels on its
    long side, at most 16 of its planes. Returns (..., C)."""
    y_axis = axes.index("Y")
    level = next(i for i, s in enumerate(shapes) if max(s[y_axis], s[y_axis + 1]) <= 1024 or i == len(shapes) - 1)
    array = group[str(level)]
    if "Z" in axes:
        planes = np.unique(np.linspace(0, array.shape[0] - 1, min(16, array.shape[0])).astype(int))
        sample = np.stack([array[int(z)] for z in planes])
    else:
        sample = array[...]
    return sample if "C" in axes else sample[..., np.newaxis]


def build_pixels(source, folder: Path, *, name: str, progress=None) -> dict:
    """Write ``source`` (annotations.sources.BandSource) as an OME-Zarr in the local ``folder``
    (the slow part of an ingest: decoding and compressing, done before anything is registered).

    Returns the ``display`` dict to keep on the image: ``{"channels": [[lo, hi], ...],
    "level_shapes": [[...], ...]}``.
    """
    group = zarr.open_group(zarr.DirectoryStore(str(folder)), mode="w")
    shapes = pyramid.write_image_pyramid(source, group, name=name, progress=progress)
    sample = _display_sample(group, shapes, source.axes)
    return {"channels": pyramid.percentile_levels(sample), "level_shapes": [list(s) for s in shapes]}


def store_pixels(image, folder: Path) -> None:
    """Copy the OME-Zarr built in the local ``folder`` into the image's storage folder, file by file."""
    store = _store(image, writable=True)
    folder = Path(folder)
    for path in sorted(p for p in folder.rglob("*") if p.is_file()):
        store[path.relative_to(folder).as_posix()] = path.read_bytes()


def write_pixels(image, source, *, progress=None) -> dict:
    """`build_pixels` in a temporary folder, then `store_pixels`; returns the ``display`` dict.
    ``image`` must be saved (its id names the storage folder) and ``tiled``."""
    _store(image)  # refuse an untiled or unsaved image before the work
    with tempfile.TemporaryDirectory(prefix="cellposeweb-pixels-") as tmp:
        folder = Path(tmp) / "pixels.zarr"
        display = build_pixels(source, folder, name=image.name, progress=progress)
        store_pixels(image, folder)
    return display


def delete_pixels(image_id: int) -> None:
    """Delete the stored OME-Zarr of an image (its labels included); nothing if there is none."""
    StorageStore(f"images/{int(image_id)}/pixels.zarr").rmdir()
