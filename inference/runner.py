"""Dispatching segmentation jobs to whatever runs them (settings.JOB_RUNNER).

* ``thread`` (embedded mode): one daemon thread in this process consumes a queue of job ids. When it
  starts it fails jobs a stopped process left running and picks up jobs left queued. Embedded mode
  is one process; run several web processes only with ``celery``.
* ``celery``: the ``inference.segmentation_job_run`` task, on a worker fed through CELERY_BROKER_URL.
* ``off``: nothing runs jobs here (tests; a web process whose worker lives elsewhere).

Either way the worker calls ``services.segmentation_job_run(job_id=...)``, which takes the job by a
compare-and-set, so a job handed out twice still runs once.
"""
import logging
import queue
import threading

from django.conf import settings
from django.db import close_old_connections, connection, transaction
from django.db.utils import DatabaseError

logger = logging.getLogger(__name__)

_queue: "queue.Queue[int]" = queue.Queue()
_lock = threading.Lock()
_thread: threading.Thread | None = None


def enqueue_segmentation(job_id: int) -> None:
    """Hand the job to the runner once the current transaction commits."""
    transaction.on_commit(lambda: _dispatch(job_id))


def _dispatch(job_id: int) -> None:
    runner = settings.JOB_RUNNER
    if runner == "thread":
        start()
        _queue.put(job_id)
    elif runner == "celery":
        from cellposeweb.celery import app  # noqa: F401  (binds shared tasks to the configured app)
        from inference.tasks import segmentation_job_run_task

        segmentation_job_run_task.delay(job_id)
    elif runner != "off":
        raise ValueError(f"JOB_RUNNER must be 'thread', 'celery' or 'off', got {runner!r}")


def start() -> None:
    """Start the worker thread (once per process; later calls do nothing)."""
    global _thread
    with _lock:
        if _thread is not None and _thread.is_alive():
            return
        _thread = threading.Thread(target=_work, name="cellposeweb-jobs", daemon=True)
        _thread.start()


def start_if_enabled() -> None:
    if settings.JOB_RUNNER == "thread":
        start()


def is_idle() -> bool:
    """True when the worker thread has nothing queued and is not running a job."""
    return _queue.unfinished_tasks == 0


def recover() -> None:
    """Fail jobs a stopped process left running; queue the jobs left waiting (thread runner)."""
    from inference.models import JobStatus, SegmentationJob
    from inference.services import segmentation_jobs_fail_interrupted

    try:
        failed = segmentation_jobs_fail_interrupted()
        queued = SegmentationJob.objects.filter(status=JobStatus.QUEUED).order_by("created_at", "id")
        waiting = list(queued.values_list("id", flat=True))
    except DatabaseError:  # no tables yet (before the first migrate)
        logger.warning("job worker could not look for unfinished jobs", exc_info=True)
        return
    finally:
        close_old_connections()
    if failed:
        logger.warning("marked %d interrupted job(s) as failed", failed)
    for job_id in waiting:
        _queue.put(job_id)


def _work() -> None:
    from inference.services import segmentation_job_run

    recover()
    while True:
        job_id = _queue.get()
        try:
            close_old_connections()
            segmentation_job_run(job_id=job_id)
        except Exception:
            logger.exception("job %s: the worker failed", job_id)
        finally:
            connection.close()
            _queue.task_done()
