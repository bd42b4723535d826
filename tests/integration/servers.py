"""Processes and plumbing for the integration tier, all on the loopback interface: a Redis server
the tests may restart, a TCP proxy that can play a database restart, a local S3 server (moto),
and the web, worker and beat processes of the production stack."""
import os
import signal
import socket
import subprocess
import sys
import threading
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
BIN = Path(sys.executable).parent
LOOPBACK = "127.0.0.1"


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind((LOOPBACK, 0))
        return sock.getsockname()[1]


def reachable(host: str, port: int, timeout: float = 2.0) -> bool:
    try:
        with socket.create_connection((host, port), timeout=timeout):
            return True
    except OSError:
        return False


def wait_until(condition, *, timeout: float, interval: float = 0.2, what: str = "the condition"):
    deadline = time.monotonic() + timeout
    while True:
        try:
            value = condition()
        except Exception:  # a service still starting
            value = None
        if value:
            return value
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout:.0f} s waiting for {what}")
        time.sleep(interval)


class Process:
    """A child process in its own process group, its output in ``log``; stopped with SIGTERM, or
    killed with SIGKILL (as the OOM killer or a crash would)."""

    def __init__(self, name: str, argv: list, *, env: dict, log_dir: Path):
        self.name, self.argv, self.env = name, [str(a) for a in argv], env
        self.log = Path(log_dir) / f"{name}.log"
        self.popen = None

    def start(self):
        out = open(self.log, "ab")
        self.popen = subprocess.Popen(
            self.argv, cwd=ROOT, env=self.env, stdout=out, stderr=subprocess.STDOUT, start_new_session=True
        )
        out.close()
        return self

    @property
    def alive(self) -> bool:
        return self.popen is not None and self.popen.poll() is None

    def kill(self):
        """SIGKILL to the whole group: no clean-up runs, exactly like a crash."""
        if self.alive:
            os.killpg(self.popen.pid, signal.SIGKILL)
            self.popen.wait(timeout=30)

    def stop(self, timeout: float = 20):
        if not self.alive:
            return
        os.killpg(self.popen.pid, signal.SIGTERM)
        try:
            self.popen.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            self.kill()

    def tail(self, n: int = 40) -> str:
        try:
            return "\n".join(self.log.read_text(errors="replace").splitlines()[-n:])
        except FileNotFoundError:
            return ""


class RedisServer:
    """A private redis-server (no persistence, like the machine's) the tests can restart."""

    def __init__(self, log_dir: Path, port: int | None = None):
        self.port = port or free_port()
        self.log_dir = Path(log_dir)
        self.process = None

    @property
    def url(self) -> str:
        return f"redis://{LOOPBACK}:{self.port}/0"

    def start(self):
        argv = ["redis-server", "--port", self.port, "--bind", LOOPBACK, "--save", "", "--appendonly", "no",
                "--dir", self.log_dir]
        self.process = Process(f"redis-{self.port}", argv, env=dict(os.environ), log_dir=self.log_dir).start()
        wait_until(lambda: reachable(LOOPBACK, self.port), timeout=30, what="redis-server")
        return self

    def stop(self):
        if self.process:
            self.process.kill()


class TcpProxy:
    """Forwards ``host``:``port`` (loopback by default) to ``target``. ``outage()`` plays a server
    restart for its clients:
    every open connection is cut and new ones are refused until ``restore()``."""

    def __init__(self, target: tuple[str, int], port: int | None = None, host: str = LOOPBACK):
        self.target = target
        self.host = host
        self.port = port or free_port()
        self._listener = None
        self._conns: set[socket.socket] = set()
        self._lock = threading.Lock()
        self._accepting = threading.Event()

    def start(self):
        self._listen()
        return self

    def _listen(self):
        listener = socket.socket()
        listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        listener.bind((self.host, self.port))
        listener.listen(128)
        self._listener = listener
        self._accepting.set()
        threading.Thread(target=self._accept, args=(listener,), daemon=True).start()

    def _accept(self, listener):
        while self._accepting.is_set():
            try:
                client, _ = listener.accept()
            except OSError:
                return
            try:
                upstream = socket.create_connection(self.target, timeout=5)
                upstream.settimeout(None)
            except OSError:
                client.close()
                continue
            with self._lock:
                self._conns.update({client, upstream})
            for a, b in ((client, upstream), (upstream, client)):
                threading.Thread(target=self._pump, args=(a, b), daemon=True).start()

    def _pump(self, src, dst):
        try:
            while True:
                data = src.recv(65536)
                if not data:
                    break
                dst.sendall(data)
        except OSError:
            pass
        finally:
            for sock in (src, dst):
                try:
                    sock.shutdown(socket.SHUT_RDWR)
                except OSError:
                    pass
                sock.close()
            with self._lock:
                self._conns.discard(src)
                self._conns.discard(dst)

    def outage(self):
        self._accepting.clear()
        try:
            self._listener.shutdown(socket.SHUT_RDWR)  # wakes the accepting thread (close alone does not)
        except OSError:
            pass
        self._listener.close()
        with self._lock:
            conns = list(self._conns)
        for sock in conns:
            try:
                sock.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass
            sock.close()

    def restore(self):
        self._listen()

    def stop(self):
        self.outage()


class MotoServer:
    """moto's S3-compatible server on a free loopback port, with one empty bucket."""

    ACCESS_KEY = "integration-access-key"
    SECRET_KEY = "integration-secret-key"
    REGION = "us-east-1"

    def __init__(self, log_dir: Path, bucket: str = "cellposeweb-it"):
        self.port, self.bucket, self.log_dir = free_port(), bucket, Path(log_dir)
        self.process = None

    @property
    def endpoint(self) -> str:
        return f"http://{LOOPBACK}:{self.port}"

    def env(self) -> dict:
        return {
            "S3_BUCKET": self.bucket,
            "S3_ENDPOINT_URL": self.endpoint,
            "S3_REGION": self.REGION,
            "S3_ACCESS_KEY_ID": self.ACCESS_KEY,
            "S3_SECRET_ACCESS_KEY": self.SECRET_KEY,
            "S3_ADDRESSING_STYLE": "path",
        }

    def client(self):
        import boto3

        return boto3.client(
            "s3", endpoint_url=self.endpoint, region_name=self.REGION, aws_access_key_id=self.ACCESS_KEY,
            aws_secret_access_key=self.SECRET_KEY,
        )

    def start(self):
        argv = [sys.executable, "-m", "moto.server", "-H", LOOPBACK, "-p", self.port]
        env = {**os.environ, "MOTO_ALLOW_NONEXISTENT_REGION": "true"}
        self.process = Process(f"moto-{self.port}", argv, env=env, log_dir=self.log_dir).start()
        wait_until(lambda: reachable(LOOPBACK, self.port), timeout=60, what="the S3 server (moto)")
        self.client().create_bucket(Bucket=self.bucket)
        return self

    def stop(self):
        if self.process:
            self.process.stop()
