"""Redis or PostgreSQL restarting under a running stack: requests fail cleanly with 503 and
Retry-After, service comes back without restarting anything, and no job or annotation is lost.

Redis is a private redis-server that really restarts, empty (as the machine's, which keeps nothing
on disk): queued messages are lost with it and must be sent again. PostgreSQL is reached through a
proxy that cuts every connection and refuses new ones for a while, which is what its clients see
of a restart.
"""
import time

import httpx

from tests.integration.live.conftest import segment, tiff, upload
from tests.integration.servers import wait_until

SLOW = {"augment": True, "diameter": 30}


def busy_job(stack, client, prefix, n=3):
    images = [upload(client, tiff(512, seed=i), name=f"{prefix}{i}.tif")["id"] for i in range(n)]
    job_id = client.post("/api/jobs/", json={"images": images, **SLOW}).json()["id"]
    stack.wait_job(job_id, statuses=("running",), timeout=300)
    return job_id


def test_a_redis_restart_answers_503_then_recovers_and_loses_no_job(stack):
    _, token = stack.user("redis")
    client = stack.http(token)
    busy = busy_job(stack, client, "r")
    small = upload(client, tiff(128, seed=9), name="waiting.tif")
    waiting = segment(client, small["id"]).json()["id"]  # its message waits in Redis behind `busy`

    stack.redis.stop()
    try:
        health = stack.health()
        assert health.status_code == 503
        assert not health.json()["checks"]["broker"]["ok"] and not health.json()["checks"]["cache"]["ok"]
        refused = segment(client, small["id"])  # the rate limit lives in Redis
        assert refused.status_code == 503 and refused.headers["Retry-After"] == "5"
        assert "redis" in refused.json()["detail"]
        assert client.get("/api/images/").status_code == 200  # what needs only the database still works
    finally:
        stack.redis.start()  # same port, empty: the waiting job's message is gone

    stack.wait_healthy(timeout=60)
    assert stack.wait_job(busy).status == "succeeded"
    assert stack.wait_job(waiting).status == "succeeded"  # re-sent by the recovery sweep
    again = segment(client, small["id"])
    assert again.status_code == 202
    assert stack.wait_job(again.json()["id"]).status == "succeeded"


def test_a_database_restart_answers_503_then_recovers_and_loses_nothing(stack):
    _, token = stack.user("pg")
    client = stack.http(token)
    saved = upload(client, tiff(128, seed=3), name="saved.tif")
    first = segment(client, saved["id"]).json()["id"]
    assert stack.wait_job(first).status == "succeeded"
    annotation = client.get(f"/api/images/{saved['id']}/annotation/").json()
    busy = busy_job(stack, client, "p")

    stack.db_proxy.outage()
    try:
        down = client.get("/api/images/")
        assert down.status_code == 503 and down.headers["Retry-After"] == "5"
        assert "database" in down.json()["detail"]
        assert stack.health().status_code == 503
        page = httpx.get(f"{stack.url}/accounts/login/", headers={"X-Forwarded-Proto": "https"}, timeout=30)
        assert page.status_code in (200, 503)  # a page that needs no database may still render
        time.sleep(3)
    finally:
        stack.db_proxy.restore()

    wait_until(lambda: client.get("/api/images/").status_code == 200, timeout=30, what="the API to recover")
    job = stack.wait_job(busy)
    assert job.status == "succeeded", (job.status, job.error)
    after = client.get(f"/api/images/{saved['id']}/annotation/").json()
    assert (after["version"], after["masks"]) == (annotation["version"], annotation["masks"])
    assert client.get("/api/images/").json()["count"] == 4
