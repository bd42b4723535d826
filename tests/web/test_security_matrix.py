"""Authentication and authorisation on every route, read from the OpenAPI schema, for every role:
anonymous, the owner, another user, a curator and an administrator; and on every websocket route.

The schema is the list of routes, so a new endpoint is covered the day it is added:
* anonymous: 401 everywhere but the routes the schema declares public (an empty security
  requirement), and those must be on the reviewed list below;
* routes on an image, a job or an upload (``{image_id}``, ``{job_id}``, ``{upload_id}``): the owner and administrators are let
  through (never 401/403/404), everyone else gets 404, as if the object did not exist;
* every request of every role ends without a server error.
"""
import re

import numpy as np
import pytest
from asgiref.sync import async_to_sync
from channels.testing import WebsocketCommunicator
from django.test import Client

from tests.web.conftest import client_for, tiff_bytes, upload

pytestmark = pytest.mark.django_db

ROLES = ["anonymous", "owner", "other user", "curator", "admin"]
# Routes reviewed as public: signing in, and the catalogue of released community models.
REVIEWED_PUBLIC = {("post", "/api/auth/token/"), ("get", "/api/community/models/")}
METHODS = ("get", "post", "put", "patch", "delete")


def api_schema():
    from drf_spectacular.generators import SchemaGenerator

    return SchemaGenerator().get_schema(request=None, public=True)


SCHEMA = api_schema()
OPERATIONS = sorted((m, p) for p, ops in SCHEMA["paths"].items() for m in ops if m in METHODS)
PUBLIC = {(m, p) for m, p in OPERATIONS if {} in SCHEMA["paths"][p][m].get("security", [{}])}


def test_only_reviewed_routes_are_public():
    assert PUBLIC <= REVIEWED_PUBLIC, f"new public routes to review: {sorted(PUBLIC - REVIEWED_PUBLIC)}"


def tiled_with_labels(owner, tmp_path):
    """A small image stored tiled with one (empty) labels array, for the routes of label arrays."""
    import tifffile

    from annotations import slides
    from annotations.models import Image
    from annotations.sources import open_source

    path = tmp_path / "tiled.tif"
    tifffile.imwrite(path, np.ones((64, 64), np.uint8))
    with open_source(path, max_pixels=2**20) as source:
        image = Image.objects.create(owner=owner, name="tiled.tif", file="images/x/tiled.tif", shape=[64, 64],
                                     dtype="uint8", axes="YX", size_bytes=1, sha256="0" * 64, tiled=True)
        image.display = slides.write_pixels(image, source)
    image.save()
    slides.create_labels(image, key="cells")
    slides.build_label_pyramid(image, key="cells")
    return image


@pytest.fixture
def world(segmented_image, make_image, owner, other_user, curator, admin_user, tmp_path):
    from inference.jobs import segmentation_job_create

    from annotations.uploads import upload_start

    queued = segmentation_job_create(owner=owner, images=[make_image(name="waiting.tif")], options={})
    started = upload_start(owner=owner, name="big.tif", size=10, sha256="0" * 64)
    return {
        "image": segmented_image,
        "users": {"anonymous": None, "owner": owner, "other user": other_user, "curator": curator, "admin": admin_user},
        "params": {"image_id": segmented_image.pk, "job_id": segmented_image.job.pk, "version": 1,
                   "upload_id": started.pk, "level": 0, "z": 0, "col": 0, "row": 0},
        "queued_job": queued.pk,
        "tiled": tiled_with_labels(owner, tmp_path),
    }


def concrete(path, method, world):
    import re

    params = dict(world["params"])
    if path.endswith("/cancel/") and "{job_id}" in path:
        params["job_id"] = world["queued_job"]
    if "{key}" in path:  # a labels array: those of a tiled image
        params.update(image_id=world["tiled"].pk, key="cells")
    return re.sub(r"\{(\w+)\}", lambda m: str(params.get(m.group(1), 999999)), path)


def body(method, path, world):
    from annotations.encoding import encode_labels

    if (method, path) == ("post", "/api/images/"):
        return {"file": upload("new.tif", tiff_bytes(np.ones((16, 16), np.uint8)))}, "multipart"
    if (method, path) == ("put", "/api/images/{image_id}/annotation/"):
        return {"version": 1, "masks": encode_labels(world["image"].true_masks)}, "json"
    if (method, path) == ("post", "/api/jobs/"):
        return {"images": [world["image"].pk]}, "json"
    return {}, "json"


def owns_the_object(path):
    return "{image_id}" in path or "{job_id}" in path or "{upload_id}" in path


@pytest.mark.parametrize("role", ROLES)
@pytest.mark.parametrize("method, path", OPERATIONS, ids=[f"{m} {p}" for m, p in OPERATIONS])
def test_every_api_route_enforces_who_may_use_it(world, role, method, path):
    client = client_for(world["users"][role])
    data, fmt = body(method, path, world)

    response = getattr(client, method)(concrete(path, method, world), data=data, format=fmt)

    status = response.status_code
    assert status < 500, (role, method, path, status, getattr(response, "data", None))
    if role == "anonymous":
        if (method, path) in PUBLIC:
            assert status != 401, (method, path, status)
        else:
            assert status == 401, (method, path, status)
    elif owns_the_object(path):
        if role in ("owner", "admin"):
            assert status not in (401, 403, 404), (role, method, path, status, getattr(response, "data", None))
        else:
            assert status == 404, (role, method, path, status)


