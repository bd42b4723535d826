"""A Cellpose user's workflow without silent traps (issue 19): what the page shows is what a
download holds, and what a result was made with comes back with the page.

Each test starts from the editor tests' squares image (four known masks, version 1) or, where a
segmentation's settings are the point, from a segmentation run through the API.
"""
import base64
import io

import numpy as np
import pytest
from PIL import Image

from tests.browser.test_editor import Canvas, create_image, open_editor, wait_count, wait_saved
from tests.browser.test_image_pages import sign_in

pytestmark = [pytest.mark.browser, pytest.mark.slow]


def open_downloads(page):
    page.click("[data-role=downloads] summary")
    page.locator("[data-role=downloads][open]").wait_for()


def download(page, fmt):
    with page.expect_download() as info:
        page.click(f"[data-role=downloads] a[data-format={fmt}]")
    return info.value


def n_labels(path):
    labels = np.array(Image.open(path))
    return len(np.unique(labels[labels > 0]))


def test_a_download_right_after_an_edit_saves_it_first_and_names_the_version(page, live_site):
    sign_in(page, live_site)
    open_editor(page, create_image(page))
    Canvas(page).click(60, 60, modifiers=["Control"])
    wait_count(page, 3)
    assert page.get_attribute("[data-role=save-status]", "data-status") == "unsaved"

    open_downloads(page)
    assert "Unsaved edits" in page.inner_text("[data-role=download-version]")
    png = download(page, "png")
    assert png.suggested_filename == "squares_v2_masks.png"
    assert n_labels(png.path()) == 3, "the file holds the masks on screen, not the last saved ones"
    wait_saved(page, 2)

    open_downloads(page)
    assert page.inner_text("[data-role=download-version]") == "Saved version 2"
    assert download(page, "tif").suggested_filename == "squares_v2_masks.tif"


def test_an_older_version_on_show_downloads_as_that_version(page, live_site):
    sign_in(page, live_site)
    open_editor(page, create_image(page))
    Canvas(page).click(60, 60, modifiers=["Control"])
    page.keyboard.press("Control+s")
    wait_saved(page, 2)

    page.locator("[data-role=versions] li[data-version='1'] [data-action=show-version]").click()
    page.locator("[data-role=preview]").wait_for()
    page.wait_for_function("() => window.cellposeViewer.model.labelAt(60, 60) === 1")
    open_downloads(page)
    assert page.inner_text("[data-role=download-version]") == "Version 1 (on show)"
    png = download(page, "png")
    assert png.suggested_filename == "squares_v1_masks.png" and n_labels(png.path()) == 4


def test_a_download_whose_edits_cannot_be_saved_is_refused_with_the_saved_version_offered(page, live_site):
    sign_in(page, live_site)
    image_id = create_image(page)
    open_editor(page, image_id)
    other = page.context.new_page()
    open_editor(other, image_id)
    Canvas(other).click(140, 60, modifiers=["Control"])  # the other tab saves version 2 meanwhile
    other.keyboard.press("Control+s")
    wait_saved(other, 2)
    other.close()

    Canvas(page).click(60, 60, modifiers=["Control"])
    page.keyboard.press("Control+s")
    page.locator("[data-role=conflict]").wait_for()
    open_downloads(page)
    assert "conflict" in page.inner_text("[data-role=download-version]")
    page.click("[data-role=downloads] a[data-format=png]")
    problem = page.locator("[data-role=download-problem]")
    problem.wait_for()
    assert "conflict" in problem.inner_text()
    with page.expect_download() as info:
        problem.locator("[data-role=download-saved]").click()
    assert info.value.suggested_filename == "squares_v1_masks.png"


UPLOAD = """async (tiff) => {
  const token = document.cookie.split('; ').find((c) => c.startsWith('csrftoken=')).split('=')[1];
  const form = new FormData();
  form.append('file', new File([Uint8Array.from(atob(tiff), (c) => c.charCodeAt(0))], 'green.tif'));
  const response = await fetch('/api/images/', { method: 'POST', body: form, headers: { 'X-CSRFToken': token } });
  if (response.status !== 201) throw new Error(`upload: ${response.status} ${await response.text()}`);
  return (await response.json()).id;
}"""

