"""The frontend's JavaScript unit tests (``node --test frontend/test``), run as part of ``make test``.

Skipped, saying so, when Node.js 18+ is not installed.
"""
import shutil
import subprocess
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]


def _node():
    node = shutil.which("node")
    if node is None:
        return None
    version = subprocess.run([node, "--version"], capture_output=True, text=True).stdout.strip()
    major = int(version.lstrip("v").split(".")[0] or 0)
    return node if major >= 18 else None


def test_every_javascript_unit_test_passes():
    node = _node()
    if node is None:
        pytest.skip("Node.js 18 or newer is needed for the frontend unit tests (node --test)")
    result = subprocess.run(
        [node, "--test", "frontend/test"], cwd=ROOT, capture_output=True, text=True, timeout=300
    )
    assert result.returncode == 0, result.stdout[-8000:] + result.stderr[-4000:]