def test_the_schema_lists_the_routes_this_test_relies_on():
    assert ("put", "/api/images/{image_id}/annotation/") in OPERATIONS or (
        "post", "/api/images/{image_id}/annotation/") in OPERATIONS
    assert {("get", "/api/images/{image_id}/"), ("post", "/api/jobs/"), ("get", "/api/jobs/{job_id}/download.zip")} <= set(
        OPERATIONS
    )


@pytest.mark.parametrize("role", ROLES)
def test_lists_never_show_other_peoples_objects(world, role):
    user = world["users"][role]
    if user is None:
        pytest.skip("anonymous gets 401 (above)")
    images = client_for(user).get("/api/images/").json()
    jobs = client_for(user).get("/api/jobs/").json()
    sees_all = role in ("owner", "admin")
    assert (images["count"] > 0) is sees_all and (jobs["count"] > 0) is sees_all


# -- websockets -----------------------------------------------------------------------------------


def websocket_routes():
    from inference.routing import websocket_urlpatterns

    return [str(pattern.pattern) for pattern in websocket_urlpatterns]


def session_headers(user):
    headers = [(b"origin", b"http://testserver")]
    if user is not None:
        client = Client()
        client.force_login(user)
        headers.append((b"cookie", f"sessionid={client.cookies['sessionid'].value}".encode()))
    return headers


@pytest.mark.django_db(transaction=True)  # consumers read the database on their own thread
@pytest.mark.parametrize("role", ROLES)
@pytest.mark.parametrize("route", websocket_routes())
def test_every_websocket_route_enforces_who_may_listen(world, role, route):
    from cellposeweb.asgi import application

    path = "/" + route.replace("<int:job_id>", str(world["params"]["job_id"]))
    headers = session_headers(world["users"][role])

    async def connect():
        communicator = WebsocketCommunicator(application, path, headers=headers)
        connected, code = await communicator.connect()
        if connected:
            await communicator.receive_json_from(timeout=10)
            await communicator.disconnect()
        return connected, code

    connected, code = async_to_sync(connect)()

    expected = {"anonymous": (False, 4401), "owner": (True, None), "admin": (True, None)}.get(role, (False, 4404))
    assert (connected, code if not connected else None) == expected


def all_websocket_routes(application):
    """The websocket URL patterns of the ASGI application, unwrapped from its middleware."""
    from channels.routing import URLRouter

    app = application.application_mapping["websocket"]
    while not isinstance(app, URLRouter):
        app = getattr(app, "application", None) or app.inner
    return [str(route.pattern) for route in app.routes]


@pytest.mark.django_db(transaction=True)
def test_every_websocket_route_refuses_anonymous_clients(world):
    import re

    from cellposeweb.asgi import application

    routes = all_websocket_routes(application)
    assert set(websocket_routes()) <= set(routes)
    for route in routes:
        path = "/" + re.sub(r"<(?:\w+:)?(\w+)>", lambda m: str(world["params"].get(m.group(1), 1)), route)

        async def connect():
            communicator = WebsocketCommunicator(application, path, headers=session_headers(None))
            connected, _ = await communicator.connect()
            if connected:
                await communicator.disconnect()
            return connected

        assert async_to_sync(connect)() is False, route


@pytest.mark.django_db(transaction=True)
def test_a_websocket_from_another_site_is_refused(world):
    from cellposeweb.asgi import application

    headers = [(b"origin", b"https://evil.example")] + session_headers(world["users"]["owner"])[1:]

    async def connect():
        communicator = WebsocketCommunicator(application, f"/ws/jobs/{world['params']['job_id']}/", headers=headers)
        connected, _ = await communicator.connect()
        return connected

    assert async_to_sync(connect)() is False


# -- pages and other routes -----------------------------------------------------------------------


@pytest.mark.parametrize("role", ROLES)
def test_the_image_page_is_only_for_those_who_may_see_the_image_and_holds_no_data_of_its_own(world, role):
    """The page is a shell whose script asks the API (above) for the image; someone who may not
    see the image gets the same 404 as for a missing one."""
    client = Client()
    if world["users"][role] is not None:
        client.force_login(world["users"][role])

    response = client.get(f"/images/{world['image'].pk}/")

    if role == "anonymous":
        assert response.status_code == 302 and response["Location"].startswith("/accounts/login/")
    elif role in ("other user", "curator"):
        assert response.status_code == 404
        assert world["image"].name.encode() not in response.content
    else:
        assert response.status_code == 200
        assert world["image"].name.encode() not in response.content
        assert world["image"].file.name.encode() not in response.content


@pytest.mark.parametrize("role, expected", [("anonymous", 302), ("owner", 302), ("curator", 302), ("admin", 200)])
def test_the_admin_site_is_for_staff_only(world, role, expected):
    client = Client()
    if world["users"][role] is not None:
        client.force_login(world["users"][role])

    assert client.get("/admin/").status_code == expected


@pytest.mark.parametrize("role", ROLES)
def test_stored_files_have_no_url_of_their_own(world, role):
    image = world["image"]
    client = Client()
    if world["users"][role] is not None:
        client.force_login(world["users"][role])

    for name in (image.file.name, image.thumbnail.name, image.annotations.first().masks.name):
        assert client.get(f"/media/{name}").status_code == 404
        assert client.get(f"/{name}").status_code == 404
    detail = client_for(world["users"]["owner"]).get(f"/api/images/{image.pk}/").content.decode()
    assert image.file.name not in detail and image.thumbnail.name not in detail
