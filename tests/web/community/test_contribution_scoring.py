"""The automatic checks of a contribution run in the background (community.scoring): the row is
made at once with its checks queued, the scoring fills them with progress, a curator cannot
approve before, a failed scoring says why and can be retried, and a dead worker's scoring is
recovered by the sweep."""
from datetime import timedelta

import numpy as np
import pytest
from django.utils import timezone

from community import scoring
from community.models import Contribution, ContributionScoring
from tests.web.community.conftest import run_checks_of
from tests.web.conftest import client_for, stored_names

pytestmark = pytest.mark.django_db(transaction=True)


def submit(user, image):
    return client_for(user).post("/api/contributions/", {"image": image.pk, "license": "CC0", "consent": True},
                                 format="json")


def approve(curator, cid):
    return client_for(curator).post(f"/api/contributions/{cid}/review/", {"decision": "approve"}, format="json")


def test_a_contribution_is_saved_at_once_with_its_checks_queued(model_version, owner, curator, curated_image):
    response = submit(owner, curated_image(owner))

    assert response.status_code == 201, response.json()
    body = response.json()
    assert body["checks"] == [] and body["checks_run"]["status"] == "queued"
    contribution = Contribution.objects.get(pk=body["id"])
    assert not contribution.prediction_file and contribution.masks_file and contribution.image_file


def test_a_curator_cannot_approve_before_the_checks_have_run(model_version, owner, curator, curated_image):
    cid = submit(owner, curated_image(owner)).json()["id"]

    refused = approve(curator, cid)

    assert refused.status_code == 409
    assert "cannot be approved yet" in refused.json()["detail"] and "queued" in refused.json()["detail"]
    assert Contribution.objects.get(pk=cid).status == "submitted"
    run_checks_of(cid)
    assert approve(curator, cid).status_code == 200


def test_the_scoring_stores_the_prediction_and_fills_the_checks(model_version, owner, curated_image):
    cid = submit(owner, curated_image(owner)).json()["id"]

    done = run_checks_of(cid)

    assert (done.status, done.stage, done.progress, done.attempts) == ("succeeded", "succeeded", 1.0, 1)
    body = client_for(owner).get(f"/api/contributions/{cid}/").json()
    assert {c["name"] for c in body["checks"]} >= {"min_masks", "dense_labelling", "current_model_ap"}
    assert body["current_ap"] is not None and body["checks_run"]["status"] == "succeeded"
    contribution = Contribution.objects.get(pk=cid)
    assert contribution.prediction_file and contribution.checked_with_id == model_version.pk
    masks = client_for(owner).get(f"/api/contributions/{cid}/masks/").json()
    assert masks["prediction"] is not None


def test_the_scoring_reports_progress_while_the_model_runs(model_version, owner, curated_image, monkeypatch):
    cid = submit(owner, curated_image(owner)).json()["id"]
    seen = []
    real = scoring._update

    def spy(scoring_id, worker, **fields):
        seen.append(fields.get("progress"))
        real(scoring_id, worker, **fields)

    monkeypatch.setattr(scoring, "PROGRESS_INTERVAL_S", 0.0)
    monkeypatch.setattr(scoring, "_update", spy)
    run_checks_of(cid)

    assert len(seen) > 3 and seen == sorted(seen) and 0.1 < seen[-2] < 0.9 and seen[-1] == 0.9


def test_a_failed_scoring_says_why_and_can_be_retried(model_version, owner, curator, curated_image, monkeypatch):
    cid = submit(owner, curated_image(owner)).json()["id"]

    def broken(model_version):
        raise ValueError("the model file is unreadable")

    monkeypatch.setattr(scoring, "model_load", broken)
    failed = run_checks_of(cid)
    assert failed.status == "failed" and "the model file is unreadable" in failed.error
    refused = approve(curator, cid)
    assert refused.status_code == 409 and "the model file is unreadable" in refused.json()["detail"]

    monkeypatch.undo()
    retried = client_for(owner).post(f"/api/contributions/{cid}/checks/retry/", {}, format="json")
    assert retried.status_code == 202 and retried.json()["checks_run"] == {
        "status": "queued", "stage": "queued", "progress": 0.0, "error": ""}
    assert run_checks_of(cid).status == "succeeded"
    assert approve(curator, cid).status_code == 200


