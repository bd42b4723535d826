"""What a biologist sees: upload, segment, look at outlines, masks and flows, download.

Two journeys:
* with saved hand-drawn masks (always runs, whatever model the server has): every part of the
  viewer against known labels, ending in a PNG download equal to those labels;
* with the embedded default model (runs when inference/engine/weights/default.pt exists): the
  issue's acceptance path, which needs a model that really finds cells.
"""
import base64
import time
import zlib
from pathlib import Path

import numpy as np
import pytest
import tifffile
from PIL import Image

pytestmark = [pytest.mark.browser, pytest.mark.slow]

DATA = Path(__file__).resolve().parents[1] / "data"

# Pixel statistics of the viewer canvas: white pixels (outlines are white) and saturated ones
# (flows are coloured; the grayscale image is not).
CANVAS_STATS = """() => {
  const canvas = document.querySelector('[data-page=image] canvas');
  const { data } = canvas.getContext('2d').getImageData(0, 0, canvas.width, canvas.height);
  let white = 0, saturated = 0;
  for (let i = 0; i < data.length; i += 4) {
    const r = data[i], g = data[i + 1], b = data[i + 2];
    if (r >= 250 && g >= 250 && b >= 250) white++;
    if (Math.max(r, g, b) - Math.min(r, g, b) >= 60) saturated++;
  }
  return { white, saturated, total: data.length / 4 };
}"""

NEXT_FRAME = "() => new Promise((resolve) => requestAnimationFrame(() => requestAnimationFrame(resolve)))"

SATURATED_FRACTION = """(minimum) => {
  const canvas = document.querySelector('[data-page=image] canvas');
  const { data } = canvas.getContext('2d').getImageData(0, 0, canvas.width, canvas.height);
  let saturated = 0;
  for (let i = 0; i < data.length; i += 4) {
    const r = data[i], g = data[i + 1], b = data[i + 2];
    if (Math.max(r, g, b) - Math.min(r, g, b) >= 60) saturated++;
  }
  return saturated / (data.length / 4) >= minimum;
}"""

DROP_FILES = """async (files) => {
  const transfer = new DataTransfer();
  for (const { name, type, b64 } of files) {
    const bytes = Uint8Array.from(atob(b64), (c) => c.charCodeAt(0));
    transfer.items.add(new File([bytes], name, { type }));
  }
  const zone = document.querySelector('[data-role=dropzone]');
  for (const kind of ['dragenter', 'dragover', 'drop']) {
    zone.dispatchEvent(new DragEvent(kind, { bubbles: true, cancelable: true, dataTransfer: transfer }));
  }
}"""


def sign_in(page, site):
    """Sign in and land on the image list, its scripts running."""
    page.goto("/accounts/login/")
    page.fill("input[name=username]", site.username)
    page.fill("input[name=password]", site.password)
    page.click("form button[type=submit]")
    page.wait_for_url(f"{site.url}/")
    assert page.locator("[data-page=images]").count() == 1, "/ is not the image list (annotations.page_urls at the site root)"
    try:
        page.wait_for_selector("[data-page=images][data-state=ready]", timeout=10_000)
    except Exception:
        module = page.request.get("/static/frontend/pages/imageList.js")
        raise AssertionError(f"the image list's scripts did not start; /static/frontend/pages/imageList.js: HTTP {module.status}") from None


def canvas_stats(page):
    page.evaluate(NEXT_FRAME)
    return page.evaluate(CANVAS_STATS)


def press(page, key):
    page.locator("[data-page=image] canvas").focus()
    page.keyboard.press(key)
    page.evaluate(NEXT_FRAME)


# More cards named so than before: the list shows an upload that just finished.
NEW_CARD = """([name, before]) => [...document.querySelectorAll('.image-card')]
  .filter((card) => card.textContent.includes(name)).length > before"""


def open_image(page, name):
    """Open the newest image called ``name`` (the list shows the newest first)."""
    page.locator(".image-card", has_text=name).first.locator("a.card-name").click()
    page.wait_for_selector("[data-page=image][data-state=ready]")


