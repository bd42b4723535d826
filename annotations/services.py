"""Changing images and annotations. Every function is atomic and returns what it made."""
import hashlib
import re
import tempfile
import unicodedata
from pathlib import Path

import numpy as np
from django.conf import settings
from django.db import IntegrityError, transaction
from django.db.models import Max
from django.template.defaultfilters import filesizeformat

from annotations import display, slides
from annotations.changes import MaskChanges, compare_masks, renumber
from annotations.files import delete_stored, npz_content
from annotations.tiled_masks import refuse_tiled_image
from annotations.ingest import image_ingest
from cellposeweb.work import ACTIVE_STATUSES
from annotations.models import Annotation, Image, MaskOrigin
from cellposeweb.exceptions import ApplicationError, ConflictError, NotFoundError, PayloadTooLargeError

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


def uploaded_file_receive(uploaded_file, *, name: str, path: Path) -> tuple[str, int]:
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


def image_create(*, owner, uploaded_file, axes: str | None = None) -> Image:
    """Store an uploaded image after reading it; raise with the reason if it can't.

    The content decides (TIFF, PNG or JPEG; not empty, corrupt, all-NaN, or larger than
    UPLOAD_MAX_BYTES / UPLOAD_MAX_PIXELS — pixels checked from the header before decoding; a
    large image is stored tiled, annotations.ingest). Nothing is stored unless everything succeeds.
    """
    name = clean_filename(uploaded_file.name)
    if uploaded_file.size is not None and uploaded_file.size > settings.UPLOAD_MAX_BYTES:
        raise _too_large(name)
    with tempfile.TemporaryDirectory(prefix="cellposeweb-upload-") as tmpdir:
        path = Path(tmpdir) / "upload"
        sha256, n_bytes = uploaded_file_receive(uploaded_file, name=name, path=path)
        return image_ingest(owner=owner, name=name, path=path, sha256=sha256, n_bytes=n_bytes, axes=axes)


@transaction.atomic
def image_delete(*, image: Image) -> None:
    """Delete an image, its annotations and job results, and (after commit) their files.

    Refused while a queued or running job is segmenting it.
    """
    active = image.job_items.filter(job__status__in=ACTIVE_STATUSES).values_list("job_id", flat=True)
    if active:
        raise ConflictError(
            f"{image.name} is being segmented (job {active[0]}); cancel the job or wait for it to "
            "finish before deleting the image."
        )
    names = [image.file.name, image.thumbnail.name]
    names += list(image.annotations.values_list("masks", flat=True))
    names += list(image.annotations.values_list("cells", flat=True))
    names += list(image.job_items.values_list("flows", flat=True))
    tiled_id = image.pk if slides.is_tiled(image) else None
    image.delete()
    transaction.on_commit(lambda: delete_stored(names))
    if tiled_id is not None:
        transaction.on_commit(lambda: slides.delete_pixels(tiled_id))


def _summary(masks: np.ndarray) -> dict:
    areas = np.bincount(masks.ravel())[1:]
    areas = areas[areas > 0]
    if areas.size == 0:
        return {"n_masks": 0}
    key = "volume_median" if masks.ndim == 3 else "area_median"
    return {"n_masks": int(areas.size), key: float(np.median(areas)), "area_total": int(areas.sum())}


ORIGIN_NAMES = {origin.label: origin.value for origin in MaskOrigin}


def _given_origins(origins, ismanual) -> list | None:
    """The client's origin of each of its labels (index k - 1 for label k; None = not given)."""
    if origins is not None:
        unknown = sorted({o for o in origins if o is not None and o not in ORIGIN_NAMES})
        if unknown:
            raise ApplicationError(f"origins must be one of {', '.join(ORIGIN_NAMES)} (or null); got {str(unknown[0])[:40]!r}.")
        return [None if o is None else ORIGIN_NAMES[o] for o in origins]
    if ismanual is not None:  # the Cellpose GUI's flags: True = drawn by hand, False = the model's
        return [MaskOrigin.MANUAL if flag else MaskOrigin.MODEL for flag in ismanual]
    return None


