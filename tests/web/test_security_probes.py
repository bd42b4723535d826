"""The probes: /livez and /healthz are public and tell nothing secret; /metrics is for
administrators and a scraper's token; an unavailable backing service answers 503, never 500."""
import pytest
from django.db import OperationalError
from django.test import Client

from tests.web.conftest import client_for

pytestmark = pytest.mark.django_db


def test_livez_and_healthz_answer_anyone_without_details(settings):
    live, health = Client().get("/livez"), Client().get("/healthz")

    assert live.status_code == 200 and live.json() == {"status": "ok"}
    assert health.status_code == 200
    body = health.json()
    assert body["status"] == "ok" and {"database", "storage"} <= set(body["checks"])
    assert all(check["ok"] for check in body["checks"].values())
    assert settings.SECRET_KEY not in health.content.decode()


def test_healthz_is_503_and_names_the_service_that_is_down(monkeypatch):
    from cellposeweb import health

    def down():
        raise OperationalError("could not connect to server")

    monkeypatch.setattr(health, "_database", down)

    response = Client().get("/healthz")

    assert response.status_code == 503
    assert response.json()["checks"]["database"]["ok"] is False
    assert "could not connect" not in response.content.decode()


@pytest.mark.parametrize("who, expected", [("anonymous", 401), ("user", 403), ("admin", 200)])
def test_metrics_are_for_administrators(who, expected, owner, admin_user):
    client = client_for({"anonymous": None, "user": owner, "admin": admin_user}[who])

    assert client.get("/metrics").status_code == expected


def test_metrics_accept_the_scrapers_token_and_nothing_like_it(settings):
    settings.METRICS_TOKEN = "a-scraper-token-of-some-length"

    good = Client().get("/metrics", headers={"Authorization": "Bearer a-scraper-token-of-some-length"})
    bad = Client().get("/metrics", headers={"Authorization": "Bearer a-scraper-token-of-some-lengtH"})

    assert good.status_code == 200 and bad.status_code == 401


def test_metrics_report_jobs_durations_and_health(admin_user, owner, image, model_version):
    from inference.job_run import segmentation_job_run
    from inference.jobs import segmentation_job_create

    done = segmentation_job_create(owner=owner, images=[image], options={"augment": False, "diameter": 30})
    segmentation_job_run(job_id=done.pk)
    segmentation_job_create(owner=owner, images=[image], options={})

    response = client_for(admin_user).get("/metrics")

    text = response.content.decode()
    assert response["Content-Type"].startswith("text/plain; version=0.0.4")
    assert 'cellposeweb_jobs{status="queued"} 1' in text and 'cellposeweb_jobs{status="succeeded"} 1' in text
    assert 'cellposeweb_up{service="database"} 1' in text
    assert "cellposeweb_job_run_seconds_count 1" in text and 'cellposeweb_job_run_seconds{quantile="0.95"}' in text
    assert "cellposeweb_jobs_stale 0" in text


def test_an_api_request_during_a_database_outage_is_503_with_retry_after(api, monkeypatch):
    from annotations import apis

    def outage(**kwargs):
        raise OperationalError("server closed the connection unexpectedly")

    monkeypatch.setattr(apis, "image_list", outage)

    response = api.get("/api/images/")

    assert response.status_code == 503 and response["Retry-After"] == "5"
    assert "database" in response.json()["detail"]


def test_a_page_during_a_redis_outage_is_503_not_500(owner, monkeypatch):
    import redis.exceptions

    from annotations import pages

    def outage(*args, **kwargs):
        raise redis.exceptions.ConnectionError("Error 111 connecting to 127.0.0.1:6379. Connection refused.")

    monkeypatch.setattr(pages, "render", outage)
    client = Client(raise_request_exception=False)
    client.force_login(owner)

    response = client.get("/")

    assert response.status_code == 503 and response["Retry-After"] == "5"
    assert b"redis" in response.content


def test_each_request_is_logged_once_with_its_id(api, caplog):
    caplog.set_level("INFO", logger="cellposeweb.request")

    response = api.get("/api/images/", headers={"X-Request-ID": "abc-123"})

    assert response["X-Request-ID"] == "abc-123"
    records = [r for r in caplog.records if r.name == "cellposeweb.request"]
    assert len(records) == 1
    assert records[0].status == 200 and records[0].path == "/api/images/" and records[0].duration_ms >= 0
    assert records[0].request_id == "abc-123"


def test_json_logs_are_one_object_a_line_with_the_extras():
    import json
    import logging

    from cellposeweb.logs import JsonFormatter, RequestIdFilter, request_id_var

    token = request_id_var.set("req-1")
    try:
        record = logging.LogRecord("inference.job_run", logging.INFO, __file__, 1, "job %s done", (7,), None)
        record.job_id = 7
        RequestIdFilter().filter(record)
        entry = json.loads(JsonFormatter().format(record))
    finally:
        request_id_var.reset(token)

    assert entry["message"] == "job 7 done" and entry["job_id"] == 7 and entry["request_id"] == "req-1"
    assert entry["level"] == "INFO" and entry["logger"] == "inference.job_run" and "time" in entry
