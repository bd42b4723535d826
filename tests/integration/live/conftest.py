"""The production stack on this machine, for the live tests: uvicorn (2 processes, production
settings) and a Celery worker and beat, on PostgreSQL (through a proxy that can play a restart),
a private Redis (restartable; broker, cache and channel layer) and the moto S3 server.

The stack shares pytest-django's test database, so tests read and seed rows with the ORM inside
``stack.orm()``; they never flush it (live tests are not marked ``django_db``).
"""
import contextlib
import io
import os
import secrets
import subprocess
import uuid

import httpx
import numpy as np
import pytest
import tifffile

from tests.integration.servers import BIN, LOOPBACK, ROOT, Process, RedisServer, TcpProxy, free_port, wait_until

JOB_END = ("succeeded", "failed", "cancelled")
HTTPS = {"X-Forwarded-Proto": "https"}  # as the TLS proxy in front of the web processes sends it


def tiff(size=128, seed=0) -> bytes:
    """A crop of the real test image (uint16), as TIFF bytes."""
    from tests.web.conftest import DATA

    picture = tifffile.imread(DATA / "img2d.tif")
    y = (seed * 37) % max(1, picture.shape[0] - size)
    buf = io.BytesIO()
    tifffile.imwrite(buf, np.ascontiguousarray(picture[y : y + size, :size]))
    return buf.getvalue()


class Stack:
    def __init__(self, *, log_dir, django_db_blocker):
        from django.db import connection

        self.log_dir = log_dir
        self.blocker = django_db_blocker
        self.redis = RedisServer(log_dir).start()
        db = connection.settings_dict
        self.db_proxy = TcpProxy((db["HOST"] or LOOPBACK, int(db["PORT"] or 5432))).start()
        auth = db["USER"] + (f":{db['PASSWORD']}" if db["PASSWORD"] else "")
        self.port = free_port()
        self.url = f"http://{LOOPBACK}:{self.port}"
        self.metrics_token = secrets.token_urlsafe(24)
        self.env = {
            **{k: v for k, v in os.environ.items() if not k.startswith(("DJANGO_", "PYTEST", "JOB_", "THROTTLE_"))},
            "DJANGO_SETTINGS_MODULE": "cellposeweb.settings",
            "DJANGO_ENV": "production",
            "DJANGO_SECRET_KEY": secrets.token_urlsafe(50),
            "DJANGO_ALLOWED_HOSTS": f"{LOOPBACK},localhost",
            "DATABASE_URL": f"postgres://{auth}@{LOOPBACK}:{self.db_proxy.port}/{db['NAME']}",
            "DB_CONNECT_TIMEOUT": "3",
            "REDIS_URL": self.redis.url,
            "REDIS_SOCKET_TIMEOUT_S": "2",
            "JOB_RUNNER": "celery",
            "LOG_FORMAT": "json",
            "METRICS_TOKEN": self.metrics_token,
            "JOB_HEARTBEAT_INTERVAL_S": "0.5",
            "JOB_HEARTBEAT_TIMEOUT_S": "5",
            "JOB_RECOVER_INTERVAL_S": "2",
            "JOB_MAX_ATTEMPTS": "2",
            "JOB_MAX_ACTIVE_PER_USER": "6",
            "TILED_BLOCK_SIZE": "256",  # tiled images in tests are ~1k pixels: cut them into several blocks
            "TILED_BLOCK_OVERLAP": "32",
            "JOB_RETRY_AFTER_S": "5",
            "THROTTLE_UPLOADS": "100000/hour",
            "THROTTLE_JOBS": "100000/hour",
            "THROTTLE_AUTH": "10000/minute",
            "S3_PRESIGN_MIN_BYTES": "1",
            "CELLPOSEWEB_VAR_DIR": str(log_dir / "var-stack"),
            "PYTHONUNBUFFERED": "1",
            "OMP_NUM_THREADS": "1",
            "ASGI_THREADS": "8",
        }
        self.web = None
        self.worker = None
        self.trainers = []
        self.beat = None
        self._workers = 0

    # -- processes ----------------------------------------------------------------------------

    def collectstatic(self):
        """What a deploy runs before the web processes start: they link the hashed names it writes."""
        with open(self.log_dir / "collectstatic.log", "w") as log:
            subprocess.run([BIN / "python", "manage.py", "collectstatic", "--noinput"], cwd=ROOT, env=self.env,
                           stdout=log, stderr=subprocess.STDOUT, check=True, timeout=300)

    def start_web(self, workers=2):
        if not os.path.isfile(os.path.join(self.env["CELLPOSEWEB_VAR_DIR"], "staticfiles", "staticfiles.json")):
            self.collectstatic()
        argv = [BIN / "uvicorn", "cellposeweb.asgi:application", "--host", LOOPBACK, "--port", self.port,
                "--workers", workers, "--lifespan", "off", "--no-access-log", "--timeout-graceful-shutdown", "5",
                "--timeout-keep-alive", "75"]  # as deployed: longer than any client keeps an idle connection
        self.web = Process("web", argv, env=self.env, log_dir=self.log_dir).start()
        self.wait_healthy(timeout=180)

    def start_worker(self, name="gpu1@it", timeout=180, queues="gpu,cpu"):
        """A worker as deployed, one task at a time in its own process: by default a segmentation
        worker (gpu and cpu queues, ``stack.worker``); ``queues="training"`` for a training worker
        (kept in ``stack.trainers``)."""
        self._workers += 1
        argv = [BIN / "celery", "-A", "cellposeweb", "worker", "-Q", queues, "--pool=solo", "-n", name,
                "--loglevel=INFO", "--without-gossip", "--without-mingle", "--without-heartbeat"]
        worker = Process(f"worker-{self._workers}-{name.split('@')[0]}", argv, env=self.env, log_dir=self.log_dir)
        worker.start()
        if "gpu" in queues.split(","):
            self.worker = worker
        else:
            self.trainers.append(worker)
        wait_until(lambda: "ready." in worker.log.read_text(errors="replace") or not worker.alive, timeout=timeout,
                   what=f"worker {name}")
        assert worker.alive, worker.tail()
        return worker

    def start_beat(self):
        argv = [BIN / "celery", "-A", "cellposeweb", "beat", "--loglevel=INFO", "-s", self.log_dir / "beat-schedule"]
        self.beat = Process("beat", argv, env=self.env, log_dir=self.log_dir).start()

    def stop(self):
        for process in (self.web, self.worker, self.beat, *self.trainers):
            if process is not None:
                process.stop()
        self.redis.stop()
        self.db_proxy.stop()

    # -- clients and data ---------------------------------------------------------------------

    def http(self, token=None, **kwargs) -> httpx.Client:
        headers = dict(HTTPS)
        if token:
            headers["Authorization"] = f"Token {token}"
        return httpx.Client(base_url=self.url, headers=headers, timeout=kwargs.pop("timeout", 120), **kwargs)

    def health(self):
        return httpx.get(f"{self.url}/healthz", timeout=10)

    def wait_healthy(self, timeout=60):
        wait_until(lambda: self.health().status_code == 200, timeout=timeout, what="/healthz to answer 200")

    @contextlib.contextmanager
    def orm(self):
        with self.blocker.unblock():
            yield

    def user(self, prefix="user", **extra):
        """A new user and their API token."""
        from django.contrib.auth import get_user_model
        from rest_framework.authtoken.models import Token

        with self.orm():
            user = get_user_model().objects.create_user(
                username=f"{prefix}-{uuid.uuid4().hex[:8]}", password=secrets.token_urlsafe(16), **extra
            )
            return user, Token.objects.create(user=user).key

    def job(self, job_id):
        from inference.models import SegmentationJob

        with self.orm():
            return SegmentationJob.objects.get(pk=job_id)

    def wait_job(self, job_id, timeout=300, statuses=JOB_END):
        return wait_until(lambda: (job := self.job(job_id)).status in statuses and job, timeout=timeout,
                          what=f"job {job_id} to reach {statuses}")