def _origins(*, changes: MaskChanges, base_origins, source: str, given, old_labels) -> np.ndarray:
    """uint8 MaskOrigin of each saved label 1..N (entry k - 1 for label k).

    Given origins win; otherwise a model run's masks are "model", and a person's save keeps each
    unchanged mask's origin, marks a model mask they changed "edited" and a new one "manual".
    """
    n = old_labels.size
    if source == Annotation.Source.MODEL:
        inferred = np.full(n, MaskOrigin.MODEL, np.uint8)
    else:
        match = changes.match[1 : n + 1]
        same = changes.same[1 : n + 1]
        base = np.zeros(changes.match.max(initial=0) + 1, np.uint8)
        if base_origins is not None and base_origins.size:
            k = min(base.size - 1, base_origins.size)
            base[1 : k + 1] = base_origins[:k]
        from_base = base[match]
        inferred = np.where(
            match == 0,
            MaskOrigin.MANUAL,
            np.where(same | (from_base != MaskOrigin.MODEL), from_base, MaskOrigin.EDITED),
        ).astype(np.uint8)
    if given:
        for new_index, old_label in enumerate(old_labels.tolist()):
            if 0 < old_label <= len(given) and given[old_label - 1] is not None:
                inferred[new_index] = given[old_label - 1]
    return inferred


def _checked_masks(image: Image, masks) -> np.ndarray:
    refuse_tiled_image(image, what="a save")
    masks = np.asarray(masks)
    expected = display.spatial_shape(image.shape, image.axes)
    if masks.shape != expected:
        raise ApplicationError(f"Masks have shape {list(masks.shape)} but {image.name} needs {list(expected)}.")
    if masks.dtype.kind not in "iu" or (masks.size and masks.min() < 0):
        raise ApplicationError("Masks must be non-negative integer labels (0 = background).")
    return masks


class StaleVersionError(ConflictError):
    """A save based on a version that is no longer the latest (HTTP 409)."""

    def __init__(self, *, image: Image, base_version, current_version):
        based = f"version {base_version}" if base_version else "no saved version"
        super().__init__(
            f"{image.name} has a newer version ({current_version}, saved elsewhere) than the one these "
            f"edits started from ({based}): reload it, or save yours on top."
        )
        self.base_version = base_version
        self.current_version = current_version


CREATE_ATTEMPTS = 3


def _latest_version(image: Image) -> int:
    return image.annotations.aggregate(v=Max("version"))["v"] or 0


def _store(
    *,
    image: Image,
    masks: np.ndarray,
    origins: np.ndarray,
    changes: dict,
    source: str,
    base_version: int | None,
    expected_latest: int,
    created_by=None,
    job=None,
    restored_from: int | None = None,
    summary: dict | None = None,
) -> Annotation:
    """Write the file, then add the row in one transaction; the file is deleted if the row is not.

    The save is conditional: it is refused (StaleVersionError) unless ``expected_latest`` (0 for
    none) is still the latest version once the image row is locked; the unique (image, version)
    constraint refuses whichever of two racing saves commits second where locks are not enough.
    """
    annotation = _prepare(
        image=image, masks=masks, origins=origins, changes=changes, source=source, base_version=base_version,
        expected_latest=expected_latest, created_by=created_by, job=job, restored_from=restored_from,
        summary=summary,
    )
    try:
        annotation_prepared_save(annotation)
    except BaseException:
        annotation_prepared_discard(annotation)
        raise
    return annotation


