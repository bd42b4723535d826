"""The frontend's own checks, run as part of ``make test``: its JavaScript unit tests (``npm test``:
``node --test``) and its lint and type check (``npm run lint``: ESLint and ``tsc --checkJs`` over
the JSDoc types), both defined in frontend/package.json.

Without npm, or before ``npm ci`` installed the lint tools (the Makefile does it), these tests skip,
saying so; on CI (``CI`` set, as CI runners do) they fail instead, so a missing tool is never a
green run.
"""
import os
import shutil
import subprocess
from pathlib import Path

import pytest

FRONTEND = Path(__file__).resolve().parents[2] / "frontend"


def _unavailable(reason: str):
    if os.environ.get("CI", "").strip().lower() not in ("", "0", "false", "no"):
        pytest.fail(f"{reason} (CI is set: the frontend checks must run on CI)")
    pytest.skip(reason)


def _npm() -> str:
    npm = shutil.which("npm")
    if npm is None or shutil.which("node") is None:
        _unavailable("Node.js and npm are needed for the frontend checks (see frontend/package.json)")
    return npm


def _run(args, what):
    result = subprocess.run(args, cwd=FRONTEND, capture_output=True, text=True, timeout=600)
    assert result.returncode == 0, f"{what} failed:\n{result.stdout[-8000:]}\n{result.stderr[-4000:]}"
    return result


def test_every_javascript_unit_test_passes():
    result = _run([_npm(), "test", "--silent"], "npm test")

    assert "# fail 0" in result.stdout and "# pass " in result.stdout, result.stdout[-2000:]


def test_the_frontend_passes_eslint_and_the_jsdoc_type_check():
    npm = _npm()
    installed = FRONTEND / "node_modules" / ".package-lock.json"
    if not installed.is_file():
        _unavailable("the frontend's dev tools are not installed: cd frontend && npm ci (make test does it)")

    _run([npm, "run", "lint", "--silent"], "npm run lint (eslint, tsc --checkJs)")

