"""Registering a received image file: the service behind ``POST /api/images/`` and the chunked
upload's ``complete`` (annotations.uploads).

A file whose image has more than ``TILED_MIN_PIXELS`` pixels (Y x X x Z, from the header) is
*tiled*: read a band at a time into a multiscale OME-Zarr (annotations.slides), up to
``TILED_MAX_PIXELS`` values. Any other file takes the small-image path: decoded whole by the
engine, up to ``UPLOAD_MAX_PIXELS``. Either way the original file is kept, a thumbnail made and the
display levels (1st/99th percentile per channel, from a bounded subsample) recorded in
``Image.display``. The slow work (decoding, the pyramid) happens before the transaction that
registers the image: the original file and the thumbnail are stored before it, the row (and a tiled
image's pixels, whose storage folder is named by its id) inside it; nothing is half-registered.
``image_ingest`` runs either path in the caller; a web request hands a tiled file to the
background instead (annotations.upload_ingest), whose worker calls ``image_ingest_tiled``.
"""
import tempfile
from pathlib import Path

import numpy as np
import zarr
from django.conf import settings
from django.core.files import File
from django.core.files.base import ContentFile
from django.db import transaction
from PIL import Image as PILImage

from annotations import display, image_rules, slides
from annotations.files import delete_stored, stored_image_read
from annotations.models import Image
from annotations.sources import TIFF_MAGIC, open_source
from cellposeweb.exceptions import ApplicationError
from inference.engine import ImageReadError, image_info, imread

__all__ = ["image_display_levels", "image_ingest", "image_ingest_tiled", "is_tiled_file", "spatial_pixels"]


def _is_tiff(path: Path) -> bool:
    with open(path, "rb") as fh:
        return fh.read(4) in TIFF_MAGIC


def spatial_pixels(path: Path) -> int | None:
    """Y x X x Z of the image in the file at ``path``, read from its header; None when the header
    cannot tell (the small-image path then reads the file and says what is wrong)."""
    try:
        if _is_tiff(path):
            with open_source(path, max_pixels=2**63) as source:
                n_z, height, width, _ = source.shape
                return n_z * height * width
        with PILImage.open(path) as picture:
            width, height = picture.size
            return width * height
    except (ImageReadError, OSError, ValueError, PILImage.DecompressionBombError):
        return None


def _read_small(path: Path, *, name: str, axes: str | None):
    """(array, info) of a small image, as the engine reads it; ApplicationError says what is wrong.
    ``axes``: the uploader's, where the shape alone is ambiguous (annotations.image_rules)."""
    try:
        array = imread(path, max_pixels=settings.UPLOAD_MAX_PIXELS)
    except ImageReadError as exc:
        raise ApplicationError(str(exc).replace(str(path), name)) from None
    except MemoryError:
        raise ApplicationError(f"{name}: too large to decode on this server.") from None
    info = image_info(array)
    info["axes"] = image_rules.resolve_axes(array, info["axes"], axes, name=name)
    sizes = dict(zip(info["axes"], array.shape))
    info["channels"] = int(sizes.get("C", 1))
    image_rules.check_values(array, name=name)
    return array, info


def _register(image: Image, *, path: Path, thumb: bytes, pixels: Path | None, then=None) -> Image:
    """Save ``image`` with its original file, thumbnail and (tiled) pixels, or nothing at all.
    ``then(image)`` runs inside the same transaction once all is stored (a background ingest marks
    its upload done there); if it raises, nothing is kept.

    The original file and the thumbnail are stored before the transaction (no lock is held while
    they are copied). A tiled image's pixels are stored inside it: their storage folder is named
    by the row's id, and the image must not be visible without them."""
    stored = []
    try:
        with open(path, "rb") as fh:
            image.file.save(image.name, File(fh), save=False)
        stored.append(image.file.name)
        image.thumbnail.save("thumbnail.png", ContentFile(thumb), save=False)
        stored.append(image.thumbnail.name)
        with transaction.atomic():
            image.full_clean()
            image.save()
            if pixels is not None:
                slides.store_pixels(image, pixels)
            if then is not None:
                then(image)
    except BaseException:
        delete_stored(stored)
        if image.pk is not None and pixels is not None:
            slides.delete_pixels(image.pk)
        raise
    return image


