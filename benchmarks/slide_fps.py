"""Pan frame rate of the tiled viewer in headless Chromium (Debian's /usr/bin/chromium).

A 20,000 x 20,000 RGB image and its label image are served as the tile API serves them
(notes/contract-slides.md: PNG image tiles, zlib int32 label tiles, 512 x 512, ETag and cache headers)
by a local http.server that makes each tile procedurally (squares of cells on a tinted background,
a tile cached once made). benchmarks/slide_harness.html opens the fitted view, waits until every
visible tile is drawn, pans for a few hundred frames, then does the same at 1:1 (level 0).

    .venv/bin/python benchmarks/slide_fps.py [--size 20000] [--frames 300] [--no-overlay] [--gpu]

Prints JSON: time to the first complete view (ms), mean / p95 / max frame interval and mean fps while
panning, how many frames drew a coarser tile while a finer one loaded, tiles requested and cancelled.
Headless Chromium runs without a GPU here (--disable-gpu): software rasterisation, the worst case.
"""
import argparse
import functools
import http.server
import io
import json
import re
import threading
import zlib
from pathlib import Path

import numpy as np
from PIL import Image

ROOT = Path(__file__).resolve().parents[1]
ARGS = ["--no-sandbox", "--disable-background-networking", "--disable-component-update", "--disable-sync",
        "--no-first-run"]
TILE = 512
CELL, GAP = 48, 6


def pyramid(size: int) -> dict:
    levels, w, level = [], size, 0
    while True:
        levels.append({"level": level, "width": w, "height": w, "scale": 2**level})
        if w <= TILE:
            break
        w, level = (w + 1) // 2, level + 1
    return {"tiled": True, "width": size, "height": size, "depth": 1, "channels": 3, "dtype": "uint8",
            "tile_size": TILE, "levels": levels, "labels": ["v1"]}


class Tiles:
    """Procedural tiles of one image, made once each."""

    def __init__(self, size: int):
        self.size = size
        self.pyramid = pyramid(size)
        self._made = {}
        self._lock = threading.Lock()

    def _grid(self, level, col, row):
        info = self.pyramid["levels"][level]
        x0, y0 = col * TILE, row * TILE
        if not (0 <= x0 < info["width"] and 0 <= y0 < info["height"]):
            return None
        s = info["scale"]
        xs = np.arange(x0, min(x0 + TILE, info["width"])) * s
        ys = np.arange(y0, min(y0 + TILE, info["height"])) * s
        return xs, ys

    def labels(self, level, col, row):
        grid = self._grid(level, col, row)
        if grid is None:
            return None
        xs, ys = grid
        inside = ((xs % CELL) >= GAP)[None, :] & ((ys % CELL) >= GAP)[:, None]
        per_row = self.size // CELL + 1
        return np.where(inside, (ys // CELL)[:, None] * per_row + (xs // CELL)[None, :] + 1, 0).astype("<i4")

    def body(self, kind, level, col, row):
        key = (kind, level, col, row)
        with self._lock:
            if key in self._made:
                return self._made[key]
        labels = self.labels(level, col, row)
        if labels is None:
            return None
        if kind == "labels":
            made = (zlib.compress(labels.tobytes(), 1), labels.shape)
        else:  # an H&E-like tint: pink background, purple cells, a little texture
            texture = (((labels.astype(np.uint64) * 2654435761) >> 24) & 31).astype(np.uint8)
            rgb = np.empty(labels.shape + (3,), np.uint8)
            cell = labels > 0
            rgb[..., 0] = np.where(cell, 120, 235) - texture
            rgb[..., 1] = np.where(cell, 60, 190) - texture
            rgb[..., 2] = np.where(cell, 160, 215) - texture
            buf = io.BytesIO()
            Image.fromarray(rgb).save(buf, format="PNG", compress_level=1)
            made = (buf.getvalue(), labels.shape)
        with self._lock:
            self._made[key] = made
        return made


def serve(tiles: Tiles):
    class Handler(http.server.SimpleHTTPRequestHandler):
        def _send(self, status, body, content_type, extra=()):
            self.send_response(status)
            self.send_header("Content-Type", content_type)
            self.send_header("Content-Length", str(len(body)))
            for name, value in extra:
                self.send_header(name, value)
            self.end_headers()
            try:
                self.wfile.write(body)
            except (BrokenPipeError, ConnectionResetError):
                pass  # the viewer cancelled this tile (it left the view)

        def do_GET(self):
            if self.path == "/api/images/1/pyramid/":
                return self._send(200, json.dumps(tiles.pyramid).encode(), "application/json")
            match = re.match(r"^/api/images/1/(tiles|labels/v1/tiles)/(\d+)/(\d+)/(\d+)/(\d+)\.(png|bin)$", self.path)
            if match:
                kind = "image" if match[1] == "tiles" else "labels"
                level, _z, col, row = map(int, match.groups()[1:5])
                made = tiles.body(kind, level, col, row)
                if made is None:
                    return self._send(404, b"outside the grid", "text/plain")
                body, (h, w) = made
                etag = f'"{kind}-{level}-{col}-{row}"'
                headers = [("ETag", etag), ("Cache-Control", "private, max-age=86400, immutable"),
                           ("X-Tile-Width", str(w)), ("X-Tile-Height", str(h))]
                if self.headers.get("If-None-Match") == etag:
                    return self._send(304, b"", "text/plain", headers)
                return self._send(200, body, "image/png" if kind == "image" else "application/octet-stream", headers)
            return super().do_GET()

        def log_message(self, *args):
            pass

    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), functools.partial(Handler, directory=str(ROOT)))
    threading.Thread(target=server.serve_forever, daemon=True).start()
    return server


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--size", type=int, default=20_000)
    parser.add_argument("--frames", type=int, default=300)
    parser.add_argument("--no-overlay", action="store_true", help="the image alone (default: masks and outlines on)")
    parser.add_argument("--gpu", action="store_true", help="let Chromium use a GPU (default: --disable-gpu)")
    parser.add_argument("--chromium", default="/usr/bin/chromium")
    args = parser.parse_args(argv)

    from playwright.sync_api import sync_playwright

    server = serve(Tiles(args.size))
    url = (f"http://127.0.0.1:{server.server_port}/benchmarks/slide_harness.html"
           f"?frames={args.frames}&overlay={0 if args.no_overlay else 1}")
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(
            executable_path=args.chromium, headless=True, args=ARGS + ([] if args.gpu else ["--disable-gpu"])
        )
        page = browser.new_page(viewport={"width": 1280, "height": 800})
        page.goto(url)
        page.wait_for_function("() => window.benchResult !== undefined", timeout=300_000)
        result = page.evaluate("() => window.benchResult")
        browser.close()
    server.shutdown()
    if "error" in result:
        raise SystemExit(result["error"])

    def rounded(value):
        if isinstance(value, dict):
            return {k: rounded(v) for k, v in value.items()}
        return round(value, 2) if isinstance(value, float) else value

    print(json.dumps(rounded(result), indent=2))


if __name__ == "__main__":
    main()
