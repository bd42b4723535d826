"""Celery tasks of the annotations app: thin wrappers that take ids and call one service.

The ingest of a tiled image goes to the "cpu" queue (settings.CELERY_TASK_ROUTES); its message is
acknowledged when the task ends (acks_late), and running it twice is harmless (the ingest is taken
by a compare-and-set, annotations.upload_ingest).
"""
from celery import shared_task

from annotations import upload_ingest

__all__ = ["upload_ingest_run_task"]


@shared_task(name="annotations.upload_ingest_run", bind=True, acks_late=True, ignore_result=True)
def upload_ingest_run_task(self, upload_id) -> None:
    """Build and register the tiled image of upload ``upload_id`` (a UUID), if its ingest is still queued."""
    upload_ingest.upload_ingest_run(upload_id=upload_id, worker=self.request.hostname or "")
