"""Changing model versions and segmentation jobs.

Job rows are shared between request handlers and the worker, so every status change is a
compare-and-set (``filter(id=..., status=...).update(...)``, acting only when one row changed), and
every change a subscriber should see is followed by a websocket event sent on commit.

Reliability (docs/deploy.md, inference.recovery): a worker stamps ``heartbeat_at`` while it runs a
job; a job whose worker died is re-queued and resumes with the images not yet done. An image's
results become visible in one transaction, so a kill never leaves half of them. Workers take jobs in the fair order of
selectors.job_queue_fair, and a user with JOB_MAX_ACTIVE_PER_USER active jobs is answered 429.
"""
import logging
import time
from pathlib import Path

import numpy as np
from django.conf import settings
from django.contrib.auth import get_user_model
from django.core.files import File
from django.db import transaction
from django.db.models import Max
from django.utils import timezone

from annotations import display
from annotations.slides import is_tiled
from annotations.files import delete_stored, file_sha256, load_npz, npz_content, stored_image_read
from annotations.models import Annotation, Image
from annotations.services import (
    CREATE_ATTEMPTS,
    StaleVersionError,
    annotation_create,
    annotation_prepare,
    annotation_prepared_discard,
    annotation_prepared_save,
)
from cellposeweb import work
from cellposeweb.exceptions import ApplicationError, ConflictError, TooManyRequestsError, unavailable_service
from cellposeweb.limits import check_segmentation_cost, cost_limits
from inference.engine import CellposeModel, ImageReadError, recompute_masks
from inference.events import job_event_send_on_commit
from inference.failures import MAX_ERROR_LENGTH, JobCancelled, describe
from inference.loading import model_load
from inference.models import ACTIVE_STATUSES, JobItem, JobStatus, ModelVersion, SegmentationJob
from inference.options import clean_segmentation_options
from inference.recovery import SEGMENTATION, blocks_stop, enqueue_segmentation, segmentation_job_requeue_after_outage
from inference.tiled_jobs import tiled_block_shape, tiled_item_run
from inference.selectors import job_item_with_flows, job_queue_fair, model_version_current

logger = logging.getLogger(__name__)

PROGRESS_INTERVAL_S = 0.5  # at most one progress UPDATE (and event) per stage per interval

# Where each engine stage sits within one image's share of the job's progress.
_STAGE_SPANS = {
    # a tiled image (inference.tiled_jobs): its progress is the share of its blocks done
    "planning": (0.0, 0.02),
    "blocks": (0.02, 0.9),
    "stitching": (0.9, 0.97),
    # an image segmented whole
    "normalize": (0.0, 0.05),
    "size": (0.05, 0.35),
    "network": (0.35, 0.85),
    "dynamics": (0.85, 0.97),
    "done": (0.97, 0.97),
    "saving": (0.97, 1.0),
}


class _JobFailed(Exception):
    """Ends a running job as failed with this message."""


class _ServiceDown(Exception):
    """The database or the file store went away mid-job: not the job's fault, so it is re-queued."""


# -- model versions -------------------------------------------------------------------------------


@transaction.atomic
def model_version_create(
    *, name: str, file_path, make_current: bool = False, description: str = "", metrics: dict | None = None
) -> ModelVersion:
    """Register a model file (read by the engine first, so a bad file is refused) as the next
    version of ``name``; optionally make it the current model."""
    path = Path(file_path)
    try:
        model = CellposeModel.from_file(path, device="cpu")
    except (FileNotFoundError, ValueError) as exc:
        raise ApplicationError(f"Cannot register {path.name} as a model: {exc}") from None
    meta_metrics = model.meta.get("metrics") if isinstance(model.meta.get("metrics"), dict) else {}
    if isinstance(model.meta.get("card"), dict):  # the model card written by training (train_recipe)
        meta_metrics = {**meta_metrics, "card": model.meta["card"]}
    version = (ModelVersion.objects.filter(name=name).aggregate(v=Max("version"))["v"] or 0) + 1
    model_version = ModelVersion(
        name=name,
        version=version,
        sha256=file_sha256(path),
        description=description,
        metrics=metrics if metrics is not None else meta_metrics,
        nbase=[int(n) for n in model.nets[0].nbase],
        diam_mean=model.diam_mean,
    )
    with open(path, "rb") as fh:
        model_version.file.save(path.name, File(fh), save=False)
    try:
        model_version.full_clean()
        model_version.save()
    except BaseException:
        delete_stored([model_version.file.name])
        raise
    if make_current:
        model_version_make_current(model_version=model_version)
    return model_version


