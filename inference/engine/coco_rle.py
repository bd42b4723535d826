"""COCO run-length encoded masks (``segmentation`` {"size": [h, w], "counts": ...}) decoded.

Runs go down the columns (Fortran order) and alternate background, object, background, ...,
starting with background. ``counts`` is a list of run lengths, or COCO's compressed string: each
count in 5-bit groups (character code - 48; 0x20 = more groups follow; 0x10 in the last group =
negative), every count after the second stored as its difference from the count two before.
"""

from __future__ import annotations

import numpy as np

__all__ = ["decode_rle"]


def decode_rle(segmentation: dict, shape: tuple[int, int]) -> np.ndarray:
    """The mask of an RLE segmentation for an image of the given shape.

    Parameters
    ----------
    segmentation : dict
        {"size": [h, w], "counts": list of int or str}.
    shape : (Ly, Lx)

    Returns
    -------
    mask : ndarray of bool, shape (Ly, Lx)

    Raises
    ------
    ValueError
        For a size other than `shape`, malformed counts, or counts that do not cover the image.
    """
    size = segmentation.get("size")
    if not (isinstance(size, list) and [_as_int(v) for v in size] == list(shape)):
        raise ValueError(f"RLE size {size} does not match the {shape[0]} x {shape[1]} image")
    counts = segmentation.get("counts")
    n = shape[0] * shape[1]
    if isinstance(counts, str):
        if len(counts) > 8 * n + 16:  # more characters than any encoding of n pixels needs
            raise ValueError("RLE string too long for the image")
        counts = _string_counts(counts)
    if not isinstance(counts, list) or not all(_as_int(c) is not None and c >= 0
                                               for c in counts):
        raise ValueError("RLE counts must be non-negative integers")
    if sum(counts) != n:
        raise ValueError(f"RLE counts add up to {sum(counts)}, not {n} pixels")
    values = np.arange(len(counts)) % 2 == 1
    return np.repeat(values, counts).reshape(shape[1], shape[0]).T


def _as_int(v):
    return int(v) if isinstance(v, int) and not isinstance(v, bool) else None


def _string_counts(s: str) -> list[int]:
    """Counts of a compressed RLE string; [-1] when the string is malformed."""
    counts, i, n = [], 0, len(s)
    while i < n:
        value, shift, more = 0, 0, True
        while more:
            if i >= n:
                return [-1]
            c = ord(s[i]) - 48
            if not 0 <= c < 64:
                return [-1]
            value |= (c & 0x1F) << shift
            more = bool(c & 0x20)
            i += 1
            shift += 5
            if not more and c & 0x10:
                value -= 1 << shift
        if len(counts) > 2:
            value += counts[-2]
        counts.append(value)
    return counts
