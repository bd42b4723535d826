"""The Celery application (production job runner, ``JOB_RUNNER=celery``).

Run a worker with ``celery -A cellposeweb worker --concurrency=1`` (one model per GPU).
"""
import os

from celery import Celery

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "cellposeweb.settings")

app = Celery("cellposeweb")
app.config_from_object("django.conf:settings", namespace="CELERY")
app.autodiscover_tasks()
