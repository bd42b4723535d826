"""The production images run as docker/compose.yml runs them, on docker or podman, for the container
tier.

Every app container (migrate, two web replicas, the segmentation and cpu workers, beat) takes its
command, environment and stop grace period from docker/compose.yml, filled with this run's .env
values; the proxy is nginx with docker/nginx.conf, on the `static` volume migrate fills. They share
a bridge network, where the names the compose file uses for the backing services (db, redis, s3)
point at the network's gateway: there, relays on this host forward to the host's PostgreSQL (a
database of this run's own), a private redis-server and the tier's moto S3 server. Compose itself
is not used: podman-compose with podman before 4.6 ignores health conditions, and the official
PostgreSQL, Redis, MinIO and nginx images need a registry this machine may not reach.
"""
import contextlib
import json
import os
import secrets
import subprocess
import time
import uuid
from pathlib import Path

import httpx

from tests.integration import compose
from tests.integration.servers import LOOPBACK, RedisServer, TcpProxy, wait_until

ROOT = compose.ROOT
OFFICIAL_NGINX = "nginx:1.27-bookworm"
LOCAL_BASE = "localhost/cellposeweb-base:bookworm"
HTTPS = {"X-Forwarded-Proto": "https"}  # as the TLS load balancer in front of nginx sends it
JOB_END = ("succeeded", "failed", "cancelled")


class EngineError(RuntimeError):
    pass


class Engine:
    """The docker or podman command line (they take the same arguments for what is used here)."""

    def __init__(self, name: str, log: Path):
        self.name, self.log = name, log

    def __call__(self, *args, check=True, timeout=600, capture=True) -> str:
        argv = [self.name, *[str(a) for a in args]]
        with open(self.log, "a") as log:
            log.write(f"{time.strftime('%H:%M:%S')} $ {' '.join(argv)}\n")
            result = subprocess.run(argv, text=True, timeout=timeout, stdout=subprocess.PIPE if capture else log,
                                    stderr=subprocess.PIPE if capture else subprocess.STDOUT)
            if capture:
                log.write(result.stdout[-4000:] + result.stderr[-4000:])
        if check and result.returncode != 0:
            raise EngineError(f"{' '.join(argv[:4])} ... exited {result.returncode}: {(result.stderr or '')[-2000:]}")
        return (result.stdout or "").strip()

    def has_image(self, image: str) -> bool:
        return subprocess.run([self.name, "image", "inspect", image], capture_output=True).returncode == 0

    def pull(self, image: str) -> bool:
        return subprocess.run([self.name, "pull", "-q", image], capture_output=True, timeout=300).returncode == 0


def detect_engine() -> tuple[str | None, str]:
    """(engine, "") or (None, why not), from docker/engine.sh."""
    result = subprocess.run([ROOT / "docker" / "engine.sh"], capture_output=True, text=True)
    if result.returncode != 0:
        return None, result.stderr.strip()
    return result.stdout.strip(), ""


