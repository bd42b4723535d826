"""Sign-in protection (accounts.signin) on the login page and the token endpoint: per account and
per client address, the address read through exactly NUM_PROXIES trusted proxies."""
import logging

import pytest
from django.test import Client

from tests.web.conftest import PASSWORD, client_for

pytestmark = pytest.mark.django_db


@pytest.fixture(autouse=True)
def limits(settings):
    settings.SIGNIN_MAX_FAILURES_PER_ACCOUNT = 5
    settings.SIGNIN_MAX_FAILURES_PER_CLIENT = 20
    settings.SIGNIN_LOCKOUT_S = 900
    settings.NUM_PROXIES = 0


def login(client, password, username="olivia", **extra):
    return client.post("/accounts/login/", {"username": username, "password": password}, **extra)


def test_the_login_page_locks_an_account_after_five_wrong_passwords_even_for_the_right_one(owner):
    client = Client()
    for _ in range(5):
        assert login(client, "wrong-password").status_code == 200

    response = login(client, PASSWORD)

    assert response.status_code == 200 and "_auth_user_id" not in client.session
    assert b"Too many failed sign-ins" in response.content and b"15 minutes" in response.content


def test_the_lockout_is_logged_once(owner, caplog):
    with caplog.at_level(logging.WARNING, logger="cellposeweb.security"):
        for _ in range(7):
            login(Client(), "wrong-password")

    assert [r.event for r in caplog.records if getattr(r, "event", "") == "signin_lockout"] == ["signin_lockout"]


def test_a_right_password_before_the_limit_clears_the_count(owner):
    client = Client()
    for _ in range(4):
        login(client, "wrong-password")
    assert login(client, PASSWORD).status_code == 302
    for _ in range(4):
        login(Client(), "wrong-password")

    assert login(Client(), PASSWORD).status_code == 302


def test_the_token_endpoint_shares_the_account_lockout_and_answers_429(owner):
    anonymous = client_for(None)
    for _ in range(5):
        assert anonymous.post("/api/auth/token/", {"username": "olivia", "password": "nope"}, format="json").status_code == 400

    response = anonymous.post("/api/auth/token/", {"username": "olivia", "password": PASSWORD}, format="json")

    assert response.status_code == 429 and "Too many failed sign-ins" in response.json()["detail"]
    assert int(response["Retry-After"]) > 0


def test_a_client_guessing_many_accounts_is_locked_out_by_address(owner):
    client = Client()
    for i in range(20):
        login(client, "wrong-password", username=f"someone{i}")

    assert b"Too many failed sign-ins" in login(client, PASSWORD).content


def test_a_forged_x_forwarded_for_does_not_change_the_client_address(owner, settings):
    settings.NUM_PROXIES = 1
    settings.SIGNIN_MAX_FAILURES_PER_ACCOUNT = 0
    client = Client()
    for i in range(20):  # nginx appends the address it saw: the client's own prefix is ignored
        login(client, "wrong", username=f"u{i}", HTTP_X_FORWARDED_FOR=f"10.0.0.{i}, 203.0.113.7")

    assert b"Too many failed sign-ins" in login(client, PASSWORD, HTTP_X_FORWARDED_FOR="10.9.9.9, 203.0.113.7").content
    assert login(Client(), PASSWORD, HTTP_X_FORWARDED_FOR="203.0.113.8").status_code == 302


def test_the_token_throttle_ignores_x_forwarded_for_without_trusted_proxies(owner, settings):
    settings.THROTTLE_RATES = {**settings.THROTTLE_RATES, "auth": "3/minute"}
    anonymous = client_for(None)
    statuses = [
        anonymous.post("/api/auth/token/", {"username": "olivia", "password": PASSWORD}, format="json",
                       HTTP_X_FORWARDED_FOR=f"198.51.100.{i}").status_code
        for i in range(5)
    ]

    assert statuses == [200, 200, 200, 429, 429]
