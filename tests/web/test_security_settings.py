"""Production settings: secrets only from the environment, ``check --deploy`` clean, secure
cookies and headers, CSRF on pages."""
import os
import re
import secrets
import subprocess
import sys
from pathlib import Path

import pytest
from django.test import Client, override_settings

from tests.web.conftest import PASSWORD

ROOT = Path(__file__).resolve().parents[2]


def production_env(tmp_path, **overrides):
    env = {k: v for k, v in os.environ.items() if not k.startswith(("DJANGO_", "DATABASE_URL", "REDIS_URL", "S3_"))}
    env.update(
        DJANGO_SETTINGS_MODULE="cellposeweb.settings",
        CELLPOSEWEB_VAR_DIR=str(tmp_path),
        DJANGO_ENV="production",
        DJANGO_SECRET_KEY=secrets.token_urlsafe(50),
        DJANGO_ALLOWED_HOSTS="cells.example.org",
        JOB_RUNNER="off",
    )
    env.update(overrides)
    return {k: v for k, v in env.items() if v is not None}


def manage(tmp_path, *args, **env):
    return subprocess.run(
        [sys.executable, "manage.py", *args], cwd=ROOT, env=production_env(tmp_path, **env), capture_output=True,
        text=True, timeout=300,
    )


def test_check_deploy_is_clean_under_production_settings(tmp_path):
    security = manage(tmp_path, "check", "--deploy", "--tag", "security", "--fail-level", "WARNING")
    everything = manage(tmp_path, "check", "--deploy")

    assert security.returncode == 0, security.stdout + security.stderr
    assert "no issues" in security.stdout
    assert everything.returncode == 0, everything.stdout + everything.stderr
    assert "security." not in everything.stdout + everything.stderr


@pytest.mark.parametrize(
    "env, message",
    [
        ({"DJANGO_SECRET_KEY": None}, "DJANGO_SECRET_KEY is not set"),
        ({"DJANGO_SECRET_KEY": "short"}, "at least 50 random characters"),
        ({"DJANGO_ALLOWED_HOSTS": None}, "DJANGO_ALLOWED_HOSTS"),
        ({"DJANGO_DEBUG": "1"}, "DJANGO_DEBUG must be off"),
    ],
)
def test_production_refuses_to_start_without_its_secrets_and_hosts(tmp_path, env, message):
    result = manage(tmp_path, "check", **env)

    assert result.returncode != 0
    assert message in result.stderr
    assert not (tmp_path / "secret_key").exists()  # no key was made up and written to disk


def test_no_secret_is_written_in_the_repository():
    pattern = re.compile(r"(SECRET_KEY|PASSWORD|SECRET_ACCESS_KEY|METRICS_TOKEN)\s*[=:]\s*['\"]?[A-Za-z0-9+/_\-]{16,}")
    tracked = subprocess.run(["git", "ls-files", "cellposeweb", "docker", "docs"], cwd=ROOT, capture_output=True,
                             text=True).stdout.split()
    offenders = []
    for name in tracked + [str(p.relative_to(ROOT)) for p in (ROOT / "docker").glob("*") if p.is_file()]:
        path = ROOT / name
        if path.suffix in {".py", ".yml", ".yaml", ".md", ".example", ".conf", ""} and path.is_file():
            for line in path.read_text(errors="ignore").splitlines():
                if pattern.search(line) and "${" not in line and "change-me" not in line and "<" not in line:
                    offenders.append(f"{name}: {line.strip()}")
    assert offenders == []


@pytest.fixture
def secure_settings(settings):
    """The production security settings, applied to this process's requests."""
    settings.SESSION_COOKIE_SECURE = True
    settings.CSRF_COOKIE_SECURE = True
    settings.SECURE_PROXY_SSL_HEADER = ("HTTP_X_FORWARDED_PROTO", "https")
    settings.SECURE_SSL_REDIRECT = True
    settings.SECURE_REDIRECT_EXEMPT = [r"^healthz$", r"^livez$"]
    settings.SECURE_HSTS_SECONDS = 31536000
    settings.SECURE_HSTS_INCLUDE_SUBDOMAINS = True
    settings.SECURE_HSTS_PRELOAD = True
    settings.CONTENT_SECURITY_POLICY = "default-src 'self'; frame-ancestors 'none'"
    return settings