class ContainerStack:
    def __init__(self, *, engine: Engine, image: str, proxy_image: str, log_dir: Path, moto, database_url: str):
        self.engine, self.image, self.proxy_image, self.log_dir = engine, image, proxy_image, log_dir
        self.run_id = uuid.uuid4().hex[:8]
        self.prefix = f"cpw-it-{self.run_id}"
        self.network = self.prefix
        self.static_volume = f"{self.prefix}-static"
        self.moto, self.database_url = moto, database_url
        self.bucket = f"cellposeweb-containers-{self.run_id}"
        self.admin_password = secrets.token_urlsafe(16)
        self.metrics_token = secrets.token_urlsafe(24)
        self.containers: list[str] = []
        self.relays: list[TcpProxy] = []
        self.redis = None
        self.gateway = None
        self.url = None
        self.timings: dict[str, float] = {}
        # The .env of this deployment: what an operator fills in, and the job timings shortened so a
        # killed worker is noticed in seconds.
        self.dotenv = {
            "DJANGO_SECRET_KEY": secrets.token_urlsafe(50),
            "DJANGO_ALLOWED_HOSTS": f"localhost,{LOOPBACK}",
            "POSTGRES_PASSWORD": "unused-the-database-url-is-given",
            "S3_ACCESS_KEY_ID": moto.ACCESS_KEY,
            "S3_SECRET_ACCESS_KEY": moto.SECRET_KEY,
            "S3_BUCKET": self.bucket,
            "S3_PUBLIC_ENDPOINT_URL": moto.endpoint,  # where this host's client fetches presigned links
            "METRICS_TOKEN": self.metrics_token,
            "CELLPOSEWEB_ADMIN_PASSWORD": self.admin_password,
            "JOB_HEARTBEAT_TIMEOUT_S": "5",
            "JOB_MAX_ACTIVE_PER_USER": "6",
            "WEB_CONCURRENCY": "2",
        }
        self.services = compose.load(self.dotenv)["services"]

    # -- the services --------------------------------------------------------------------------

    def environment(self, service: str) -> dict:
        env = dict(self.services[service].get("environment", {}))
        env.update(
            DATABASE_URL=self.database_url,  # the host's server, through the relay named db
            JOB_HEARTBEAT_INTERVAL_S="0.5",
            JOB_RECOVER_INTERVAL_S="2",
            JOB_RETRY_AFTER_S="5",
            S3_PRESIGN_MIN_BYTES="1",  # every download goes out as a presigned link
            THROTTLE_UPLOADS="100000/hour",
            THROTTLE_JOBS="100000/hour",
            THROTTLE_AUTH="10000/minute",
            OMP_NUM_THREADS="1",
        )
        return {k: "" if v is None else str(v) for k, v in env.items()}  # as compose passes an empty value

    def run_service(self, service: str, name: str | None = None, *, detach=True, alias: str | None = None):
        """Starts ``service`` of the compose file as container ``name``."""
        spec = self.services[service]
        name = name or service
        container = f"{self.prefix}-{name}"
        args = ["run", "--name", container, "--network", self.network, "--network-alias", alias or service,
                "--stop-timeout", int(compose.seconds(spec.get("stop_grace_period"))),
                *self.backing_hosts(), "--label", f"cellposeweb.it={self.run_id}"]
        for key, value in self.environment(service).items():
            args += ["-e", f"{key}={value}"]
        for volume in spec.get("volumes", []):
            source, target = volume.split(":")[:2]
            if source == "static":
                args += ["-v", f"{self.static_volume}:{target}"]
        if detach:
            args.append("-d")
        self.containers.append(container)
        started = time.monotonic()
        self.engine(*args, self.image, *spec["command"], timeout=900)
        return container, started

    def backing_hosts(self) -> list[str]:
        return [arg for host in ("db", "redis", "s3") for arg in ("--add-host", f"{host}:{self.gateway}")]

    def container(self, name: str) -> str:
        return f"{self.prefix}-{name}"

    # -- bring up, tear down --------------------------------------------------------------------

    def start(self):
        self.engine("network", "create", "--label", f"cellposeweb.it={self.run_id}", *self._subnet(), self.network)
        self.engine("volume", "create", "--label", f"cellposeweb.it={self.run_id}", self.static_volume)
        self.moto.client().create_bucket(Bucket=self.bucket)
        self.redis = RedisServer(self.log_dir).start()

        # migrate starts first (it waits for the database: DB_WAIT_S); its start brings the bridge up,
        # and the relays then listen on its gateway.
        migrate, started = self.run_service("migrate")
        self._start_relays()
        status = self.engine("wait", migrate, timeout=600).splitlines()[-1]
        self.timings["migrate_s"] = round(time.monotonic() - started, 1)
        assert status == "0", f"migrate exited {status}:\n{self.logs('migrate')}"

        for name in ("web-1", "web-2"):
            self.run_service("web", name, alias="web")
        for name in ("web-1", "web-2"):
            self.wait_web_healthy(name, timeout=600)
        self.start_proxy()
        starts = {service: self.run_service(service)[1] for service in ("worker-segment", "worker-cpu")}
        self.run_service("beat")
        for service, started in starts.items():
            self.wait_worker_ready(service, started)
        return self

    def _subnet(self) -> list[str]:
        octet = int(self.run_id[:4], 16) % 200 + 20
        self.gateway = f"10.213.{octet}.1"
        return ["--subnet", f"10.213.{octet}.0/24", "--gateway", self.gateway]

    def _start_relays(self):
        from urllib.parse import urlsplit

        db = urlsplit(os.environ["DATABASE_URL"])
        s3 = urlsplit(self.moto.endpoint)
        targets = {5432: (db.hostname or LOOPBACK, db.port or 5432), 6379: (LOOPBACK, self.redis.port),
                   9000: (s3.hostname, s3.port)}
        for port, target in targets.items():
            relay = TcpProxy(target, port=port, host=self.gateway)
            wait_until(lambda: relay.start(), timeout=60, interval=0.5, what=f"the bridge gateway {self.gateway}")
            self.relays.append(relay)

    def start_proxy(self):
        spec = self.services["proxy"]
        container = self.container("proxy")
        self.containers.append(container)
        self.engine("run", "-d", "--name", container, "--network", self.network, "--network-alias", "proxy",
                    "--label", f"cellposeweb.it={self.run_id}", "--stop-timeout", 10,
                    "-v", f"{ROOT / 'docker' / 'nginx.conf'}:/etc/nginx/conf.d/default.conf:ro",
                    "-v", f"{self.static_volume}:/srv/static:ro", "-p", f"{LOOPBACK}::80", self.proxy_image)
        port = self.engine("port", container, "80/tcp").splitlines()[0].rsplit(":", 1)[1]
        self.url = f"http://{LOOPBACK}:{port}"
        wait_until(lambda: httpx.get(f"{self.url}/proxy-livez", timeout=5).status_code == 200, timeout=60,
                   what="nginx")
        self.exec_healthcheck(container, spec["healthcheck"]["test"])

    def stop(self, keep_logs=True):
        for container in reversed(self.containers):
            if keep_logs:
                (self.log_dir / f"{container}.log").write_text(self.logs_of(container))
            self.engine("rm", "-f", "-t", 0, container, check=False)
        self.engine("volume", "rm", "-f", self.static_volume, check=False)
        self.engine("network", "rm", "-f", self.network, check=False)
        for relay in self.relays:
            relay.stop()
        if self.redis:
            self.redis.stop()

    # -- health ---------------------------------------------------------------------------------

    def exec_healthcheck(self, container: str, test: list):
        """Runs a compose health check (``["CMD", ...]`` or ``["CMD-SHELL", "..."]``) in the container."""
        argv = test[1:] if test[0] == "CMD" else ["sh", "-c", test[1]]
        self.engine("exec", container, *argv, timeout=60)

    def wait_web_healthy(self, name: str, timeout: float):
        container = self.container(name)
        test = self.services["web"]["healthcheck"]["test"]
        started = time.monotonic()
        with self._logs_on_timeout(container):
            wait_until(lambda: self._try(lambda: self.exec_healthcheck(container, test)), timeout=timeout,
                       interval=1, what=f"{name}'s health check")
        self.timings.setdefault(f"{name}_healthy_s", round(time.monotonic() - started, 1))

    def wait_worker_ready(self, service: str, started: float, timeout: float = 600):
        container = self.container(service)
        with self._logs_on_timeout(container):
            wait_until(lambda: " ready." in self.logs_of(container), timeout=timeout, interval=0.5,
                       what=f"{service} to be ready")
        self.timings.setdefault(f"{service}_ready_s", round(time.monotonic() - started, 1))

    @contextlib.contextmanager
    def _logs_on_timeout(self, container: str):
        try:
            yield
        except AssertionError as exc:
            raise AssertionError(f"{exc}; the container's log ends:\n{self.logs_of(container)[-3000:]}") from None

    @staticmethod
    def _try(action) -> bool:
        try:
            action()
            return True
        except EngineError:
            return False

    def logs_of(self, container: str) -> str:
        result = subprocess.run([self.engine.name, "logs", container], capture_output=True, text=True)
        return result.stdout + result.stderr

    def logs(self, name: str) -> str:
        return self.logs_of(self.container(name))

    # -- clients and data -----------------------------------------------------------------------

    def http(self, token=None, **kwargs) -> httpx.Client:
        headers = dict(HTTPS)
        if token:
            headers["Authorization"] = f"Token {token}"
        return httpx.Client(base_url=self.url, headers=headers, timeout=kwargs.pop("timeout", 120), **kwargs)

    def tokens(self, n: int, prefix: str = "user") -> list[str]:
        """``n`` new users' API tokens, made the way an operator would: a shell in the web container."""
        code = (
            "import json, secrets\n"
            "from django.contrib.auth import get_user_model\n"
            "from rest_framework.authtoken.models import Token\n"
            "users = [get_user_model().objects.create_user(username=f'" + prefix + "-{secrets.token_hex(4)}', "
            "password=secrets.token_urlsafe(16)) for _ in range(" + str(int(n)) + ")]\n"
            "print(json.dumps([Token.objects.create(user=u).key for u in users]))\n"
        )
        out = self.engine("exec", self.container("web-1"), "python", "manage.py", "shell", "-c", code, timeout=120)
        return json.loads(out.splitlines()[-1])

    def job_row(self, job_id: int) -> dict:
        """The job's row, read from the database (attempts are not in the API)."""
        import psycopg

        with psycopg.connect(self.host_database_url, autocommit=True) as conn:
            row = conn.execute("SELECT status, attempts, error FROM inference_segmentationjob WHERE id = %s",
                               (job_id,)).fetchone()
        return {"status": row[0], "attempts": row[1], "error": row[2]}

    host_database_url = None  # set by the fixture: the same database as seen from this host

    def wait_job(self, client: httpx.Client, job_id: int, timeout: float = 600) -> dict:
        def done():
            body = client.get(f"/api/jobs/{job_id}/").json()
            return body if body["status"] in JOB_END else None

        return wait_until(done, timeout=timeout, interval=0.5, what=f"job {job_id} to end")