_NOW_CURRENT = object()


@transaction.atomic
def model_version_make_current(*, model_version: ModelVersion, expected_current=_NOW_CURRENT) -> ModelVersion:
    """Compare-and-set: ``model_version`` becomes the current model only if ``expected_current``
    (a version, or None for "no current model") still is; by default whatever is current now,
    read under a row lock. ConflictError when another request changed it meanwhile. The one way
    to change the current model (bootstrap, registration, the community's release and roll-back)."""
    if expected_current is _NOW_CURRENT:
        expected_current = ModelVersion.objects.select_for_update().filter(is_current=True).first()
    if expected_current is not None and expected_current.pk == model_version.pk:
        if not ModelVersion.objects.filter(pk=model_version.pk, is_current=True).exists():
            raise ConflictError("The current model changed meanwhile; reload and try again.")
        model_version.is_current = True
        return model_version
    if expected_current is not None:
        cleared = ModelVersion.objects.filter(pk=expected_current.pk, is_current=True).update(is_current=False)
    else:
        cleared = 0 if ModelVersion.objects.filter(is_current=True).exists() else 1
    if cleared != 1 or ModelVersion.objects.filter(pk=model_version.pk, is_current=False).update(is_current=True) != 1:
        raise ConflictError("The current model changed meanwhile; reload and try again.")
    model_version.is_current = True
    return model_version


# -- creating and cancelling jobs -----------------------------------------------------------------


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
        spatial = tiled_block_shape(image)
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


# Who may segment with which model version is decided above this layer (community: a version never
# released is for administrators); community installs its rule at start-up (CommunityConfig.ready)
# through model_use_check_register, so every caller of segmentation_job_create is checked.
_MODEL_USE_CHECKS: list = []


def model_use_check_register(check) -> None:
    """Add ``check(*, user, model_version)`` (raises an ApplicationError subclass to refuse)."""
    if check not in _MODEL_USE_CHECKS:
        _MODEL_USE_CHECKS.append(check)


def model_versions_usable(*, user, model_versions) -> list[ModelVersion]:
    """The versions of ``model_versions`` that ``user`` may segment with (every registered check
    accepts them): what a model list shows a user, so it offers nothing a job would refuse."""
    usable = []
    for model_version in model_versions:
        try:
            for check in _MODEL_USE_CHECKS:
                check(user=user, model_version=model_version)
        except ApplicationError:
            continue
        usable.append(model_version)
    return usable


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
    for check in _MODEL_USE_CHECKS:
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


class _ProgressReporter:
    """The engine's ``progress(stage, fraction)`` callback: conditional UPDATEs of the job's stage
    and progress (throttled), an event after each, and JobCancelled once the job is not running
    (or is running on another worker: a sweep took it from this one, which hung)."""

    def __init__(self, *, job_id: int, worker: str, index: int, total: int):
        self.job_id, self.worker, self.index, self.total = job_id, worker, index, total
        self.value = index / total
        self.last_stage, self.last_time = None, 0.0

    def __call__(self, stage: str, fraction: float) -> None:
        lo, hi = _STAGE_SPANS.get(stage, (None, None))
        if lo is not None:
            within = lo + (hi - lo) * min(max(float(fraction), 0.0), 1.0)
            self.value = min(1.0, max(self.value, (self.index + within) / self.total))
        now = time.monotonic()
        if stage == self.last_stage and now - self.last_time < PROGRESS_INTERVAL_S:
            return
        self.last_stage, self.last_time = stage, now
        label = stage if self.total == 1 else f"{stage} (image {self.index + 1} of {self.total})"
        changed = SegmentationJob.objects.filter(pk=self.job_id, status=JobStatus.RUNNING, worker=self.worker).update(
            stage=label, progress=self.value, heartbeat_at=timezone.now()
        )
        if changed != 1:
            raise JobCancelled()
        job_event_send_on_commit(job_id=self.job_id, status=JobStatus.RUNNING, stage=label, progress=self.value)


