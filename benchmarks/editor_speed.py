"""Speed of the annotation editor on a large annotation, end to end, in headless Chromium.

A 2048 x 2048 image with 2,025 touching cells (make_bench_labels.py) is uploaded to a real server
(tests/browser/server.py: daphne, SQLite, the embedded mode) and its masks saved through the API.
Then, in Debian's /usr/bin/chromium without a GPU (software rasterisation), the script measures:

* open: from navigation to the page ready with image and masks drawn (the first open, with a cold
  HTTP cache, and the next ones);
* pan / zoom: frame intervals while the real page pans in a circle and zooms between the fitted view
  and 11x (as benchmarks/viewer_fps.py does with the bare viewer);
* edits: a brush stroke, a split and an undo, each from the command to the frame drawn; then a
  hundred brush strokes (each one history step), the memory the history holds, and undoing all;
* save: Ctrl+S after an edit, from the keypress to the server's confirmation (encode in the page,
  PUT, decode / renumber / compare / store on the server), and the PUT alone from Python.

    .venv/bin/python benchmarks/editor_speed.py [--size 2048] [--frames 240] [--opens 3]

Prints JSON. The numbers in docs/performance.md ("Editor") come from this script.
"""
import argparse
import base64
import io
import json
import statistics
import sys
import tempfile
import time
import zlib
from pathlib import Path

import numpy as np
import tifffile

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "benchmarks"))
from make_bench_labels import make_labels  # noqa: E402

from tests.browser.conftest import CHROMIUM_ARGS  # noqa: E402
from tests.browser.server import start_server  # noqa: E402

UPLOAD = """async ({ tiff }) => {
  const token = document.cookie.split('; ').find((c) => c.startsWith('csrftoken=')).split('=')[1];
  const form = new FormData();
  form.append('file', new File([Uint8Array.from(atob(tiff), (c) => c.charCodeAt(0))], 'bench.tif'));
  const response = await fetch('/api/images/', { method: 'POST', body: form, headers: { 'X-CSRFToken': token } });
  return (await response.json()).id;
}"""

PUT = """async ({ id, body }) => {
  const token = document.cookie.split('; ').find((c) => c.startsWith('csrftoken=')).split('=')[1];
  const start = performance.now();
  const response = await fetch(`/api/images/${id}/annotation/`, {
    method: 'PUT', body, headers: { 'X-CSRFToken': token, 'Content-Type': 'application/json' },
  });
  const answer = await response.json();
  return { status: response.status, ms: performance.now() - start, version: answer.version };
}"""

PAN_ZOOM = """async (frames) => {
  const { model, renderer } = window.cellposeViewer;
  const nextFrame = () => new Promise((resolve) => requestAnimationFrame(resolve));
  model.fit();
  await nextFrame();
  const fitted = { ...model.transform };
  const { width, height } = model.image;
  const view = model.viewport;
  const times = [];
  const renders = [];
  let previous = await nextFrame();
  for (let i = 0; i < frames; i++) {
    const phase = (2 * Math.PI * i) / frames;
    const scale = fitted.scale * (1 + 10 * (0.5 - 0.5 * Math.cos(2 * phase)));
    const cx = width / 2 + (width / 3) * Math.cos(phase);
    const cy = height / 2 + (height / 3) * Math.sin(phase);
    model.setTransform({ scale, tx: view.width / 2 - cx * scale, ty: view.height / 2 - cy * scale });
    const now = await nextFrame();
    times.push(now - previous);
    renders.push(renderer.stats.lastFrameMs);
    previous = now;
  }
  model.fit();
  const sorted = [...times].sort((a, b) => a - b);
  const mean = times.reduce((a, b) => a + b, 0) / times.length;
  return {
    frame_ms_mean: mean, frame_ms_p95: sorted[Math.floor(0.95 * (sorted.length - 1))],
    frame_ms_max: sorted.at(-1), fps_mean: 1000 / mean,
    render_call_ms_mean: renders.reduce((a, b) => a + b, 0) / renders.length,
  };
}"""

