"""Dispatching training runs (settings.JOB_RUNNER, as segmentation jobs are dispatched):

* ``thread`` (embedded mode): a daemon thread per run in this process (at most one run is active).
* ``celery``: the ``training.training_run_execute`` task, routed to the ``training`` queue
  (settings.CELERY_TASK_ROUTES ``training.*``), on a worker with a GPU when there is one.
* ``off``: nothing runs them here (tests call ``community.training.training_run_execute``).

The worker calls ``community.training.training_run_execute(run_id=...)``, which takes the run by a
compare-and-set, so a run handed out twice still runs once.
"""
import logging
import threading

from django.conf import settings
from django.db import connection, transaction

logger = logging.getLogger(__name__)

_lock = threading.Lock()
_threads: dict[int, threading.Thread] = {}


def enqueue_training(run_id: int) -> None:
    transaction.on_commit(lambda: _dispatch(run_id))


def _dispatch(run_id: int) -> None:
    mode = settings.JOB_RUNNER
    if mode == "thread":
        thread = threading.Thread(target=_work, args=(run_id,), name=f"cellposeweb-training-{run_id}", daemon=True)
        with _lock:
            _threads[run_id] = thread
        thread.start()
    elif mode == "celery":
        from cellposeweb.celery import app  # noqa: F401  (binds shared tasks to the configured app)
        from community.tasks import training_run_execute_task

        training_run_execute_task.delay(run_id)


def _work(run_id: int) -> None:
    from community.training import training_run_execute

    try:
        training_run_execute(run_id=run_id)
    except Exception:
        logger.exception("training run %s: the worker failed", run_id)
    finally:
        connection.close()
        with _lock:
            _threads.pop(run_id, None)


def is_running_here(run_id: int) -> bool:
    with _lock:
        thread = _threads.get(run_id)
    return thread is not None and thread.is_alive()


def recover_interrupted() -> int:
    """Thread runner only (one process runs everything): fail active runs no thread of this
    process is running, left behind by a stopped server, so they do not block new runs."""
    if settings.JOB_RUNNER != "thread":
        return 0
    from community.training import training_run_fail

    stale = 0
    from community.models import TrainingRun

    for run_id in TrainingRun.objects.filter(active=True).values_list("pk", flat=True):
        if not is_running_here(run_id):
            stale += training_run_fail(run_id=run_id, error="The server stopped while this run was active.")
    return stale