def run_segmentation(page, timeout_ms):
    page.click("[data-action=run]")
    job = page.locator("[data-role=job]")
    job.and_(page.locator("[data-status=succeeded], [data-status=failed], [data-status=cancelled]")).wait_for(
        timeout=timeout_ms
    )
    assert job.get_attribute("data-status") == "succeeded", page.inner_text("[data-role=job]")


def assert_outlines_drawn(page):
    """Outlines show as white pixels that go away with Z (masks hidden, so only outlines differ)."""
    press(page, "x")  # filled masks off
    with_outlines = canvas_stats(page)
    press(page, "z")  # outlines off
    without = canvas_stats(page)
    press(page, "z")
    press(page, "x")
    assert with_outlines["white"] - without["white"] > 300, (with_outlines, without)


def assert_flow_view_toggles(page):
    press(page, "x")
    press(page, "z")
    assert page.evaluate(SATURATED_FRACTION, 0.01) is False, "the grayscale image should not look coloured"
    page.click("[data-panel=display] label:has-text('Flows')")
    page.wait_for_function(SATURATED_FRACTION, arg=0.03, timeout=15_000)
    assert page.locator("[data-role=viewer-notice]").is_hidden()
    page.click("[data-panel=display] label:has-text('Image')")
    page.wait_for_function(f"() => !({SATURATED_FRACTION})(0.01)")
    press(page, "z")
    press(page, "x")


def download_png_masks(page):
    page.click("[data-role=downloads] summary")
    with page.expect_download() as info:
        page.click("[data-role=downloads] a[data-format=png]")
    download = info.value
    assert download.suggested_filename.endswith(".png"), download.suggested_filename
    return np.array(Image.open(download.path()))


def encoded(masks):
    data = np.ascontiguousarray(masks, dtype="<i4").tobytes()
    return {
        "encoding": "zlib-base64", "dtype": "int32", "byteorder": "little", "shape": list(masks.shape),
        "data": base64.b64encode(zlib.compress(data)).decode("ascii"),
    }


