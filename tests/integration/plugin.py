"""pytest plugin of the integration tier: ``pytest -p tests.integration.plugin tests/web tests/integration``
(what ``make test-integration`` runs).

Before Django is set up it points the settings at the real services: PostgreSQL
(INTEGRATION_DATABASE_URL, default ``postgres://postgres@127.0.0.1:5432/cellposeweb_it``; pytest-django
makes and drops ``test_cellposeweb_it``), Redis as cache and channel layer (INTEGRATION_REDIS_URL,
default database 11 of 127.0.0.1:6379, flushed first), and S3 storage on a moto server it starts on a
free loopback port. The tests under tests/integration/live/ start the rest of the production stack.

When PostgreSQL or Redis is not reachable, or the ``integration`` extra is not installed, every
test of the run is skipped with that reason, and nothing else is started; with REQUIRE_SERVICES=1
(what ``.ci/run`` sets) the run fails instead, so CI never passes on a tier that did not run.
"""
import os
import tempfile
from pathlib import Path
from urllib.parse import urlsplit

import pytest

DEFAULT_DATABASE_URL = "postgres://postgres@127.0.0.1:5432/cellposeweb_it"
DEFAULT_REDIS_URL = "redis://127.0.0.1:6379/11"

_state: dict = {"skip": None, "moto": None, "log_dir": None}


def _missing() -> list[str]:
    from tests.integration.servers import reachable

    missing = []
    for name, url, port in (
        ("PostgreSQL", os.environ.get("INTEGRATION_DATABASE_URL", DEFAULT_DATABASE_URL), 5432),
        ("Redis", os.environ.get("INTEGRATION_REDIS_URL", DEFAULT_REDIS_URL), 6379),
    ):
        parts = urlsplit(url)
        host, port = parts.hostname or "127.0.0.1", parts.port or port
        if not reachable(host, port):
            missing.append(f"{name} is not reachable at {host}:{port}")
    for module in ("moto", "schemathesis", "uvicorn", "httpx", "websockets"):
        try:
            __import__(module)
        except ImportError:
            missing.append(f"the 'integration' extra is not installed (no {module}; `make test-integration` installs it)")
            break
    return missing


def services_required() -> bool:
    """REQUIRE_SERVICES=1 (set by .ci/run): missing services fail the run instead of skipping it."""
    return os.environ.get("REQUIRE_SERVICES", "0").strip().lower() in {"1", "true", "yes", "on"}


@pytest.hookimpl(hookwrapper=True)
def pytest_load_initial_conftests(early_config, parser, args):
    """Runs before pytest-django sets Django up, so the settings read this environment."""
    missing = _missing()
    if missing and services_required():
        raise pytest.UsageError(
            "REQUIRE_SERVICES=1 and the integration tier cannot run: " + "; ".join(missing)
        )
    if missing:
        _state["skip"] = "integration tier skipped: " + "; ".join(missing)
    else:
        import redis

        from tests.integration.servers import MotoServer

        log_dir = Path(tempfile.mkdtemp(prefix="cellposeweb-it-"))
        _state["log_dir"] = log_dir
        redis_url = os.environ.get("INTEGRATION_REDIS_URL", DEFAULT_REDIS_URL)
        redis.Redis.from_url(redis_url).flushdb()
        moto = MotoServer(log_dir).start()
        _state["moto"] = moto
        os.environ.update(
            CELLPOSEWEB_INTEGRATION="1",
            CELLPOSEWEB_INTEGRATION_LOGS=str(log_dir),
            DATABASE_URL=os.environ.get("INTEGRATION_DATABASE_URL", DEFAULT_DATABASE_URL),
            REDIS_URL=redis_url,
            JOB_RUNNER="off",
            CELLPOSEWEB_VAR_DIR=str(log_dir / "var"),
            **moto.env(),
        )
    yield


# Web tests that look at stored files on disk by path (to corrupt or count them): they keep local
# storage here; everything else, the live stack included, stores in S3.
LOCAL_FILE_TESTS = {
    "tests/web/annotations/test_image_api.py::test_deleting_an_image_removes_its_rows_and_files",
    "tests/web/inference/test_segmentation_job_run.py::test_an_unreadable_image_fails_the_job_with_its_reason",
    "tests/web/inference/test_segmentation_job_run.py::test_a_broken_model_file_fails_the_job_with_its_reason",
    "tests/web/inference/test_segmentation_job_run.py::test_a_batch_succeeds_with_the_failures_listed",
}


@pytest.fixture(autouse=True)
def _local_storage_for_tests_that_read_paths(request):
    if request.node.nodeid.split("[")[0] in LOCAL_FILE_TESTS:
        settings = request.getfixturevalue("settings")
        settings.STORAGES = {**settings.STORAGES, "default": {"BACKEND": "django.core.files.storage.FileSystemStorage"}}
    yield


def pytest_report_header(config):
    if _state["skip"]:
        return _state["skip"]
    return (
        f"integration tier: PostgreSQL {os.environ['DATABASE_URL']}, Redis {os.environ['REDIS_URL']}, "
        f"S3 {os.environ['S3_ENDPOINT_URL']} (moto); logs in {_state['log_dir']}"
    )


def pytest_collection_modifyitems(config, items):
    if _state["skip"]:
        marker = pytest.mark.skip(reason=_state["skip"])
        for item in items:
            item.add_marker(marker)


def pytest_terminal_summary(terminalreporter):
    if _state["skip"]:
        terminalreporter.write_line(_state["skip"], yellow=True, bold=True)


def pytest_unconfigure(config):
    if _state["moto"] is not None:
        _state["moto"].stop()
        _state["moto"] = None