@pytest.mark.django_db
def test_https_responses_carry_the_security_headers(secure_settings, owner):
    client = Client()
    client.force_login(owner)

    response = client.get("/", headers={"X-Forwarded-Proto": "https"})

    assert response.status_code == 200
    assert response["Strict-Transport-Security"] == "max-age=31536000; includeSubDomains; preload"
    assert response["Content-Security-Policy"] == "default-src 'self'; frame-ancestors 'none'"
    assert response["X-Frame-Options"] == "DENY"
    assert response["X-Content-Type-Options"] == "nosniff"
    assert response["Referrer-Policy"] == "same-origin"
    assert response["Cross-Origin-Opener-Policy"] == "same-origin"
    assert "camera=()" in response["Permissions-Policy"]
    assert re.fullmatch(r"[0-9a-f]{32}", response["X-Request-ID"])


@pytest.mark.django_db
def test_plain_http_is_redirected_to_https_except_for_probes(secure_settings):
    response = Client().get("/accounts/login/")

    assert response.status_code == 301 and response["Location"] == "https://testserver/accounts/login/"
    assert Client().get("/livez").status_code == 200


@pytest.mark.django_db
def test_session_and_csrf_cookies_are_secure_http_only_and_same_site(secure_settings, owner):
    client = Client()
    https = {"X-Forwarded-Proto": "https"}
    client.get("/accounts/login/", headers=https)

    client.post("/accounts/login/", {"username": "olivia", "password": PASSWORD}, headers=https)

    session, csrf = client.cookies["sessionid"], client.cookies["csrftoken"]
    assert session["secure"] and session["httponly"] and session["samesite"] == "Lax"
    assert csrf["secure"] and csrf["samesite"] == "Lax"


@pytest.mark.django_db
@pytest.mark.parametrize("path", ["/accounts/login/", "/accounts/signup/", "/accounts/logout/"])
def test_pages_refuse_a_form_post_without_the_csrf_token(path, owner):
    client = Client(enforce_csrf_checks=True)
    if path.endswith("logout/"):
        client.force_login(owner)

    response = client.post(path, {"username": "olivia", "password": PASSWORD})

    assert response.status_code == 403


@pytest.mark.django_db
def test_the_api_refuses_a_session_request_without_the_csrf_token(owner, image):
    client = Client(enforce_csrf_checks=True)
    client.force_login(owner)

    assert client.post(f"/api/images/{image.pk}/segment/", {}, content_type="application/json").status_code == 403
    assert client.delete(f"/api/images/{image.pk}/").status_code == 403


@override_settings(CONTENT_SECURITY_POLICY="")
@pytest.mark.django_db
def test_embedded_mode_sends_no_content_security_policy_unless_asked():
    assert "Content-Security-Policy" not in Client().get("/livez")


@pytest.mark.django_db
def test_every_mode_sends_a_content_security_policy_without_inline_scripts(owner):
    client = Client()
    client.force_login(owner)

    policy = client.get("/")["Content-Security-Policy"]

    assert "script-src 'self';" in policy and "unsafe-inline" not in policy.split("script-src")[1].split(";")[0]
    assert "frame-ancestors 'none'" in policy


def test_no_page_template_has_an_inline_script_or_event_handler():
    from pathlib import Path

    root = Path(__file__).resolve().parents[2] / "templates"
    for template in root.rglob("*.html"):
        text = template.read_text()
        assert not re.search(r"<script(?![^>]*\bsrc=)[^>]*>", text), template
        assert not re.search(r"\son[a-z]+=\"", text), template
