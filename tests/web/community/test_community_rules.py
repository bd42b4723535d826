"""Rules a curator or administrator could break by accident (community.rules)."""
import numpy as np
import pytest

from community.models import Contribution, Release
from inference.models import ModelVersion
from tests.web.conftest import client_for

pytestmark = pytest.mark.django_db


def review(user, cid, decision="approve"):
    return client_for(user).post(f"/api/contributions/{cid}/review/", {"decision": decision}, format="json")


def test_a_curator_cannot_approve_their_own_contribution(model_version, curator, curated_image, contribute):
    cid = contribute(curator, curated_image(curator)).json()["id"]

    response = review(curator, cid)

    assert response.status_code == 403 and "your own contribution" in response.json()["detail"]
    assert Contribution.objects.get(pk=cid).status == "submitted"


def test_the_same_image_version_cannot_be_contributed_twice(model_version, owner, curated_image, contribute):
    image = curated_image(owner)
    first = contribute(owner, image)
    assert first.status_code == 201

    again = contribute(owner, image)

    assert again.status_code == 409 and f"contribution {first.json()['id']}" in again.json()["detail"]


def test_one_pixel_masks_do_not_enter_the_review_queue(model_version, owner, curated_image, contribute):
    junk = np.zeros((128, 128), np.int32)
    junk[::16, ::16] = np.arange(1, 65).reshape(8, 8)

    response = contribute(owner, curated_image(owner, masks=junk))

    assert response.status_code == 400 and "median" in response.json()["detail"]
    assert not Contribution.objects.exists()


def test_roll_back_clicked_twice_restores_the_release_before_once(trained_and_released, admin_user, model_version):
    candidate = trained_and_released
    admin = client_for(admin_user)
    listed = {m["id"]: m for m in admin.get("/api/community/models/").json()}
    assert listed[candidate]["rollback_to"] == {"id": model_version.pk, "name": "tiny", "version": 1}

    first = admin.post(f"/api/models/{candidate}/rollback/")
    second = admin.post(f"/api/models/{candidate}/rollback/")

    assert first.status_code == 200 and second.status_code == 200
    assert first.json()["id"] == second.json()["id"] == model_version.pk
    assert ModelVersion.objects.get(is_current=True).pk == model_version.pk
    assert [r.action for r in Release.objects.order_by("id")] == ["release", "rollback"]
    # rolling back the restored model never re-releases the candidate just rolled back
    assert admin.post(f"/api/models/{model_version.pk}/rollback/").status_code == 409
    assert ModelVersion.objects.get(is_current=True).pk == model_version.pk


@pytest.fixture
def trained_and_released(approved_pair, admin_user):
    from community.training import training_run_execute
    from tests.web.community.conftest import TINY_TRAINING

    run = client_for(admin_user).post("/api/training-runs/", TINY_TRAINING, format="json").json()
    candidate = training_run_execute(run_id=run["id"], device="cpu").candidate_id
    assert client_for(admin_user).post(f"/api/models/{candidate}/release/").status_code == 200
    return candidate


def test_an_unreleased_model_is_for_administrators_only(model_version, owner, admin_user, image, tiny_model_path):
    from inference.model_versions import model_version_create

    candidate = model_version_create(name="candidate", file_path=tiny_model_path, make_current=False)
    body = {"model_version": candidate.pk}

    refused = client_for(owner).post(f"/api/images/{image.pk}/segment/", body, format="json")
    assert refused.status_code == 403 and "has not been released" in refused.json()["detail"]
    assert client_for(owner).post(f"/api/images/{image.pk}/segment/", {}, format="json").status_code == 202


def test_the_public_models_list_shows_released_models_without_contributor_names(model_version, admin_user,
                                                                                 tiny_model_path):
    from inference.model_versions import model_version_create

    model_version_create(name="candidate", file_path=tiny_model_path, make_current=False)

    public = client_for(None).get("/api/community/models/").json()
    assert [m["id"] for m in public] == [model_version.pk]
    assert all(m["contributors"] == [] for m in public)
    assert len(client_for(admin_user).get("/api/community/models/").json()) == 2


def test_the_segmentation_model_list_offers_non_admins_only_released_models(model_version, owner, admin_user,
                                                                             tiny_model_path):
    from inference.model_versions import model_version_create

    candidate = model_version_create(name="candidate", file_path=tiny_model_path, make_current=False)

    mine = client_for(owner).get("/api/models/")
    everything = client_for(admin_user).get("/api/models/")

    assert mine.status_code == 200 and [m["id"] for m in mine.json()] == [model_version.pk]
    assert {m["id"] for m in everything.json()} == {model_version.pk, candidate.pk}
    assert client_for(None).get("/api/models/").status_code == 401


def test_a_released_model_stays_in_the_list_after_a_newer_one_replaces_it(model_version, owner, admin_user,
                                                                           tiny_model_path):
    from inference.model_versions import model_version_create

    newer = model_version_create(name="newer", file_path=tiny_model_path, make_current=False)
    assert client_for(admin_user).post(f"/api/models/{newer.pk}/release/").status_code == 200

    for path in ("/api/models/", "/api/community/models/"):
        listed = {m["id"]: m["is_current"] for m in client_for(owner).get(path).json()}
        assert listed == {newer.pk: True, model_version.pk: False}, path