def _axis(axes: str, name: str) -> int | None:
    return axes.index(name) if name in axes else None


def _stitch_threshold(image: Image, params: dict) -> float | None:
    """The IoU that links masks across planes when a stack is segmented plane by plane (do_3d
    false), else None."""
    if image.is_3d and params.get("do_3d") is False:
        return float(params["stitch_threshold"])
    return None


def _item_segment(*, job: SegmentationJob, item: JobItem, model, progress: _ProgressReporter):
    image, params = item.image, job.params
    try:
        array = stored_image_read(image.file, shape=image.shape, name=image.name)
    except ImageReadError as exc:
        raise ValueError(str(exc)) from None
    do_3d = image.is_3d if params.get("do_3d") is None else params["do_3d"]
    return model.segment(
        array,
        channels=tuple(params["channels"]),
        diameter=params.get("diameter"),
        augment=params["augment"],
        tile_overlap=params["tile_overlap"],
        do_3d=do_3d,
        anisotropy=params.get("anisotropy"),
        stitch_threshold=_stitch_threshold(image, params),
        cellprob_threshold=params["cellprob_threshold"],
        flow_threshold=params["flow_threshold"],
        min_size=params["min_size"],
        progress=progress,
        channel_axis=_axis(image.axes, "C"),
        z_axis=_axis(image.axes, "Z"),
        limits=cost_limits(),
    )


def _item_save(*, job: SegmentationJob, item: JobItem, result, seconds: float) -> None:
    """Store the result files (the flows and the annotation's masks, outside any row lock), then
    in one transaction mark the item succeeded and add the masks as the image's next annotation
    version (only while the job is still running)."""
    params = job.params
    item.flows.save(
        "flows.npz",
        npz_content(
            dP=result.dP,
            cellprob=result.cellprob,
            styles=np.asarray(result.styles, dtype=np.float32),
            niter=np.int32(result.niter),
        ),
        save=False,
    )
    names = [item.flows.name]
    timings = {**{k: round(v, 4) for k, v in result.timings.items()}, "item": round(seconds, 4)}
    summary = {
        "diameter": result.diameter,
        "diameter_source": result.diameter_source,
        "model_version": job.model_version_id,
        "cellprob_threshold": params["cellprob_threshold"],
        "flow_threshold": params["flow_threshold"],
    }
    try:
        for attempt in range(CREATE_ATTEMPTS):
            # The annotation's file is compared and written before any row is locked.
            annotation = annotation_prepare(image=item.image, masks=result.masks, source=Annotation.Source.MODEL,
                                            created_by=job.owner, job=job, summary=summary)
            try:
                with transaction.atomic():
                    running = SegmentationJob.objects.select_for_update().filter(
                        pk=job.pk, status=JobStatus.RUNNING, worker=job.worker
                    )
                    if not running.exists():
                        raise JobCancelled()
                    changed = JobItem.objects.filter(pk=item.pk, status=JobStatus.RUNNING).update(
                        status=JobStatus.SUCCEEDED,
                        flows=names[0],
                        diameter=result.diameter,
                        n_masks=int(result.masks.max(initial=0)),
                        timings=timings,
                        finished_at=timezone.now(),
                    )
                    if changed != 1:
                        raise JobCancelled()
                    annotation_prepared_save(annotation)
                break
            except StaleVersionError:  # a person saved the image meanwhile: compare with that version
                annotation_prepared_discard(annotation)
                if attempt == CREATE_ATTEMPTS - 1:
                    raise
            except BaseException:
                annotation_prepared_discard(annotation)
                raise
    except BaseException:
        delete_stored(names)
        raise


