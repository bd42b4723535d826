"""Celery tasks: thin wrappers that take ids and call one service (queue ``training``)."""
from celery import shared_task

from community import training


@shared_task(name="training.training_run_execute", bind=True, acks_late=True, ignore_result=True)
def training_run_execute_task(self, run_id: int) -> None:
    training.training_run_execute(run_id=run_id, worker=self.request.hostname or "")


@shared_task(name="training.training_runs_recover", ignore_result=True)
def training_runs_recover_task() -> None:
    """Re-queue or fail training runs of dead workers (celery beat runs ``work.recover``, which
    includes this; an operator's tool)."""
    training.training_runs_recover()
