"""Celery tasks: thin wrappers that take ids and call one service."""
from celery import shared_task

from inference import services


@shared_task(name="inference.segmentation_job_run", acks_late=True, ignore_result=True)
def segmentation_job_run_task(job_id: int) -> None:
    services.segmentation_job_run(job_id=job_id)
