"""Write the README's screenshots (docs/img/*.png) from a real server with demo data it makes itself.

    .venv/bin/python docs/screenshots.py [--out docs/img]

It starts the browser tests' server (tests/browser/server.py: a fresh var directory, migrate,
the default model, an administrator), then drives headless Chromium (/usr/bin/chromium, or
CELLPOSEWEB_CHROMIUM) with Playwright: it uploads tests/data/img2d.tif with its hand-drawn masks,
and for the dashboard has a second user contribute crops of it, approves them, holds two out as
test data and trains two short runs (the first released), so the release decision has something
to show. Nothing is downloaded. Each PNG is reduced to 256 colours to stay small (about 200 KB at
most). Takes a few minutes on 2 CPU cores.
"""
import argparse
import io
import json
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from tests.browser.conftest import CHROMIUM, CHROMIUM_ARGS  # noqa: E402
from tests.browser.server import start_server  # noqa: E402
from tests.browser.test_community import api, contribute_crop, encode, sign_in, sign_out, sign_up_or_in  # noqa: E402

DATA = ROOT / "tests" / "data"
CONTRIBUTOR = ("demo-contributor", "Demo-Cells-and-Nuclei-2026")
TRAINING = {"n_epochs": 3, "n_samples_per_epoch": 4, "batch_size": 2, "bsize": 128}


