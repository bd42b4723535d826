"""Celery tasks: thin wrappers that take ids and call one service.

Routing (settings.CELERY_TASK_ROUTES): segmentation and the blocks of tiled images on the "gpu" queue, the recovery sweep on
"cpu". Messages are acknowledged when the task ends (acks_late), so one whose worker died is
delivered again; running it twice is harmless (every job is taken by a compare-and-set).
"""
from celery import shared_task

from cellposeweb import work
from inference import job_run, recovery, tiled_jobs


@shared_task(name="inference.segmentation_job_run", bind=True, acks_late=True, ignore_result=True)
def segmentation_job_run_task(self, job_id: int) -> None:
    """Run this job if it is still queued (an operator's tool: the web sends run_next)."""
    job_run.segmentation_job_run(job_id=job_id, worker=self.request.hostname or "")


@shared_task(name="inference.segmentation_job_run_next", bind=True, acks_late=True, ignore_result=True)
def segmentation_job_run_next_task(self) -> None:
    """A turn on a segmentation worker: run the queued job that is next in fair order."""
    job_run.segmentation_job_run_next(worker=self.request.hostname or "")


@shared_task(name="inference.job_block_run", bind=True, acks_late=True, ignore_result=True)
def job_block_run_task(self, block_id: int) -> None:
    """One block of a tiled image's segmentation, if it is still queued (inference.tiled_jobs)."""
    tiled_jobs.job_block_run(block_id=block_id, worker=self.request.hostname or "")


@shared_task(name="work.recover", ignore_result=True)
def work_recover_task() -> None:
    """The periodic sweep (celery beat): recover the work of dead workers (segmentation jobs and
    training runs, every kind registered with cellposeweb.work) and resend lost messages."""
    work.sweep_all()


@shared_task(name="inference.segmentation_jobs_recover", ignore_result=True)
def segmentation_jobs_recover_task() -> None:
    """Re-queue or fail segmentation jobs of dead workers, resend lost messages (beat runs
    ``work.recover``, which includes this; an operator's tool)."""
    recovery.segmentation_jobs_recover()
