"""Uploading an image whose axes cannot be told from its shape: the page asks, then sends it again."""
import io

import numpy as np
import pytest
import tifffile

from tests.browser.test_image_pages import sign_in

pytestmark = [pytest.mark.browser, pytest.mark.slow]


def tiff(array) -> bytes:
    buffer = io.BytesIO()
    tifffile.imwrite(buffer, array)
    return buffer.getvalue()


def test_a_file_with_ambiguous_axes_is_uploaded_as_the_reading_the_person_picks(page, live_site):
    sign_in(page, live_site)
    stack = (np.arange(5)[:, None, None] * 1000 + np.arange(64 * 48).reshape(64, 48)).astype(np.uint16)

    page.set_input_files("[data-role=file-input]",
                         files=[{"name": "five.tif", "mimeType": "image/tiff", "buffer": tiff(stack)}])

    row = page.locator(".upload", has_text="five.tif")
    row.and_(page.locator("[data-status=needs-axes]")).wait_for()
    assert "could be a stack of 5 planes" in row.locator("[data-field=error]").inner_text()
    choices = row.locator("[data-role=axes-choices] button")
    assert choices.all_inner_texts() == [
        "5 planes of 48 × 64 pixels (Z, Y, X)",
        "5 channels of 48 × 64 pixels (C, Y, X)",
        "48 channels of 64 × 5 pixels (Y, X, C)",
    ]

    with page.expect_response(lambda r: r.url.endswith("/api/images/") and r.request.method == "POST") as sent:
        choices.filter(has_text="5 channels").click()
    assert sent.value.status == 201
    row.and_(page.locator("[data-status=done]")).wait_for()
    assert row.locator("[data-role=axes-picker]").is_hidden()

    page.locator(".image-card", has_text="five.tif").wait_for()
    images = page.request.get("/api/images/?search=five").json()["results"]
    assert [(i["name"], i["axes"], i["n_channels"], i["is_3d"]) for i in images] == [("five.tif", "CYX", 5, False)]
