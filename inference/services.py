"""Changing model versions and segmentation jobs.

Job rows are shared between request handlers and the worker, so every status change is a
compare-and-set (``filter(id=..., status=...).update(...)``, acting only when one row changed), and
every change a subscriber should see is followed by a websocket event sent on commit.
"""
import logging
import time
from pathlib import Path

import numpy as np
from django.conf import settings
from django.core.files import File
from django.db import transaction
from django.db.models import Max
from django.utils import timezone

from annotations.files import delete_stored, file_sha256, load_npz, local_path, npz_content
from annotations.models import Annotation, Image
from annotations.services import annotation_create
from cellposeweb.exceptions import ApplicationError, ConflictError
from inference import runner
from inference.engine import io as engine_io
from inference.engine.model import CellposeModel, recompute_masks
from inference.events import job_event_send_on_commit
from inference.loading import model_load
from inference.models import ACTIVE_STATUSES, JobItem, JobStatus, ModelVersion, SegmentationJob
from inference.options import clean_segmentation_options
from inference.selectors import job_item_with_flows, model_version_current

logger = logging.getLogger(__name__)

PROGRESS_INTERVAL_S = 0.5  # at most one progress UPDATE (and event) per stage per interval
MAX_ERROR_LENGTH = 4000
INTERRUPTED = "The server stopped while this job was running; start the segmentation again."

# Where each engine stage sits within one image's share of the job's progress.
_STAGE_SPANS = {
    "normalize": (0.0, 0.05),
    "size": (0.05, 0.35),
    "network": (0.35, 0.85),
    "dynamics": (0.85, 0.97),
    "done": (0.97, 0.97),
    "saving": (0.97, 1.0),
}


class JobCancelled(Exception):
    """Raised inside a running job (from the progress callback) once its status is no longer running."""


class _JobFailed(Exception):
    """Ends a running job as failed with this message."""


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


@transaction.atomic
def model_version_make_current(*, model_version: ModelVersion) -> ModelVersion:
    ModelVersion.objects.filter(is_current=True).exclude(pk=model_version.pk).update(is_current=False)
    ModelVersion.objects.filter(pk=model_version.pk).update(is_current=True)
    model_version.is_current = True
    return model_version


# -- creating and cancelling jobs -----------------------------------------------------------------