def _prepare(*, image, masks, origins, changes, source, base_version, expected_latest, created_by=None, job=None,
             restored_from=None, summary=None) -> Annotation:
    """The unsaved next version with its masks file written (storage I/O, no lock held)."""
    guess = expected_latest + 1
    annotation = Annotation(
        image=image,
        version=guess,
        source=source,
        created_by=created_by,
        job=job,
        n_masks=int(origins.size),
        base_version=base_version,
        restored_from=restored_from,
        changes=changes,
        summary={**_summary(masks), **(summary or {})},
    )
    annotation.masks.save(
        "masks.npz", npz_content(masks=masks, origins=origins, ismanual=origins != MaskOrigin.MODEL), save=False
    )
    annotation._expected_latest = expected_latest
    return annotation


def annotation_prepared_save(annotation: Annotation) -> Annotation:
    """Add the row of a prepared version (``annotation_prepare``): a short transaction that locks
    the image row, checks that the version it was computed against is still the latest
    (StaleVersionError otherwise) and inserts. No storage I/O happens here, so callers may run it
    inside their own transaction and row locks."""
    image, expected_latest = annotation.image, annotation._expected_latest
    with transaction.atomic():
        Image.objects.select_for_update().filter(pk=image.pk).first()
        latest = _latest_version(image)
        if latest != expected_latest:
            raise StaleVersionError(image=image, base_version=expected_latest, current_version=latest)
        annotation.version = latest + 1
        annotation.full_clean(validate_constraints=False)  # the database decides (image, version)
        try:
            with transaction.atomic():
                annotation.save()
        except IntegrityError:
            raise StaleVersionError(
                image=image, base_version=expected_latest, current_version=_latest_version(image)
            ) from None
    return annotation


def annotation_prepared_discard(annotation: Annotation) -> None:
    """Delete the files of a prepared version whose row was not saved."""
    delete_stored([annotation.masks.name, annotation.cells.name])


def _base_arrays(image: Image, version: int | None):
    """(masks, origins) of ``version`` of the image's annotation; (None, None) for no version."""
    from annotations.selectors import annotation_get, annotation_load

    if not version:
        return None, None
    base = annotation_get(image=image, version=version)
    if base is None:
        return None, None
    return annotation_load(base)


def annotation_create(
    *,
    image: Image,
    masks: np.ndarray,
    source: str,
    created_by=None,
    job=None,
    ismanual=None,
    summary: dict | None = None,
    then=None,
) -> Annotation:
    """Save ``masks`` as the image's next annotation version, on top of whatever is latest
    (a model run, a re-threshold). Editors save with :func:`annotation_save` instead.

    masks : ndarray of integers, shape (Ly, Lx) or (Lz, Ly, Lx) matching the image; 0 = background.
        Saved renumbered to 1..N. ismanual : optional bools, ``ismanual[k - 1]`` for label k.
    then : optional ``then()``, run in the same transaction just before the row is added (a job
        marks its item done there); if it raises, no version is added.

    Storage is read and written outside any row lock: the version is computed against the latest
    one read without a lock and its file written first; only the insert locks the image row, and
    if another version was saved meanwhile it starts over (at most CREATE_ATTEMPTS times).
    """
    for attempt in range(CREATE_ATTEMPTS):
        annotation = annotation_prepare(image=image, masks=masks, source=source, created_by=created_by, job=job,
                                        ismanual=ismanual, summary=summary)
        try:
            with transaction.atomic():
                if then is not None:
                    then()
                return annotation_prepared_save(annotation)
        except StaleVersionError:  # someone saved meanwhile: compute against the new latest
            annotation_prepared_discard(annotation)
            if attempt == CREATE_ATTEMPTS - 1:
                raise
        except BaseException:
            annotation_prepared_discard(annotation)
            raise


