"""Browser tests: headless Debian Chromium driven by Playwright against a real daphne server.

They skip themselves, saying why, when /usr/bin/chromium or the playwright package is missing;
Playwright never downloads a browser of its own here.
"""
import os
import shutil
from pathlib import Path

import pytest

from tests.browser.server import start_server

CHROMIUM = os.environ.get("CELLPOSEWEB_CHROMIUM", "/usr/bin/chromium")
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
]


def _missing() -> str | None:
    if not Path(CHROMIUM).exists() and not shutil.which(CHROMIUM):
        return f"Chromium not found at {CHROMIUM} (apt-get install chromium)"
    try:
        import playwright.sync_api  # noqa: F401
    except ImportError:
        return "the playwright package is not installed (pip install playwright; no browser download needed)"
    return None


@pytest.fixture(scope="session")
def live_site(tmp_path_factory):
    """The running site (url, an administrator's username and password, whether the model is real)."""
    server = start_server(tmp_path_factory.mktemp("browser-site"))
    yield server
    server.stop()


# Package scope, not session: Playwright's sync API keeps an event loop running in the main thread
# while it is open, which would break later tests that call asyncio.run().
@pytest.fixture(scope="package")
def browser():
    reason = _missing()
    if reason:
        pytest.skip(reason)
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=CHROMIUM, headless=True, args=CHROMIUM_ARGS)
        yield browser
        browser.close()


@pytest.fixture
def page(browser, live_site, request):
    """A fresh browser tab on the live site; fails the test if the page threw a JavaScript error."""
    context = browser.new_context(viewport={"width": 1280, "height": 860}, accept_downloads=True, base_url=live_site.url)
    context.set_default_timeout(20_000)
    errors = []
    context.on("page", lambda tab: tab.on("pageerror", lambda error: errors.append(str(error))))
    page = context.new_page()
    yield page
    failed = getattr(request.node, "rep_call", None) is not None and request.node.rep_call.failed
    if failed and not page.is_closed():
        shots = Path(os.environ.get("BROWSER_TEST_ARTIFACTS", "/tmp/cellposeweb-browser-failures"))
        shots.mkdir(parents=True, exist_ok=True)
        page.screenshot(path=str(shots / f"{request.node.name}.png"), full_page=True)
        print(f"\nscreenshot: {shots / (request.node.name + '.png')}")
    if failed:
        print(f"\nserver log:\n{live_site.log_tail()}")
    context.close()
    assert not errors, f"JavaScript errors on the page: {errors}"


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_makereport(item, call):
    outcome = yield
    report = outcome.get_result()
    setattr(item, f"rep_{report.when}", report)
