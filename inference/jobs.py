"""Creating and cancelling segmentation jobs.

A job is created queued (its images as ``JobItem`` rows) and handed to the runner after commit
(inference.recovery); a user with JOB_MAX_ACTIVE_PER_USER active jobs is answered 429. The worker
that runs jobs is inference.job_run.
"""
from django.conf import settings
from django.contrib.auth import get_user_model
from django.db import transaction
from django.utils import timezone

from annotations import display
from annotations.models import Image
from annotations.slides import is_tiled
from cellposeweb import work
from cellposeweb.exceptions import ApplicationError, ConflictError, TooManyRequestsError
from cellposeweb.limits import check_segmentation_cost
from inference.events import job_event_send_on_commit
from inference.model_versions import model_use_checks
from inference.models import ACTIVE_STATUSES, JobItem, JobStatus, SegmentationJob
from inference.options import clean_segmentation_options
from inference.recovery import SEGMENTATION, blocks_stop, enqueue_segmentation
from inference.selectors import model_version_current
from inference.tiled_jobs import tiled_block_shape


def _check_image_options(image: Image, options: dict, *, diam_mean: float) -> None:
    for which, k in zip(("cyto", "nucleus"), options["channels"]):
        if k > image.n_channels:
            raise ApplicationError(
                f"channels: {which} channel {k} does not exist in {image.name}, which has "
                f"{image.n_channels} channel(s)."
            )
    if options["do_3d"] and not image.is_3d:
        raise ApplicationError(f"do_3d: {image.name} is a 2D image; 3D segmentation needs a stack (Z, Y, X).")
    do_3d = image.is_3d if options["do_3d"] is None else options["do_3d"]
    spatial = display.spatial_shape(image.shape, image.axes)
    if is_tiled(image):  # segmented block by block: the network's input is one padded block
        if image.is_3d and options["do_3d"] is False:
            raise ApplicationError(f"do_3d: {image.name} is a large tiled stack; it is segmented in 3D only.")
        spatial = tiled_block_shape(image, diameter=options["diameter"], diam_mean=diam_mean,
                                    augment=options["augment"], tile_overlap=options["tile_overlap"])
    check_segmentation_cost(name=image.name, spatial_shape=spatial, diameter=options["diameter"],
                            diam_mean=diam_mean, anisotropy=options["anisotropy"], do_3d=do_3d)


def _check_active_jobs(owner) -> None:
    """Back-pressure: 429 once ``owner`` has JOB_MAX_ACTIVE_PER_USER jobs queued or running. The
    owner's row is locked first, so parallel requests cannot both slip under the limit."""
    limit = settings.JOB_MAX_ACTIVE_PER_USER
    if not limit:
        return
    get_user_model().objects.select_for_update().filter(pk=owner.pk).first()
    active = SegmentationJob.objects.filter(owner=owner, status__in=ACTIVE_STATUSES).count()
    if active >= limit:
        raise TooManyRequestsError(
            f"You have {active} jobs queued or running, the most one user may have at once; wait for some "
            "to finish (or cancel some) and try again.",
            retry_after=settings.JOB_RETRY_AFTER_S,
        )


@transaction.atomic
def segmentation_job_create(*, owner, images, options: dict | None = None) -> SegmentationJob:
    """A queued job segmenting ``images`` (one, or many as a batch) with ``options`` (see
    inference.options; the current model unless ``model_version`` is given). Starts after commit."""
    options = clean_segmentation_options(options)
    images = list({image.pk: image for image in images}.values())
    if not images:
        raise ApplicationError("images: choose at least one image to segment.")
    if len(images) > settings.JOB_MAX_IMAGES:
        raise ApplicationError(f"images: a job segments at most {settings.JOB_MAX_IMAGES} images; got {len(images)}.")
    _check_active_jobs(owner)
    model_version = options.pop("model_version") or model_version_current()
    if model_version is None:
        raise ConflictError(
            "No segmentation model is installed yet; an administrator must register one "
            "(python manage.py bootstrap)."
        )
    for check in model_use_checks():
        check(user=owner, model_version=model_version)
    for image in images:
        _check_image_options(image, options, diam_mean=model_version.diam_mean)
    job = SegmentationJob(owner=owner, model_version=model_version, params=options)
    job.full_clean()
    job.save()
    JobItem.objects.bulk_create(JobItem(job=job, image=image, position=i) for i, image in enumerate(images))
    enqueue_segmentation(job.pk)
    return job


@transaction.atomic
def segmentation_job_cancel(*, job: SegmentationJob) -> SegmentationJob:
    """Cancel a queued or running job; a running one stops at its next progress report."""
    changed = SegmentationJob.objects.filter(pk=job.pk, status__in=ACTIVE_STATUSES).update(
        status=JobStatus.CANCELLED, stage="cancelled", finished_at=timezone.now()
    )
    job.refresh_from_db()
    if changed != 1:
        raise ConflictError(f"Job {job.pk} has already {job.status}; only queued or running jobs can be cancelled.")
    JobItem.objects.filter(job=job, status__in=ACTIVE_STATUSES).update(status=JobStatus.CANCELLED)
    blocks_stop(job_id=job.pk)
    job_event_send_on_commit(job_id=job.pk, status=job.status, stage=job.stage, progress=job.progress)
    return job


def segmentation_jobs_fail_interrupted() -> int:
    """Mark jobs left running by a stopped process as failed (only for a single-process runner)."""
    return len(work.fail_interrupted(SEGMENTATION))


# -- running jobs ---------------------------------------------------------------------------------