def test_the_viewer_shows_saved_masks_flows_and_downloads_them(page, live_site):
    truth = tifffile.imread(DATA / "mask2d.tif").astype(np.int32)
    old_labels = np.unique(truth)[1:]
    sign_in(page, live_site)

    # Drag and drop two files at once: the image is stored, the text file rejected with the server's reason.
    files = [
        {"name": "img2d.tif", "type": "image/tiff", "b64": base64.b64encode((DATA / "img2d.tif").read_bytes()).decode()},
        {"name": "notes.txt", "type": "text/plain", "b64": base64.b64encode(b"not an image").decode()},
    ]
    before = page.locator(".image-card", has_text="img2d.tif").count()
    page.evaluate(DROP_FILES, files)
    stored = page.locator(".upload", has_text="img2d.tif")
    rejected = page.locator(".upload", has_text="notes.txt")
    stored.and_(page.locator("[data-status=done]")).wait_for()
    rejected.and_(page.locator("[data-status=failed]")).wait_for()
    assert "Uploaded" in stored.inner_text()
    assert "notes.txt" in rejected.locator("[data-field=error]").inner_text()
    page.wait_for_function(NEW_CARD, arg=["img2d.tif", before])

    open_image(page, "img2d.tif")
    assert page.inner_text("[data-role=cell-count]") == "No masks yet"
    assert page.locator("[data-role=contribute]").is_hidden()  # nothing to contribute yet
    run_segmentation(page, timeout_ms=180_000)
    assert_flow_view_toggles(page)

    # Save hand-drawn masks as the annotation (what the editor will do), then look at them.
    status = page.evaluate(
        """async (masks) => {
          const id = document.querySelector('[data-page=image]').dataset.imageId;
          const token = document.cookie.split('; ').find((c) => c.startsWith('csrftoken=')).split('=')[1];
          const current = await fetch(`/api/images/${id}/annotation/`);
          const version = current.ok ? (await current.json()).version : 0;
          const response = await fetch(`/api/images/${id}/annotation/`, {
            method: 'PUT',
            headers: { 'Content-Type': 'application/json', 'X-CSRFToken': token },
            body: JSON.stringify({ version, masks }),
          });
          return response.status;
        }""",
        encoded(truth),
    )
    assert status == 200
    page.reload()
    page.wait_for_selector("[data-page=image][data-state=ready]")
    count = page.locator("[data-role=cell-count]")
    assert count.inner_text() == f"{len(old_labels)} cells"
    assert_outlines_drawn(page)

    # Hovering a cell names it (labels are saved renumbered 1..N in the order of the old labels).
    old = int(old_labels[len(old_labels) // 2])
    ys, xs = np.nonzero(truth == old)
    y, x = int(np.median(ys)), int(np.median(xs))
    if truth[y, x] != old:
        y, x = int(ys[len(ys) // 2]), int(xs[len(xs) // 2])
    transform = page.evaluate("() => window.cellposeViewer.model.transform")
    box = page.locator("[data-page=image] canvas").bounding_box()
    page.mouse.move(box["x"] + (x + 0.5) * transform["scale"] + transform["tx"],
                    box["y"] + (y + 0.5) * transform["scale"] + transform["ty"])
    new_label = int(np.searchsorted(old_labels, old)) + 1
    assert page.inner_text("[data-role=hover]").startswith(f"Cell {new_label} ")

    labels = download_png_masks(page)
    assert labels.dtype == np.uint16
    renumbered = np.zeros_like(truth)
    renumbered[truth > 0] = np.searchsorted(old_labels, truth[truth > 0]) + 1
    np.testing.assert_array_equal(labels, renumbered)

    # "Contribute" opens the contributions page with this image chosen.
    image_id = page.get_attribute("[data-page=image]", "data-image-id")
    page.click("[data-role=contribute]")
    page.wait_for_selector("[data-page=contributions][data-state=ready]")
    assert page.locator("[data-role=image-select]").input_value() == image_id


def test_a_person_segments_an_uploaded_image_and_sees_its_cells(page, live_site):
    if not live_site.real_model:
        pytest.skip(
            "needs the embedded default model (inference/engine/weights/default.pt, `make model`): the tiny "
            "random model the tests register otherwise finds no cells, so a non-zero count cannot be asserted"
        )
    sign_in(page, live_site)
    cards = page.locator(".image-card", has_text="img2d.tif")
    before = cards.count()  # other tests of this session may have uploaded img2d.tif too
    started = time.monotonic()
    page.set_input_files("[data-role=file-input]", str(DATA / "img2d.tif"))
    page.wait_for_function(NEW_CARD, arg=["img2d.tif", before])
    open_image(page, "img2d.tif")
    run_segmentation(page, timeout_ms=300_000)
    count = page.locator("[data-role=cell-count]")
    page.wait_for_function("() => document.querySelector('[data-role=cell-count]').dataset.count !== ''")
    elapsed = time.monotonic() - started
    n_cells = int(count.get_attribute("data-count"))
    print(f"\nimg2d.tif: upload to masks visible in {elapsed:.1f} s, {n_cells} cells")
    assert n_cells > 0
    assert_outlines_drawn(page)
    assert_flow_view_toggles(page)
    labels = download_png_masks(page)
    assert len(np.unique(labels[labels > 0])) == n_cells


def test_an_image_uploaded_with_segment_after_upload_shows_its_masks_without_pressing_run(page, live_site):
    sign_in(page, live_site)
    page.check("[data-role=segment-on-upload]")
    cards = page.locator(".image-card", has_text="auto.tif")
    before = cards.count()
    try:
        page.set_input_files("[data-role=file-input]", {"name": "auto.tif", "mimeType": "image/tiff",
                                                        "buffer": (DATA / "img2d.tif").read_bytes()})
        page.wait_for_function(NEW_CARD, arg=["auto.tif", before])
        open_image(page, "auto.tif")
        job = page.locator("[data-role=job]")
        job.and_(page.locator("[data-status=succeeded], [data-status=failed]")).wait_for(timeout=300_000)
        assert job.get_attribute("data-status") == "succeeded", page.inner_text("[data-role=job]")
        page.wait_for_function("() => document.querySelector('[data-role=cell-count]').dataset.count !== ''")
        page.goto("/")
        assert page.is_checked("[data-role=segment-on-upload]")  # the choice is remembered
    finally:
        page.goto("/")
        page.uncheck("[data-role=segment-on-upload]")
