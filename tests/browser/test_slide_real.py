"""The tiled viewer against the real server: a TIFF larger than TILED_MIN_PIXELS is uploaded, stored
as a pyramid, and the slide page draws the server's own tiles (no faked endpoints: compare
test_slide_viewer.py, which fakes them to reach 20,000 pixels fast)."""
import base64
import io

import numpy as np
import pytest
import tifffile

from tests.browser.test_image_pages import sign_in
from tests.browser.test_slide_viewer import SAMPLE, SETTLED, UPLOAD, VIEW

pytestmark = [pytest.mark.browser, pytest.mark.slow]

HEIGHT, WIDTH = 4160, 4200  # 17.5 Mpx: above the default TILED_MIN_PIXELS (4096 x 4096)
SQUARE = 512  # a checkerboard of 512-px squares, dark (20) and bright (220)


def checkerboard() -> np.ndarray:
    ys, xs = np.mgrid[:HEIGHT, :WIDTH]
    return np.where(((ys // SQUARE) + (xs // SQUARE)) % 2 == 0, 20, 220).astype(np.uint8)


def test_a_large_upload_is_viewed_through_the_servers_own_tiles(page, live_site):
    sign_in(page, live_site)
    buf = io.BytesIO()
    tifffile.imwrite(buf, checkerboard(), compression="zlib", rowsperstrip=256)
    image_id = page.evaluate(UPLOAD, base64.b64encode(buf.getvalue()).decode())

    pyramid = page.request.get(f"/api/images/{image_id}/pyramid/").json()
    assert pyramid["tiled"] is True and (pyramid["width"], pyramid["height"]) == (WIDTH, HEIGHT)

    tiles = []
    page.on("response", lambda r: tiles.append(r.status) if "/tiles/" in r.url else None)
    page.goto(f"/images/{image_id}/")
    page.wait_for_url(f"**/images/{image_id}/slide/**")
    page.wait_for_function(SETTLED, timeout=60_000)
    assert tiles and set(tiles) == {200}, tiles

    view = page.evaluate(VIEW)
    points = [[sx, sy] for sx in range(20, int(view["width"]) - 20, 41) for sy in range(20, int(view["height"]) - 20, 41)]
    board = checkerboard()
    checked = 0
    for sample in page.evaluate(SAMPLE, points):
        x, y = int(sample["x"]), int(sample["y"])
        if not (0 <= x < WIDTH and 0 <= y < HEIGHT):
            continue
        near_edge = min(x % SQUARE, SQUARE - x % SQUARE, y % SQUARE, SQUARE - y % SQUARE) < 24
        if near_edge:  # the fitted view shows a coarse level: squares' edges are blended
            continue
        grey = sum(sample["rgb"]) / 3
        assert (grey > 128) == (board[y, x] > 128), sample
        checked += 1
    assert checked > 50
