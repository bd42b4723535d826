"""Password rules at sign-up, and API tokens that expire, rotate and can be revoked."""
from datetime import timedelta

import pytest
from django.contrib.auth import get_user_model
from django.test import Client
from django.utils import timezone
from rest_framework.authtoken.models import Token

from tests.web.conftest import PASSWORD, client_for

pytestmark = pytest.mark.django_db


@pytest.mark.parametrize("password", [" " * 8, " " * 12, "8237419563", "grigoriy-pass", "aaaaaaaaaaaa", "abababababab"])
def test_sign_up_refuses_blank_numeric_similar_and_repetitive_passwords(client, password):
    response = client.post("/accounts/signup/", {"username": "grigoriy-pass", "password1": password, "password2": password})

    assert response.status_code == 200
    assert not get_user_model().objects.filter(username="grigoriy-pass").exists()


def token(username="olivia", password=PASSWORD):
    return client_for(None).post("/api/auth/token/", {"username": username, "password": password}, format="json")


def with_token(key):
    client = client_for(None)
    client.credentials(HTTP_AUTHORIZATION=f"Token {key}")
    return client


def test_an_expired_token_is_refused_and_the_next_sign_in_issues_a_new_one(owner, settings):
    settings.TOKEN_TTL_S = 3600
    key = token().json()["token"]
    assert with_token(key).get("/api/images/").status_code == 200
    Token.objects.filter(key=key).update(created=timezone.now() - timedelta(hours=2))

    response = with_token(key).get("/api/images/")

    assert response.status_code == 401 and "expired" in response.json()["detail"]
    new = token().json()["token"]
    assert new != key and with_token(new).get("/api/images/").status_code == 200


def test_changing_the_password_revokes_the_token(owner):
    key = token().json()["token"]
    owner.set_password("another-long-password-77")
    owner.save()

    assert with_token(key).get("/api/images/").status_code == 401


def test_the_revoke_endpoint_deletes_the_token_it_was_called_with(owner):
    key = token().json()["token"]

    assert with_token(key).post("/api/auth/token/revoke/").status_code == 204
    assert with_token(key).get("/api/images/").status_code == 401


def test_the_tokens_page_lists_creates_and_revokes_the_users_token(owner):
    client = Client()
    client.force_login(owner)
    assert b"You have no API token" in client.get("/accounts/tokens/").content

    created = client.post("/accounts/tokens/", {"action": "create"})
    key = Token.objects.get(user=owner).key
    assert key.encode() in created.content
    listing = client.get("/accounts/tokens/").content
    assert key[-4:].encode() in listing and key.encode() not in listing

    client.post("/accounts/tokens/", {"action": "revoke"})
    assert not Token.objects.filter(user=owner).exists()
