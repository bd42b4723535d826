"""CI honesty: with REQUIRE_SERVICES=1 (what .ci/run sets) an integration tier that cannot reach
PostgreSQL or Redis fails the run (without it the tier skips itself, saying why: the default
for a developer's machine)."""
import os
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
UNREACHABLE = {"INTEGRATION_DATABASE_URL": "postgres://postgres@127.0.0.1:1/nothing",
               "INTEGRATION_REDIS_URL": "redis://127.0.0.1:1/0"}


def run_tier(**env):
    environment = {k: v for k, v in os.environ.items() if not k.startswith(("INTEGRATION_", "REQUIRE_SERVICES"))}
    return subprocess.run(
        [sys.executable, "-m", "pytest", "-q", "-p", "tests.integration.plugin", "tests/integration/test_deploy_files.py",
         "-p", "no:cacheprovider"],
        cwd=ROOT, env={**environment, **UNREACHABLE, **env}, capture_output=True, text=True, timeout=300,
    )


def test_with_require_services_the_tier_fails_when_postgresql_and_redis_are_missing():
    done = run_tier(REQUIRE_SERVICES="1")

    assert done.returncode != 0
    output = done.stdout + done.stderr
    assert "REQUIRE_SERVICES=1 and the integration tier cannot run" in output
    assert "PostgreSQL is not reachable at 127.0.0.1:1" in output


def test_ci_sets_the_switch():
    assert 'REQUIRE_SERVICES="${REQUIRE_SERVICES:-1}"' in (ROOT / ".ci" / "run").read_text()
