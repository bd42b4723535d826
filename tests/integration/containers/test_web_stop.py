"""`stop` of a web container while users keep working through nginx: the container finishes the
requests it has (uvicorn's graceful shutdown, within compose's stop_grace_period), nginx sends the
rest to the other replica, and no request fails. Started again, it serves again."""
import json
import threading
import time
import uuid

import httpx

from tests.integration.containers.test_stack import tiff

CLIENTS = 6


def test_stopping_a_web_container_loses_no_request_at_the_proxy(container_stack):
    stack = container_stack
    tokens = stack.tokens(CLIENTS, "stop")
    small, large = tiff(128), tiff(1024)
    results, stop_at, lock = [], threading.Event(), threading.Lock()

    def client(token, k):
        with stack.http(token) as http:
            n = 0
            while not stop_at.is_set():
                n += 1
                request_id = f"stop-{k}-{n}-{uuid.uuid4().hex[:6]}"
                headers = {"X-Request-ID": request_id}
                try:
                    if n % 3 == 0:  # a slower request: a large upload, decoded and stored
                        response = http.post("/api/images/", headers=headers,
                                             files={"file": ("big.tif", large, "image/tiff")})
                    elif n % 3 == 1:
                        response = http.post("/api/images/", headers=headers,
                                             files={"file": ("small.tif", small, "image/tiff")})
                    else:
                        response = http.get("/api/images/", headers=headers)
                    outcome = response.status_code
                    request_id = response.headers.get("X-Request-ID", request_id)  # nginx's, as logged
                except httpx.HTTPError as exc:
                    outcome = f"{type(exc).__name__}: {exc}"
                with lock:
                    results.append((request_id, outcome, time.monotonic()))

    threads = [threading.Thread(target=client, args=(token, k), daemon=True) for k, token in enumerate(tokens)]
    for thread in threads:
        thread.start()
    time.sleep(5)
    stopping = time.monotonic()
    stack.engine("stop", stack.container("web-1"), timeout=120)  # SIGTERM, then the grace period
    stopped = time.monotonic()
    time.sleep(5)
    stop_at.set()
    for thread in threads:
        thread.join(timeout=300)

    failures = [(rid, outcome) for rid, outcome, _ in results if outcome not in (200, 201)]
    assert len(results) > 30 and failures == [], failures
    # web-1 was serving, and answered requests after it was told to stop (its open ones).
    served_by_web1 = {json.loads(line).get("request_id") for line in stack.logs("web-1").splitlines()
                      if line.startswith("{") and '"request_id"' in line}
    web1 = [ended for rid, _, ended in results if rid in served_by_web1]
    assert web1 and max(web1) > stopping, (len(web1), stopping)
    stack.timings["web_stop_s"] = round(stopped - stopping, 1)

    stack.engine("start", stack.container("web-1"))
    stack.wait_web_healthy("web-1", timeout=240)