def _check_image_options(image: Image, options: dict) -> None:
    for which, k in zip(("cyto", "nucleus"), options["channels"]):
        if k > image.n_channels:
            raise ApplicationError(
                f"channels: {which} channel {k} does not exist in {image.name}, which has "
                f"{image.n_channels} channel(s)."
            )
    if options["do_3d"] and not image.is_3d:
        raise ApplicationError(f"do_3d: {image.name} is a 2D image; 3D segmentation needs a stack (Z, Y, X).")
    if options["do_3d"] is False and image.is_3d:
        raise ApplicationError(
            f"do_3d: {image.name} is a stack of {image.shape[image.axes.index('Z')]} planes; segment it "
            "with do_3d true (plane-by-plane 2D segmentation is not supported)."
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
    model_version = options.pop("model_version") or model_version_current()
    if model_version is None:
        raise ConflictError(
            "No segmentation model is installed yet; an administrator must register one "
            "(python manage.py bootstrap)."
        )
    for image in images:
        _check_image_options(image, options)
    job = SegmentationJob(owner=owner, model_version=model_version, params=options)
    job.full_clean()
    job.save()
    JobItem.objects.bulk_create(JobItem(job=job, image=image, position=i) for i, image in enumerate(images))
    runner.enqueue_segmentation(job.pk)
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
    job_event_send_on_commit(job_id=job.pk, status=job.status, stage=job.stage, progress=job.progress)
    return job


@transaction.atomic
def segmentation_jobs_fail_interrupted() -> int:
    """Mark jobs left running by a stopped process as failed (only for a single-process runner)."""
    ids = list(SegmentationJob.objects.filter(status=JobStatus.RUNNING).values_list("pk", flat=True))
    changed = SegmentationJob.objects.filter(pk__in=ids, status=JobStatus.RUNNING).update(
        status=JobStatus.FAILED, stage="failed", error=INTERRUPTED, finished_at=timezone.now()
    )
    JobItem.objects.filter(job_id__in=ids, status__in=ACTIVE_STATUSES).update(
        status=JobStatus.FAILED, error=INTERRUPTED
    )
    for job_id in ids:
        job_event_send_on_commit(
            job_id=job_id, status=JobStatus.FAILED, stage="failed", progress=0.0, error=INTERRUPTED
        )
    return changed


# -- running jobs ---------------------------------------------------------------------------------


class _ProgressReporter:
    """The engine's ``progress(stage, fraction)`` callback: conditional UPDATEs of the job's stage
    and progress (throttled), an event after each, and JobCancelled once the job is not running."""

    def __init__(self, *, job_id: int, index: int, total: int):
        self.job_id, self.index, self.total = job_id, index, total
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
        changed = SegmentationJob.objects.filter(pk=self.job_id, status=JobStatus.RUNNING).update(
            stage=label, progress=self.value
        )
        if changed != 1:
            raise JobCancelled()
        job_event_send_on_commit(job_id=self.job_id, status=JobStatus.RUNNING, stage=label, progress=self.value)


def _describe(exc: BaseException) -> str:
    if isinstance(exc, MemoryError):
        return "ran out of memory; try a smaller image or a smaller tile overlap"
    if isinstance(exc, (ValueError, ApplicationError, FileNotFoundError)):
        return str(getattr(exc, "message", None) or exc)
    return f"internal error ({type(exc).__name__}: {exc})"


def _axis(axes: str, name: str) -> int | None:
    return axes.index(name) if name in axes else None


def _item_segment(*, job: SegmentationJob, item: JobItem, model, progress: _ProgressReporter):
    image, params = item.image, job.params
    with local_path(image.file) as path:
        try:
            array = engine_io.imread(path, max_pixels=max(settings.UPLOAD_MAX_PIXELS, int(np.prod(image.shape))))
        except engine_io.ImageReadError as exc:  # "<path>: <problem>" -> "<problem>"
            message = str(exc).removeprefix(f"{path}: ")
            raise ValueError(message.replace(str(path), image.name)) from None
    do_3d = params.get("do_3d")
    return model.segment(
        array,
        channels=tuple(params["channels"]),
        diameter=params.get("diameter"),
        augment=params["augment"],
        tile_overlap=params["tile_overlap"],
        do_3d=image.is_3d if do_3d is None else do_3d,
        anisotropy=params.get("anisotropy"),
        cellprob_threshold=params["cellprob_threshold"],
        flow_threshold=params["flow_threshold"],
        min_size=params["min_size"],
        progress=progress,
        channel_axis=_axis(image.axes, "C"),
        z_axis=_axis(image.axes, "Z"),
    )


def _item_save(*, job: SegmentationJob, item: JobItem, result, seconds: float) -> None:
    """Store the result files, then in one transaction mark the item succeeded and save the
    masks as the image's next annotation (only while the job is still running)."""
    params = job.params
    item.masks.save("masks.npz", npz_content(masks=result.masks), save=False)
    names = [item.masks.name]
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
    names.append(item.flows.name)
    timings = {**{k: round(v, 4) for k, v in result.timings.items()}, "item": round(seconds, 4)}
    try:
        with transaction.atomic():
            running = SegmentationJob.objects.select_for_update().filter(pk=job.pk, status=JobStatus.RUNNING)
            if not running.exists():
                raise JobCancelled()
            changed = JobItem.objects.filter(pk=item.pk, status=JobStatus.RUNNING).update(
                status=JobStatus.SUCCEEDED,
                masks=names[0],
                flows=names[1],
                diameter=result.diameter,
                n_masks=int(result.masks.max(initial=0)),
                timings=timings,
                finished_at=timezone.now(),
            )
            if changed != 1:
                raise JobCancelled()
            annotation_create(
                image=item.image,
                masks=result.masks,
                source=Annotation.Source.MODEL,
                created_by=job.owner,
                job=job,
                summary={
                    "diameter": result.diameter,
                    "diameter_source": result.diameter_source,
                    "model_version": job.model_version_id,
                    "cellprob_threshold": params["cellprob_threshold"],
                    "flow_threshold": params["flow_threshold"],
                },
            )
    except BaseException:
        delete_stored(names)
        raise


def _item_run(*, job: SegmentationJob, item: JobItem, model, index: int, total: int) -> str | None:
    """Segment one image of a running job; returns why it failed (None when it succeeded)."""
    if JobItem.objects.filter(pk=item.pk, status=JobStatus.QUEUED).update(status=JobStatus.RUNNING) != 1:
        raise JobCancelled()
    progress = _ProgressReporter(job_id=job.pk, index=index, total=total)
    started = time.perf_counter()
    try:
        result = _item_segment(job=job, item=item, model=model, progress=progress)
        progress("saving", 0.0)
        _item_save(job=job, item=item, result=result, seconds=time.perf_counter() - started)
    except JobCancelled:
        raise
    except Exception as exc:
        if not isinstance(exc, (ValueError, MemoryError)):
            logger.exception("segmenting image %s in job %s failed", item.image_id, job.pk)
        reason = _describe(exc)[:MAX_ERROR_LENGTH]
        JobItem.objects.filter(pk=item.pk, status=JobStatus.RUNNING).update(
            status=JobStatus.FAILED, error=reason, finished_at=timezone.now()
        )
        return reason
    return None


def _job_finish(job_id: int, *, status: str, error: str = "", timings: dict) -> None:
    fields = {"status": status, "stage": status, "error": error[:MAX_ERROR_LENGTH], "timings": timings}
    fields["finished_at"] = timezone.now()
    if status == JobStatus.SUCCEEDED:
        fields["progress"] = 1.0
    with transaction.atomic():
        if SegmentationJob.objects.filter(pk=job_id, status=JobStatus.RUNNING).update(**fields) == 1:
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


def segmentation_job_run(*, job_id: int) -> SegmentationJob | None:
    """Run a queued job to its end: succeeded, failed (with the reason) or cancelled.

    Returns None when the job was not queued (taken by another worker, or cancelled). Not atomic as
    a whole on purpose: progress and each image's results must be visible as they happen, so it is
    a sequence of short transactions, each guarded by a compare-and-set on the job's status.
    """
    started = timezone.now()
    taken = SegmentationJob.objects.filter(pk=job_id, status=JobStatus.QUEUED).update(
        status=JobStatus.RUNNING, started_at=started, stage="loading model", progress=0.0
    )
    if taken != 1:
        return None
    job_event_send_on_commit(job_id=job_id, status=JobStatus.RUNNING, stage="loading model", progress=0.0)
    job = SegmentationJob.objects.select_related("model_version", "owner").get(pk=job_id)
    clock = time.perf_counter()
    timings = {"queued": round((started - job.created_at).total_seconds(), 4)}
    try:
        try:
            model = model_load(job.model_version)
        except Exception as exc:
            logger.exception("job %s: loading %s failed", job_id, job.model_version)
            raise _JobFailed(f"could not load the model {job.model_version}: {_describe(exc)}") from exc
        timings["load_model"] = round(time.perf_counter() - clock, 4)
        items = list(job.items.select_related("image").order_by("position"))
        failures, n_ok = [], 0
        for index, item in enumerate(items):
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
        logger.exception("job %s failed", job_id)
        status, error = JobStatus.FAILED, _describe(exc)
    timings["total"] = round(time.perf_counter() - clock, 4)
    if status == JobStatus.CANCELLED:  # the cancelling request already ended the job
        JobItem.objects.filter(job_id=job_id, status__in=ACTIVE_STATUSES).update(status=JobStatus.CANCELLED)
        SegmentationJob.objects.filter(pk=job_id).update(timings=timings)
    else:
        if status == JobStatus.FAILED:
            JobItem.objects.filter(job_id=job_id, status__in=ACTIVE_STATUSES).update(status=JobStatus.FAILED)
        _job_finish(job_id, status=status, error=error, timings=timings)
    return SegmentationJob.objects.get(pk=job_id)


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
