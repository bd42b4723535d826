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