def save_png(png: bytes, path: Path, limit: int = 200_000) -> None:
    """Write ``png`` reduced to 256 colours (and halved in size while still over ``limit`` bytes)."""
    from PIL import Image

    image = Image.open(io.BytesIO(png)).convert("RGB")
    while True:
        buf = io.BytesIO()
        image.quantize(colors=256, method=Image.Quantize.MEDIANCUT).save(buf, format="PNG", optimize=True)
        if buf.tell() <= limit or image.width < 400:
            break
        image = image.resize((image.width * 3 // 4, image.height * 3 // 4), Image.Resampling.LANCZOS)
    path.write_bytes(buf.getvalue())
    print(f"{path.relative_to(ROOT) if path.is_relative_to(ROOT) else path}: {buf.tell() // 1024} KB")


def upload_annotated(page) -> int:
    """img2d.tif with its hand-drawn masks saved as the annotation; the image's id."""
    import tifffile

    image, masks = tifffile.imread(DATA / "img2d.tif"), tifffile.imread(DATA / "mask2d.tif")
    buf = io.BytesIO()
    tifffile.imwrite(buf, image)
    uploaded = api(page, "POST", "/api/images/", multipart={
        "file": {"name": "nuclei.tif", "mimeType": "image/tiff", "buffer": buf.getvalue()}})
    token = next(c["value"] for c in page.context.cookies() if c["name"] == "csrftoken")
    saved = page.request.put(f"/api/images/{uploaded['id']}/annotation/",
                             data=json.dumps({"version": None, "masks": encode(masks)}),
                             headers={"X-CSRFToken": token, "Content-Type": "application/json"})
    assert saved.ok, saved.text()[:300]
    return uploaded["id"]


def train(page, contributions: list[int]) -> dict:
    run = api(page, "POST", "/api/training-runs/", data={**TRAINING, "contributions": contributions})
    deadline = time.monotonic() + 600
    while run["status"] in ("queued", "running") and time.monotonic() < deadline:
        time.sleep(2)
        run = api(page, "GET", f"/api/training-runs/{run['id']}/")
    if run["status"] != "succeeded":
        raise SystemExit(f"training run {run['id']} {run['status']}: {run['error']}")
    return run


def cell_centres(n: int) -> list[tuple[int, int]]:
    """(y, x) of a pixel inside each of ``n`` large cells near the middle of mask2d.tif."""
    import numpy as np
    import tifffile

    masks = tifffile.imread(DATA / "mask2d.tif")
    labels, counts = np.unique(masks[160:352, 160:352], return_counts=True)
    picked = [label for label, _ in sorted(zip(labels, counts), key=lambda lc: -lc[1]) if label][:n]
    centres = []
    for label in picked:
        ys, xs = np.nonzero(masks == label)
        i = int(np.argmin((ys - ys.mean()) ** 2 + (xs - xs.mean()) ** 2))
        centres.append((int(ys[i]), int(xs[i])))
    return centres


def viewer_shots(page, site, out: Path) -> None:
    sign_in(page, site)
    image_id = upload_annotated(page)
    page.goto(f"/images/{image_id}/")
    page.wait_for_selector("[data-page=image][data-state=ready]")
    canvas = page.locator("[data-page=image] canvas").first
    canvas.focus()
    page.keyboard.press("x")  # outlines only (docs/keys.md)
    page.wait_for_timeout(800)
    save_png(page.screenshot(), out / "viewer.png")

    # zoomed in, filled masks, the select tool with three masks selected
    for combo in ("x", "=", "="):
        page.keyboard.press(combo)
    page.keyboard.press("2")
    for n, (y, x) in enumerate(cell_centres(3)):
        sx, sy = page.evaluate("([x, y]) => { const t = window.cellposeViewer.model.transform;"
                               " return [x * t.scale + t.tx, y * t.scale + t.ty]; }", [x + 0.5, y + 0.5])
        box = canvas.bounding_box()
        if n:
            page.keyboard.down("Shift")
        page.mouse.click(box["x"] + sx, box["y"] + sy)
        if n:
            page.keyboard.up("Shift")
    page.wait_for_function("() => window.cellposeViewer.model.selection.size >= 1")
    page.wait_for_timeout(500)
    save_png(page.screenshot(), out / "editor.png")

    panel = page.locator("[data-panel=cells]")
    panel.scroll_into_view_if_needed()
    page.wait_for_function("() => Number(document.querySelector('[data-panel=cells]').dataset.cells) > 0")
    page.wait_for_timeout(500)
    save_png(panel.screenshot(), out / "cells-panel.png")


def dashboard_shot(page, site, out: Path) -> None:
    sign_up_or_in(page, site, *CONTRIBUTOR)
    page.goto("/community/")
    page.wait_for_selector("[data-page=contributions][data-state=ready]")
    ids = [contribute_crop(page, i, j, ["nuclei"])["id"] for i, j in ((0, 0), (0, 1), (1, 0), (1, 1))]
    sign_out(page)
    sign_in(page, site)
    for cid in ids:
        api(page, "POST", f"/api/contributions/{cid}/review/", data={"decision": "approve"})
    for cid in ids[2:]:
        api(page, "POST", f"/api/contributions/{cid}/split/", data={"split": "test"})
    first = train(page, [ids[0]])
    api(page, "POST", f"/api/models/{first['candidate']}/release/")
    second = train(page, [ids[1]])

    page.goto("/community/dashboard/")
    page.wait_for_selector("[data-page=dashboard][data-state=ready]")
    decision = page.locator(f"[data-role=decision][data-run='{second['id']}']")
    decision.wait_for()
    decision.locator("[data-role=comparison] tbody tr").first.click()
    decision.locator("[data-role=compare-viewer]:not([hidden])").wait_for()
    page.wait_for_timeout(500)
    save_png(page.locator("[data-role=run]").screenshot(), out / "dashboard.png")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--out", type=Path, default=ROOT / "docs" / "img")
    args = parser.parse_args()
    args.out.mkdir(parents=True, exist_ok=True)
    from playwright.sync_api import sync_playwright

    with tempfile.TemporaryDirectory(prefix="cellposeweb-screenshots-") as tmp:
        site = start_server(Path(tmp))
        try:
            with sync_playwright() as playwright:
                browser = playwright.chromium.launch(executable_path=CHROMIUM, headless=True, args=CHROMIUM_ARGS)
                context = browser.new_context(viewport={"width": 1280, "height": 800}, base_url=site.url,
                                              color_scheme="light")
                context.set_default_timeout(60_000)
                page = context.new_page()
                viewer_shots(page, site, args.out)
                dashboard_shot(page, site, args.out)
                browser.close()
        except Exception:
            print(site.log_tail(), file=sys.stderr)
            raise
        finally:
            site.stop()


if __name__ == "__main__":
    main()
