"""The whole loop through the API: contribute, review, train on the held-out test set, release,
segment with the new version; roll back."""
import numpy as np
import pytest

from community.models import Contribution, ReviewEvent, TrainingRun
from community.training import training_run_execute
from inference.models import ModelVersion, SegmentationJob
from tests.web.community.conftest import TINY_TRAINING
from tests.web.conftest import client_for

pytestmark = pytest.mark.django_db(transaction=True)


def test_two_users_contribute_a_curator_decides_an_admin_trains_and_releases(
    model_version, owner, contributor_b, curator, admin_user, curated_image, contribute, make_image
):
    # two users contribute curated images; a third image is held out as test data
    first = contribute(owner, curated_image(owner, 0, 0), license="CC-BY")
    second = contribute(contributor_b, curated_image(contributor_b, 0, 1))
    held_out = contribute(contributor_b, curated_image(contributor_b, 1, 1))
    assert first.status_code == second.status_code == held_out.status_code == 201, first.json()
    body = first.json()
    assert body["status"] == "submitted" and body["license"] == "CC-BY"
    names = [check["name"] for check in body["checks"]]
    assert names == ["min_masks", "no_overlaps", "dense_labelling", "manual_share", "current_model_ap"]
    assert all(check["reason"] for check in body["checks"])
    assert body["checks"][3]["value"] == 1.0  # every mask drawn by hand

    # the curator's queue holds all three; approve one, reject one, approve the test image
    queue = client_for(curator).get("/api/contributions/").json()
    assert {c["id"] for c in queue["results"]} == {first.json()["id"], second.json()["id"], held_out.json()["id"]}
    curator_api = client_for(curator)
    assert curator_api.post(f"/api/contributions/{first.json()['id']}/review/", {"decision": "approve", "comment": "fine"}, format="json").status_code == 200
    rejected = curator_api.post(f"/api/contributions/{second.json()['id']}/review/", {"decision": "reject", "comment": "blurry"}, format="json")
    assert rejected.json()["status"] == "rejected"
    assert curator_api.post(f"/api/contributions/{held_out.json()['id']}/review/", {"decision": "approve"}, format="json").status_code == 200
    admin = client_for(admin_user)
    assert admin.post(f"/api/contributions/{held_out.json()['id']}/split/", {"split": "test"}, format="json").json()["split"] == "test"

    # the contributor sees the decision and the comment
    mine = client_for(contributor_b).get(f"/api/contributions/{second.json()['id']}/").json()
    assert mine["status"] == "rejected"
    assert [(e["decision"], e["comment"], e["actor"]) for e in mine["events"]][-1] == ("reject", "blurry", "cora")

    # an admin trains a few short epochs (the worker is called here; JOB_RUNNER is off)
    started = admin.post("/api/training-runs/", TINY_TRAINING, format="json")
    assert started.status_code == 202, started.json()
    run_id = started.json()["id"]
    assert started.json()["contributions"] == [first.json()["id"]]  # approved, train, not yet used
    training_run_execute(run_id=run_id, device="cpu")
    run = admin.get(f"/api/training-runs/{run_id}/").json()
    assert run["status"] == "succeeded", run["error"]
    assert [r["epoch"] for r in run["history"]] == [1, 2] and len(run["losses"]) == 2
    assert all(r["val_ap50"] is not None for r in run["history"])
    candidate = ModelVersion.objects.get(pk=run["candidate"])
    for who in ("candidate", "current"):
        assert set(run["metrics"][who]) >= {"ap50", "ap75", "ap90", "per_tag", "n_images"}
        assert run["metrics"][who]["n_images"] == 1
        assert set(run["metrics"][who]["per_tag"]) == {"fluorescence", "nuclei"}
    assert run["metrics"]["test_contributions"] == [held_out.json()["id"]]
    assert not candidate.is_current and candidate.card.contributions.count() == 1

    # release: new segmentation jobs record the new version
    released = admin.post(f"/api/models/{candidate.pk}/release/")
    assert released.status_code == 200 and released.json()["is_current"]
    job = client_for(owner).post(f"/api/images/{make_image(name='new.tif').pk}/segment/", {}, format="json").json()
    assert job["model_version"]["id"] == candidate.pk
    assert SegmentationJob.objects.get(pk=job["id"]).model_version_id == candidate.pk
    assert client_for(owner).get(f"/api/contributions/{first.json()['id']}/").json()["used_in"][0]["version"] == candidate.version

    # the models page credits the contributor to signed-in users; anonymous clients see no names
    listed = {m["id"]: m for m in client_for(owner).get("/api/community/models/").json()}
    assert listed[candidate.pk]["contributors"] == ["olivia"] and listed[candidate.pk]["is_current"]
    anonymous = {m["id"]: m for m in client_for().get("/api/community/models/").json()}
    assert anonymous[candidate.pk]["contributors"] == [] and anonymous[candidate.pk]["is_current"]

    # roll back restores the previous model
    rolled = admin.post(f"/api/models/{candidate.pk}/rollback/")
    assert rolled.status_code == 200 and rolled.json()["id"] == model_version.pk
    assert ModelVersion.objects.get(is_current=True).pk == model_version.pk
    assert ReviewEvent.objects.filter(contribution__pk=second.json()["id"], decision="reject").count() == 1


