"""Who may do what, for every endpoint: anonymous, the owner, another user, a curator, an admin.

The policy (cellposeweb.access): private data is visible to its owner and to administrators only;
to everyone else it does not exist (404). Curators have no extra rights over private data yet.
Anonymous requests are 401.
"""
import numpy as np
import pytest

from annotations.encoding import encode_labels
from tests.web.conftest import client_for, tiff_bytes, upload

pytestmark = pytest.mark.django_db

ROLES = ["anonymous", "owner", "other user", "curator", "admin"]

# (method, path, body, status for the owner and admins, status for other users and curators)
ENDPOINTS = [
    ("get", "/api/images/", None, 200, 200),
    ("post", "/api/images/", "upload", 201, 201),
    ("get", "/api/images/{image}/", None, 200, 404),
    ("delete", "/api/images/{image}/", None, 204, 404),
    ("get", "/api/images/{image}/thumbnail/", None, 200, 404),
    ("get", "/api/images/{image}/data/", None, 200, 404),
    ("get", "/api/images/{image}/channels/", None, 200, 404),
    ("post", "/api/images/{image}/segment/", {}, 202, 404),
    ("get", "/api/images/{image}/masks/", None, 200, 404),
    ("get", "/api/images/{image}/flows/", None, 200, 404),
    ("get", "/api/images/{image}/cellprob/", None, 200, 404),
    ("get", "/api/images/{image}/annotation/", None, 200, 404),
    ("put", "/api/images/{image}/annotation/", "masks", 200, 404),
    ("get", "/api/images/{image}/annotation/versions/", None, 200, 404),
    ("post", "/api/images/{image}/annotation/versions/1/restore/", {}, 201, 404),
    ("post", "/api/images/{image}/rethreshold/", {}, 201, 404),
    ("get", "/api/jobs/", None, 200, 200),
    ("post", "/api/jobs/", "batch", 202, 404),
    ("get", "/api/jobs/{job}/", None, 200, 404),
    ("post", "/api/jobs/{queued_job}/cancel/", None, 200, 404),
    ("get", "/api/jobs/{job}/download.zip", None, 200, 404),
    ("get", "/api/models/", None, 200, 200),
]


@pytest.fixture
def world(segmented_image, make_image, owner, other_user, curator, admin_user):
    from inference.jobs import segmentation_job_create

    queued = segmentation_job_create(owner=owner, images=[make_image(name="waiting.tif")], options={})
    return {
        "ids": {"image": segmented_image.pk, "job": segmented_image.job.pk, "queued_job": queued.pk},
        "users": {"anonymous": None, "owner": owner, "other user": other_user, "curator": curator, "admin": admin_user},
        "image": segmented_image,
    }


def body_for(kind, world):
    if kind == "upload":
        return {"file": upload("new.tif", tiff_bytes(np.ones((16, 16), np.uint8)))}, "multipart"
    if kind == "masks":
        return {"version": 1, "masks": encode_labels(world["image"].true_masks)}, "json"
    if kind == "batch":
        return {"images": [world["image"].pk]}, "json"
    return kind, "json"


@pytest.mark.parametrize("role", ROLES)
@pytest.mark.parametrize("method, path, body, allowed, others", ENDPOINTS, ids=[f"{m} {p}" for m, p, *_ in ENDPOINTS])
def test_each_role_gets_the_expected_status(world, role, method, path, body, allowed, others):
    client = client_for(world["users"][role])
    data, fmt = body_for(body, world)

    response = getattr(client, method)(path.format(**world["ids"]), data=data, format=fmt)

    expected = {"anonymous": 401, "owner": allowed, "admin": allowed}.get(role, others)
    assert response.status_code == expected, getattr(response, "data", None)
    if expected >= 400:
        assert "detail" in response.json()


def test_lists_show_other_peoples_data_to_admins_only(world):
    counts = {
        role: (client_for(user).get("/api/images/").json()["count"], client_for(user).get("/api/jobs/").json()["count"])
        for role, user in world["users"].items()
        if user is not None
    }

    assert counts == {"owner": (2, 2), "other user": (0, 0), "curator": (0, 0), "admin": (2, 2)}


def test_the_permission_policy_is_one_function(world):
    from annotations.models import Image
    from cellposeweb.access import is_admin, is_curator, visible

    users = world["users"]
    assert is_curator(users["curator"]) and not is_curator(users["owner"])
    assert is_admin(users["admin"]) and not is_admin(users["curator"])
    visible_counts = {role: visible(Image.objects.all(), user=user).count() for role, user in users.items()}
    assert visible_counts == {"anonymous": 0, "owner": 2, "other user": 0, "curator": 0, "admin": 2}
