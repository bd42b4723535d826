"""Bringing existing annotations onto an image: a Cellpose ``_seg.npy``, a label TIFF/PNG, an
ImageJ ROI zip, GeoJSON (QuPath) or COCO file becomes the image's next mask version, with
provenance "imported", so people can correct and contribute masks made elsewhere.

The engine reads the file (``inference.engine.annotation_import``); its AnnotationImportError
message is what the person sees (HTTP 400). Like a segmentation, an import goes on top of the
latest version; an import that changes nothing is refused instead of piling up a version.
"""
import os

from annotations import display
from annotations.changes import compare_masks
from annotations.models import Annotation, Image
from annotations.selectors import annotation_get, annotation_load
from annotations.services import annotation_create
from annotations.tiled_masks import refuse_tiled_image
from cellposeweb.exceptions import ApplicationError, ConflictError, PayloadTooLargeError
from inference.engine import MAX_ZIP_BYTES, AnnotationImportError, read_annotations

#: Largest file accepted (the engine's own limit on a zip of ROIs).
MAX_IMPORT_BYTES = MAX_ZIP_BYTES


def annotation_import(*, image: Image, file, created_by) -> Annotation:
    """Read ``file`` (an uploaded file: ``.name``, ``.size``, readable) as masks of ``image`` and
    save them as its next version (source "imported"; masks unchanged from the latest version
    keep their origin, the others are "manual").

    Raises ApplicationError (400) with the engine's reason for a file it cannot read,
    PayloadTooLargeError (413) above MAX_IMPORT_BYTES, ConflictError (409) when the masks are
    those of the latest version already.
    """
    refuse_tiled_image(image, what="an import")
    name = os.path.basename(getattr(file, "name", "") or "annotations")
    if (getattr(file, "size", 0) or 0) > MAX_IMPORT_BYTES:
        raise PayloadTooLargeError(f"{name} is larger than {MAX_IMPORT_BYTES // 2**20} MiB.")
    shape = tuple(display.spatial_shape(image.shape, image.axes))
    try:
        labels = read_annotations(file, shape)
    except AnnotationImportError as exc:
        raise ApplicationError(str(exc)) from None
    latest = annotation_get(image=image)
    if latest is not None:
        old, _ = annotation_load(latest)
        changes = compare_masks(old, labels).summary()
        if changes["added"] == changes["removed"] == changes["edited"] == 0:
            raise ConflictError(f"{name} holds the masks of version {latest.version} already; nothing was saved.")
    return annotation_create(
        image=image, masks=labels, source=Annotation.Source.IMPORTED, created_by=created_by,
        summary={"imported_from": name},
    )
