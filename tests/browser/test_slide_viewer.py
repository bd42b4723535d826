"""The tiled viewer of large images, driven as a person would: open a 20,000 x 20,000 image, see it
whole, zoom in around the cursor, pan by dragging, look at the outlines of its masks, and segment it.

The server's tile endpoints (GET /api/images/<id>/pyramid/, .../tiles/..., .../labels/...; the
HTTP contract of notes/contract-slides.md) are answered here, with Playwright's page.route, by a
procedural image: pixel (x, y) is (x // 256, y // 256, 128), so every pixel on the canvas says where
in the image it comes from, and the masks are 180 x 180 squares every 200 pixels (label
(y // 200) * 100 + x // 200 + 1), so cells cross tile borders (at multiples of 512). The image itself
is a real upload to the real server, whose image page must send it to the tiled viewer.
"""
import base64
import io
import json
import re
import zlib

import numpy as np
import pytest
import tifffile
from PIL import Image

from tests.browser.test_image_pages import sign_in

pytestmark = [pytest.mark.browser, pytest.mark.slow]

SIZE = 20_000
TILE = 512
BLOCK = 256  # the image's colour changes every BLOCK pixels
CELL, GAP = 200, 20  # masks: CELL-periodic squares, GAP pixels of background between them

UPLOAD = """async (tiff) => {
  const token = document.cookie.split('; ').find((c) => c.startsWith('csrftoken=')).split('=')[1];
  const form = new FormData();
  form.append('file', new File([Uint8Array.from(atob(tiff), (c) => c.charCodeAt(0))], 'slide.tif'));
  const response = await fetch('/api/images/', { method: 'POST', body: form, headers: { 'X-CSRFToken': token } });
  if (response.status === 202) {  // a tiled image: its pyramid is built in the background
    let state = await response.json();
    while (state.status === 'ingesting') {
      await new Promise((resolve) => setTimeout(resolve, 200));
      state = await (await fetch(state.url)).json();
    }
    if (state.status !== 'done') throw new Error(`ingest failed: ${state.error}`);
    return state.image;
  }
  if (response.status !== 201) throw new Error(`upload failed: ${response.status}`);
  return (await response.json()).id;
}"""

# Every settled tile drawn at the chosen level (no fallback, none missing), image and overlay.
SETTLED = """() => {
  const slide = window.cellposeSlide;
  if (!slide) return false;
  const { stats } = slide.renderer;
  return stats.frames > 0 && stats.drawn > 0 && stats.missing === 0 && stats.fallback === 0 && !slide.renderer.pending;
}"""

# Canvas pixels at screen points, with the image point each shows (from the model's transform).
SAMPLE = """(points) => {
  const { model } = window.cellposeSlide;
  const canvas = document.querySelector('[data-page=slide] canvas');
  const ratio = canvas.width / model.viewport.width;
  const ctx = canvas.getContext('2d');
  const t = model.transform;
  return points.map(([sx, sy]) => {
    const [r, g, b] = ctx.getImageData(Math.floor(sx * ratio), Math.floor(sy * ratio), 1, 1).data;
    return { sx, sy, x: (sx - t.tx) / t.scale, y: (sy - t.ty) / t.scale, rgb: [r, g, b] };
  });
}"""

VIEW = "() => { const s = window.cellposeSlide; return { ...s.model.transform, ...s.model.viewport, level: s.renderer.stats.level }; }"


def pyramid_json(image_id):
    levels, w, level = [], SIZE, 0
    while True:
        levels.append({"level": level, "width": w, "height": w, "scale": 2**level})
        if w <= TILE:
            break
        w, level = (w + 1) // 2, level + 1
    return {"tiled": True, "width": SIZE, "height": SIZE, "depth": 1, "channels": 3, "dtype": "uint8",
            "tile_size": TILE, "levels": levels, "labels": ["v1"]}


