"""A bounded load test of the production stack, on loopback only.

``clients`` threads, each one person at a browser or a script: they upload images, browse the list
and the image pages (thumbnails, display PNGs), segment their images, follow their jobs, save edited
annotations and download masks, with 1-3 s between actions, until ``seconds`` have passed; then
every job they started must finish. Each client works on its own images, so a 409 would be a real
lost-update bug, not an intended conflict. The only intended refusals are 429s (per-user limits).

Returns a report: request counts, the unexpected responses, and p50/p95/max latency per action.
"""
import random
import threading
import time
from collections import defaultdict
from dataclasses import dataclass, field

import httpx
import numpy as np

from cellposeweb.metrics import quantile

THINK_S = (1.0, 3.0)  # a person reading the page between clicks
OK = {
    "list": {200}, "detail": {200}, "thumbnail": {200}, "display": {200}, "upload": {201},
    "segment": {202, 429}, "job": {200}, "annotation save": {200},
    "annotation get": {200, 404}, "masks": {200, 302}, "metrics": {200},  # 302: presigned S3 download
}


@dataclass
class Recorder:
    samples: dict = field(default_factory=lambda: defaultdict(list))
    statuses: dict = field(default_factory=lambda: defaultdict(lambda: defaultdict(int)))
    unexpected: list = field(default_factory=list)
    jobs: list = field(default_factory=list)
    lock: threading.Lock = field(default_factory=threading.Lock)

    def record(self, action, response, seconds):
        with self.lock:
            self.samples[action].append(seconds)
            self.statuses[action][response.status_code] += 1
            if response.status_code not in OK[action]:
                self.unexpected.append(f"{action} {response.request.method} {response.request.url.path} -> "
                                       f"{response.status_code}: {response.text[:200]}")


class Client(threading.Thread):
    def __init__(self, *, base_url, headers, images, deadline, recorder, seed):
        super().__init__(daemon=True)
        self.http = httpx.Client(base_url=base_url, headers=headers, timeout=120)
        self.images_bytes, self.deadline, self.recorder = images, deadline, recorder
        self.rng = random.Random(seed)
        self.mine: dict[int, dict] = {}  # image id -> {"job": id or None, "version": int or None}
        self.failure = None

    def call(self, action, method, url, **kwargs):
        started = time.perf_counter()
        response = self.http.request(method, url, **kwargs)
        self.recorder.record(action, response, time.perf_counter() - started)
        return response

    def upload(self):
        content = self.rng.choice(self.images_bytes)
        response = self.call("upload", "POST", "/api/images/", files={"file": ("load.tif", content, "image/tiff")})
        if response.status_code == 201:
            self.mine[response.json()["id"]] = {"job": None, "version": None}

    def free_images(self):
        """My images with no job in flight (jobs are looked at first)."""
        for image_id, state in self.mine.items():
            if state["job"] is not None:
                job = self.call("job", "GET", f"/api/jobs/{state['job']}/")
                if job.status_code == 200 and job.json()["status"] in ("succeeded", "failed", "cancelled"):
                    state["job"] = None
                    state["version"] = None
        return [i for i, state in self.mine.items() if state["job"] is None]

    def act(self):
        roll = self.rng.random()
        if not self.mine or roll < 0.06:
            return self.upload()
        image_id = self.rng.choice(list(self.mine))
        if roll < 0.30:
            self.call("list", "GET", "/api/images/", params={"page": 1})
        elif roll < 0.50:
            self.call("detail", "GET", f"/api/images/{image_id}/")
            self.call("thumbnail", "GET", f"/api/images/{image_id}/thumbnail/")
        elif roll < 0.62:
            self.call("display", "GET", f"/api/images/{image_id}/data/")
        elif roll < 0.76:
            free = self.free_images()
            if free:
                target = self.rng.choice(free)
                response = self.call("segment", "POST", f"/api/images/{target}/segment/",
                                     json={"augment": False, "diameter": 30})
                if response.status_code == 202:
                    self.mine[target]["job"] = response.json()["id"]
                    with self.recorder.lock:
                        self.recorder.jobs.append(response.json()["id"])
        elif roll < 0.92:
            self.save_annotation()
        else:
            annotated = [i for i, s in self.mine.items() if s["version"]]
            if annotated:
                self.call("masks", "GET", f"/api/images/{self.rng.choice(annotated)}/masks/")

    def save_annotation(self):
        free = self.free_images()
        if not free:
            return
        image_id = self.rng.choice(free)
        current = self.call("annotation get", "GET", f"/api/images/{image_id}/annotation/")
        if current.status_code == 404:  # nothing saved yet
            current = None
        from annotations.encoding import encode_labels

        masks = np.zeros((128, 128), np.int32)
        for label in range(1, self.rng.randint(2, 12)):
            y, x = self.rng.randrange(0, 110), self.rng.randrange(0, 110)
            masks[y : y + 12, x : x + 12] = label
        version = current.json()["version"] if current is not None else 0
        response = self.call("annotation save", "PUT", f"/api/images/{image_id}/annotation/",
                             json={"version": version, "masks": encode_labels(masks)})
        if response.status_code == 200:
            self.mine[image_id]["version"] = response.json()["version"]

    def run(self):
        try:
            self.upload()
            while time.monotonic() < self.deadline:
                self.act()
                time.sleep(self.rng.uniform(*THINK_S))
        except Exception as exc:  # a transport error is a failure of the run
            self.failure = f"{type(exc).__name__}: {exc}"
        finally:
            self.http.close()


def summarise(recorder: Recorder, *, seconds: float, clients: int) -> dict:
    everything = [s for values in recorder.samples.values() for s in values]
    per_action = {
        action: {
            "requests": len(values),
            "p50_ms": round(1000 * quantile(values, 0.5), 1),
            "p95_ms": round(1000 * quantile(values, 0.95), 1),
            "max_ms": round(1000 * max(values), 1),
            "statuses": dict(recorder.statuses[action]),
        }
        for action, values in sorted(recorder.samples.items())
    }
    return {
        "clients": clients,
        "seconds": seconds,
        "requests": len(everything),
        "requests_per_s": round(len(everything) / seconds, 1),
        "p50_ms": round(1000 * quantile(everything, 0.5), 1),
        "p95_ms": round(1000 * quantile(everything, 0.95), 1),
        "rate_limited_429": sum(recorder.statuses[a].get(429, 0) for a in recorder.statuses),
        "unexpected": recorder.unexpected[:50],
        "n_unexpected": len(recorder.unexpected),
        "jobs": len(recorder.jobs),
        "actions": per_action,
    }


def run(*, base_url, tokens, images, clients=50, seconds=120, headers=None) -> tuple[dict, list[int], list[str]]:
    """Run the load; returns (summary, job ids started, client failures)."""
    recorder = Recorder()
    deadline = time.monotonic() + seconds
    threads = []
    for k in range(clients):
        token = tokens[k % len(tokens)]
        threads.append(Client(base_url=base_url, headers={**(headers or {}), "Authorization": f"Token {token}"},
                              images=images, deadline=deadline, recorder=recorder, seed=k))
    started = time.monotonic()
    for thread in threads:
        thread.start()
        time.sleep(0.05)  # ramp up over a few seconds
    for thread in threads:
        thread.join(timeout=seconds + 300)
    elapsed = time.monotonic() - started
    failures = [t.failure for t in threads if t.failure] + [f"client {i} still running" for i, t in enumerate(threads) if t.is_alive()]
    return summarise(recorder, seconds=elapsed, clients=clients), list(recorder.jobs), failures
