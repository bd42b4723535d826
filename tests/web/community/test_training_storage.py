"""A training run stores its candidate's model file and its log before the transaction that
registers them (no storage I/O while the run's row is locked), and deletes them when that
transaction does not commit."""
import pytest

from tests.web.community.conftest import TINY_TRAINING
from tests.web.conftest import client_for, stored_names

pytestmark = pytest.mark.django_db(transaction=True)


def start_run(admin_user):
    response = client_for(admin_user).post("/api/training-runs/", TINY_TRAINING, format="json")
    assert response.status_code == 202, response.json()
    return response.json()["id"]


def test_the_candidate_and_log_are_stored_outside_the_registering_transaction(approved_pair, admin_user,
                                                                             storage_writes):
    from django.core.files.storage import default_storage

    from community.training import training_run_execute

    run = training_run_execute(run_id=start_run(admin_user), device="cpu")

    assert run.status == "succeeded", run.error
    written = dict(storage_writes)
    assert written[run.candidate.file.name] is False and written[run.log.name] is False
    assert default_storage.size(run.candidate.file.name) > 0 and default_storage.size(run.log.name) > 0


def test_a_run_whose_registration_fails_leaves_no_files(approved_pair, admin_user, monkeypatch):
    from community import training
    from inference.models import ModelVersion

    def refused(**kwargs):
        raise RuntimeError("the card could not be saved")

    models_before, runs_before = set(stored_names("models")), set(stored_names("community/runs"))
    monkeypatch.setattr(training.ModelCard.objects, "create", refused)
    run = training.training_run_execute(run_id=start_run(admin_user), device="cpu")

    assert run.status == "failed" and "the card could not be saved" in run.error
    assert set(stored_names("models")) == models_before and set(stored_names("community/runs")) == runs_before
    assert ModelVersion.objects.filter(name=training.CANDIDATE_NAME).count() == 0
    assert models_before  # the current model's file, saved before, is still there
