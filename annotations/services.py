"""Changing images and annotations. Every function is atomic and returns what it made."""
import hashlib
import re
import tempfile
import unicodedata
from pathlib import Path

import numpy as np
from django.conf import settings
from django.core.files import File
from django.core.files.base import ContentFile
from django.db import transaction
from django.db.models import Max
from django.template.defaultfilters import filesizeformat

from annotations import display
from annotations.files import delete_stored, npz_content
from annotations.models import Annotation, Image
from cellposeweb.exceptions import ApplicationError, ConflictError, PayloadTooLargeError
from inference.engine import io as engine_io

MAX_NAME_LENGTH = 200


def clean_filename(raw: str) -> str:
    """A safe file name from what a browser sent: no folders, control or shell characters."""
    name = unicodedata.normalize("NFKC", str(raw or "")).replace("\\", "/").rsplit("/", 1)[-1]
    name = "".join(ch for ch in name if unicodedata.category(ch)[0] != "C")
    name = re.sub(r"[^\w.\- ()+,]", "_", name).strip(" .")
    name = re.sub(r"\s+", " ", name)
    if len(name) > MAX_NAME_LENGTH:
        stem, dot, ext = name.rpartition(".")
        if dot and len(ext) <= 10:
            name = stem[: MAX_NAME_LENGTH - len(ext) - 1] + dot + ext
        else:
            name = name[:MAX_NAME_LENGTH]
    return name or "image"


def _too_large(name: str) -> PayloadTooLargeError:
    limit = filesizeformat(settings.UPLOAD_MAX_BYTES).replace("\xa0", " ")
    return PayloadTooLargeError(f"{name} is larger than the upload limit of {limit}.")


def _receive(uploaded_file, *, name: str, path: Path) -> tuple[str, int]:
    """Copy the upload to ``path``, stopping at the byte limit; returns (sha256, size)."""
    digest, n_bytes = hashlib.sha256(), 0
    with open(path, "wb") as out:
        for chunk in uploaded_file.chunks():
            n_bytes += len(chunk)
            if n_bytes > settings.UPLOAD_MAX_BYTES:
                raise _too_large(name)
            digest.update(chunk)
            out.write(chunk)
    return digest.hexdigest(), n_bytes


def _read(path: Path, *, name: str):
    """(array, engine image_info) of a received file; ApplicationError says what is wrong."""
    try:
        array = engine_io.imread(path, max_pixels=settings.UPLOAD_MAX_PIXELS)
    except engine_io.ImageReadError as exc:
        raise ApplicationError(str(exc).replace(str(path), name)) from None
    except MemoryError:
        raise ApplicationError(f"{name}: too large to decode on this server.") from None
    info = engine_io.image_info(array)
    if info["axes"] not in display.SUPPORTED_AXES:
        raise ApplicationError(
            f"{name}: cannot tell the axes of an image of shape {tuple(array.shape)}; expected a 2D "
            "image (Y, X), with up to 4 channels (Y, X, C) or (C, Y, X), or a stack (Z, Y, X) or "
            "(Z, C, Y, X)."
        )
    return array, info


@transaction.atomic
def image_create(*, owner, uploaded_file) -> Image:
    """Store an uploaded image after reading it with the engine; raise with the reason if it can't.

    The content decides (TIFF, PNG or JPEG; not empty, corrupt, all-NaN, or larger than
    UPLOAD_MAX_BYTES / UPLOAD_MAX_PIXELS — pixels checked from the header before decoding).
    Nothing is stored unless everything succeeds.
    """
    name = clean_filename(uploaded_file.name)
    if uploaded_file.size is not None and uploaded_file.size > settings.UPLOAD_MAX_BYTES:
        raise _too_large(name)
    with tempfile.TemporaryDirectory(prefix="cellposeweb-upload-") as tmpdir:
        path = Path(tmpdir) / "upload"
        sha256, n_bytes = _receive(uploaded_file, name=name, path=path)
        array, info = _read(path, name=name)
        thumb = display.png_bytes(display.thumbnail(array, info["axes"], size=settings.THUMBNAIL_SIZE))
        image = Image(
            owner=owner,
            name=name,
            shape=list(info["shape"]),
            dtype=info["dtype"],
            axes=info["axes"],
            is_3d="Z" in info["axes"],
            n_channels=info["channels"],
            size_bytes=n_bytes,
            sha256=sha256,
        )
        stored = []
        try:
            with open(path, "rb") as fh:
                image.file.save(name, File(fh), save=False)
            stored.append(image.file.name)
            image.thumbnail.save("thumbnail.png", ContentFile(thumb), save=False)
            stored.append(image.thumbnail.name)
            image.full_clean()
            image.save()
        except BaseException:
            delete_stored(stored)
            raise
    return image


