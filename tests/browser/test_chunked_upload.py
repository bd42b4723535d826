"""A file larger than one chunk goes through the chunked upload (POST /api/uploads/, PUT per chunk,
complete): a chunk lost on the network is sent again, and after the tab reloads mid-upload, dropping
the same file again continues at the server's offset instead of starting over.

The page's threshold and chunk size is its data-chunk-bytes (the server's chunk_size(), 64 MiB);
the test lowers it to 64 KiB on the page so that a 512 KiB TIFF takes eight chunks.
"""
import base64
import hashlib
import io
import re

import numpy as np
import pytest
import tifffile

from tests.browser.test_image_pages import sign_in

pytestmark = [pytest.mark.browser, pytest.mark.slow]

CHUNK = 64 * 1024

DROP_FILE = """async ({ name, b64, lastModified }) => {
  document.querySelector('[data-page=images]').dataset.chunkBytes = String(%d);
  const bytes = Uint8Array.from(atob(b64), (c) => c.charCodeAt(0));
  const transfer = new DataTransfer();
  transfer.items.add(new File([bytes], name, { type: 'image/tiff', lastModified }));
  const zone = document.querySelector('[data-role=dropzone]');
  for (const kind of ['dragenter', 'dragover', 'drop']) {
    zone.dispatchEvent(new DragEvent(kind, { bubbles: true, cancelable: true, dataTransfer: transfer }));
  }
}""" % CHUNK


def test_a_large_file_is_sent_in_chunks_survives_a_lost_chunk_and_resumes_after_a_reload(page, live_site):
    sign_in(page, live_site)
    pixels = (np.arange(512 * 512, dtype=np.uint32) * 2654435761 % 65521).astype(np.uint16).reshape(512, 512)
    buffer = io.BytesIO()
    tifffile.imwrite(buffer, pixels)
    data = buffer.getvalue()
    assert len(data) > 6 * CHUNK
    file = {"name": "chunked.tif", "b64": base64.b64encode(data).decode(), "lastModified": 1_700_000_000_000}

    puts, whole_file_posts = [], []
    state = {"put": 0, "cut": False}

    def on_upload(route):
        request = route.request
        if request.method == "POST" and request.url.endswith("/api/uploads/"):
            whole_file_posts.append(request.url)
        if request.method != "PUT":
            route.continue_()
            return
        state["put"] += 1
        puts.append(request.headers.get("content-range"))
        if state["put"] == 2 or state["cut"]:  # the second chunk is lost once; later, the network drops
            route.abort("connectionreset")
        else:
            route.continue_()

    page.route(re.compile(r".*/api/uploads/.*"), on_upload)
    with page.expect_response(lambda r: r.url.endswith("/api/uploads/") and r.request.method == "POST") as started:
        page.evaluate(DROP_FILE, file)
    upload_id = started.value.json()["id"]
    assert started.value.json()["offset"] == 0

    def server_offset():
        return page.request.get(f"/api/uploads/{upload_id}/").json()["offset"]

    for _ in range(300):
        if server_offset() >= 3 * CHUNK:
            break
        page.wait_for_timeout(100)
    else:
        raise AssertionError(f"three chunks never arrived; PUTs: {puts}")
    assert puts[1] == puts[2] == f"bytes {CHUNK}-{2 * CHUNK - 1}/{len(data)}", "the lost chunk is sent again"
    state["cut"] = True
    page.reload()
    page.wait_for_selector("[data-page=images][data-state=ready]")
    state["cut"] = False
    offset = server_offset()
    assert 3 * CHUNK <= offset < len(data)
    assert page.evaluate("() => Object.keys(localStorage).filter((k) => k.startsWith('cellposeweb.upload:')).length") == 1

    sent_before = len(puts)
    page.evaluate(DROP_FILE, file)
    row = page.locator(".upload", has_text="chunked.tif")
    row.and_(page.locator("[data-status=done]")).wait_for()
    assert puts[sent_before] == f"bytes {offset}-{offset + CHUNK - 1}/{len(data)}", "resumed at the server's offset"
    assert len(whole_file_posts) == 1, "the second drop continued the first upload"
    page.locator(".image-card", has_text="chunked.tif").wait_for()
    images = page.request.get("/api/images/?search=chunked").json()["results"]
    assert [(i["name"], i["size_bytes"], i["sha256"]) for i in images] == [("chunked.tif", len(data), hashlib.sha256(data).hexdigest())]
    assert page.request.get(f"/api/uploads/{upload_id}/").status == 404
    assert page.evaluate("() => Object.keys(localStorage).filter((k) => k.startsWith('cellposeweb.upload:')).length") == 0
