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

This module is configuration: it imports no app and no app logic. The apps' tasks are found by
``autodiscover_tasks`` once Django is set up, the web sends them by name (work.dispatch), and the
recovery on a worker's start (work.recover_on_worker_start) is connected by InferenceConfig.ready.
"""
import os

from celery import Celery

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "cellposeweb.settings")

app = Celery("cellposeweb")
app.config_from_object("django.conf:settings", namespace="CELERY")
app.autodiscover_tasks()
