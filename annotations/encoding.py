"""The compact JSON encoding of label images used by the API and the viewer.

``{"encoding": "zlib-base64", "dtype": "int32", "byteorder": "little", "shape": [Ly, Lx],
"data": "<base64 of the zlib-compressed little-endian int32 bytes, C order>"}``

In the browser: base64-decode, inflate with ``DecompressionStream("deflate")``, view as Int32Array
(frontend/src/codec.js).
"""
import base64
import zlib

import numpy as np

ENCODING = "zlib-base64"


def encode_labels(masks: np.ndarray) -> dict:
    """masks : ndarray of integers, shape (Ly, Lx) or (Lz, Ly, Lx); 0 = background."""
    data = np.ascontiguousarray(masks, dtype="<i4").tobytes()
    return {
        "encoding": ENCODING,
        "dtype": "int32",
        "byteorder": "little",
        "shape": [int(s) for s in masks.shape],
        "data": base64.b64encode(zlib.compress(data, 6)).decode("ascii"),
    }


def decode_labels(payload, *, expected_shape) -> np.ndarray:
    """Decode ``payload`` into int32 labels of ``expected_shape``; ValueError says what is wrong.

    Decompression stops at the expected size, so a small payload cannot expand into a huge one.
    """
    if not isinstance(payload, dict):
        raise ValueError("masks must be an object with encoding, dtype, shape and data.")
    if payload.get("encoding", ENCODING) != ENCODING:
        raise ValueError(f"masks.encoding must be {ENCODING!r}.")
    if payload.get("dtype", "int32") != "int32" or payload.get("byteorder", "little") != "little":
        raise ValueError("masks must be little-endian int32.")
    shape = payload.get("shape")
    expected_shape = tuple(int(s) for s in expected_shape)
    if not isinstance(shape, (list, tuple)) or tuple(shape) != expected_shape:
        raise ValueError(
            f"masks.shape must be {list(expected_shape)} (the image's planes, rows, columns); got {shape}."
        )
    try:
        compressed = base64.b64decode(payload.get("data", ""), validate=True)
    except (ValueError, TypeError):
        raise ValueError("masks.data is not valid base64.") from None
    n_bytes = 4 * int(np.prod(expected_shape))
    decompressor = zlib.decompressobj()
    try:
        raw = decompressor.decompress(compressed, n_bytes)
    except zlib.error:
        raise ValueError("masks.data is not zlib-compressed data.") from None
    if len(raw) != n_bytes or decompressor.unconsumed_tail or not decompressor.eof:
        raise ValueError(f"masks.data does not hold exactly {n_bytes} bytes of int32 labels.")
    labels = np.frombuffer(raw, dtype="<i4").reshape(expected_shape).astype(np.int32)
    if labels.size and labels.min() < 0:
        raise ValueError("masks hold negative labels; 0 is background, 1..N are cells.")
    return labels
