"""An administrator's tools: importing a .pth model file on the dashboard (a bad file refused in
words) and the batch zip of masks in the export format chosen on the image list."""
import io
import json
import zipfile
from pathlib import Path

import numpy as np
import pytest
import tifffile

from tests.browser.test_image_pages import sign_in

pytestmark = [pytest.mark.browser, pytest.mark.slow]

DATA = Path(__file__).resolve().parents[1] / "data"


def csrf(page):
    return next(c["value"] for c in page.context.cookies() if c["name"] == "csrftoken")


def test_an_admin_imports_a_pth_file_and_a_bad_one_is_refused_in_words(page, live_site):
    sign_in(page, live_site)
    page.goto("/community/dashboard/")
    page.wait_for_selector("[data-page=dashboard][data-state=ready]")
    form = page.locator("[data-role=import-form]")
    status = form.locator("[data-role=import-status]")

    form.locator("input[name=file]").set_input_files(
        files=[{"name": "broken.pth", "mimeType": "application/octet-stream", "buffer": b"not a model at all"}])
    form.locator("button[type=submit]").click()
    page.wait_for_function("() => document.querySelector('[data-role=import-status]').classList.contains('fail')")
    assert status.inner_text() == ("broken.pth is not a Cellpose model file: it is not a file written by "
                                   "torch.save, or it is cut short")

    form.locator("input[name=file]").set_input_files(str(DATA / "cpnet_small.pth"))
    form.locator("input[name=name]").fill("small-import")
    form.locator("button[type=submit]").click()
    page.wait_for_function("() => document.querySelector('[data-role=import-status]').classList.contains('ok')")
    assert status.inner_text().startswith("Imported cpnet_small.pth as small-import v1. It is not current")
    row = page.locator("[data-role=models] tbody tr", has_text="small-import v1")
    row.wait_for()
    assert row.locator("[data-action=release]").is_visible()


def test_the_batch_zip_holds_masks_in_the_format_chosen(page, live_site):
    sign_in(page, live_site)
    for name, seed in (("batch-a.tif", 1), ("batch-b.tif", 2)):
        picture = (np.random.default_rng(seed).random((48, 48)) * 1000).astype(np.uint16)
        buffer = io.BytesIO()
        tifffile.imwrite(buffer, picture)
        response = page.request.post("/api/images/", headers={"X-CSRFToken": csrf(page)}, multipart={
            "file": {"name": name, "mimeType": "image/tiff", "buffer": buffer.getvalue()}})
        assert response.status == 201, response.text()
    page.reload()
    page.wait_for_selector("[data-page=images][data-state=ready]")
    for name in ("batch-a.tif", "batch-b.tif"):
        page.locator(".image-card", has_text=name).locator("[data-role=select]").check()

    page.click("[data-action=segment-selected]")
    page.locator("[data-role=batch-dialog] button[type=submit]").click()
    job = page.locator("[data-role=batch-job]")
    page.wait_for_selector("[data-role=batch-job][data-status=succeeded]", timeout=180_000)

    chooser = job.locator("[data-role=job-download-format]")
    assert chooser.is_visible()
    chooser.select_option("geojson")
    assert job.locator("[data-role=job-download]").get_attribute("href").endswith("download.zip?format=geojson")
    with page.expect_download() as caught:
        job.locator("[data-role=job-download]").click()
    with zipfile.ZipFile(caught.value.path()) as archive:
        names = sorted(archive.namelist())
        assert names == ["batch-a_v1_masks.geojson", "batch-b_v1_masks.geojson"]
        for name in names:
            assert json.loads(archive.read(name))["type"] == "FeatureCollection"
