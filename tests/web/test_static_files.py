"""Static files under content-hashed names (cellposeweb/staticfiles.py): pages link hashed entry
modules, every module imports hashed modules, a changed module renames its importers, and the
embedded server marks hashed files immutable."""
import json
import posixpath
import re
import shutil
from pathlib import Path

import pytest
from asgiref.sync import async_to_sync
from asgiref.testing import ApplicationCommunicator
from django.core.management import call_command
from django.test import Client, override_settings

from cellposeweb.staticfiles import IMMUTABLE, REVALIDATE

pytestmark = pytest.mark.django_db

SOURCE = Path(__file__).resolve().parents[2] / "frontend" / "src"
HASHED = re.compile(r"\.[0-9a-f]{12}\.(js|css)$")
# Relative URLs of static imports and re-exports: `import ... from "./x.js";`, `export ... from "../y.js";`.
STATIC_IMPORT = re.compile(r"""^\s*(?:import|export)\b[^;]*?\bfrom\s*["'](\.\.?/[^"']+)["']\s*;""", re.M | re.S)
# `import("./x.js")`: dynamic imports, and the JSDoc type references the storage rewrites alike.
IMPORT_CALL = re.compile(r"""\bimport\(\s*["'](\.\.?/[^"']+)["']\s*\)""")


def manifest(root) -> dict:
    return json.loads((Path(root) / "staticfiles.json").read_text())["paths"]


def module_imports(text: str) -> list:
    """The relative URLs a module names, in order: its static imports, then its import() calls."""
    return STATIC_IMPORT.findall(text) + IMPORT_CALL.findall(text)


def page_assets(html: str) -> list:
    return re.findall(r"""<(?:script|link)\b[^>]*?(?:src|href)="(/static/[^"]+)\"""", html)


@pytest.mark.parametrize("page", ["/", "/community/"])
def test_a_page_links_its_scripts_and_styles_by_hashed_names_from_the_manifest(page, owner, static_root):
    client = Client()
    client.force_login(owner)

    html = client.get(page).content.decode()

    assets = page_assets(html)
    hashed = {"/static/" + name for name in manifest(static_root).values()}
    assert any(url.endswith(".js") for url in assets), html[:2000]
    for url in assets:
        assert HASHED.search(url), url
        assert url in hashed, url
        assert (static_root / url.removeprefix("/static/")).is_file(), url


def test_every_relative_import_of_a_collected_module_resolves_to_its_hashed_file(static_root):
    paths = manifest(static_root)
    modules = {name: hashed for name, hashed in paths.items() if name.startswith("frontend/") and name.endswith(".js")}
    assert len(modules) == len(list(SOURCE.rglob("*.js")))

    checked = 0
    for name, hashed in modules.items():
        source = module_imports((SOURCE / name.removeprefix("frontend/")).read_text())
        served = module_imports((static_root / hashed).read_text())
        # The same imports in the same order, each now naming the hashed file of its target.
        assert len(served) == len(source), (name, source, served)
        for original, rewritten in zip(source, served):
            target = posixpath.normpath(posixpath.join(posixpath.dirname(name), original))
            assert posixpath.normpath(posixpath.join(posixpath.dirname(hashed), rewritten)) == paths[target], (
                f"{hashed} imports {rewritten}, not {paths[target]} (from {original})"
            )
            checked += 1
    # Every `from "./..."` in the sources was one of those statements (none left unrewritten).
    anywhere = sum(len(re.findall(r"""\bfrom\s*["']\.\.?/""", p.read_text())) for p in SOURCE.rglob("*.js"))
    calls = sum(len(IMPORT_CALL.findall(p.read_text())) for p in SOURCE.rglob("*.js"))
    assert checked == anywhere + calls and anywhere > 50


def collect(source: Path, root: Path) -> dict:
    """collectstatic of the frontend modules alone (from `source`) into `root`; its manifest."""
    with override_settings(
        STATIC_ROOT=str(root),
        STATICFILES_DIRS=[("frontend", str(source))],
        STATICFILES_FINDERS=["django.contrib.staticfiles.finders.FileSystemFinder"],
    ):
        call_command("collectstatic", interactive=False, verbosity=0)
    return manifest(root)


def test_changing_one_module_renames_it_and_every_module_that_imports_it_and_no_other(tmp_path):
    before_src, after_src = tmp_path / "before", tmp_path / "after"
    shutil.copytree(SOURCE, before_src)
    shutil.copytree(SOURCE, after_src)
    changed = after_src / "observable.js"
    changed.write_text(changed.read_text() + "\n// a new release\n")

    before = collect(before_src, tmp_path / "static-before")
    after = collect(after_src, tmp_path / "static-after")

    importers = {}  # module -> the modules it names (static names; import() in JSDoc counts too)
    for name in before:
        text = (after_src / name.removeprefix("frontend/")).read_text()
        importers[name] = {posixpath.normpath(posixpath.join(posixpath.dirname(name), u)) for u in module_imports(text)}
    reaches = {"frontend/observable.js"}
    while True:  # every module that imports observable.js, directly or through others
        more = {name for name, imports in importers.items() if imports & reaches} - reaches
        if not more:
            break
        reaches |= more
    renamed = {name for name in before if before[name] != after[name]}
    assert renamed == reaches
    assert {"frontend/model.js", "frontend/pages/imagePage.js", "frontend/pages/imageList.js"} <= renamed
    assert "frontend/codec.js" not in renamed


def fetch(path: str):
    """GET `path` from the ASGI application daphne serves: (status, headers, body)."""
    from cellposeweb.asgi import application

    async def run():
        scope = {"type": "http", "method": "GET", "path": path, "query_string": b"", "headers": [],
                 "http_version": "1.1", "scheme": "http", "server": ("testserver", 80), "client": ("127.0.0.1", 1)}
        communicator = ApplicationCommunicator(application, scope)
        await communicator.send_input({"type": "http.request", "body": b""})
        start = await communicator.receive_output(5)
        body = b""
        while True:
            message = await communicator.receive_output(5)
            body += message.get("body", b"")
            if not message.get("more_body"):
                headers = {k.decode().lower(): v.decode() for k, v in start["headers"]}
                return start["status"], headers, body

    return async_to_sync(run)()


def test_the_embedded_server_serves_hashed_modules_as_immutable_and_other_names_revalidated(static_root):
    hashed = manifest(static_root)["frontend/pages/imagePage.js"]

    status, headers, body = fetch(f"/static/{hashed}")
    assert status == 200
    assert headers["cache-control"] == IMMUTABLE
    assert "javascript" in headers["content-type"]
    assert body == (static_root / hashed).read_bytes()

    status, headers, _ = fetch("/static/frontend/pages/imagePage.js")
    assert status == 200
    assert headers["cache-control"] == REVALIDATE

    status, _, _ = fetch("/static/frontend/pages/imagePage.0123456789ab.js")
    assert status == 404
