"""One visual language on every page, in the light and the dark theme (the system's choice):
no button looks like the browser's own, the page follows prefers-color-scheme, and no page needs
inline styles or breaks the Content-Security-Policy."""
import io

import numpy as np
import pytest
import tifffile

from tests.browser.test_image_pages import sign_in

pytestmark = [pytest.mark.browser, pytest.mark.slow]

SIGNED_OUT = ["/accounts/login/", "/accounts/signup/", "/models/"]
SIGNED_IN = ["/", "/images/{image}/", "/accounts/tokens/", "/community/", "/community/review/",
             "/community/dashboard/", "/models/"]

RECORD_CSP_VIOLATIONS = """
window.__cspViolations = [];
document.addEventListener('securitypolicyviolation', (e) => window.__cspViolations.push(`${e.violatedDirective} ${e.blockedURI}`));
"""

# Every visible button against a button inside a shadow root, where no page style reaches: the
# browser's own look (for this colour scheme). A button counts as styled when neither its
# background nor its border style is the browser's.
BUTTON_LOOKS = """() => {
  const host = document.createElement('div');
  document.body.append(host);
  const probe = document.createElement('button');
  probe.textContent = 'probe';
  host.attachShadow({ mode: 'open' }).append(probe);
  const ua = getComputedStyle(probe);
  const browser = { background: ua.backgroundColor, border: ua.borderTopStyle };
  const buttons = [...document.querySelectorAll('button, input[type=submit], input[type=button], input[type=reset]')]
    .filter((b) => b.getClientRects().length && getComputedStyle(b).visibility !== 'hidden');
  const unstyled = buttons.filter((b) => {
    const look = getComputedStyle(b);
    return look.backgroundColor === browser.background || look.borderTopStyle === browser.border;
  }).map((b) => (b.textContent || b.value || b.outerHTML).trim().slice(0, 60));
  host.remove();
  const body = getComputedStyle(document.body);
  return { browser, count: buttons.length, unstyled, background: body.backgroundColor, text: body.color };
}"""


def luminance(css_colour: str) -> float:
    r, g, b = (int(float(v)) / 255 for v in css_colour[css_colour.index("(") + 1:-1].split(",")[:3])
    return 0.2126 * r + 0.7152 * g + 0.0722 * b


@pytest.fixture(scope="module")
def image_id(browser, live_site):
    context = browser.new_context(base_url=live_site.url)
    page = context.new_page()
    sign_in(page, live_site)
    token = next(c["value"] for c in context.cookies() if c["name"] == "csrftoken")
    buffer = io.BytesIO()
    tifffile.imwrite(buffer, (np.random.default_rng(0).random((64, 64)) * 255).astype(np.uint8))
    response = page.request.post("/api/images/", headers={"X-CSRFToken": token}, multipart={
        "file": {"name": "looks.tif", "mimeType": "image/tiff", "buffer": buffer.getvalue()}})
    assert response.status == 201, response.text()
    image = response.json()["id"]
    context.close()
    return image


def look_at(page, path):
    response = page.goto(path)
    assert response.status == 200, f"{path}: HTTP {response.status}"
    html = response.text()
    assert "<style" not in html and " style=" not in html, f"{path} has inline styles"
    page.wait_for_load_state("networkidle")
    return page.evaluate(BUTTON_LOOKS)


@pytest.mark.parametrize("scheme", ["light", "dark"])
def test_every_page_has_styled_buttons_and_follows_the_systems_theme(page, live_site, image_id, scheme):
    page.emulate_media(color_scheme=scheme)
    page.add_init_script(RECORD_CSP_VIOLATIONS)
    seen = {}
    for path in SIGNED_OUT:
        seen[f"signed out {path}"] = look_at(page, path)
    sign_in(page, live_site)
    for path in SIGNED_IN:
        path = path.format(image=image_id)
        seen[path] = look_at(page, path)
        violations = page.evaluate("() => window.__cspViolations")
        assert violations == [], f"{path}: Content-Security-Policy violations {violations}"

    for where, look in seen.items():
        assert look["unstyled"] == [], f"{where} ({scheme}): buttons with the browser's own look: {look['unstyled']}"
        background, text = luminance(look["background"]), luminance(look["text"])
        if scheme == "dark":
            assert background < 0.15 < 0.7 < text, f"{where}: not dark ({look['background']} / {look['text']})"
        else:
            assert text < 0.3 < 0.85 < background, f"{where}: not light ({look['background']} / {look['text']})"
    assert sum(look["count"] for look in seen.values()) > 30  # the check saw the pages' buttons
    assert seen["/community/dashboard/"]["count"] >= 3 and seen["signed out /accounts/login/"]["count"] == 1
