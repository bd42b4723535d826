"""The Celery application (production job runner, ``JOB_RUNNER=celery``).

Queues (settings.CELERY_TASK_ROUTES): ``gpu`` for segmentation, ``cpu`` for maintenance (the
recovery sweep, sent by ``celery beat``), ``training``. Run segmentation workers one job at a time
in the worker's own process::

    celery -A cellposeweb worker -Q gpu --pool=solo -n gpu1@%h     # CUDA is used when present
    celery -A cellposeweb worker -Q cpu --concurrency=2 --max-tasks-per-child=100
    celery -A cellposeweb beat

``--pool=solo`` matters: the engine's numba kernels use the OpenMP threading layer, which is not
safe across fork, so a segmentation worker must not fork after running them (prefork children
would). When a worker starts it recovers the jobs it was running before it stopped (see
inference.recovery); give each worker a stable name (``-n``) for that.
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


@worker_ready.connect
def recover_jobs_on_start(sender=None, **kwargs):
    """A worker that restarts re-queues the jobs it was running (their heartbeat may look fresh)."""
    from inference.recovery import segmentation_jobs_recover

    hostname = getattr(sender, "hostname", "") or ""
    try:
        result = segmentation_jobs_recover(restarted_worker=hostname)
    except Exception:  # the database may not be up yet: the periodic sweep will do it
        logger.warning("worker %s: could not recover jobs on start", hostname, exc_info=True)
        return
    if result["requeued"] or result["failed"]:
        logger.warning("worker %s recovered jobs on start: %s", hostname, result)
