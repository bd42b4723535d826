"""Reading images and annotations, already filtered by who may see them (cellposeweb.access)."""
import numpy as np
from django.db.models import QuerySet
from django.http import Http404

from annotations.files import load_npz
from annotations.models import Annotation, Image, MaskOrigin, Upload
from annotations.tiled_masks import refuse_tiled
from cellposeweb.access import visible


def image_list(*, user, search: str = "", owner: str = "") -> QuerySet[Image]:
    """The images ``user`` may see (an administrator: everyone's), by name part and owner's username."""
    images = visible(Image.objects.all(), user=user)
    if search:
        images = images.filter(name__icontains=search)
    if owner:
        images = images.filter(owner__username=owner)
    return images


def image_get(*, user, image_id) -> Image:
    """The image, or Http404 when it does not exist or ``user`` may not see it."""
    try:
        return image_list(user=user).get(pk=image_id)
    except Image.DoesNotExist:
        raise Http404(f"Image {image_id} not found.") from None


def annotation_get(*, image: Image, version: int | None = None) -> Annotation | None:
    """The latest annotation of ``image`` (or the given version); None when there is none."""
    annotations = image.annotations.all()
    if version is not None:
        annotations = annotations.filter(version=version)
    return annotations.order_by("-version").first()


def annotation_versions(*, image: Image) -> QuerySet[Annotation]:
    """Every saved version of the image's annotation, newest first (who saved it comes along)."""
    return image.annotations.select_related("created_by").order_by("-version")


def annotation_load(annotation: Annotation) -> tuple[np.ndarray, np.ndarray]:
    """(masks, origins) of a saved annotation.

    masks : ndarray of int32, shape (Ly, Lx) or (Lz, Ly, Lx); 0 = background, 1..n_masks.
    origins : ndarray of uint8, shape (n_masks,): the MaskOrigin of label k at index k - 1.
    """
    refuse_tiled(annotation, what="reading the whole masks array")
    data = load_npz(annotation.masks)
    masks = data["masks"].astype(np.int32, copy=False)
    if "origins" in data:
        origins = data["origins"].astype(np.uint8, copy=False)
    else:  # saved before origins were kept: the GUI's flags
        flags = data.get("ismanual", np.zeros(annotation.n_masks, bool)).astype(bool)
        origins = np.where(flags, MaskOrigin.MANUAL, MaskOrigin.MODEL).astype(np.uint8)
    return masks, origins


def annotation_arrays(annotation: Annotation) -> tuple[np.ndarray, np.ndarray]:
    """(masks int32 (Ly, Lx) or (Lz, Ly, Lx), ismanual bool (n_masks,)) of a saved annotation:
    ismanual is True for masks a person drew or changed (the Cellpose GUI's flag)."""
    masks, origins = annotation_load(annotation)
    return masks, origins != MaskOrigin.MODEL


def upload_get(*, user, upload_id) -> Upload:
    """An open upload ``user`` may see (their own; an administrator: any), or Http404."""
    try:
        return visible(Upload.objects.select_related("owner"), user=user).get(pk=upload_id)
    except (Upload.DoesNotExist, ValueError):
        raise Http404(f"Upload {upload_id} not found.") from None
