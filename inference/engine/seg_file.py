"""Reading the Cellpose GUI's ``_seg.npy`` files without trusting them.

A ``_seg.npy`` is ``np.save`` of a Python dict: a pickle inside an ``.npy`` container. Loading it
with ``np.load(allow_pickle=True)`` would run whatever the file asks for, so ``read_seg_npy``
unpickles it with an allow-list: numpy arrays, dtypes and scalars, and plain Python containers,
strings and numbers. Anything else (a class, a function) is refused with ``SegFileError``.

The writer is ``export.save_seg_npy``; the keys read here are the ones the GUI's ``_load_seg``
reads (``masks``, ``flows``, ``diameter``, ``chan_choose``, ``ismanual``, ``filename``).
"""

from __future__ import annotations

import io as _io
import os
import pickle
from dataclasses import dataclass

import numpy as np

__all__ = ["SegFile", "SegFileError", "read_seg_npy"]

#: Largest ``_seg.npy`` read (bytes): a 2**29-pixel stack of uint32 masks plus its flows fits.
MAX_BYTES = 8 * 2**30

_ALLOWED = {
    ("numpy.core.multiarray", "_reconstruct"), ("numpy._core.multiarray", "_reconstruct"),
    ("numpy.core.multiarray", "scalar"), ("numpy._core.multiarray", "scalar"),
    ("numpy", "ndarray"), ("numpy", "dtype"), ("_codecs", "encode"),
}


_HEADER_READERS = {(1, 0): np.lib.format.read_array_header_1_0,
                   (2, 0): np.lib.format.read_array_header_2_0}


class SegFileError(ValueError):
    """A file could not be read as a ``_seg.npy``; the message names the file and the problem."""


@dataclass
class SegFile:
    """What a ``_seg.npy`` holds, checked.

    masks : ndarray of int32, shape (Ly, Lx) or (Lz, Ly, Lx)
        0 = background, 1..N = cells.
    dP : ndarray of float32, shape (2, Ly, Lx) or (3, Lz, Ly, Lx), or None
        The flows on the network's scale, when the file holds them.
    cellprob : ndarray of float32, shape (Ly, Lx) or (Lz, Ly, Lx), or None
    diameter : float or None
        The diameter the masks were made at (None when the file says NaN or nothing).
    channels : (int, int) or None
        ``chan_choose``.
    ismanual : ndarray of bool, shape (N,), or None
    filename : str or None
        The image file the GUI loads with it.
    """

    masks: np.ndarray
    dP: np.ndarray | None = None
    cellprob: np.ndarray | None = None
    diameter: float | None = None
    channels: tuple[int, int] | None = None
    ismanual: np.ndarray | None = None
    filename: str | None = None


class _Unpickler(pickle.Unpickler):
    def find_class(self, module, name):
        if (module, name) in _ALLOWED:
            return super().find_class(module, name)
        raise pickle.UnpicklingError(f"refusing to load {module}.{name}")


def read_seg_npy(source) -> SegFile:
    """Read a Cellpose ``_seg.npy`` (a path or a binary file object) safely.

    Raises
    ------
    SegFileError
        For a file that is not an ``.npy`` holding a dict, one that asks to load anything but
        numpy arrays and plain data, one without ``masks``, or masks that are not integer
        labels (Ly, Lx) / (Lz, Ly, Lx) >= 0.
    """
    name = os.fspath(source) if isinstance(source, (str, os.PathLike)) else str(
        getattr(source, "name", "<stream>"))
    try:
        data = _read_bytes(source)
        fh = _io.BytesIO(data)
        version = np.lib.format.read_magic(fh)
        if version not in _HEADER_READERS:
            raise SegFileError(f"{name}: .npy format version {version} is not supported")
        shape, _, dtype = _HEADER_READERS[version](fh, max_header_size=2**16)
        if dtype != np.dtype(object) or shape != ():
            raise SegFileError(f"{name}: not a _seg.npy (an .npy of {dtype} {shape}, expected a "
                               "pickled dict)")
        content = _Unpickler(fh).load()
    except SegFileError:
        raise
    except (OSError, ValueError, EOFError, pickle.UnpicklingError, TypeError, AttributeError,
            IndexError, KeyError, MemoryError) as exc:
        raise SegFileError(f"{name}: cannot read as a _seg.npy ({exc})") from None
    if isinstance(content, np.ndarray) and content.dtype == object and content.shape == ():
        content = content.item()
    if not isinstance(content, dict):
        raise SegFileError(f"{name}: a _seg.npy holds a dict, this holds {type(content).__name__}")
    return _checked(name, content)


def _read_bytes(source) -> bytes:
    if isinstance(source, (str, os.PathLike)):
        if os.path.getsize(source) > MAX_BYTES:
            raise SegFileError(f"{os.fspath(source)}: larger than {MAX_BYTES} bytes")
        with open(source, "rb") as fh:
            return fh.read()
    data = source.read(MAX_BYTES + 1)
    if len(data) > MAX_BYTES:
        raise SegFileError(f"{getattr(source, 'name', '<stream>')}: larger than {MAX_BYTES} bytes")
    return data


def _checked(name: str, d: dict) -> SegFile:
    masks = d.get("masks")
    if not isinstance(masks, np.ndarray):
        raise SegFileError(f"{name}: no 'masks' array in the _seg.npy")
    masks = np.squeeze(masks) if masks.ndim == 3 and masks.shape[0] == 1 else masks
    if masks.ndim not in (2, 3) or masks.dtype.kind not in "uib":
        raise SegFileError(f"{name}: 'masks' must be integer labels (Ly, Lx) or (Lz, Ly, Lx), "
                           f"got {masks.dtype} {masks.shape}")
    if masks.size and (masks.min() < 0 or masks.max() > np.iinfo(np.int32).max):
        raise SegFileError(f"{name}: 'masks' holds labels outside 0..2**31-1")
    seg = SegFile(masks=masks.astype(np.int32))
    flows = d.get("flows")
    if isinstance(flows, (list, tuple)) and len(flows) > 4 and isinstance(flows[4], np.ndarray):
        stacked = np.asarray(flows[4], dtype=np.float32)
        n = masks.ndim
        if stacked.shape == (n + 1,) + masks.shape and np.isfinite(stacked).all():
            seg.dP, seg.cellprob = stacked[:n], stacked[n]
    diameter = d.get("diameter")
    try:
        diameter = float(diameter)
        seg.diameter = diameter if np.isfinite(diameter) and diameter > 0 else None
    except (TypeError, ValueError):
        seg.diameter = None
    chan = d.get("chan_choose")
    try:
        c0, c1 = (int(c) for c in chan)
        seg.channels = (c0, c1)
    except (TypeError, ValueError):
        seg.channels = None
    manual = d.get("ismanual")
    if isinstance(manual, np.ndarray) and manual.ndim == 1:
        seg.ismanual = manual.astype(bool)
    if isinstance(d.get("filename"), str):
        seg.filename = d["filename"]
    return seg
