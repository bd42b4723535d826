"""Where training runs go: a thread of this process in embedded mode, the Celery ``training``
queue in production; runs a stopped server left active do not block new ones."""
import time

import pytest

from community.models import TrainingRun
from tests.web.community.conftest import TINY_TRAINING
from tests.web.conftest import client_for

pytestmark = pytest.mark.django_db(transaction=True)


def test_in_embedded_mode_a_run_trains_in_a_background_thread(approved_pair, admin_user, settings):
    settings.JOB_RUNNER = "thread"
    run = client_for(admin_user).post("/api/training-runs/", TINY_TRAINING, format="json").json()
    deadline = time.monotonic() + 120
    while TrainingRun.objects.get(pk=run["id"]).status in ("queued", "running") and time.monotonic() < deadline:
        time.sleep(0.2)
    run = TrainingRun.objects.get(pk=run["id"])
    assert run.status == "succeeded", run.error
    assert run.candidate is not None and len(run.history) == 2


def test_in_production_the_task_goes_to_the_training_queue(settings):
    from cellposeweb.celery import app
    from community.tasks import training_run_execute_task

    route = app.amqp.router.route({}, training_run_execute_task.name)
    assert route["queue"].name == "training"


def test_a_run_left_active_by_a_stopped_server_is_failed_before_the_next_one(approved_pair, admin_user, model_version, settings):
    settings.JOB_RUNNER = "thread"
    stale = TrainingRun.objects.create(base=model_version, status="running", params={})  # no thread runs it

    started = client_for(admin_user).post("/api/training-runs/", TINY_TRAINING, format="json")

    assert started.status_code == 202
    stale.refresh_from_db()
    assert stale.status == "failed" and stale.active is None and "server stopped" in stale.error
    deadline = time.monotonic() + 120  # let the new run's thread finish before the database goes
    while TrainingRun.objects.get(pk=started.json()["id"]).status in ("queued", "running") and time.monotonic() < deadline:
        time.sleep(0.2)


def test_a_run_whose_worker_died_is_requeued_then_failed_once_out_of_attempts(model_version, settings):
    from datetime import timedelta

    from django.utils import timezone

    from community.training import training_runs_recover

    settings.JOB_HEARTBEAT_TIMEOUT_S = 60
    settings.JOB_MAX_ATTEMPTS = 2
    stamp = timezone.now() - timedelta(minutes=10)
    run = TrainingRun.objects.create(base=model_version, status="running", params={}, started_at=stamp,
                                     heartbeat_at=stamp, attempts=1, worker="train1@host", progress=0.3,
                                     history=[{"epoch": 1}])

    assert training_runs_recover() == {"requeued": [run.pk], "failed": []}
    run.refresh_from_db()
    assert (run.status, run.active, run.worker, run.heartbeat_at, run.progress, run.history) == (
        "queued", True, "", None, 0.0, [])

    TrainingRun.objects.filter(pk=run.pk).update(status="running", heartbeat_at=stamp, attempts=2, worker="train2@host")
    assert training_runs_recover() == {"requeued": [], "failed": [run.pk]}
    run.refresh_from_db()
    assert run.status == "failed" and run.active is None and "stopped 2 times" in run.error


def test_a_run_with_a_fresh_heartbeat_is_left_alone(model_version, settings):
    from django.utils import timezone

    from community.training import training_runs_recover

    settings.JOB_HEARTBEAT_TIMEOUT_S = 60
    run = TrainingRun.objects.create(base=model_version, status="running", params={}, heartbeat_at=timezone.now(),
                                     attempts=1, worker="train1@host")

    assert training_runs_recover() == {"requeued": [], "failed": []}
    assert TrainingRun.objects.get(pk=run.pk).status == "running"


def test_a_restarted_training_worker_recovers_its_run_at_once(model_version, settings):
    from django.utils import timezone

    from community.training import training_runs_recover

    run = TrainingRun.objects.create(base=model_version, status="running", params={}, heartbeat_at=timezone.now(),
                                     attempts=1, worker="train1@host")

    assert training_runs_recover(restarted_worker="train1@host") == {"requeued": [run.pk], "failed": []}