SEGMENT_THEN_RETHRESHOLD = """async ({ id, options, thresholds }) => {
  const token = document.cookie.split('; ').find((c) => c.startsWith('csrftoken=')).split('=')[1];
  const headers = { 'Content-Type': 'application/json', 'X-CSRFToken': token };
  const post = async (path, body) => {
    const response = await fetch(path, { method: 'POST', headers, body: JSON.stringify(body) });
    if (response.status >= 300) throw new Error(`${path}: ${response.status} ${await response.text()}`);
    return response.json();
  };
  let job = await post(`/api/images/${id}/segment/`, options);
  while (!['succeeded', 'failed', 'cancelled'].includes(job.status)) {
    await new Promise((resolve) => setTimeout(resolve, 300));
    job = await (await fetch(`/api/jobs/${job.id}/`)).json();
  }
  if (job.status !== 'succeeded') throw new Error(`the job ${job.status}: ${JSON.stringify(job)}`);
  await post(`/api/images/${id}/rethreshold/`, thresholds);
  return (await (await fetch(`/api/images/${id}/annotation/`)).json()).recipe;
}"""


def green_image():
    """A 160 x 160 RGB picture with round cells in its green channel."""
    yy, xx = np.mgrid[:160, :160]
    picture = np.zeros((160, 160, 3), np.uint8)
    for cy in range(20, 160, 40):
        for cx in range(20, 160, 40):
            picture[..., 1][(yy - cy) ** 2 + (xx - cx) ** 2 < 12**2] = 200
    buf = io.BytesIO()
    import tifffile

    tifffile.imwrite(buf, picture, photometric="rgb")
    return base64.b64encode(buf.getvalue()).decode()


def test_the_page_restores_how_the_masks_were_made_and_shows_the_estimated_diameter(page, live_site):
    sign_in(page, live_site)
    image_id = page.evaluate(UPLOAD, green_image())
    made = page.evaluate(
        SEGMENT_THEN_RETHRESHOLD,
        {
            "id": image_id,
            "options": {"channels": [2, 0], "diameter": None, "augment": False},
            "thresholds": {"cellprob_threshold": -1, "flow_threshold": 3},
        },
    )
    assert made["diameter_source"] == "estimated" and made["diameter"] > 0
    estimated = round(made["diameter"], 1)

    page.goto(f"/images/{image_id}/")
    page.wait_for_selector("[data-page=image][data-state=ready]")
    threshold = page.locator("[data-panel=threshold]")
    assert threshold.locator("input[name=cellprob_threshold]").input_value() == "-1"
    assert threshold.locator("input[name=flow_threshold]").input_value() == "3"
    assert threshold.locator("output[data-for=cellprob_threshold]").inner_text() == "-1.0"
    assert threshold.locator("output[data-for=flow_threshold]").inner_text() == "3.00"

    form = page.locator("[data-panel=segment] form")
    form.locator("select[name=model_version] option").nth(1).wait_for(state="attached")
    assert form.locator("select[name=chan1]").input_value() == "2"
    assert form.locator("select[name=model_version]").input_value() == str(made["model_version"])
    assert form.locator("input[name=cellprob_threshold]").input_value() == "-1"
    assert form.locator("input[name=flow_threshold]").input_value() == "3"
    assert not form.locator("input[name=augment]").is_checked()
    assert made["model_name"] in page.inner_text("[data-role=recipe-note]")

    # The estimate: in the greyed field, as the disk, and one click fixes it.
    diameter = form.locator("input[name=diameter]")
    assert form.locator("input[name=diameter_auto]").is_checked() and diameter.is_disabled()
    assert float(diameter.input_value()) == estimated
    assert f"Estimated {estimated:g} px" in form.locator("[data-role=diameter-note]").inner_text()
    assert page.evaluate("() => window.cellposeViewer.model.view.diameter") == estimated
    form.locator("[data-action=use-estimate]").click()
    assert not form.locator("input[name=diameter_auto]").is_checked() and diameter.is_enabled()
    assert float(diameter.input_value()) == estimated
    assert page.evaluate("() => window.cellposeViewer.model.view.diameter") == estimated

    page.click("[data-panel=segment] [data-action=reset-options]")
    assert form.locator("select[name=chan1]").input_value() == "0"
    assert form.locator("select[name=model_version]").input_value() == ""
    assert form.locator("input[name=cellprob_threshold]").input_value() == "0"
    assert form.locator("input[name=augment]").is_checked()
    assert form.locator("input[name=diameter_auto]").is_checked()


