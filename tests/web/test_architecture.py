"""The layering the README describes, checked on the source: the web uses only the engine's
public names, and the import contracts of pyproject.toml hold (``make test`` also runs
``lint-imports`` itself)."""
import ast
import shutil
import subprocess
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
WEB_PACKAGES = ("annotations", "inference", "community", "cellposeweb")


def web_sources():
    for package in WEB_PACKAGES:
        for path in sorted((ROOT / package).rglob("*.py")):
            if "engine" not in path.relative_to(ROOT).parts and "migrations" not in path.parts:
                yield path


def test_the_web_imports_only_the_engines_public_names():
    import inference.engine as engine

    private = []
    for path in web_sources():
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if isinstance(node, ast.ImportFrom) and node.module and node.module.startswith("inference.engine"):
                names = [alias.name for alias in node.names]
                if node.module != "inference.engine" or not set(names) <= set(engine.__all__):
                    private.append(f"{path.relative_to(ROOT)}:{node.lineno}: from {node.module} import {', '.join(names)}")
            elif isinstance(node, ast.Import) and any(a.name.startswith("inference.engine.") for a in node.names):
                private.append(f"{path.relative_to(ROOT)}:{node.lineno}: import {node.names[0].name}")
    assert private == []


def test_the_engines_public_names_are_written_once_in_its_stub():
    import inference.engine as engine

    stub = (ROOT / "inference" / "engine" / "__init__.pyi").read_text(encoding="utf-8")
    assert sorted(engine.__all__) == engine.__all__
    for name in engine.__all__:
        assert f" as {name}\n" in stub
    assert "__all__ = [" not in (ROOT / "inference" / "engine" / "__init__.py").read_text(encoding="utf-8")


@pytest.mark.skipif(shutil.which("lint-imports") is None and not (ROOT / ".venv/bin/lint-imports").exists(),
                    reason="import-linter is not installed (the test extra installs it)")
def test_the_import_contracts_hold():
    exe = shutil.which("lint-imports") or str(ROOT / ".venv/bin/lint-imports")
    done = subprocess.run([exe], cwd=ROOT, capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stdout[-4000:] + done.stderr[-2000:]