def test_checks_that_did_not_fail_cannot_be_retried_and_strangers_cannot_retry(
    model_version, owner, other_user, curated_image
):
    cid = submit(owner, curated_image(owner)).json()["id"]

    assert client_for(owner).post(f"/api/contributions/{cid}/checks/retry/", {}, format="json").status_code == 409
    assert client_for(other_user).post(f"/api/contributions/{cid}/checks/retry/", {}, format="json").status_code == 404


def test_a_result_for_a_snapshot_replaced_meanwhile_is_not_saved(model_version, owner, curated_image, monkeypatch):
    cid = submit(owner, curated_image(owner)).json()["id"]
    real = scoring.run_checks

    def resubmitted_meanwhile(**arrays):
        Contribution.objects.filter(pk=cid).update(masks_file="community/contributions/newer/masks.npz")
        return real(**arrays)

    monkeypatch.setattr(scoring, "run_checks", resubmitted_meanwhile)
    before = set(stored_names("community/contributions"))
    run_checks_of(cid)

    contribution = Contribution.objects.get(pk=cid)
    assert contribution.checks == [] and not contribution.prediction_file
    assert set(stored_names("community/contributions")) == before  # the prediction file was deleted


def test_a_resubmission_queues_the_checks_of_the_new_snapshot(model_version, owner, curator, curated_image, img2d):
    from annotations.services import annotation_save
    from tests.web.community.conftest import crop

    _, truth = crop(img2d, 0, 0)
    image = curated_image(owner, 0, 0, masks=np.where(np.isin(truth, np.unique(truth[truth > 0])[:6]), truth, 0))
    cid = submit(owner, image).json()["id"]
    run_checks_of(cid)
    first_prediction = Contribution.objects.get(pk=cid).prediction_file.name
    client_for(curator).post(f"/api/contributions/{cid}/review/", {"decision": "changes", "comment": "all"},
                             format="json")
    annotation_save(image=image, base_version=1, masks=truth, created_by=owner)

    again = client_for(owner).post(f"/api/contributions/{cid}/resubmit/", {}, format="json").json()

    assert again["checks"] == [] and again["checks_run"]["status"] == "queued"
    assert first_prediction not in stored_names("community/contributions")
    assert approve(curator, cid).status_code == 409
    assert run_checks_of(cid).status == "succeeded"
    assert approve(curator, cid).status_code == 200


def test_the_sweep_requeues_the_scoring_of_a_dead_worker_then_fails_it(model_version, owner, curated_image, settings):
    from cellposeweb import work

    settings.JOB_HEARTBEAT_TIMEOUT_S = 60
    settings.JOB_MAX_ATTEMPTS = 2
    cid = submit(owner, curated_image(owner)).json()["id"]
    stamp = timezone.now() - timedelta(minutes=10)
    ContributionScoring.objects.filter(contribution_id=cid).update(
        status="running", started_at=stamp, heartbeat_at=stamp, attempts=1, worker="gpu1@host", progress=0.4)
    row = ContributionScoring.objects.get(contribution_id=cid)

    assert work.sweep(scoring.SCORING) == {"requeued": [row.pk], "failed": []}
    row.refresh_from_db()
    assert (row.status, row.worker, row.heartbeat_at, row.progress) == ("queued", "", None, 0.0)

    ContributionScoring.objects.filter(pk=row.pk).update(status="running", heartbeat_at=stamp, attempts=2,
                                                          worker="gpu2@host")
    assert work.sweep(scoring.SCORING) == {"requeued": [], "failed": [row.pk]}
    row.refresh_from_db()
    assert row.status == "failed" and "stopped 2 times" in row.error


def test_scoring_is_a_registered_kind_of_background_work():
    from cellposeweb import work

    kind = work.kind("scoring")
    assert kind.model is ContributionScoring and kind.task == "community.contribution_score" and kind.by_id