class FakeTiles:
    """Answers the tile endpoints of one image procedurally and records what was asked."""

    def __init__(self, image_id):
        self.pyramid = pyramid_json(image_id)
        self.requests = []
        self.outside = []

    def _tile_coords(self, level, col, row):
        info = self.pyramid["levels"][level]
        x0, y0 = col * TILE, row * TILE
        if not (0 <= x0 < info["width"] and 0 <= y0 < info["height"]):
            return None
        w, h = min(TILE, info["width"] - x0), min(TILE, info["height"] - y0)
        s = info["scale"]
        xs = (np.arange(x0, x0 + w) * s).clip(max=SIZE - 1)  # image x of each level pixel (nearest)
        ys = (np.arange(y0, y0 + h) * s).clip(max=SIZE - 1)
        return xs, ys

    def image_tile(self, route):
        level, z, col, row = map(int, re.search(r"/tiles/(\d+)/(\d+)/(\d+)/(\d+)\.png$", route.request.url).groups())
        self.requests.append(("image", level, col, row))
        coords = self._tile_coords(level, col, row)
        if coords is None:
            self.outside.append(route.request.url)
            route.fulfill(status=404, body="outside the grid")
            return
        xs, ys = coords
        rgb = np.empty((len(ys), len(xs), 3), np.uint8)
        rgb[..., 0] = (xs // BLOCK)[None, :]
        rgb[..., 1] = (ys // BLOCK)[:, None]
        rgb[..., 2] = 128
        buf = io.BytesIO()
        Image.fromarray(rgb).save(buf, format="PNG", compress_level=1)
        route.fulfill(status=200, body=buf.getvalue(), headers={
            "Content-Type": "image/png", "ETag": f'"t{level}-{col}-{row}"',
            "Cache-Control": "private, max-age=86400, immutable"})

    def label_tile(self, route):
        match = re.search(r"/labels/(\w+)/tiles/(\d+)/(\d+)/(\d+)/(\d+)\.bin$", route.request.url)
        level, z, col, row = map(int, match.groups()[1:])
        self.requests.append(("labels", level, col, row, match[1]))
        coords = self._tile_coords(level, col, row)
        if coords is None:
            self.outside.append(route.request.url)
            route.fulfill(status=404, body="outside the grid")
            return
        xs, ys = coords
        inside = ((xs % CELL) >= GAP)[None, :] & ((ys % CELL) >= GAP)[:, None]
        labels = np.where(inside, (ys // CELL)[:, None] * 100 + (xs // CELL)[None, :] + 1, 0).astype("<i4")
        route.fulfill(status=200, body=zlib.compress(labels.tobytes()), headers={
            "Content-Type": "application/octet-stream", "X-Tile-Width": str(len(xs)), "X-Tile-Height": str(len(ys)),
            "ETag": f'"l{level}-{col}-{row}"', "Cache-Control": "private, max-age=86400, immutable"})


def upload_image(page):
    buf = io.BytesIO()
    tifffile.imwrite(buf, np.full((64, 64), 100, np.uint8))
    return page.evaluate(UPLOAD, base64.b64encode(buf.getvalue()).decode())


def grid_points(view, step=37):
    return [[sx, sy] for sx in range(5, int(view["width"]) - 5, step) for sy in range(5, int(view["height"]) - 5, step)]


def check_content(page, view, *, margin):
    """Every sampled canvas pixel well inside a colour block shows that block's colour; their number."""
    checked = 0
    for p in page.evaluate(SAMPLE, grid_points(view)):
        x, y = p["x"], p["y"]
        if not (0 <= x < SIZE and 0 <= y < SIZE):
            assert p["rgb"] == [0x1B, 0x1E, 0x23], f"outside the image the backdrop shows, not {p}"
            continue
        if min(x % BLOCK, BLOCK - x % BLOCK, y % BLOCK, BLOCK - y % BLOCK) < margin:
            continue
        expected = [int(x // BLOCK), int(y // BLOCK), 128]
        assert all(abs(a - b) <= 1 for a, b in zip(p["rgb"], expected)), f"pixel at screen {p['sx']},{p['sy']}: {p['rgb']}, expected {expected}"
        checked += 1
    return checked


def test_a_large_image_opens_tiled_zooms_around_the_cursor_pans_and_shows_outlines_across_tiles(page, live_site):
    sign_in(page, live_site)
    image_id = upload_image(page)
    tiles = FakeTiles(image_id)
    page.route(f"**/api/images/{image_id}/pyramid/", lambda route: route.fulfill(
        status=200, content_type="application/json", body=json.dumps(tiles.pyramid)))
    page.route(f"**/api/images/{image_id}/tiles/**", tiles.image_tile)
    page.route(f"**/api/images/{image_id}/labels/**", tiles.label_tile)

    # The image page sees a tiled image and hands over to the tiled viewer.
    page.goto(f"/images/{image_id}/")
    page.wait_for_url(f"**/images/{image_id}/slide/")
    page.wait_for_selector("[data-page=slide][data-state=ready]")
    assert page.locator("[data-role=image-name]").text_content() == "slide.tif"
    page.keyboard.press("x")  # masks off
    page.keyboard.press("z")  # outlines off: the image alone
    page.wait_for_function(SETTLED)

    # Fitted: the whole image, from a coarse level, every pixel where the transform puts it.
    view = page.evaluate(VIEW)
    assert view["level"] >= 3, view
    assert abs(view["scale"] * SIZE - min(view["width"], view["height"]) + 32) < 2, "fitted with a 16 px margin"
    first_requests = len(tiles.requests)
    assert first_requests <= 20, f"the fitted view needs a few coarse tiles, not {first_requests}"
    assert check_content(page, view, margin=48) > 50

    # Wheel zoom around the cursor: the image point under it stays put while levels get finer.
    canvas = page.locator("[data-page=slide] canvas")
    box = canvas.bounding_box()
    # Whole CSS pixels: Chromium's mouse events carry integer client coordinates.
    cursor = (round(box["x"] + box["width"] * 0.3), round(box["y"] + box["height"] * 0.6))
    sx, sy = cursor[0] - box["x"], cursor[1] - box["y"]
    anchor = ((sx - view["tx"]) / view["scale"], (sy - view["ty"]) / view["scale"])
    page.mouse.move(*cursor)
    for _ in range(24):
        page.mouse.wheel(0, -240)
        page.wait_for_timeout(15)
    page.wait_for_function("(scale) => window.cellposeSlide.model.transform.scale > scale", arg=1.0)
    page.wait_for_function(SETTLED)
    zoomed = page.evaluate(VIEW)
    assert zoomed["level"] == 0, zoomed
    here = ((sx - zoomed["tx"]) / zoomed["scale"], (sy - zoomed["ty"]) / zoomed["scale"])
    assert abs(here[0] - anchor[0]) < 0.5 and abs(here[1] - anchor[1]) < 0.5, (anchor, here)
    assert check_content(page, zoomed, margin=4) > 50

    # Drag to pan: the picture moves with the pointer, new tiles arrive, nothing outside the grid is asked for.
    before = page.evaluate(SAMPLE, [[400, 300], [600, 200]])
    page.mouse.move(box["x"] + 500, box["y"] + 400)
    page.mouse.down()
    for i in range(1, 11):
        page.mouse.move(box["x"] + 500 - 30 * i, box["y"] + 400 - 20 * i)
        page.wait_for_timeout(16)
    page.mouse.up()
    panned = page.evaluate(VIEW)
    assert abs(panned["tx"] - (zoomed["tx"] - 300)) < 1e-6 and abs(panned["ty"] - (zoomed["ty"] - 200)) < 1e-6
    page.wait_for_function(SETTLED)
    after = page.evaluate(SAMPLE, [[100, 100], [300, 0]])
    for b, a in zip(before, after):
        assert abs(a["x"] - b["x"]) < 1e-6 and abs(a["y"] - b["y"]) < 1e-6
        assert a["rgb"] == b["rgb"], "what was at (400, 300) is now at (100, 100)"
    assert check_content(page, panned, margin=4) > 50
    assert tiles.outside == []

    # Outlines only, at 2x with a tile border (x = 1024) in the middle: cells are outlined along their
    # own edges and not along the tile border they cross.
    page.keyboard.press("z")
    page.evaluate("""() => {
      const { model } = window.cellposeSlide;
      model.setTransform({ scale: 2, tx: model.viewport.width / 2 - 1024 * 2, ty: model.viewport.height / 2 - 1100 * 2 });
    }""")
    page.wait_for_function(SETTLED)
    view = page.evaluate(VIEW)
    points = {
        "left of the tile border": (1023, 1100), "right of the tile border": (1024, 1100),
        "cell's left edge": (1020, 1100), "cell's last pixel before the gap": (1199, 1100),
        "cell's top edge": (1024, 1020), "inside a cell": (1100, 1100), "background gap": (1010, 1100),
        "horizontal tile border, above": (1100, 1023), "horizontal tile border, below": (1100, 1024),
    }
    # The centre of image pixel (x, y) at scale 2 is 1 CSS pixel past its corner.
    sampled = page.evaluate(SAMPLE, [[2 * x + view["tx"] + 1, 2 * y + view["ty"] + 1] for x, y in points.values()])
    white = {name: p["rgb"] == [255, 255, 255] for name, p in zip(points, sampled)}
    assert white == {
        "left of the tile border": False, "right of the tile border": False,
        "cell's left edge": True, "cell's last pixel before the gap": True,
        "cell's top edge": True, "inside a cell": False, "background gap": False,
        "horizontal tile border, above": False, "horizontal tile border, below": False,
    }, white

    # Masks on: cells take their colour; the gap between them does not.
    page.keyboard.press("x")
    page.wait_for_function(SETTLED)
    page.wait_for_timeout(100)
    inside, gap = page.evaluate(SAMPLE, [[2 * 1100 + view["tx"] + 1, 2 * 1100 + view["ty"] + 1],
                                         [2 * 1010 + view["tx"] + 1, 2 * 1100 + view["ty"] + 1]])
    expected_gap = [1010 // BLOCK, 1100 // BLOCK, 128]
    assert all(abs(a - b) <= 1 for a, b in zip(gap["rgb"], expected_gap)), gap
    assert inside["rgb"] != [1100 // BLOCK, 1100 // BLOCK, 128], "the cell is tinted by its mask colour"
    assert any(kind == "labels" for kind, *_ in tiles.requests)

    # Segment: the usual job request goes to the real server; when the job succeeds the page lists the
    # new label image (the pyramid now names it) and loads its tiles.
    with page.expect_request(lambda r: r.method == "POST" and r.url.endswith(f"/api/images/{image_id}/segment/")) as posted:
        tiles.pyramid["labels"] = ["v1", "v2"]  # what the server will say once the job wrote its labels
        page.click("[data-panel=segment] [data-action=run]")
    options = posted.value.post_data_json
    assert {"diameter", "flow_threshold", "cellprob_threshold"} <= set(options), options
    job = page.locator("[data-panel=segment] [data-role=job]")
    job.and_(page.locator("[data-status=succeeded], [data-status=failed]")).wait_for(timeout=120_000)
    assert job.get_attribute("data-status") == "succeeded", job.inner_text()
    page.wait_for_function("() => document.querySelector('[name=labels]').value === 'v2'")
    page.wait_for_function(SETTLED)
    assert any(r[0] == "labels" and r[-1] == "v2" for r in tiles.requests)
