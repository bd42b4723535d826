"""Reading images and annotations, already filtered by who may see them (cellposeweb.access)."""
import numpy as np
from django.db.models import QuerySet
from django.http import Http404

from annotations.files import load_npz
from annotations.models import Annotation, Image
from cellposeweb.access import visible


def image_list(*, user, search: str = "") -> QuerySet[Image]:
    images = visible(Image.objects.all(), user=user)
    if search:
        images = images.filter(name__icontains=search)
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


def annotation_arrays(annotation: Annotation) -> tuple[np.ndarray, np.ndarray]:
    """(masks int32 (Ly, Lx) or (Lz, Ly, Lx), ismanual bool (n_masks,)) of a saved annotation."""
    data = load_npz(annotation.masks)
    return data["masks"].astype(np.int32, copy=False), data.get("ismanual", np.zeros(annotation.n_masks, bool))
