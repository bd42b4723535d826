"""Running segmentation jobs: the worker's loop (a worker takes a queued job, segments its images
one by one, saves each image's results, and ends the job).

Job rows are shared between request handlers and the worker, so every status change is a
compare-and-set (``filter(id=..., status=...).update(...)``, acting only when one row changed), and
every change a subscriber should see is followed by a websocket event sent on commit.

Reliability (docs/deploy.md, inference.recovery): a worker stamps ``heartbeat_at`` while it runs a
job; a job whose worker died is re-queued and resumes with the images not yet done. An image's
results become visible in one transaction, so a kill never leaves half of them. Workers take jobs in
the fair order of selectors.job_queue_fair.
"""
import logging
import time

import numpy as np
from django.db import transaction
from django.utils import timezone

from annotations.files import delete_stored, npz_content, stored_image_read
from annotations.models import Annotation
from annotations.services import annotation_create
from annotations.slides import is_tiled
from cellposeweb import work
from cellposeweb.exceptions import unavailable_service
from cellposeweb.limits import cost_limits
from inference.engine import ImageReadError
from inference.events import job_event_send_on_commit
from inference.failures import MAX_ERROR_LENGTH, JobCancelled, describe
from inference.loading import model_load
from inference.models import ACTIVE_STATUSES, JobItem, JobStatus, SegmentationJob
from inference.options import stitch_threshold
from inference.recovery import blocks_stop, segmentation_job_requeue_after_outage
from inference.selectors import job_queue_fair
from inference.tiled_jobs import tiled_item_run

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


class _ProgressReporter:
    """The engine's ``progress(stage, fraction)`` callback: conditional UPDATEs of the job's stage
    and progress (throttled), an event after each, and JobCancelled once the job is not running
    (or is running on another worker: a sweep took it from this one, which hung)."""

    def __init__(self, *, job_id: int, worker: str, index: int, total: int):
        self.job_id, self.worker, self.index, self.total = job_id, worker, index, total
        self.value = index / total
        self.last_stage, self.last_time = None, 0.0

    def __call__(self, stage: str, fraction: float) -> None:
        within = work.stage_share(_STAGE_SPANS, stage, fraction)
        if within is not None:
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
        stitch_threshold=stitch_threshold(image, params),
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
        npz_content(  # uncompressed: deflate saved 7 % of img2d.tif's flows for 0.11 s of the job
            compressed=False,
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
    def item_done() -> None:  # in the transaction that adds the version, while the job is still this worker's
        running = SegmentationJob.objects.select_for_update().filter(pk=job.pk, status=JobStatus.RUNNING,
                                                                     worker=job.worker)
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

    try:
        annotation_create(image=item.image, masks=result.masks, source=Annotation.Source.MODEL,
                          created_by=job.owner, job=job, summary=summary, then=item_done)
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
