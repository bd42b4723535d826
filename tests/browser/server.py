"""A real Cellpose Web server for browser tests: daphne serving ``cellposeweb.asgi:application``
(HTTP and websockets, the in-process job worker) in a subprocess, on a fresh var directory.

pytest-django's ``live_server`` runs a WSGI server, which has no websockets, so the browser tests
start the same ASGI server ``make run`` starts: migrate, collectstatic (the pages load content-hashed
modules), ``manage.py bootstrap`` (registers the model and an administrator), then daphne on a
socket this process already bound (no port race).

``kill()`` and ``restart()`` let a test take the server down mid-edit and bring it back on the same
address (the browser keeps its storage per origin). The server inherits DJANGO_SETTINGS_MODULE from
the test run; CELLPOSEWEB_BROWSER_ASGI names
another ASGI application to serve (default ``cellposeweb.asgi:application``).
"""
import os
import secrets
import socket
import subprocess
import sys
import time
import urllib.request
from dataclasses import dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
DEFAULT_WEIGHTS = ROOT / "inference" / "engine" / "weights" / "default.pt"

# A randomly initialised two-level network: it runs the whole pipeline fast but finds no real cells.
_TINY_MODEL = """
import sys, torch
from inference.engine.model import CellposeModel
from inference.engine.net import CellposeNet
torch.manual_seed(0)
CellposeModel([CellposeNet(nbase=(2, 8, 16), nout=3, sz=3)], diam_mean=30.0, name="tiny-random").save(sys.argv[1])
"""


@dataclass
class LiveServer:
    url: str
    username: str
    password: str
    real_model: bool
    log_path: Path
    process: subprocess.Popen
    port: int = 0
    env: dict | None = None
    python: str = sys.executable

    def log_tail(self, n: int = 60) -> str:
        try:
            return "\n".join(self.log_path.read_text(errors="replace").splitlines()[-n:])
        except OSError:
            return "(no server log)"

    def kill(self) -> None:
        """Kill the server at once (SIGKILL: no clean shutdown), as a crash would."""
        if self.process.poll() is None:
            self.process.kill()
            self.process.wait()

    def restart(self) -> None:
        """Start daphne again on the same port and database (after kill() or stop())."""
        self.stop()
        self.process = _spawn_daphne(self.port, self.env, self.python, self.log_path)
        _wait_healthy(self)

    def stop(self) -> None:
        if self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()


def _run(args, env, log):
    result = subprocess.run(args, cwd=ROOT, env=env, stdout=log, stderr=subprocess.STDOUT, timeout=600)
    if result.returncode != 0:
        log.flush()
        raise RuntimeError(f"{' '.join(map(str, args))} failed; see {log.name}")


def start_server(var_dir: Path, *, python: str = sys.executable) -> LiveServer:
    var_dir.mkdir(parents=True, exist_ok=True)
    username, password = "browser", secrets.token_urlsafe(12)
    env = {
        **os.environ,
        "DJANGO_SETTINGS_MODULE": os.environ.get("DJANGO_SETTINGS_MODULE", "cellposeweb.settings"),
        "CELLPOSEWEB_VAR_DIR": str(var_dir),
        "DJANGO_DEBUG": "0",
        "DJANGO_ALLOWED_HOSTS": "127.0.0.1,localhost",
        "JOB_RUNNER": "thread",
        "CELLPOSEWEB_ADMIN_USER": username,
        "CELLPOSEWEB_ADMIN_PASSWORD": password,
        "PYTHONUNBUFFERED": "1",
    }
    for key in ("DATABASE_URL", "REDIS_URL", "S3_BUCKET"):  # always the embedded mode
        env.pop(key, None)
    log_path = var_dir / "server.log"
    log = open(log_path, "w")
    real_model = DEFAULT_WEIGHTS.is_file()
    weights = DEFAULT_WEIGHTS if real_model else var_dir / "tiny-random.pt"
    _run([python, "manage.py", "migrate", "--noinput"], env, log)
    _run([python, "manage.py", "collectstatic", "--noinput", "-v", "0"], env, log)
    if not real_model:
        _run([python, "-c", _TINY_MODEL, str(weights)], env, log)
    _run([python, "manage.py", "bootstrap", "--weights", str(weights)], env, log)
    log.close()

    process, port = _spawn_daphne(0, env, python, log_path, with_port=True)
    server = LiveServer(
        f"http://127.0.0.1:{port}", username, password, real_model, log_path, process, port=port, env=env, python=python
    )
    _wait_healthy(server)
    return server


def _spawn_daphne(port: int, env: dict, python: str, log_path: Path, *, with_port: bool = False):
    """daphne serving the site on a socket bound here (port 0: any free port)."""
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.bind(("127.0.0.1", port))
    sock.listen(64)
    port = sock.getsockname()[1]
    daphne = Path(python).with_name("daphne")
    command = [str(daphne)] if daphne.exists() else [python, "-m", "daphne"]
    log = open(log_path, "a")
    process = subprocess.Popen(
        [*command, "--fd", str(sock.fileno()), os.environ.get("CELLPOSEWEB_BROWSER_ASGI", "cellposeweb.asgi:application")],
        cwd=ROOT, env=env, stdout=log, stderr=subprocess.STDOUT, pass_fds=[sock.fileno()],
    )
    sock.close()  # the child holds its own copy
    log.close()
    return (process, port) if with_port else process


def _wait_healthy(server: LiveServer, timeout: float = 60) -> None:
    deadline = time.monotonic() + timeout
    while True:
        if server.process.poll() is not None:
            raise RuntimeError(f"the server exited with {server.process.returncode}:\n{server.log_tail()}")
        try:
            with urllib.request.urlopen(f"{server.url}/healthz", timeout=2) as response:
                if response.status == 200:
                    return
        except OSError:
            pass
        if time.monotonic() > deadline:
            server.stop()
            raise RuntimeError(f"the server did not answer /healthz within {timeout:.0f} s:\n{server.log_tail()}")
        time.sleep(0.2)
