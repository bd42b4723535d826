"""Community rules a curator or administrator could otherwise break by accident.

Each rule is one function, called by the service it guards (community.services,
inference.model_versions), raising an ApplicationError subclass that says what to do instead.
"""
import numpy as np
from django.conf import settings

from cellposeweb.exceptions import ApplicationError, ConflictError


class ForbiddenError(ApplicationError):
    status_code = 403


OPEN_STATUSES = ("submitted", "changes", "approved")  # every status but rejected


def check_not_own_contribution(*, contribution, reviewer) -> None:
    """Nobody reviews their own contribution (another curator must)."""
    if contribution.contributor_id == reviewer.pk:
        raise ForbiddenError("You cannot review your own contribution; another curator must review it.")


def check_no_open_contribution(*, image, annotation_version: int) -> None:
    """One contribution per image version unless the earlier one was rejected."""
    from community.models import Contribution

    earlier = (Contribution.objects.filter(image=image, annotation_version=annotation_version,
                                           status__in=OPEN_STATUSES).order_by("id").first())
    if earlier is not None:
        raise ConflictError(
            f"Version {annotation_version} of {image.name} is already contribution {earlier.pk} "
            f"({earlier.get_status_display()}); edit the masks and save a new version to contribute again."
        )


def check_minimum_quality(*, masks: np.ndarray, name: str) -> None:
    """Masks worth a review: at least one, and the median mask at least CONTRIBUTION_MIN_MASK_PIXELS
    pixels (a few cells cut at the image border may be smaller; one-pixel junk is not)."""
    areas = np.bincount(np.asarray(masks).ravel())[1:]
    areas = areas[areas > 0]
    smallest = int(settings.CONTRIBUTION_MIN_MASK_PIXELS)
    if areas.size == 0:
        raise ApplicationError(f"{name} has no masks to contribute.")
    median = float(np.median(areas))
    if median < smallest:
        raise ApplicationError(
            f"{name}: its masks are {median:g} pixels in area at the median, less than the {smallest} pixels a "
            "contribution needs; draw the cells' outlines before contributing."
        )


def rollback_target(model_version):
    """The version a roll-back of ``model_version`` restores: the one its latest release replaced
    (a roll-back is never undone by another roll-back), or None."""
    from community.models import Release, ReleaseAction

    last = (Release.objects.filter(model_version=model_version, action=ReleaseAction.RELEASE)
            .exclude(previous=None).select_related("previous").order_by("-created_at", "-id").first())
    return last.previous if last is not None else None


def released_model_version_ids() -> set[int]:
    """Versions that are or were the community model: current, released, or replaced by a release."""
    from community.models import Release
    from inference.models import ModelVersion

    ids = set(ModelVersion.objects.filter(is_current=True).values_list("pk", flat=True))
    for released, previous in Release.objects.values_list("model_version_id", "previous_id"):
        ids.add(released)
        if previous is not None:
            ids.add(previous)
    return ids


def check_model_version_usable(*, user, model_version) -> None:
    """Segmenting with a version never released (a candidate, an import) is for administrators."""
    if user.is_staff or model_version.pk in released_model_version_ids():
        return
    raise ForbiddenError(f"{model_version} has not been released; only administrators can segment with it.")