def test_a_right_button_drag_draws_a_mask_in_the_pan_tool(page, live_site):
    sign_in(page, live_site)
    open_editor(page, create_image(page))
    assert page.evaluate("() => window.cellposeViewer.tools.activeName") == "pan"
    canvas = Canvas(page)
    before = page.evaluate("() => window.cellposeViewer.model.transform")
    mouse = page.mouse
    mouse.move(*canvas.at(200, 40))
    mouse.down(button="right")
    for point in [(260, 40), (260, 100), (200, 100), (201, 44)]:
        mouse.move(*canvas.at(*point), steps=6)
    mouse.up(button="right")
    wait_count(page, 5)
    assert canvas.hover(230, 70)[1] == "manual"
    assert page.evaluate("() => window.cellposeViewer.tools.activeName") == "pan", "the tool stays"
    assert page.evaluate("() => window.cellposeViewer.model.transform") == before, "and it did not pan"
    page.keyboard.press("Control+z")
    wait_count(page, 4)


def test_masks_from_qupath_import_as_a_new_version_and_a_bad_file_says_why(page, live_site, tmp_path):
    from inference.engine import export
    from tests.browser.test_editor import HEIGHT, WIDTH, count

    masks = np.zeros((HEIGHT, WIDTH), np.int32)
    masks[40:80, 40:80] = 1
    masks[130:170, 200:260] = 2
    geojson = export.save_masks(tmp_path / "qupath", masks, formats=["geojson"])[0]
    sign_in(page, live_site)
    open_editor(page, create_image(page))
    assert count(page) == 4

    with page.expect_file_chooser() as chooser:
        page.click("[data-action=import-masks]")
    chooser.value.set_files(str(geojson))
    wait_count(page, 2)
    status = page.locator("[data-role=import-status]")
    assert "as version 2 (2 cells)" in status.inner_text()
    page.locator("[data-role=versions] li[data-version='2']").wait_for()
    assert "import" in page.inner_text("[data-role=versions] li[data-version='2']")
    assert Canvas(page).hover(230, 150)[0] == 2
    assert page.get_attribute("[data-role=save-status]", "data-status") == "saved"

    with page.expect_file_chooser() as chooser:
        page.click("[data-action=import-masks]")
    chooser.value.set_files(files=[{"name": "notes.txt", "mimeType": "text/plain", "buffer": b"not masks"}])
    page.wait_for_function("() => document.querySelector('[data-role=import-status]').dataset.state === 'error'")
    said = status.inner_text()
    assert said.startswith("Could not import notes.txt:") and "notes.txt" in said.split(":", 1)[1]
    assert count(page) == 2


def test_an_admin_sees_whose_images_are_whose_and_filters_by_owner(page, live_site, browser):
    other = browser.new_context(base_url=live_site.url)
    try:
        tab = other.new_page()
        tab.goto("/accounts/signup/")
        tab.fill("input[name=username]", "owner-two")
        tab.fill("input[name=password1]", "a-long-password-2")
        tab.fill("input[name=password2]", "a-long-password-2")
        tab.click("form button[type=submit]")
        tab.wait_for_url(f"{live_site.url}/")
        tab.wait_for_selector("[data-page=images][data-state=ready]")
        create_image(tab)
    finally:
        other.close()
    sign_in(page, live_site)
    create_image(page)
    page.reload()
    page.wait_for_selector("[data-page=images][data-state=ready]")

    theirs = page.locator(".image-card", has=page.locator("[data-field=owner]:not([hidden])"))
    theirs.first.wait_for()
    assert "Owner: owner-two" in theirs.first.inner_text()
    page.fill("[data-role=search] input[name=owner]", "owner-two")
    page.wait_for_function(
        "() => { const cards = [...document.querySelectorAll('.image-card')];"
        " return cards.length > 0 && cards.every((c) => c.querySelector('[data-field=owner]').textContent === 'Owner: owner-two'); }"
    )
    assert "owner=owner-two" in page.url
