"""Versions of a tiled image's labels that store only the chunks they changed, and the one reader
every path uses (label tiles, exports, the region editor).

A version made by segmentation writes a whole labels group ``labels/<key>`` (annotations.slides).
A version made by an edit writes a *delta* group: the same levels, shapes, chunks and dtype as its
base, but only the chunks whose content it changed (at level 0 and the pyramid levels above), and
a chunk manifest in the group's ``.zattrs``::

    "cellposeweb-delta": {"base": "<key of the whole group the chain starts from>",
                          "parent": "<key of the version it was edited from>",
                          "owners": {"0": {"3.7": "<key>", ...}, "1": {...}, ...}}

``owners`` maps each chunk (zarr's "." separated chunk index) written by any edit since the whole
group to the key of the newest version that wrote it; it is the parent's manifest with this
version's chunks added, so reading a chunk of version N is one dictionary look-up, never a walk
back through the chain. A chunk absent from ``owners`` is read from ``base``. zarr's fill value is
never taken to mean "unchanged" (0 is background): a chunk an edit owns but did not store (zarr
skips chunks that are all fill value) reads as 0 from that edit, as it should.
"""
import itertools

import numpy as np
import zarr

from annotations import slides
from annotations.zarr_store import StorageStore
from cellposeweb.orphans import stored_names

__all__ = ["DELTA_ATTR", "ChainedLabels", "chunk_key", "chunk_slices", "grid_range", "delta_commit", "delta_create",
           "delta_delete", "delta_info", "labels_for_version", "resolve_labels", "stored_bytes"]

DELTA_ATTR = "cellposeweb-delta"


def _group_attrs(image, key: str) -> dict:
    store = StorageStore(slides.pixels_prefix(image), read_only=True)
    try:
        return zarr.open_group(store, path=f"labels/{key}", mode="r").attrs.asdict()
    except (KeyError, ValueError, zarr.errors.GroupNotFoundError):
        raise KeyError(f"image {image.pk} has no labels {key!r}") from None


def delta_info(image, key: str) -> dict | None:
    """The chunk manifest of the labels ``key`` (the dict of the module docstring), or None when
    ``key`` is a whole group. KeyError when there is no such labels group."""
    return _group_attrs(image, key).get(DELTA_ATTR)


def chunk_key(index) -> str:
    """zarr's name of the chunk at grid ``index`` (a tuple of ints): ``"3.7"``."""
    return ".".join(str(int(i)) for i in index)


def chunk_slices(shape, chunks, index) -> tuple[slice, ...]:
    """The array region of the chunk at grid ``index`` (edge chunks clipped to ``shape``)."""
    return tuple(slice(i * c, min((i + 1) * c, n)) for i, c, n in zip(index, chunks, shape))


