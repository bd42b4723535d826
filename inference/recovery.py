"""Segmentation jobs on the shared background-work lifecycle (cellposeweb.work, docs/deploy.md).

* While a job runs, its worker stamps ``heartbeat_at`` (``work.Heartbeat``, and every progress report).
* ``segmentation_jobs_recover`` (celery beat every JOB_RECOVER_INTERVAL_S, and each worker's start)
  re-queues running jobs whose stamp is older than JOB_HEARTBEAT_TIMEOUT_S, or that a restarted
  worker of the same name was running; they resume with the images not yet done. A job started
  JOB_MAX_ATTEMPTS times fails with the reason instead, so a job that kills its worker cannot loop.
  Then it sends a queue message for every queued job the broker has none of.
* A job interrupted by a database or store outage goes back to the queue without counting a start.

``SEGMENTATION`` tells the lifecycle what is particular to jobs: their images (``JobItem``) move
with them, and subscribers get a ``job.progress`` event. A message is a turn, not a job: the
worker runs whichever queued job is next in fair order (services.segmentation_job_run_next).
"""
import logging

from django.db import DatabaseError, connection, transaction
from django.db.models import F
from django.utils import timezone

from cellposeweb import work
from inference.events import job_event_send_on_commit
from inference.models import ACTIVE_STATUSES, JobBlock, JobItem, JobStatus, SegmentationJob

logger = logging.getLogger(__name__)


def _progress_so_far(job) -> dict:
    items = JobItem.objects.filter(job_id=job.pk)
    total = items.count() or 1
    done = items.filter(status__in=(JobStatus.SUCCEEDED, JobStatus.FAILED)).count()
    return {"progress": done / total}


def blocks_stop(*, job_id: int | None = None, item_id: int | None = None) -> int:
    """Cancel the queued and running blocks (inference.tiled_jobs) of a job that stopped, or of
    one of its images that failed: a queued block is never run, a running one drops its result
    when it ends. Returns how many."""
    where = {"item__job_id": job_id} if item_id is None else {"item_id": item_id}
    return JobBlock.objects.filter(status__in=ACTIVE_STATUSES, **where).update(
        status=JobStatus.CANCELLED, stage="cancelled", finished_at=timezone.now()
    )


def _requeued(job_id: int, fields: dict) -> None:
    JobItem.objects.filter(job_id=job_id, status=JobStatus.RUNNING).update(status=JobStatus.QUEUED)
    job_event_send_on_commit(job_id=job_id, status=JobStatus.QUEUED, stage=fields["stage"], progress=fields["progress"])


def _failed(job_id: int, error: str) -> None:
    JobItem.objects.filter(job_id=job_id, status__in=ACTIVE_STATUSES).update(
        status=JobStatus.FAILED, error=error, finished_at=timezone.now()
    )
    blocks_stop(job_id=job_id)
    job_event_send_on_commit(job_id=job_id, status=JobStatus.FAILED, stage="failed", progress=0.0, error=error)


SEGMENTATION = work.WorkKind(
    name="segmentation",
    model=SegmentationJob,
    task="inference.segmentation_job_run_next",
    queue="gpu",
    what="job",
    advice="try fewer or smaller images, or ask an administrator to look at the workers.",
    requeue_fields=_progress_so_far,
    on_requeued=_requeued,
    on_failed=_failed,
    interrupted="The server stopped while this {what} was running; start the segmentation again.",
)


# One block of a tiled image (inference.tiled_jobs): a unit of work of its own, by id, on the same
# queue as jobs. A block whose worker died is re-queued by the same sweep and redone; one that
# kills its worker JOB_MAX_ATTEMPTS times fails, and with it its image (the job's coordinator
# sees the failed block).
SEGMENTATION_BLOCK = work.WorkKind(
    name="segmentation-block",
    model=JobBlock,
    task="inference.job_block_run",
    queue="gpu",
    what="block",
    advice="try a smaller block size (TILED_BLOCK_SIZE), or ask an administrator to look at the workers.",
    by_id=True,
    requeue_fields=lambda row: {"progress": 0.0},
    interrupted="The server stopped while this {what} was running.",
    worker_prefix="block-thread-",
)


def enqueue_block(block_id: int) -> None:
    """Hand one block to the runner once the current transaction commits."""
    work.enqueue(SEGMENTATION_BLOCK, block_id)


def enqueue_segmentation(job_id: int) -> None:
    """Hand the job to the runner once the current transaction commits."""
    work.enqueue(SEGMENTATION, job_id)


def segmentation_jobs_recover(*, restarted_worker: str = "") -> dict:
    """Recover the jobs of workers that died, and queue messages that were lost (work.sweep).
    Returns ``{"requeued": [ids], "failed": [ids]}``."""
    return work.sweep(SEGMENTATION, restarted_worker=restarted_worker)


def segmentation_job_requeue_after_outage(*, job_id: int, exc: BaseException) -> None:
    """Put a job whose database or store went away back in the queue, not counting this start; if
    the database is still away, the recovery sweep re-queues it once its heartbeat is stale."""
    logger.warning("job %s: interrupted by an outage (%s); re-queueing it", job_id, exc, extra={"job_id": job_id})
    if not connection.in_atomic_block:  # drop the broken connection; the next query reconnects
        connection.close()
    try:
        with transaction.atomic():
            if work.transition(SegmentationJob, job_id, from_status=JobStatus.RUNNING, to_status=JobStatus.QUEUED,
                               stage="re-queued after a service outage", heartbeat_at=None, worker="",
                               attempts=F("attempts") - 1):
                JobItem.objects.filter(job_id=job_id, status=JobStatus.RUNNING).update(status=JobStatus.QUEUED)
                enqueue_segmentation(job_id)
    except DatabaseError:
        logger.warning("job %s: the database is still away; the recovery sweep will re-queue it", job_id)
        if not connection.in_atomic_block:
            connection.close()
