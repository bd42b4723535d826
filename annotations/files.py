"""Moving arrays and uploads between the engine (numpy, local paths) and Django storage."""
import contextlib
import hashlib
import io
import os
import shutil
import tempfile
from pathlib import Path

import numpy as np
from django.core.files.base import ContentFile
from django.core.files.storage import default_storage


@contextlib.contextmanager
def local_path(field_file, suffix=""):
    """A local filesystem path holding the stored file (a temporary copy for remote storage)."""
    try:
        path = field_file.path
    except NotImplementedError:  # remote storage (S3): copy it down
        path = None
    if path is not None:
        yield Path(path)
        return
    fd, tmp = tempfile.mkstemp(suffix=suffix or Path(field_file.name).suffix)
    try:
        with os.fdopen(fd, "wb") as out, field_file.storage.open(field_file.name, "rb") as src:
            shutil.copyfileobj(src, out, length=1024 * 1024)
        yield Path(tmp)
    finally:
        os.unlink(tmp)


def npz_bytes(*, compressed: bool = True, **arrays) -> bytes:
    """The arrays as an ``.npz`` file; ``compressed=False`` stores them as they are (for float
    arrays such as flows, which deflate shrinks by a few per cent at ~50x the time)."""
    buf = io.BytesIO()
    (np.savez_compressed if compressed else np.savez)(buf, **arrays)
    return buf.getvalue()


def npz_content(*, compressed: bool = True, **arrays) -> ContentFile:
    return ContentFile(npz_bytes(compressed=compressed, **arrays))


def load_npz(field_file) -> dict:
    """The arrays of a stored ``.npz`` file, fully loaded (no pickles)."""
    return load_stored_npz(field_file.name, storage=field_file.storage)


def load_stored_npz(name: str, storage=None) -> dict:
    """The arrays of the ``.npz`` file stored as ``name`` (default storage), fully loaded (no pickles)."""
    with (storage or default_storage).open(name, "rb") as fh:
        with np.load(io.BytesIO(fh.read()), allow_pickle=False) as data:
            return {key: data[key] for key in data.files}


def delete_stored(names) -> None:
    """Delete stored files by name, ignoring ones already gone (used after commit)."""
    for name in names:
        if name:
            try:
                default_storage.delete(name)
            except FileNotFoundError:
                pass


def file_sha256(path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as fh:
        for block in iter(lambda: fh.read(1024 * 1024), b""):
            digest.update(block)
    return digest.hexdigest()


def stored_image_pixel_limit(shape) -> int:
    """The one pixel limit for reading a stored image: UPLOAD_MAX_PIXELS, or the image's own
    number of values when it is larger (it was accepted when it came in, maybe under a larger
    limit, and must stay readable)."""
    from django.conf import settings

    return max(settings.UPLOAD_MAX_PIXELS, int(np.prod([int(n) for n in shape], dtype=np.int64)) if shape else 0)


def stored_image_read(field_file, *, shape, name: str | None = None) -> np.ndarray:
    """The pixels of a stored image (an upload, or a contribution's copy of one) as the engine
    reads them; ``shape`` is the shape recorded when it was stored. Every reader of stored images
    goes through here. With ``name``, an unreadable file raises ImageReadError naming ``name``
    instead of the local path."""
    from inference.engine import ImageReadError, imread

    with local_path(field_file) as path:
        try:
            return imread(path, max_pixels=stored_image_pixel_limit(shape))
        except ImageReadError as exc:  # "<path>: <problem>" -> "<problem>"
            if name is None:
                raise
            message = str(exc).removeprefix(f"{path}: ")
            raise ImageReadError(message.replace(str(path), name)) from None
