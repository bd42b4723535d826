"""Celery tasks: thin wrappers that take ids and call one service (training on queue ``training``,
the automatic checks of contributions on ``gpu``: they run the model)."""
from celery import shared_task

from community import scoring, training


@shared_task(name="training.training_run_execute", bind=True, acks_late=True, ignore_result=True)
def training_run_execute_task(self, run_id: int) -> None:
    training.training_run_execute(run_id=run_id, worker=self.request.hostname or "")


@shared_task(name="training.training_runs_recover", ignore_result=True)
def training_runs_recover_task() -> None:
    """Re-queue or fail training runs of dead workers (celery beat runs ``work.recover``, which
    includes this; an operator's tool)."""
    training.training_runs_recover()


@shared_task(name="community.contribution_score", bind=True, acks_late=True, ignore_result=True)
def contribution_score_task(self, scoring_id: int) -> None:
    """The automatic checks of one contribution, if they are still queued (community.scoring)."""
    scoring.contribution_score(scoring_id=scoring_id, worker=self.request.hostname or "")
