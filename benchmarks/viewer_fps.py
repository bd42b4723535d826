"""Pan/zoom frame rate of the image viewer in headless Chromium (Debian's /usr/bin/chromium).

A 2048 x 2048 label image with ~2,000 touching cells (make_bench_labels.py) is encoded as the API
sends it (zlib-base64 int32), decoded in the page, composed into the mask and outline layers, and
then panned and zoomed for a few hundred animation frames (benchmarks/viewer_harness.html).

    .venv/bin/python benchmarks/viewer_fps.py [--size 2048] [--frames 240] [--gpu]

Prints JSON: decode and compose times (ms), mean / p95 / max frame interval and mean fps. Headless
Chromium runs without a GPU here (--disable-gpu): the figures are for software rasterisation, the
worst case for a person's browser.
"""
import argparse
import base64
import functools
import http.server
import json
import sys
import threading
import zlib
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "benchmarks"))
from make_bench_labels import make_labels  # noqa: E402

ARGS = ["--no-sandbox", "--disable-background-networking", "--disable-component-update", "--disable-sync",
        "--no-first-run"]


def annotation_json(labels: np.ndarray) -> bytes:
    data = np.ascontiguousarray(labels, dtype="<i4").tobytes()
    masks = {"encoding": "zlib-base64", "dtype": "int32", "byteorder": "little", "shape": list(labels.shape),
             "data": base64.b64encode(zlib.compress(data, 6)).decode("ascii")}
    return json.dumps({"version": 1, "n_masks": int(labels.max()), "masks": masks}).encode()


def serve(masks_body: bytes):
    class Handler(http.server.SimpleHTTPRequestHandler):
        def do_GET(self):
            if self.path.startswith("/bench-masks.json"):
                self.send_response(200)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(masks_body)))
                self.end_headers()
                self.wfile.write(masks_body)
                return
            super().do_GET()

        def log_message(self, *args):
            pass

    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), functools.partial(Handler, directory=str(ROOT)))
    threading.Thread(target=server.serve_forever, daemon=True).start()
    return server


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--size", type=int, default=2048)
    parser.add_argument("--frames", type=int, default=240)
    parser.add_argument("--gpu", action="store_true", help="let Chromium use a GPU (default: --disable-gpu)")
    parser.add_argument("--chromium", default="/usr/bin/chromium")
    args = parser.parse_args(argv)

    from playwright.sync_api import sync_playwright

    labels = make_labels(args.size)
    server = serve(annotation_json(labels))
    url = f"http://127.0.0.1:{server.server_port}/benchmarks/viewer_harness.html?masks=/bench-masks.json&frames={args.frames}"
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(
            executable_path=args.chromium, headless=True, args=ARGS + ([] if args.gpu else ["--disable-gpu"])
        )
        page = browser.new_page(viewport={"width": 1280, "height": 800})
        page.goto(url)
        page.wait_for_function("() => window.benchResult !== undefined", timeout=180_000)
        result = page.evaluate("() => window.benchResult")
        browser.close()
    server.shutdown()
    if "error" in result:
        raise SystemExit(result["error"])
    print(json.dumps({k: round(v, 2) if isinstance(v, float) else v for k, v in result.items()}, indent=2))


if __name__ == "__main__":
    main()
