"""Celery tasks: thin wrappers that take ids and call one service (queue ``training``)."""
from celery import shared_task

from community import training


@shared_task(name="training.training_run_execute", acks_late=True, ignore_result=True)
def training_run_execute_task(run_id: int) -> None:
    training.training_run_execute(run_id=run_id)