@pytest.fixture(scope="session")
def tiny_model_path(tmp_path_factory):
    """A real engine model file with tiny random weights (the real segmentation code path)."""
    import torch

    from inference.engine.model import CellposeModel
    from inference.engine.net import CellposeNet

    torch.manual_seed(0)
    path = tmp_path_factory.mktemp("models") / "tiny.pt"
    CellposeModel([CellposeNet(nbase=(2, 8, 16, 32, 64))], name="tiny").save(path)
    return path


@pytest.fixture(scope="session")
def stack(django_db_setup, django_db_blocker, tiny_model_path):
    from inference.model_versions import model_version_create

    from django.db import connection
    from django.test.utils import setup_databases, teardown_databases

    created = None
    if not connection.settings_dict["NAME"].startswith("test_"):
        # No test of this run is marked django_db, so pytest-django made no test database: make it.
        with django_db_blocker.unblock():
            created = setup_databases(verbosity=0, interactive=False, aliases={"default"})
    log_dir = __import__("pathlib").Path(os.environ["CELLPOSEWEB_INTEGRATION_LOGS"]) / "stack"
    log_dir.mkdir(parents=True, exist_ok=True)
    stack = Stack(log_dir=log_dir, django_db_blocker=django_db_blocker)
    try:
        with stack.orm():
            model_version_create(name="tiny", file_path=tiny_model_path, make_current=True)
        stack.start_web()
        stack.start_worker()
        stack.start_beat()
        yield stack
    finally:
        stack.stop()
        if created is not None:
            with django_db_blocker.unblock():
                teardown_databases(created, verbosity=0)


def upload(client: httpx.Client, content: bytes, name="cells.tif") -> dict:
    response = client.post("/api/images/", files={"file": (name, content, "image/tiff")})
    assert response.status_code == 201, response.text
    return response.json()


def segment(client: httpx.Client, image_id: int, **options) -> httpx.Response:
    return client.post(f"/api/images/{image_id}/segment/", json={"augment": False, "diameter": 30, **options})