def _item_run(*, job: SegmentationJob, item: JobItem, model, index: int, total: int) -> str | None:
    """Segment one image of a running job; returns why it failed (None when it succeeded)."""
    if JobItem.objects.filter(pk=item.pk, status=JobStatus.QUEUED).update(status=JobStatus.RUNNING) != 1:
        raise JobCancelled()
    progress = _ProgressReporter(job_id=job.pk, worker=job.worker, index=index, total=total)
    started = time.perf_counter()
    try:
        if is_tiled(item.image):
            tiled_item_run(job=job, item=item, model=model, progress=progress)
        else:
            result = _item_segment(job=job, item=item, model=model, progress=progress)
            progress("saving", 0.0)
            _item_save(job=job, item=item, result=result, seconds=time.perf_counter() - started)
    except JobCancelled:
        raise
    except Exception as exc:
        if unavailable_service(exc) is not None:
            raise _ServiceDown(unavailable_service(exc)) from exc
        if not isinstance(exc, (ValueError, MemoryError)):
            logger.exception("segmenting image %s in job %s failed", item.image_id, job.pk)
        reason = describe(exc)[:MAX_ERROR_LENGTH]
        JobItem.objects.filter(pk=item.pk, status=JobStatus.RUNNING).update(
            status=JobStatus.FAILED, error=reason, finished_at=timezone.now()
        )
        return reason
    return None


def _job_finish(job_id: int, *, status: str, error: str = "", timings: dict, worker: str) -> None:
    """End the job this worker runs; nothing happens if it is no longer running, or if a sweep gave
    it to another worker meanwhile (a hung worker that wakes up must not end the new run)."""
    fields = {"status": status, "stage": status, "error": error[:MAX_ERROR_LENGTH], "timings": timings}
    fields["finished_at"] = timezone.now()
    if status == JobStatus.SUCCEEDED:
        fields["progress"] = 1.0
    with transaction.atomic():
        if SegmentationJob.objects.filter(pk=job_id, status=JobStatus.RUNNING, worker=worker).update(**fields) == 1:
            job = SegmentationJob.objects.get(pk=job_id)
            job_event_send_on_commit(
                job_id=job_id, status=job.status, stage=job.stage, progress=job.progress, error=job.error
            )


def _job_outcome(n_ok: int, failures: list[str]) -> tuple[str, str]:
    """(status, error) of a job whose images ran: failed only when no image succeeded."""
    if not failures:
        return JobStatus.SUCCEEDED, ""
    if n_ok == 0:
        return JobStatus.FAILED, "; ".join(failures)
    return JobStatus.SUCCEEDED, f"{len(failures)} of {len(failures) + n_ok} images failed: " + "; ".join(failures)