def test_a_failed_training_run_changes_nothing(approved_pair, admin_user, model_version, monkeypatch):
    versions_before = list(ModelVersion.objects.values_list("pk", "is_current"))
    run = client_for(admin_user).post("/api/training-runs/", TINY_TRAINING, format="json").json()

    def broken(*args, **kwargs):
        raise RuntimeError("CUDA out of memory")

    monkeypatch.setattr("inference.engine.train.train", broken)
    training_run_execute(run_id=run["id"], device="cpu")

    run = TrainingRun.objects.get(pk=run["id"])
    assert run.status == "failed" and "CUDA out of memory" in run.error and run.active is None
    assert list(ModelVersion.objects.values_list("pk", "is_current")) == versions_before
    assert run.candidate is None
    assert Contribution.objects.get(pk=approved_pair[0]).model_cards.count() == 0
    # and the next run may start
    assert client_for(admin_user).post("/api/training-runs/", TINY_TRAINING, format="json").status_code == 202


def test_only_one_training_run_at_a_time_and_a_cancelled_one_registers_nothing(approved_pair, admin_user):
    admin = client_for(admin_user)
    first = admin.post("/api/training-runs/", TINY_TRAINING, format="json")
    second = admin.post("/api/training-runs/", TINY_TRAINING, format="json")
    assert first.status_code == 202 and second.status_code == 409
    cancelled = admin.post(f"/api/training-runs/{first.json()['id']}/cancel/")
    assert cancelled.json()["status"] == "cancelled"
    assert training_run_execute(run_id=first.json()["id"], device="cpu") is None
    assert ModelVersion.objects.count() == 1


def test_a_contribution_is_a_frozen_snapshot(model_version, owner, curated_image, contribute):
    from annotations.services import annotation_save
    from community.snapshots import contribution_arrays

    image = curated_image(owner, 0, 0)
    contribution = Contribution.objects.get(pk=contribute(owner, image).json()["id"])
    _, before = contribution_arrays(contribution)
    annotation_save(image=image, base_version=1, masks=np.zeros_like(before), created_by=owner)
    image.delete()

    contribution.refresh_from_db()
    _, after = contribution_arrays(contribution)
    assert np.array_equal(before, after) and contribution.annotation_version == 1 and before.max() > 5


def test_checks_flag_too_few_masks_and_model_masks(model_version, owner, curated_image, contribute, img2d):
    from annotations.models import Annotation
    from annotations.services import annotation_create
    from tests.web.community.conftest import crop

    _, truth = crop(img2d, 0, 0)
    sparse = np.where(np.isin(truth, np.unique(truth[truth > 0])[:2]), truth, 0)  # two nuclei
    image = curated_image(owner, 0, 0, masks=sparse)
    checks = {c["name"]: c for c in contribute(owner, image).json()["checks"]}
    assert not checks["min_masks"]["ok"] and "at least" in checks["min_masks"]["reason"]

    image = curated_image(owner, 1, 0)
    annotation_create(image=image, masks=truth, source=Annotation.Source.MODEL)
    body = contribute(owner, image).json()
    assert not {c["name"]: c for c in body["checks"]}["manual_share"]["ok"]
    assert not body["checks_passed"]


def test_licence_and_consent_must_be_given(model_version, owner, curated_image, contribute):
    image = curated_image(owner)
    assert contribute(owner, image, license="MIT").status_code == 400
    assert contribute(owner, image, consent=False).status_code == 400
    no_licence = contribute(owner, image)
    assert no_licence.status_code == 201
    from tests.web.conftest import client_for as c

    assert c(owner).post("/api/contributions/", {"image": image.pk, "consent": True}, format="json").status_code == 400


def test_after_changes_are_requested_the_contributor_resubmits_the_corrected_masks(
    model_version, owner, curator, other_user, curated_image, contribute, img2d
):
    from annotations.services import annotation_save
    from tests.web.community.conftest import crop

    _, truth = crop(img2d, 0, 0)
    image = curated_image(owner, 0, 0, masks=np.where(np.isin(truth, np.unique(truth[truth > 0])[:3]), truth, 0))
    cid = contribute(owner, image).json()["id"]
    asked = client_for(curator).post(f"/api/contributions/{cid}/review/", {"decision": "changes", "comment": "label every nucleus"}, format="json")
    assert asked.json()["status"] == "changes"
    assert client_for(curator).post(f"/api/contributions/{cid}/resubmit/", {}, format="json").status_code == 404
    annotation_save(image=image, base_version=1, masks=truth, created_by=owner)

    again = client_for(owner).post(f"/api/contributions/{cid}/resubmit/", {}, format="json")

    assert again.status_code == 200, again.json()
    body = again.json()
    assert body["status"] == "submitted" and body["annotation_version"] == 2 and body["n_masks"] > 3
    assert [e["decision"] for e in body["events"]] == ["submit", "changes", "submit"]
    assert client_for(owner).post(f"/api/contributions/{cid}/resubmit/", {}, format="json").status_code == 409
