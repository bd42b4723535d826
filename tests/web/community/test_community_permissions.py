"""Who may do what in the community loop, for every endpoint: anonymous, the contributor
(owner), another user, a curator, an admin. Users contribute; curators review; admins mark test
data, train, release, roll back, export and import; everyone sees the public models list."""
import io

import pytest
import torch

from tests.web.community.conftest import TINY_TRAINING
from tests.web.conftest import client_for

pytestmark = pytest.mark.django_db

ROLES = ["anonymous", "owner", "other user", "curator", "admin"]
A, O, U, C, D = ROLES  # noqa: E741

# (method, path, body, {role: expected status})
ENDPOINTS = [
    ("get", "/api/contributions/", None, {A: 401, O: 200, U: 200, C: 200, D: 200}),
    ("post", "/api/contributions/", "contribute", {A: 401, O: 201, U: 404, C: 404, D: 201}),
    ("get", "/api/contributions/{submitted}/", None, {A: 401, O: 200, U: 404, C: 200, D: 200}),
    ("get", "/api/contributions/{submitted}/image/", None, {A: 401, O: 200, U: 404, C: 200, D: 200}),
    ("get", "/api/contributions/{submitted}/masks/", None, {A: 401, O: 200, U: 404, C: 200, D: 200}),
    ("post", "/api/contributions/{submitted}/review/", {"decision": "approve"}, {A: 401, O: 403, U: 403, C: 200, D: 200}),
    # the checks of {submitted} have run: those who may retry them are told there is nothing to retry
    ("post", "/api/contributions/{submitted}/checks/retry/", {}, {A: 401, O: 409, U: 404, C: 409, D: 409}),
    ("post", "/api/contributions/{train}/split/", {"split": "test"}, {A: 401, O: 403, U: 403, C: 403, D: 200}),
    ("get", "/api/test-set/", None, {A: 401, O: 403, U: 403, C: 403, D: 200}),
    ("get", "/api/training-runs/", None, {A: 401, O: 403, U: 403, C: 403, D: 200}),
    ("post", "/api/training-runs/", TINY_TRAINING, {A: 401, O: 403, U: 403, C: 403, D: 202}),
    ("get", "/api/training-runs/{run}/", None, {A: 401, O: 403, U: 403, C: 403, D: 200}),
    ("get", "/api/community/models/", None, {A: 200, O: 200, U: 200, C: 200, D: 200}),
    ("get", "/api/models/", None, {A: 401, O: 200, U: 200, C: 200, D: 200}),
    ("post", "/api/models/{candidate}/release/", None, {A: 401, O: 403, U: 403, C: 403, D: 200}),
    ("post", "/api/models/{current}/rollback/", None, {A: 401, O: 403, U: 403, C: 403, D: 409}),
    ("get", "/api/models/{current}/dataset.zip", None, {A: 401, O: 403, U: 403, C: 403, D: 409}),
    ("post", "/api/models/import/", "pth", {A: 401, O: 403, U: 403, C: 403, D: 201}),
]


@pytest.fixture
def world(approved_pair, owner, other_user, curator, admin_user, model_version, curated_image, contribute, tiny_model_path):
    from community.models import TrainingRun
    from inference.model_versions import model_version_create

    submitted = contribute(owner, curated_image(owner, 1, 0)).json()["id"]
    candidate = model_version_create(name="community", file_path=tiny_model_path)
    run = TrainingRun.objects.create(base=model_version, status="failed", active=None, params={})
    return {
        "ids": {"submitted": submitted, "train": approved_pair[0], "run": run.pk, "candidate": candidate.pk,
                "current": model_version.pk},
        "users": {A: None, O: owner, U: other_user, C: curator, D: admin_user},
        "image": curated_image(owner, 1, 1),
    }


def body_for(kind, world):
    if kind == "contribute":
        return {"image": world["image"].pk, "license": "CC0", "consent": True}, "json"
    if kind == "pth":
        from inference.engine.net import CellposeNet

        buf = io.BytesIO()
        torch.save(CellposeNet(nbase=(2, 8, 16)).to_cellpose_state_dict(), buf)
        buf.seek(0)
        buf.name = "cyto3_small.pth"
        return {"file": buf, "name": "imported"}, "multipart"
    return kind, "json"


def test_each_role_gets_the_expected_status_on_every_endpoint(world):
    """Every role on every endpoint against the same state (built once): each request runs in a
    savepoint that is rolled back, so a curator's approval does not change what the admin meets."""
    from django.db import transaction

    wrong = []
    for method, path, body, expected in ENDPOINTS:
        got = {}
        for role in ROLES:
            data, fmt = body_for(body, world)
            with transaction.atomic():
                response = getattr(client_for(world["users"][role]), method)(path.format(**world["ids"]), data=data, format=fmt)
                transaction.set_rollback(True)
            got[role] = response.status_code
            if response.status_code >= 400 and "detail" not in response.json():
                wrong.append(f"{method} {path} as {role}: no detail in {response.content[:200]!r}")
        if got != expected:
            wrong.append(f"{method} {path}: got {got}, expected {expected}")
    assert not wrong, "\n".join(wrong)


def test_a_user_sees_only_their_own_contributions_and_no_queue(world, other_user, owner):
    assert client_for(other_user).get("/api/contributions/").json()["count"] == 0
    assert client_for(other_user).get("/api/contributions/?scope=queue").status_code == 400
    assert client_for(owner).get("/api/contributions/").json()["count"] == 2


def test_the_queue_puts_failed_checks_last_and_low_ap_first(world, curator):
    from community.models import Contribution

    Contribution.objects.update(status="submitted")
    Contribution.objects.filter(pk=world["ids"]["train"]).update(checks_passed=False, priority=5.0)
    Contribution.objects.exclude(pk=world["ids"]["train"]).update(checks_passed=True)
    first, *_, last = Contribution.objects.exclude(pk=world["ids"]["train"]).order_by("pk")
    Contribution.objects.filter(pk=first.pk).update(priority=1.1)
    Contribution.objects.filter(pk=last.pk).update(priority=1.9)
    queue = [c["id"] for c in client_for(curator).get("/api/contributions/?scope=queue").json()["results"]]
    assert queue[0] == last.pk and queue[-1] == world["ids"]["train"]
