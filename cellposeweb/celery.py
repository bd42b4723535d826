"""The Celery application (production job runner, ``JOB_RUNNER=celery``).

Queues (settings.CELERY_TASK_ROUTES): ``gpu`` for segmentation, ``cpu`` for maintenance (the
recovery sweep ``work.recover``, sent by ``celery beat``), ``training``. Run segmentation workers
one job at a time in the worker's own process::

    celery -A cellposeweb worker -Q gpu --pool=solo -n gpu1@%h     # CUDA is used when present
    celery -A cellposeweb worker -Q cpu --concurrency=2 --max-tasks-per-child=100
    celery -A cellposeweb worker -Q training --pool=solo -n train1@%h
    celery -A cellposeweb beat

``--pool=solo`` matters: the engine's numba kernels use the OpenMP threading layer, which is not
safe across fork, so a segmentation worker must not fork after running them (prefork children
would). When a worker starts it recovers the work it was running before it stopped (see
cellposeweb.work); give each worker a stable name (``-n``) for that.

This module is configuration: it imports no app. The apps' tasks are found by
``autodiscover_tasks`` once Django is set up, and the web sends them by name (work.dispatch).
"""
import logging
import os

from celery import Celery
from celery.signals import worker_ready

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "cellposeweb.settings")

logger = logging.getLogger(__name__)

app = Celery("cellposeweb")
app.config_from_object("django.conf:settings", namespace="CELERY")
app.autodiscover_tasks()


@app.task(name="work.recover", ignore_result=True)
def work_recover_task() -> None:
    """The periodic sweep (celery beat): recover the work of dead workers, resend lost messages."""
    from cellposeweb import work

    work.sweep_all()


@worker_ready.connect
def recover_work_on_start(sender=None, **kwargs):
    """A worker that restarts re-queues what it was running (its heartbeat may look fresh)."""
    from cellposeweb import work

    hostname = getattr(sender, "hostname", "") or ""
    try:
        result = work.sweep_all(restarted_worker=hostname)
    except Exception:  # the database may not be up yet: the periodic sweep will do it
        logger.warning("worker %s: could not recover work on start", hostname, exc_info=True)
        return
    if any(r["requeued"] or r["failed"] for r in result.values()):
        logger.warning("worker %s recovered work on start: %s", hostname, result)
