"""The container tier: the production image built (docker/build.sh, as `make images` does) and the
stack of docker/compose.yml run from it (stack.py), driven as users drive it.

It runs under `make test-integration` (beside PostgreSQL, Redis and the tier's moto S3 server) when
a container engine works here (docker/engine.sh) and CONTAINER_TESTS is not 0; otherwise its tests
are skipped, saying why. Settings:
  CONTAINER_TESTS=0        skip the tier (CI: see docs/deploy.md, "Containers")
  CONTAINER_IMAGE=name     test this already built image instead of building one
  CONTAINER_KEEP_IMAGES=1  keep the images it built (rebuilds are then cached)
Everything it starts (containers, network, volume, database, bucket) is removed at the end, and the
images it built unless kept; the containers' logs stay in the run's log folder.
"""
import os
import subprocess
import time
from pathlib import Path
from urllib.parse import urlsplit, urlunsplit

import pytest

from tests.integration.containers.stack import (
    LOCAL_BASE,
    OFFICIAL_NGINX,
    ROOT,
    ContainerStack,
    Engine,
    detect_engine,
)

TIMINGS: dict[str, float] = {}


@pytest.fixture(scope="session")
def engine(tmp_path_factory):
    if os.environ.get("CONTAINER_TESTS", "1") == "0":
        pytest.skip("container tier skipped: CONTAINER_TESTS=0")
    name, why = detect_engine()
    if name is None:
        pytest.skip(f"container tier skipped: {why}")
    log_dir = Path(os.environ["CELLPOSEWEB_INTEGRATION_LOGS"]) / "containers"
    log_dir.mkdir(parents=True, exist_ok=True)
    return Engine(name, log_dir / "engine.log")


@pytest.fixture(scope="session")
def built_images(engine):
    """(the app image, the proxy image), built unless CONTAINER_IMAGE names the app image."""
    made = []
    before = all_images(engine)
    given = os.environ.get("CONTAINER_IMAGE")
    if given:
        app = given
    else:
        app = f"localhost/cellposeweb:it-{os.getpid()}"
        had_base = engine.has_image(LOCAL_BASE)
        started = time.monotonic()
        result = subprocess.run([ROOT / "docker" / "build.sh"], cwd=ROOT, text=True, capture_output=True,
                                env={**os.environ, "IMAGE": app, "BASE_IMAGE": os.environ.get("BASE_IMAGE", "auto"),
                                     "ENGINE": engine.name})
        (engine.log.parent / "build.log").write_text(result.stdout + result.stderr)
        assert result.returncode == 0, f"docker/build.sh failed:\n{(result.stdout + result.stderr)[-4000:]}"
        TIMINGS["image_build_s"] = round(time.monotonic() - started, 1)
        made.append(app)
        if not had_base and engine.has_image(LOCAL_BASE):
            made.append(LOCAL_BASE)
    TIMINGS["image_mb"] = round(int(engine("image", "inspect", "--format", "{{.Size}}", app)) / 1e6)

    if engine.has_image(OFFICIAL_NGINX) or engine.pull(OFFICIAL_NGINX):
        proxy = OFFICIAL_NGINX
    else:
        # No registry: Debian's nginx in the official image's layout (nginx.Dockerfile).
        if not engine.has_image(LOCAL_BASE):
            subprocess.run([ROOT / "docker" / "base-image.sh", LOCAL_BASE], check=True, capture_output=True,
                           env={**os.environ, "ENGINE": engine.name})
            made.append(LOCAL_BASE)
        proxy = f"localhost/cellposeweb-it-nginx:{os.getpid()}"
        fmt = ["--format", "docker"] if engine.name == "podman" else []
        engine("build", *fmt, "-f", Path(__file__).parent / "nginx.Dockerfile", "-t", proxy,
               "--build-arg", f"BASE_IMAGE={LOCAL_BASE}", Path(__file__).parent, timeout=900)
        made.append(proxy)
    made += sorted(all_images(engine) - before - set(made))  # the builds' intermediate images (podman keeps them)
    yield app, proxy
    if os.environ.get("CONTAINER_KEEP_IMAGES") != "1":
        for image in made[::-1]:
            engine("rmi", "-f", image, check=False)
        for image in made:  # an intermediate image goes once the images built on it are gone
            engine("rmi", "-f", image, check=False)


def all_images(engine) -> set[str]:
    return set(engine("images", "-a", "-q", "--no-trunc").split())


_stack_failure: list[str] = []


@pytest.fixture(scope="session")
def container_stack(engine, built_images):
    if _stack_failure:  # pytest retries a failed session fixture for every test: once is enough
        pytest.fail(f"the container stack did not come up: {_stack_failure[0]}", pytrace=False)
    import psycopg

    from tests.integration.plugin import _state as plugin_state

    app, proxy = built_images
    server = urlsplit(os.environ["DATABASE_URL"])
    name = f"{server.path.lstrip('/')}_containers"
    admin_url = urlunsplit(server._replace(path="/postgres"))
    with psycopg.connect(admin_url, autocommit=True) as conn:
        conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        conn.execute(f'CREATE DATABASE "{name}"')
    auth = server.username + (f":{server.password}" if server.password else "")
    moto = plugin_state["moto"]  # the tier's S3 server (tests.integration.plugin started it)

    stack = ContainerStack(engine=engine, image=app, proxy_image=proxy, log_dir=engine.log.parent, moto=moto,
                           database_url=f"postgres://{auth}@db:5432/{name}")
    stack.host_database_url = urlunsplit(server._replace(path=f"/{name}"))
    try:
        started = time.monotonic()
        try:
            stack.start()
        except Exception as exc:
            _stack_failure.append(str(exc)[:2000])
            raise
        TIMINGS["stack_up_s"] = round(time.monotonic() - started, 1)
        TIMINGS.update(stack.timings)
        yield stack
    finally:
        stack.stop()
        with psycopg.connect(admin_url, autocommit=True) as conn:
            conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        (engine.log.parent / "timings.txt").write_text("\n".join(f"{k} {v}" for k, v in TIMINGS.items()) + "\n")


def pytest_terminal_summary(terminalreporter):
    if TIMINGS:
        terminalreporter.write_line("container tier: " + ", ".join(f"{k}={v}" for k, v in TIMINGS.items()))
