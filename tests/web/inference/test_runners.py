"""Where a new job goes: the Celery task in production, nowhere when the runner is off."""
import pytest

from inference import runner
from inference.models import SegmentationJob
from inference.services import segmentation_job_create
from inference.tasks import segmentation_job_run_task

pytestmark = pytest.mark.django_db


@pytest.fixture
def eager_celery():
    from cellposeweb.celery import app

    app.conf.task_always_eager = True
    yield app
    app.conf.task_always_eager = False


def test_with_celery_a_new_job_runs_through_the_task_after_commit(owner, image, model_version, settings, eager_celery,
                                                                 django_capture_on_commit_callbacks):
    settings.JOB_RUNNER = "celery"

    with django_capture_on_commit_callbacks(execute=False) as callbacks:
        job = segmentation_job_create(owner=owner, images=[image], options={"augment": False, "diameter": 30})
    assert SegmentationJob.objects.get(pk=job.pk).status == "queued"
    for callback in callbacks:
        callback()

    assert SegmentationJob.objects.get(pk=job.pk).status == "succeeded"


def test_the_celery_task_runs_the_job_by_id(owner, image, model_version):
    job = segmentation_job_create(owner=owner, images=[image], options={"augment": False, "diameter": 30})

    segmentation_job_run_task(job.pk)

    assert SegmentationJob.objects.get(pk=job.pk).status == "succeeded"


def test_the_celery_app_reads_its_settings_and_finds_the_task():
    from cellposeweb.celery import app

    app.loader.import_default_modules()

    assert app.conf.broker_url.startswith("redis://")
    assert app.conf.task_acks_late is True
    assert "inference.segmentation_job_run" in app.tasks


def test_an_unknown_runner_is_an_error(settings):
    settings.JOB_RUNNER = "cron"

    with pytest.raises(ValueError, match="JOB_RUNNER must be"):
        runner._dispatch(1)