def _ingest_small(*, owner, name: str, path: Path, sha256: str, n_bytes: int, axes: str | None) -> Image:
    array, info = _read_small(path, name=name, axes=axes)
    levels = display.display_levels_of(array, info["axes"])
    thumb = display.png_bytes(display.thumbnail(array, info["axes"], size=settings.THUMBNAIL_SIZE, levels=levels))
    image = Image(owner=owner, name=name, shape=list(info["shape"]), dtype=info["dtype"], axes=info["axes"],
                  is_3d="Z" in info["axes"], n_channels=info["channels"], size_bytes=n_bytes, sha256=sha256,
                  display={"channels": levels})
    return _register(image, path=path, thumb=thumb, pixels=None)


class _CheckedValues:
    """A BandSource that counts, as bands go by, what `image_rules.check_values` refuses."""

    def __init__(self, source):
        self._source = source
        self.shape, self.dtype, self.axes = source.shape, source.dtype, source.axes
        self.n_bad, self.largest = 0, 0.0

    def band(self, z, y0, y1):
        band = self._source.band(z, y0, y1)
        if band.dtype.kind == "f":
            finite = np.isfinite(band)
            self.n_bad += int(finite.size - np.count_nonzero(finite))
            if finite.any():
                self.largest = max(self.largest, float(np.abs(band[finite]).max()))
        return band


def image_ingest_tiled(*, owner, name: str, path: Path, sha256: str, n_bytes: int, progress=None,
                       then=None) -> Image:
    """Register the file at ``path`` as a tiled image (its pyramid built band by band), or raise
    ApplicationError with the reason, storing nothing.

    progress : ``progress(done, total)`` after each band and pyramid level (annotations.pyramid).
    then : ``then(image)``, run inside the registering transaction (see ``_register``).
    """
    limit = settings.TILED_MAX_PIXELS if _is_tiff(path) else settings.UPLOAD_MAX_PIXELS
    try:
        source = open_source(path, max_pixels=limit)
    except ImageReadError as exc:
        raise ApplicationError(f"{name}: {str(exc).replace(str(path), name)}") from None
    with source, tempfile.TemporaryDirectory(prefix="cellposeweb-pixels-") as tmp:
        folder = Path(tmp) / "pixels.zarr"
        checked = _CheckedValues(source)
        try:
            shown = slides.build_pixels(checked, folder, name=name, progress=progress)
        except (ImageReadError, ValueError, NotImplementedError) as exc:
            raise ApplicationError(f"{name}: cannot read the image: {exc}") from None
        image_rules.check_value_summary(n_bad=checked.n_bad, largest=checked.largest, name=name)
        smallest = zarr.open_array(zarr.DirectoryStore(str(folder)), path=str(len(shown["level_shapes"]) - 1), mode="r")
        thumb = display.png_bytes(display.thumbnail(smallest[...], source.axes, size=settings.THUMBNAIL_SIZE,
                                                    levels=shown["channels"]))
        image = Image(owner=owner, name=name, shape=list(shown["level_shapes"][0]), dtype=str(source.dtype),
                      axes=source.axes, is_3d="Z" in source.axes, n_channels=source.shape[-1], size_bytes=n_bytes,
                      sha256=sha256, tiled=True, display=shown)
        return _register(image, path=path, thumb=thumb, pixels=folder, then=then)


def is_tiled_file(path: Path) -> bool:
    """True when the image in the file at ``path`` takes the tiled path (TILED_MIN_PIXELS)."""
    n_pixels = spatial_pixels(path)
    return n_pixels is not None and slides.should_tile(n_pixels)


def image_ingest(*, owner, name: str, path: Path, sha256: str, n_bytes: int, axes: str | None = None) -> Image:
    """Register the received file at ``path`` as ``owner``'s image ``name`` (small or tiled, see
    the module docstring); raise ApplicationError with the reason if it can't be, storing nothing.

    axes : the uploader's axes for an ambiguous small image (a tiled image's come from its TIFF).
    """
    if is_tiled_file(path):
        return image_ingest_tiled(owner=owner, name=name, path=path, sha256=sha256, n_bytes=n_bytes)
    return _ingest_small(owner=owner, name=name, path=path, sha256=sha256, n_bytes=n_bytes, axes=axes)


def image_display_levels(*, image: Image) -> list:
    """The image's display levels ([lo, hi] per channel), computed from its file and kept on the
    row if it came in before they were recorded at ingest (a lazy fill, once per image)."""
    levels = (image.display or {}).get("channels")
    if levels:
        return levels
    array = stored_image_read(image.file, shape=image.shape, name=image.name)
    levels = display.display_levels_of(array, image.axes)
    image.display = {**(image.display or {}), "channels": levels}
    Image.objects.filter(pk=image.pk).update(display=image.display)
    return levels
