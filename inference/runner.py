"""Dispatching segmentation jobs to whatever runs them (settings.JOB_RUNNER).

* ``thread`` (embedded mode): one daemon thread in this process consumes a queue of job ids. When it
  starts it fails jobs a stopped process left running and picks up jobs left queued. A watchdog
  thread runs the recovery sweep every JOB_RECOVER_INTERVAL_S, as celery beat does in production;
  when the sweep takes a job from a worker thread that hung (its heartbeat stopped: no progress for
  JOB_STALL_TIMEOUT_S), a fresh worker thread takes over the queue and the hung one is abandoned.
  Embedded mode is one process; run several web processes only with ``celery``.
* ``celery``: an ``inference.segmentation_job_run_next`` message on the "gpu" queue, for a worker
  fed through CELERY_BROKER_URL. If the broker is down the job stays queued in the database and
  ``recovery.segmentation_jobs_recover`` (celery beat, and each worker's start) sends it later.
* ``off``: nothing runs jobs here (tests; a web process whose worker lives elsewhere).

Either way a message is a turn: the worker calls ``services.segmentation_job_run_next()``, which
takes the fairest queued job by a compare-and-set, so a message handed out twice still runs one job
once, and a lost message is made up for by the recovery sweep.
"""
import logging
import queue
import threading
import time

from django.conf import settings
from django.db import close_old_connections, connection, transaction
from django.db.utils import DatabaseError

logger = logging.getLogger(__name__)

_queue: "queue.Queue[int]" = queue.Queue()
_lock = threading.Lock()
_thread: threading.Thread | None = None
_watchdog: threading.Thread | None = None
_generation = 0  # a worker thread works while this equals the value it was started with
_running = 0  # the generation of the worker thread running a job now (0: none)


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
        from inference.tasks import segmentation_job_run_next_task

        try:
            segmentation_job_run_next_task.delay()
        except Exception as exc:  # the job is safe in the database; the recovery sweep sends it
            logger.warning("job %s: could not reach the broker (%s); it stays queued", job_id, exc, extra={"job_id": job_id})
    elif runner != "off":
        raise ValueError(f"JOB_RUNNER must be 'thread', 'celery' or 'off', got {runner!r}")


GPU_QUEUE = "gpu"
QUEUES = ("gpu", "cpu", "training")


def queue_lengths() -> dict[str, int]:
    """Messages waiting in each job queue ({} when JOB_RUNNER=off)."""
    if settings.JOB_RUNNER == "thread":
        return {"thread": _queue.qsize()}
    if settings.JOB_RUNNER != "celery":
        return {}
    from cellposeweb.celery import app

    lengths = {}
    with app.connection_for_read() as conn:
        channel = conn.default_channel
        client = getattr(channel, "client", None)
        for name in QUEUES:
            if client is not None and hasattr(client, "llen"):  # Redis: a list per queue
                lengths[name] = int(client.llen(name))
            else:
                lengths[name] = channel.queue_declare(queue=name, passive=True).message_count
    return lengths


def dispatch_missing() -> int:
    """Send one message for each queued job beyond the messages already waiting (a broker restart,
    or a broker that was down when the job was created, loses them); returns how many were sent.
    Extra messages are harmless: a worker that finds no queued job does nothing."""
    from inference.models import JobStatus, SegmentationJob

    if settings.JOB_RUNNER not in {"thread", "celery"}:
        return 0
    queued = SegmentationJob.objects.filter(status=JobStatus.QUEUED).count()
    if not queued:
        return 0
    try:
        waiting = queue_lengths().get("thread" if settings.JOB_RUNNER == "thread" else GPU_QUEUE, 0)
    except Exception as exc:  # the broker is down: the next sweep will try again
        logger.warning("could not read the queue lengths: %s", exc)
        return 0
    missing = max(0, queued - waiting)
    for _ in range(missing):
        _dispatch(0)
    if missing:
        logger.info("sent %d message(s) for queued jobs that had none", missing, extra={"sent": missing})
    return missing


def start() -> None:
    """Start the worker thread and its watchdog (once per process; later calls do nothing)."""
    global _watchdog
    with _lock:
        if _thread is None or not _thread.is_alive():
            _start_worker_locked()
        if _watchdog is None or not _watchdog.is_alive():
            _watchdog = threading.Thread(target=_watch, name="cellposeweb-jobs-watchdog", daemon=True)
            _watchdog.start()


def _start_worker_locked() -> None:
    global _thread, _generation
    _generation += 1
    _thread = threading.Thread(target=_work, args=(_generation,), name=f"cellposeweb-jobs-{_generation}", daemon=True)
    _thread.start()


def _worker_name(generation: int) -> str:
    return f"thread-{generation}"


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


def watch_once() -> dict:
    """One round of the embedded runner's watchdog: the recovery sweep, then a fresh worker thread
    if the sweep took its job from a hung one. Returns the sweep's ``{"requeued", "failed"}``."""
    from inference.recovery import segmentation_jobs_recover
    from inference.selectors import jobs_stale

    generation = _generation
    try:
        busy = _running == generation
        hung = set(jobs_stale().filter(worker=_worker_name(generation)).values_list("pk", flat=True)) if busy else set()
        result = segmentation_jobs_recover()
    except DatabaseError:
        logger.warning("job watchdog: the recovery sweep could not reach the database", exc_info=True)
        return {"requeued": [], "failed": []}
    finally:
        close_old_connections()
    if hung & set(result["requeued"] + result["failed"]):
        with _lock:
            if _generation == generation == _running:  # (not if it finished meanwhile)
                logger.error("job worker %s hung; a fresh worker thread takes over the queue", _worker_name(generation))
                _queue.task_done()  # the hung thread's message: it will not mark it done itself
                _start_worker_locked()
    start()  # and a worker thread that died is replaced
    return result


def _watch() -> None:
    while True:
        time.sleep(settings.JOB_RECOVER_INTERVAL_S)
        if settings.JOB_RUNNER != "thread":  # switched off (tests do, between the runner's tests)
            continue
        try:
            watch_once()
        except Exception:
            logger.exception("job watchdog failed; it tries again next round")
        finally:
            connection.close()


def _work(generation: int) -> None:
    global _running
    from inference.services import segmentation_job_run_next

    if generation == 1:
        recover()
    while _generation == generation:
        job_id = _queue.get()  # the job that was queued; the fairest queued job runs
        _running = generation
        try:
            close_old_connections()
            segmentation_job_run_next(worker=_worker_name(generation))
        except Exception:
            logger.exception("job %s: the worker failed", job_id)
        finally:
            connection.close()
            with _lock:
                if _running == generation:
                    _running = 0
                if _generation == generation:  # else the watchdog gave up on this thread and did it
                    _queue.task_done()