EDITS = """async () => {
  const { model, editor, renderer } = window.cellposeViewer;
  const { paintStroke, splitMask } = await import('/static/frontend/commands/maskEdits.js');
  const nextFrame = () => new Promise((resolve) => requestAnimationFrame(resolve));
  const timed = async (run) => {
    const start = performance.now();
    run();
    renderer.render();
    const drawn = performance.now();
    await nextFrame();
    return drawn - start;
  };
  const { width, height } = model.masks;
  // A label in the middle of the image, and a line across it.
  let x = width / 2, y = height / 2;
  const label = model.labelAt(x, y) || model.labelAt(x + 10, y + 10);
  const stroke = Array.from({ length: 20 }, (_, i) => ({ x: x + i * 2, y: y + 0.5 * i }));
  model.setSelection([label]);
  const brush_ms = await timed(() => editor.execute(paintStroke(model, stroke, 9, { label })));
  const undo_ms = await timed(() => editor.undo());
  let cut = null;
  for (let dx = -20; dx <= 20 && !cut; dx += 2) {
    const line = [{ x: x + dx, y: y - 40 }, { x: x + dx, y: y + 40 }];
    const command = splitMask(model, line);
    if (command) cut = command;
  }
  const split_ms = await timed(() => editor.execute(cut));
  const build_start = performance.now();
  splitMask(model, [{ x: x + 3, y: y - 40 }, { x: x + 3, y: y + 40 }]);
  const split_build_ms = performance.now() - build_start;
  // A hundred brush strokes of 15 px across the image: their cost each, and what the history holds.
  const strokes = [];
  for (let i = 0; i < 100; i++) {
    const sx = 100 + ((i * 397) % (width - 200));
    const sy = 100 + ((i * 631) % (height - 200));
    const path = Array.from({ length: 15 }, (_, k) => ({ x: sx + 2 * k, y: sy + k }));
    strokes.push(await timed(() => editor.execute(paintStroke(model, path, 15, { overwrite: true }))));
  }
  const undo100Start = performance.now();
  for (let i = 0; i < 100; i++) editor.undo();
  renderer.render();
  const undo_100_ms = performance.now() - undo100Start;
  for (let i = 0; i < 100; i++) editor.redo();
  strokes.sort((a, b) => a - b);
  return {
    brush_ms, undo_ms, split_ms, split_build_ms,
    brush_100_ms_median: strokes[50], brush_100_ms_max: strokes[99],
    history_steps: editor.history.length, history_bytes: editor.history.bytes, undo_100_ms,
  };
}"""

SAVE = """async () => {
  const { saver } = window.cellposeViewer;
  const start = performance.now();
  window.dispatchEvent(new KeyboardEvent('keydown', { key: 's', ctrlKey: true }));
  await new Promise((resolve) => {
    const done = () => saver.state.status === 'saved' && !saver.dirty;
    if (done()) resolve();
    const off = saver.subscribe(() => { if (done()) { off(); resolve(); } });
  });
  return { save_ms: performance.now() - start, version: saver.version };
}"""


def encoded(labels: np.ndarray) -> dict:
    data = np.ascontiguousarray(labels, dtype="<i4").tobytes()
    return {"encoding": "zlib-base64", "dtype": "int32", "byteorder": "little", "shape": list(labels.shape),
            "data": base64.b64encode(zlib.compress(data, 6)).decode("ascii")}


def picture(labels: np.ndarray) -> bytes:
    rng = np.random.default_rng(0)
    image = np.where(labels > 0, 150, 30).astype(np.uint16) + rng.integers(0, 60, labels.shape, dtype=np.uint16)
    buf = io.BytesIO()
    tifffile.imwrite(buf, image.astype(np.uint8))
    return buf.getvalue()


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--size", type=int, default=2048)
    parser.add_argument("--frames", type=int, default=240)
    parser.add_argument("--opens", type=int, default=3)
    parser.add_argument("--chromium", default="/usr/bin/chromium")
    args = parser.parse_args(argv)

    from playwright.sync_api import sync_playwright

    labels = make_labels(args.size)
    result = {"size": args.size, "masks": int(len(np.unique(labels)) - 1)}
    with tempfile.TemporaryDirectory(prefix="cellposeweb-bench-") as tmp:
        server = start_server(Path(tmp) / "site")
        try:
            with sync_playwright() as playwright:
                browser = playwright.chromium.launch(executable_path=args.chromium, headless=True, args=CHROMIUM_ARGS)
                context = browser.new_context(viewport={"width": 1280, "height": 860}, base_url=server.url)
                context.set_default_timeout(120_000)
                page = context.new_page()
                page.goto("/accounts/login/")
                page.fill("input[name=username]", server.username)
                page.fill("input[name=password]", server.password)
                page.click("form button[type=submit]")
                page.wait_for_url(f"{server.url}/")
                image_id = page.evaluate(UPLOAD, {"tiff": base64.b64encode(picture(labels)).decode()})
                body = json.dumps({"version": 0, "masks": encoded(labels)})
                result["annotation_json_bytes"] = len(body)
                put = page.evaluate(PUT, {"id": image_id, "body": body})
                assert put["status"] == 200, put
                result["first_put_ms"] = put["ms"]

                opens = []
                for _ in range(args.opens):
                    start = time.perf_counter()
                    page.goto(f"/images/{image_id}/")
                    page.wait_for_selector("[data-page=image][data-state=ready]")
                    page.wait_for_function(
                        "() => window.cellposeViewer.renderer.stats.frames > 0 && window.cellposeViewer.model.raster('image')"
                    )
                    page.evaluate("() => new Promise((r) => requestAnimationFrame(() => requestAnimationFrame(r)))")
                    opens.append((time.perf_counter() - start) * 1000)
                result["open_ms_first"] = opens[0]
                result["open_ms_next_median"] = statistics.median(opens[1:]) if len(opens) > 1 else None
                result.update(page.evaluate(PAN_ZOOM, args.frames))
                result.update(page.evaluate(EDITS))
                result.update(page.evaluate(SAVE))
                saved = page.evaluate("() => window.cellposeViewer.saver.version")
                again = page.evaluate(PUT, {"id": image_id, "body": json.dumps({"version": saved, "masks": encoded(labels)})})
                result["put_only_ms"] = again["ms"]
                browser.close()
        finally:
            server.stop()
    print(json.dumps({k: round(v, 1) if isinstance(v, float) else v for k, v in result.items()}, indent=2))


if __name__ == "__main__":
    main()