def segmentation_job_run(*, job_id: int, worker: str = "") -> SegmentationJob | None:
    """Run a queued job to its end: succeeded, failed (with the reason) or cancelled.

    Returns None when the job was not queued (taken by another worker, or cancelled). Not atomic as
    a whole on purpose: progress and each image's results must be visible as they happen, so it is
    a sequence of short transactions, each guarded by a compare-and-set on the job's status. A job
    re-queued after its worker died resumes: images already finished are not run again.
    ``worker`` names the worker (its Celery node name) so that it can recover its jobs on restart.
    """
    if not work.take(SegmentationJob, job_id, worker=worker, stage="loading model"):
        return None
    job = SegmentationJob.objects.select_related("model_version", "owner").get(pk=job_id)
    job_event_send_on_commit(job_id=job_id, status=JobStatus.RUNNING, stage="loading model", progress=job.progress)
    clock = time.perf_counter()
    timings = {"queued": round((job.started_at - job.created_at).total_seconds(), 4)}
    if job.attempts > 1:
        timings["attempts"] = job.attempts
    logger.info(
        "job %s started", job_id, extra={"job_id": job_id, "attempt": job.attempts, "worker": worker, "owner_id": job.owner_id}
    )
    with work.Heartbeat(SegmentationJob, job_id):
        try:
            try:
                model = model_load(job.model_version)
            except Exception as exc:
                logger.exception("job %s: loading %s failed", job_id, job.model_version)
                raise _JobFailed(f"could not load the model {job.model_version}: {describe(exc)}") from exc
            timings["load_model"] = round(time.perf_counter() - clock, 4)
            items = list(job.items.select_related("image").order_by("position"))
            n_ok = sum(item.status == JobStatus.SUCCEEDED for item in items)
            failures = [f"{item.image.name}: {item.error}" for item in items if item.status == JobStatus.FAILED]
            for index, item in enumerate(items):
                if item.status != JobStatus.QUEUED:  # finished before the worker that ran it died
                    continue
                reason = _item_run(job=job, item=item, model=model, index=index, total=len(items))
                if reason is None:
                    n_ok += 1
                else:
                    failures.append(f"{item.image.name}: {reason}")
            status, error = _job_outcome(n_ok, failures)
        except JobCancelled:
            status, error = JobStatus.CANCELLED, ""
        except _JobFailed as exc:
            status, error = JobStatus.FAILED, str(exc)
        except Exception as exc:
            if isinstance(exc, _ServiceDown) or unavailable_service(exc) is not None:
                segmentation_job_requeue_after_outage(job_id=job_id, exc=exc)
                return None
            logger.exception("job %s failed", job_id)
            status, error = JobStatus.FAILED, describe(exc)
        timings["total"] = round(time.perf_counter() - clock, 4)
        if status == JobStatus.CANCELLED:  # the cancelling request already ended the job
            JobItem.objects.filter(job_id=job_id, status__in=ACTIVE_STATUSES).update(status=JobStatus.CANCELLED)
            blocks_stop(job_id=job_id)
            SegmentationJob.objects.filter(pk=job_id, worker=job.worker).update(timings=timings)
        else:
            if status == JobStatus.FAILED:
                JobItem.objects.filter(job_id=job_id, status__in=ACTIVE_STATUSES).update(status=JobStatus.FAILED)
                blocks_stop(job_id=job_id)
            _job_finish(job_id, status=status, error=error, timings=timings, worker=job.worker)
    logger.info(
        "job %s %s", job_id, status,
        extra={"job_id": job_id, "status": status, "seconds": timings["total"], "attempt": job.attempts, "worker": worker},
    )
    return SegmentationJob.objects.get(pk=job_id)


def segmentation_job_run_next(*, worker: str = "", candidates: int = 10) -> SegmentationJob | None:
    """Run the queued job whose turn it is (selectors.job_queue_fair); None when none is queued.

    Workers call this for each message they receive: a message is a turn to run a job rather than
    one particular job, so the queue stays fair whatever order the messages arrived in, and a lost
    or duplicated message costs nothing (segmentation_jobs_recover tops the messages up).
    """
    for job_id in list(job_queue_fair().values_list("pk", flat=True)[:candidates]):
        job = segmentation_job_run(job_id=job_id, worker=worker)
        if job is not None:  # else another worker took it first: try the next one
            return job
    return None


# -- re-thresholding ------------------------------------------------------------------------------


def masks_rethreshold(
    *,
    image: Image,
    cellprob_threshold: float,
    flow_threshold: float,
    created_by=None,
    job_item: JobItem | None = None,
) -> Annotation:
    """Masks recomputed from the stored flows of the image's latest segmentation (or ``job_item``)
    at new thresholds, saved as the next annotation version. No network is run.

    The computation (about a second) runs outside any transaction; only the save is atomic.
    """
    item = job_item or job_item_with_flows(image=image)
    if item is None or not item.flows:
        raise ConflictError(f"{image.name} has no stored flows to re-threshold; segment it first.")
    flows = load_npz(item.flows)
    masks = recompute_masks(
        flows["dP"],
        flows["cellprob"],
        cellprob_threshold=float(cellprob_threshold),
        flow_threshold=float(flow_threshold),
        min_size=int(item.job.params.get("min_size", 15)),
        niter=int(flows["niter"]) if "niter" in flows else None,
        stitch_threshold=_stitch_threshold(image, item.job.params),
    )
    return annotation_create(
        image=image,
        masks=masks,
        source=Annotation.Source.MODEL,
        created_by=created_by,
        job=item.job,
        summary={
            "rethreshold_of_job": item.job_id,
            "cellprob_threshold": float(cellprob_threshold),
            "flow_threshold": float(flow_threshold),
            "diameter": item.diameter,
        },
    )
