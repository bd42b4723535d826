"""Recovering jobs from dead workers, lost queue messages and outages (docs/deploy.md).

* While a job runs, its worker stamps ``heartbeat_at`` (``Heartbeat``, and every progress report).
* ``segmentation_jobs_recover`` (celery beat every JOB_RECOVER_INTERVAL_S, and each worker's start)
  re-queues running jobs whose stamp is older than JOB_HEARTBEAT_TIMEOUT_S, or that a restarted
  worker of the same name was running; they resume with the images not yet done. A job started
  JOB_MAX_ATTEMPTS times fails with the reason instead, so a job that kills its worker cannot loop.
  Then it sends a queue message for every queued job the broker has none of.
* A job interrupted by a database or store outage goes back to the queue without counting a start.

Every change is a compare-and-set on the job's status (and heartbeat), so a worker that comes back
to life and a sweep cannot both act on one job.
"""
import logging
import threading
import time

from django.conf import settings
from django.db import DatabaseError, connection, transaction
from django.db.models import F, Q
from django.utils import timezone

from inference import runner
from inference.events import job_event_send_on_commit
from inference.models import ACTIVE_STATUSES, JobItem, JobStatus, SegmentationJob
from inference.selectors import jobs_stale

logger = logging.getLogger(__name__)

WORKER_LOST = (
    "The worker running this job stopped {n} times before it finished (killed, out of memory, or stuck); "
    "try fewer or smaller images, or ask an administrator to look at the workers."
)


class Heartbeat:
    """Stamps the running job's ``heartbeat_at`` every JOB_HEARTBEAT_INTERVAL_S from a thread of
    its own, so a long step without progress reports (a large network pass) does not look like a
    dead worker. The thread stops when the block ends or the job stops running, and also when the
    job's stage and progress have not moved for JOB_STALL_TIMEOUT_S: a hung worker then stops
    looking alive, and the recovery sweep re-queues the job (or fails it after its attempts)."""

    def __init__(self, job_id: int):
        self.job_id = job_id
        self._stop = threading.Event()

    def __enter__(self):
        interval = settings.JOB_HEARTBEAT_INTERVAL_S
        if interval > 0:
            thread = threading.Thread(target=self._run, args=(interval,), name=f"job-{self.job_id}-heartbeat", daemon=True)
            thread.start()
        return self

    def __exit__(self, *exc_info):
        self._stop.set()  # not joined: a stamp still in flight is a harmless compare-and-set

    def _run(self, interval: float) -> None:
        stall = settings.JOB_STALL_TIMEOUT_S
        seen, since = None, time.monotonic()
        try:
            while not self._stop.wait(interval):
                running = SegmentationJob.objects.filter(pk=self.job_id, status=JobStatus.RUNNING)
                try:
                    now_seen = running.values_list("stage", "progress").first()
                    if now_seen != seen:
                        seen, since = now_seen, time.monotonic()
                    elif stall > 0 and time.monotonic() - since > stall:
                        logger.error("job %s: no progress for %.0f s; heartbeat stopped so that the recovery "
                                     "sweep takes the job over", self.job_id, stall, extra={"job_id": self.job_id})
                        return
                    beating = running.update(heartbeat_at=timezone.now())
                except DatabaseError as exc:  # the database is away; try again next beat
                    logger.warning("job %s: heartbeat failed: %s", self.job_id, exc, extra={"job_id": self.job_id})
                    connection.close()
                    continue
                if beating != 1:
                    return
        finally:
            connection.close()


def segmentation_job_requeue_after_outage(*, job_id: int, exc: BaseException) -> None:
    """Put a job whose database or store went away back in the queue, not counting this start; if
    the database is still away, the recovery sweep re-queues it once its heartbeat is stale."""
    logger.warning("job %s: interrupted by an outage (%s); re-queueing it", job_id, exc, extra={"job_id": job_id})
    if not connection.in_atomic_block:  # drop the broken connection; the next query reconnects
        connection.close()
    try:
        with transaction.atomic():
            changed = SegmentationJob.objects.filter(pk=job_id, status=JobStatus.RUNNING).update(
                status=JobStatus.QUEUED, stage="re-queued after a service outage", heartbeat_at=None, worker="",
                attempts=F("attempts") - 1,
            )
            if changed == 1:
                JobItem.objects.filter(job_id=job_id, status=JobStatus.RUNNING).update(status=JobStatus.QUEUED)
                runner.enqueue_segmentation(job_id)
    except DatabaseError:
        logger.warning("job %s: the database is still away; the recovery sweep will re-queue it", job_id)
        if not connection.in_atomic_block:
            connection.close()


@transaction.atomic
def segmentation_jobs_recover(*, restarted_worker: str = "") -> dict:
    """Recover the jobs of workers that died, and queue messages that were lost.

    Running jobs whose heartbeat is stale (or that ``restarted_worker`` was running before it
    restarted) are re-queued, keeping the images they finished, while they have been started fewer
    than JOB_MAX_ATTEMPTS times; after that they fail with the reason. Once committed, the broker
    gets one message for each queued job it has no message for (a broker restart loses them).
    Returns ``{"requeued": [ids], "failed": [ids]}``.
    """
    dead = jobs_stale()
    if restarted_worker:
        dead = SegmentationJob.objects.filter(status=JobStatus.RUNNING).filter(
            Q(pk__in=dead.values("pk")) | Q(worker=restarted_worker)
        )
    requeued, failed = [], []
    now = timezone.now()
    for job in dead.only("pk", "attempts", "heartbeat_at"):
        same = SegmentationJob.objects.filter(pk=job.pk, status=JobStatus.RUNNING, heartbeat_at=job.heartbeat_at)
        items = JobItem.objects.filter(job_id=job.pk)
        if job.attempts < settings.JOB_MAX_ATTEMPTS:
            total = items.count() or 1
            done = items.filter(status__in=(JobStatus.SUCCEEDED, JobStatus.FAILED)).count()
            stage = f"re-queued: its worker stopped (start {job.attempts} of at most {settings.JOB_MAX_ATTEMPTS})"
            if same.update(status=JobStatus.QUEUED, stage=stage, progress=done / total, heartbeat_at=None, worker="") != 1:
                continue  # it came back to life, or finished, meanwhile
            items.filter(status=JobStatus.RUNNING).update(status=JobStatus.QUEUED)
            requeued.append(job.pk)
            job_event_send_on_commit(job_id=job.pk, status=JobStatus.QUEUED, stage=stage, progress=done / total)
        else:
            error = WORKER_LOST.format(n=job.attempts)
            if same.update(status=JobStatus.FAILED, stage="failed", error=error, finished_at=now) != 1:
                continue
            items.filter(status__in=ACTIVE_STATUSES).update(status=JobStatus.FAILED, error=error, finished_at=now)
            failed.append(job.pk)
            job_event_send_on_commit(job_id=job.pk, status=JobStatus.FAILED, stage="failed", progress=0.0, error=error)
    if requeued or failed:
        logger.warning(
            "recovered jobs of dead workers: re-queued %s, failed %s", requeued, failed,
            extra={"requeued": requeued, "failed": failed, "restarted_worker": restarted_worker},
        )
    transaction.on_commit(runner.dispatch_missing)
    return {"requeued": requeued, "failed": failed}
