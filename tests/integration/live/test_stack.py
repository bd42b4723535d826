"""The production stack end to end: PostgreSQL, Redis (broker, cache, channel layer), a Celery
worker, S3 storage with presigned downloads, uvicorn, health and metrics, structured logs."""
import io
import json
import zipfile
from urllib.parse import parse_qs, urlsplit

import httpx
from websockets.sync.client import connect

from tests.integration.live.conftest import JOB_END, segment, tiff, upload


def session_cookie(stack, user):
    from django.conf import settings
    from django.contrib.auth import BACKEND_SESSION_KEY, HASH_SESSION_KEY, SESSION_KEY
    from django.contrib.sessions.backends.db import SessionStore
    from django.test import override_settings

    with stack.orm(), override_settings(SECRET_KEY=stack.env["DJANGO_SECRET_KEY"]):  # the stack's key signs it
        session = SessionStore()
        session[SESSION_KEY] = str(user.pk)
        session[BACKEND_SESSION_KEY] = "django.contrib.auth.backends.ModelBackend"
        session[HASH_SESSION_KEY] = user.get_session_auth_hash()
        session.save()
    return f"{settings.SESSION_COOKIE_NAME}={session.session_key}"


def test_healthz_checks_every_service(stack):
    response = stack.health()

    assert response.status_code == 200
    checks = response.json()["checks"]
    assert set(checks) == {"database", "storage", "cache", "broker"}
    assert all(check["ok"] for check in checks.values())


def test_metrics_show_queues_and_jobs_to_the_scraper(stack):
    anonymous = httpx.get(f"{stack.url}/metrics", headers={"X-Forwarded-Proto": "https"})
    scraper = httpx.get(f"{stack.url}/metrics", headers={"Authorization": f"Bearer {stack.metrics_token}",
                                                          "X-Forwarded-Proto": "https"})

    assert anonymous.status_code == 401
    assert scraper.status_code == 200
    text = scraper.text
    assert 'cellposeweb_queue_length{queue="gpu"}' in text and 'cellposeweb_jobs{status="queued"}' in text, text
    assert all(f'cellposeweb_up{{service="{name}"}} 1' in text for name in ("database", "storage", "cache", "broker")), text


def test_a_job_runs_on_the_worker_with_progress_over_redis_and_results_in_s3(stack):
    user, token = stack.user("e2e")
    client = stack.http(token)
    image = upload(client, tiff(256))
    job = segment(client, image["id"]).json()
    headers = {"Cookie": session_cookie(stack, user), "Origin": stack.url}

    events = []
    with connect(f"ws://127.0.0.1:{stack.port}/ws/jobs/{job['id']}/", additional_headers=headers, open_timeout=30) as ws:
        while not events or events[-1]["status"] not in JOB_END:
            events.append(json.loads(ws.recv(timeout=300)))

    assert events[-1]["status"] == "succeeded", events[-1]
    assert {"network", "dynamics"} <= {event["stage"] for event in events}
    annotation = client.get(f"/api/images/{image['id']}/annotation/").json()
    assert annotation["version"] == 1 and annotation["masks"]["shape"] == [256, 256]

    assert stack_s3_objects(stack, f"images/{user.pk}/") and stack_s3_objects(stack, f"results/{job['id']}/")

    download = client.get(f"/api/jobs/{job['id']}/download.zip")
    assert download.status_code == 302
    location = download.headers["Location"]
    query = parse_qs(urlsplit(location).query)
    assert "X-Amz-Signature" in query and query["X-Amz-Expires"] == ["300"]
    fetched = httpx.get(location, timeout=60)
    assert fetched.status_code == 200
    assert fetched.headers["Content-Disposition"] == f'attachment; filename="job-{job["id"]}-masks.zip"'
    names = zipfile.ZipFile(io.BytesIO(fetched.content)).namelist()
    assert len(names) == 1 and names[0].startswith("cells") and names[0].endswith(".png")


def stack_s3_objects(stack, prefix):
    import os

    from tests.integration.servers import MotoServer

    moto = MotoServer.__new__(MotoServer)
    moto.port = int(os.environ["S3_ENDPOINT_URL"].rsplit(":", 1)[1])
    return moto.client().list_objects_v2(Bucket=os.environ["S3_BUCKET"], Prefix=prefix).get("Contents", [])


def test_every_request_is_logged_as_json_with_its_request_id(stack):
    _, token = stack.user("logs")
    response = stack.http(token).get("/api/images/", headers={"X-Request-ID": "it-log-check-1"})
    assert response.headers["X-Request-ID"] == "it-log-check-1"

    lines = [json.loads(line) for line in stack.web.log.read_text().splitlines() if line.startswith("{")]
    mine = [line for line in lines if line.get("request_id") == "it-log-check-1"]
    assert len(mine) == 1
    assert mine[0]["logger"] == "cellposeweb.request" and mine[0]["status"] == 200 and mine[0]["path"] == "/api/images/"
    worker_lines = [json.loads(line) for line in stack.worker.log.read_text().splitlines() if line.startswith("{")]
    assert any(line.get("job_id") and line["message"].endswith("succeeded") for line in worker_lines)