def annotation_prepare(
    *,
    image: Image,
    masks: np.ndarray,
    source: str,
    created_by=None,
    job=None,
    ismanual=None,
    summary: dict | None = None,
) -> Annotation:
    """The first half of :func:`annotation_create`, for callers that add the row inside their own
    transaction (a job saves an image's result and its masks together): compare ``masks`` with
    the latest version, read without a lock, and write the new version's file. Returns the
    unsaved version; save it with :func:`annotation_prepared_save` (or drop it with
    :func:`annotation_prepared_discard`)."""
    masks, old_labels = renumber(_checked_masks(image, masks))
    latest = _latest_version(image)
    base_masks, base_origins = _base_arrays(image, latest)
    changes = compare_masks(base_masks, masks)
    origins = _origins(
        changes=changes, base_origins=base_origins, source=source, given=_given_origins(None, ismanual),
        old_labels=old_labels,
    )
    return _prepare(
        image=image, masks=masks, origins=origins, changes=changes.summary(), source=source,
        base_version=latest or None, expected_latest=latest, created_by=created_by, job=job, summary=summary,
    )


def annotation_save(
    *,
    image: Image,
    base_version: int | None,
    masks: np.ndarray,
    created_by,
    origins: list | None = None,
    ismanual: list | None = None,
) -> Annotation:
    """Save a person's edit of version ``base_version`` as the next version, unless someone saved
    another version since (StaleVersionError, HTTP 409: nothing is stored).

    masks : ndarray of integers, shape (Ly, Lx) or (Lz, Ly, Lx) matching the image; 0 = background;
        any labels (saved renumbered 1..N in the order of these labels).
    base_version : the version the edit started from; None or 0 when the image had none.
    origins : optional "model" / "manual" / "edited" (or None) for label k at index k - 1;
        labels without one get theirs from the comparison with the base version (a new mask is
        "manual", a changed model mask "edited", an unchanged one keeps its origin).
    ismanual : the Cellpose GUI's flags instead of origins (True = "manual", False = "model").

    A save that changes nothing (the base's masks and origins) stores no version and returns the
    base, still refused with StaleVersionError when the base is no longer the latest.

    Only the final insert runs in the transaction (``_store``: the version check, the row, with
    the image row locked): decoding, renumbering and comparing a 2048 x 2048 annotation take a
    few hundred milliseconds that other writers need not wait for. The file is deleted if the
    row is not stored.
    """
    masks, old_labels = renumber(_checked_masks(image, masks))
    base_version = base_version or 0
    base_masks, base_origins = _base_arrays(image, base_version)
    if base_version and base_masks is None:
        current = _latest_version(image)
        raise StaleVersionError(image=image, base_version=base_version, current_version=current)
    changes = compare_masks(base_masks, masks)
    flags = _origins(
        changes=changes, base_origins=base_origins, source=Annotation.Source.MANUAL,
        given=_given_origins(origins, ismanual), old_labels=old_labels,
    )
    if base_version and np.array_equal(masks, base_masks) and np.array_equal(flags, base_origins):
        # Nothing changed: no new version piles up; the base is the answer while it is the latest.
        if _latest_version(image) != base_version:
            raise StaleVersionError(image=image, base_version=base_version, current_version=_latest_version(image))
        return image.annotations.get(version=base_version)
    return _store(
        image=image, masks=masks, origins=flags, changes=changes.summary(), source=Annotation.Source.MANUAL,
        base_version=base_version or None, expected_latest=base_version, created_by=created_by,
    )


def annotation_restore(*, image: Image, version: int, created_by, base_version: int | None = None) -> Annotation:
    """Make the masks of an older ``version`` the latest again, as a new version (history is kept).

    base_version : when given, the restore is refused (StaleVersionError) unless it is still the
    latest version, as for a save.
    """
    from annotations.selectors import annotation_get, annotation_load

    old = annotation_get(image=image, version=version)
    if old is None:
        raise NotFoundError(f"{image.name} has no annotation version {version}.")
    masks, origins = annotation_load(old)
    latest = base_version if base_version is not None else _latest_version(image)
    base_masks, _ = _base_arrays(image, latest)
    changes = compare_masks(base_masks, masks)
    return _store(
        image=image, masks=masks, origins=origins, changes=changes.summary(), source=Annotation.Source.RESTORED,
        base_version=latest or None, expected_latest=latest, created_by=created_by, restored_from=version,
    )