@transaction.atomic
def image_delete(*, image: Image) -> None:
    """Delete an image, its annotations and job results, and (after commit) their files.

    Refused while a queued or running job is segmenting it.
    """
    from inference.models import ACTIVE_STATUSES, JobItem

    active = JobItem.objects.filter(image=image, job__status__in=ACTIVE_STATUSES).values_list("job_id", flat=True)
    if active:
        raise ConflictError(
            f"{image.name} is being segmented (job {active[0]}); cancel the job or wait for it to "
            "finish before deleting the image."
        )
    names = [image.file.name, image.thumbnail.name]
    names += list(image.annotations.values_list("masks", flat=True))
    for masks, flows in JobItem.objects.filter(image=image).values_list("masks", "flows"):
        names += [masks, flows]
    image.delete()
    transaction.on_commit(lambda: delete_stored(names))


def _renumber(masks: np.ndarray, ismanual) -> tuple[np.ndarray, np.ndarray]:
    """Labels made consecutive (1..N, in order of their old values); ismanual follows its labels."""
    labels, inverse = np.unique(masks, return_inverse=True)
    has_background = labels.size > 0 and labels[0] == 0
    new = inverse.reshape(masks.shape).astype(np.int32)
    if not has_background:
        new += 1
    old_labels = labels[1:] if has_background else labels
    n = old_labels.size
    if ismanual is None:
        flags = np.zeros(n, dtype=bool)
    else:
        given = np.asarray(ismanual, dtype=bool).ravel()
        # ismanual[k - 1] belongs to old label k; labels beyond the list count as not manual.
        idx = old_labels.astype(np.int64) - 1
        flags = np.zeros(n, dtype=bool)
        inside = idx < given.size
        flags[inside] = given[idx[inside]]
    return new, flags


def _summary(masks: np.ndarray) -> dict:
    areas = np.bincount(masks.ravel())[1:]
    areas = areas[areas > 0]
    if areas.size == 0:
        return {"n_masks": 0}
    key = "volume_median" if masks.ndim == 3 else "area_median"
    return {"n_masks": int(areas.size), key: float(np.median(areas)), "area_total": int(areas.sum())}


@transaction.atomic
def annotation_create(
    *,
    image: Image,
    masks: np.ndarray,
    source: str,
    created_by=None,
    job=None,
    ismanual=None,
    summary: dict | None = None,
) -> Annotation:
    """Save ``masks`` as the image's next annotation version.

    masks : ndarray of integers, shape (Ly, Lx) or (Lz, Ly, Lx) matching the image; 0 = background.
        Saved renumbered to 1..N. ismanual : optional bools, ``ismanual[k - 1]`` for label k.
    """
    masks = np.asarray(masks)
    expected = display.spatial_shape(image.shape, image.axes)
    if masks.shape != expected:
        raise ApplicationError(f"Masks have shape {list(masks.shape)} but {image.name} needs {list(expected)}.")
    if masks.dtype.kind not in "iu" or (masks.size and masks.min() < 0):
        raise ApplicationError("Masks must be non-negative integer labels (0 = background).")
    masks, flags = _renumber(masks, ismanual)
    Image.objects.select_for_update().filter(pk=image.pk).first()
    version = (image.annotations.aggregate(v=Max("version"))["v"] or 0) + 1
    annotation = Annotation(
        image=image,
        version=version,
        source=source,
        created_by=created_by,
        job=job,
        n_masks=int(flags.size),
        summary={**_summary(masks), **(summary or {})},
    )
    annotation.masks.save("masks.npz", npz_content(masks=masks, ismanual=flags), save=False)
    try:
        annotation.full_clean()
        annotation.save()
    except BaseException:
        delete_stored([annotation.masks.name])
        raise
    return annotation