def grid_range(start, stop, chunks):
    """The chunk grid indices that overlap the box [start, stop)."""
    return itertools.product(*(range(a // c, (b - 1) // c + 1) for a, b, c in zip(start, stop, chunks)))


def _normalise(index, shape) -> tuple[list[int], list[int], tuple[int, ...]]:
    """(start, stop, axes to squeeze) of a basic index: ints and step-1 slices, one per axis at most."""
    if not isinstance(index, tuple):
        index = (index,)
    if any(i is Ellipsis for i in index):
        at = index.index(Ellipsis)
        index = index[:at] + (slice(None),) * (len(shape) - len(index) + 1) + index[at + 1:]
    index = index + (slice(None),) * (len(shape) - len(index))
    start, stop, squeeze = [], [], []
    for axis, (i, n) in enumerate(zip(index, shape)):
        if isinstance(i, slice):
            a, b, step = i.indices(n)
            if step != 1:
                raise IndexError("ChainedLabels reads step-1 slices only")
            start.append(a)
            stop.append(max(a, b))
        else:
            i = int(i)
            i = i + n if i < 0 else i
            if not 0 <= i < n:
                raise IndexError(f"index {i} is outside axis {axis} of length {n}")
            start.append(i)
            stop.append(i + 1)
            squeeze.append(axis)
    return start, stop, tuple(squeeze)


class ChainedLabels:
    """One level of an edited version's labels, read chunk by chunk from the version that owns
    each chunk. Sliced like a read-only zarr.Array (ints and step-1 slices): returns uint32.

    base : zarr.Array, the level of the whole group the chain starts from.
    owners : dict, chunk key -> labels key, for the chunks edits wrote (this level).
    """

    def __init__(self, image, *, base: zarr.Array, owners: dict, level: int):
        self.image, self.base, self.owners, self.level = image, base, dict(owners), int(level)
        self.shape, self.chunks, self.dtype, self.ndim = base.shape, base.chunks, base.dtype, base.ndim
        self._arrays: dict[str, zarr.Array] = {}

    def _array(self, key: str) -> zarr.Array:
        if key not in self._arrays:
            self._arrays[key] = zarr.open_array(StorageStore(slides.pixels_prefix(self.image), read_only=True),
                                                path=f"labels/{key}/{self.level}", mode="r")
        return self._arrays[key]

    def owner(self, index) -> str | None:
        """The key of the edit that owns chunk ``index``, or None (read from ``base``)."""
        return self.owners.get(chunk_key(index))

    def __getitem__(self, index) -> np.ndarray:
        start, stop, squeeze = _normalise(index, self.shape)
        if not self.owners or any(a == b for a, b in zip(start, stop)):
            return np.asarray(self.base[tuple(slice(a, b) for a, b in zip(start, stop))]).squeeze(squeeze)
        out = np.zeros([b - a for a, b in zip(start, stop)], self.dtype)
        for grid in grid_range(start, stop, self.chunks):
            box = chunk_slices(self.shape, self.chunks, grid)
            lo = [max(s.start, a) for s, a in zip(box, start)]
            hi = [min(s.stop, b) for s, b in zip(box, stop)]
            owner = self.owner(grid)
            source = self.base if owner is None else self._array(owner)
            out[tuple(slice(a - o, b - o) for a, b, o in zip(lo, hi, start))] = source[
                tuple(slice(a, b) for a, b in zip(lo, hi))]
        return out.squeeze(squeeze)


def resolve_labels(image, *, key: str, level: int = 0):
    """The labels ``key`` at ``level`` as every reader must see them: the zarr.Array itself for a
    whole group, a `ChainedLabels` for an edited version. KeyError when there is no such labels
    group or level."""
    info = delta_info(image, key)
    if info is None:
        return slides.open_labels(image, key=key, level=level)
    base = slides.open_labels(image, key=info["base"], level=level)
    return ChainedLabels(image, base=base, owners=info["owners"].get(str(int(level)), {}), level=level)


def labels_for_version(annotation, *, level: int = 0):
    """`resolve_labels` of a tiled annotation version."""
    return resolve_labels(annotation.image, key=annotation.labels_key, level=level)


def delta_create(image, *, key: str, parent_key: str) -> tuple[dict, list[zarr.Array]]:
    """A new, empty delta group ``labels/<key>`` edited from the labels ``parent_key``: every
    level's array metadata (no chunks) and a manifest equal to the parent's. Returns (manifest,
    writable level arrays); the caller writes chunks and then `delta_commit`.

    The key is not added to the OME-Zarr ``labels`` list: a delta is no label image on its own.
    """
    key = slides._check_key(key)
    parent = delta_info(image, parent_key)
    base_key = parent["base"] if parent else parent_key
    owners = {level: dict(chunks) for level, chunks in (parent["owners"] if parent else {}).items()}
    store = StorageStore(slides.pixels_prefix(image))
    base_group = zarr.open_group(store, path=f"labels/{base_key}", mode="r")
    if f"labels/{key}/.zgroup" in store:
        raise ValueError(f"image {image.pk} already has labels {key!r}")
    group = zarr.open_group(store, path=f"labels/{key}", mode="w")
    arrays, level = [], 0
    while str(level) in base_group:
        template = base_group[str(level)]
        arrays.append(group.create_dataset(str(level), shape=template.shape, chunks=template.chunks,
                                           dtype=template.dtype, fill_value=template.fill_value,
                                           compressor=template.compressor, write_empty_chunks=True))
        level += 1
    attrs = {k: v for k, v in base_group.attrs.asdict().items() if k != DELTA_ATTR}
    group.attrs.update(attrs)
    manifest = {"base": base_key, "parent": parent_key, "owners": owners}
    return manifest, arrays


def delta_commit(image, *, key: str, manifest: dict) -> None:
    """Write the manifest of the delta ``key`` (after its chunks): readers can then resolve it."""
    store = StorageStore(slides.pixels_prefix(image))
    group = zarr.open_group(store, path=f"labels/{key}", mode="a")
    group.attrs[DELTA_ATTR] = manifest


def delta_delete(image, *, key: str) -> None:
    """Delete a delta group whose version was not saved."""
    StorageStore(slides.pixels_prefix(image)).rmdir(f"labels/{key}")


def stored_bytes(image, *, key: str) -> int:
    """The bytes stored under ``labels/<key>`` (chunks and metadata), through the storage API."""
    store = StorageStore(slides.pixels_prefix(image), read_only=True)
    return sum(store.storage.size(name) for name in stored_names(store.storage, f"{store.prefix}/labels/{key}"))
