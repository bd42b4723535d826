"""Where a new job goes: the Celery task (sent by name) in production, nowhere when the runner is off."""
import pytest

from cellposeweb import work
from inference.models import SegmentationJob
from inference.recovery import SEGMENTATION
from inference.jobs import segmentation_job_create
from inference.tasks import segmentation_job_run_task

pytestmark = pytest.mark.django_db


def test_with_celery_a_new_job_is_sent_by_task_name_after_commit_and_that_task_runs_it(
        owner, image, model_version, settings, monkeypatch, django_capture_on_commit_callbacks):
    from cellposeweb.celery import app

    settings.JOB_RUNNER = "celery"
    sent = []
    monkeypatch.setattr(app, "send_task", lambda name, args=None, **kwargs: sent.append((name, args, kwargs["queue"])))

    with django_capture_on_commit_callbacks(execute=False) as callbacks:
        job = segmentation_job_create(owner=owner, images=[image], options={"augment": False, "diameter": 30})
    assert SegmentationJob.objects.get(pk=job.pk).status == "queued" and sent == []
    for callback in callbacks:
        callback()
    assert sent == [("inference.segmentation_job_run_next", [], "gpu")]

    app.loader.import_default_modules()
    name, args, _ = sent[0]
    app.tasks[name](*args)  # what the worker does with the message

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
    for kind in work.kinds():  # every kind's messages go to a task the workers know
        assert kind.task in app.tasks
    assert "work.recover" in app.tasks


def test_an_unknown_runner_is_an_error(settings):
    settings.JOB_RUNNER = "cron"

    with pytest.raises(ValueError, match="JOB_RUNNER must be"):
        work.dispatch(SEGMENTATION, 1)
