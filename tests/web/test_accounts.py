"""Sign up, sign in, sign out, API tokens, and the API documentation pages."""
import re

import pytest
from django.contrib.auth import get_user_model
from django.test import Client

from tests.web.conftest import PASSWORD, client_for

pytestmark = pytest.mark.django_db


def test_signing_up_creates_an_account_and_signs_in(client):
    response = client.post(
        "/accounts/signup/", {"username": "newbie", "password1": "a-strong-pass-9876", "password2": "a-strong-pass-9876"}
    )

    assert response.status_code == 302 and response["Location"] == "/"
    assert get_user_model().objects.filter(username="newbie").exists()
    assert client.get("/").status_code == 200


def test_sign_up_shows_the_form_errors(client):
    response = client.post("/accounts/signup/", {"username": "x", "password1": "a", "password2": "b"})

    assert response.status_code == 200
    assert b"password" in response.content.lower()
    assert not get_user_model().objects.filter(username="x").exists()


def test_sign_up_can_be_closed(client, settings):
    settings.SIGNUP_ENABLED = False

    assert client.get("/accounts/signup/").status_code == 404


def test_signing_in_and_out(client, owner):
    assert client.get("/accounts/login/").status_code == 200

    response = client.post("/accounts/login/", {"username": "olivia", "password": PASSWORD})
    assert response.status_code == 302 and response["Location"] == "/"
    assert b"Signed in as olivia" in client.get("/").content

    response = client.post("/accounts/logout/")
    assert response.status_code == 302 and response["Location"] == "/accounts/login/"
    assert client.get("/")["Location"].startswith("/accounts/login/")


def test_the_home_page_needs_a_signed_in_user(client):
    response = client.get("/")

    assert response.status_code == 302 and response["Location"] == "/accounts/login/?next=/"


def test_a_session_signed_in_in_the_browser_works_for_the_api_with_csrf(owner, image):
    browser = Client(enforce_csrf_checks=True)
    browser.force_login(owner)

    assert browser.get("/api/images/").status_code == 200
    response = browser.delete(f"/api/images/{image.pk}/")
    assert response.status_code == 403 and "CSRF" in response.json()["detail"]


def test_a_token_is_issued_for_a_correct_password(owner):
    response = client_for(None).post("/api/auth/token/", {"username": "olivia", "password": PASSWORD}, format="json")

    assert response.status_code == 200
    assert len(response.json()["token"]) == 40


@pytest.mark.parametrize(
    "payload, detail",
    [
        ({"username": "olivia", "password": "wrong"}, "Unable to sign in with that username and password."),
        ({"username": "olivia"}, "password: This field is required."),
    ],
)
def test_a_token_is_refused_for_bad_credentials(owner, payload, detail):
    response = client_for(None).post("/api/auth/token/", payload, format="json")

    assert response.status_code == 400
    assert response.json()["detail"] == detail


def test_token_requests_are_rate_limited_per_address(owner, settings):
    settings.THROTTLE_RATES = {**settings.THROTTLE_RATES, "auth": "3/minute"}
    client = client_for(None)

    statuses = [client.post("/api/auth/token/", {"username": "olivia", "password": "guess"}, format="json").status_code for _ in range(4)]

    assert statuses == [400, 400, 400, 429]


def test_an_invalid_token_is_401(image):
    client = client_for(None)
    client.credentials(HTTP_AUTHORIZATION="Token not-a-real-token")

    response = client.get("/api/images/")

    assert response.status_code == 401
    assert response.json()["detail"] == "Invalid token."


def test_the_openapi_schema_describes_every_endpoint(client):
    response = client.get("/api/schema/", HTTP_ACCEPT="application/vnd.oai.openapi+json")

    assert response.status_code == 200
    paths = response.json()["paths"]
    for path in [
        "/api/auth/token/", "/api/images/", "/api/images/{image_id}/", "/api/images/{image_id}/thumbnail/",
        "/api/images/{image_id}/data/", "/api/images/{image_id}/segment/", "/api/images/{image_id}/masks/",
        "/api/images/{image_id}/flows/", "/api/images/{image_id}/cellprob/", "/api/images/{image_id}/annotation/",
        "/api/images/{image_id}/rethreshold/", "/api/jobs/", "/api/jobs/{job_id}/", "/api/jobs/{job_id}/cancel/",
        "/api/jobs/{job_id}/download.zip", "/api/models/",
    ]:
        assert path in paths, path


def test_the_swagger_ui_is_served_from_our_own_static_files(client):
    response = client.get("/api/docs/")

    assert response.status_code == 200
    page = response.content.decode()
    assert "swagger" in page.lower()
    assert "cdn.jsdelivr.net" not in page and "unpkg.com" not in page
    assert re.search(r"/static/drf_spectacular_sidecar/swagger-ui-dist/swagger-ui-bundle\.[0-9a-f]{12}\.js", page)



def test_the_asgi_app_serves_static_files():
    from asgiref.sync import async_to_sync
    from asgiref.testing import ApplicationCommunicator

    from cellposeweb.asgi import application  # the stack daphne serves

    path = "/static/rest_framework/css/bootstrap.min.css"

    async def fetch():
        scope = {"type": "http", "method": "GET", "path": path, "query_string": b"", "headers": [],
                 "http_version": "1.1", "scheme": "http", "server": ("testserver", 80), "client": ("127.0.0.1", 1)}
        communicator = ApplicationCommunicator(application, scope)
        await communicator.send_input({"type": "http.request", "body": b""})
        start = await communicator.receive_output(5)
        body = b""
        while True:
            message = await communicator.receive_output(5)
            body += message.get("body", b"")
            if not message.get("more_body"):
                return start["status"], body

    status, body = async_to_sync(fetch)()
    assert status == 200
    assert b"bootstrap" in body[:2000].lower()


def test_an_unknown_api_path_is_a_json_404(api):
    response = api.get("/api/nothing-here/")

    assert response.status_code == 404
    assert response.json() == {"detail": "No API endpoint at /api/nothing-here/."}


def test_uploading_json_instead_of_a_file_is_415(api):
    response = api.post("/api/images/", {"file": "x"}, format="json")

    assert response.status_code == 415
    assert "Unsupported media type" in response.json()["detail"]
