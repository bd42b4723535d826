import { test } from "node:test";
import assert from "node:assert/strict";

import {
  fitTransform, imageToScreen, MAX_SCALE, MIN_SCALE, panBy, pixelAt, screenToImage, wheelZoomFactor, zoomAt,
} from "../src/transform.js";

const close = (a, b, eps = 1e-9) => assert.ok(Math.abs(a - b) < eps, `${a} != ${b}`);

test("screen and image coordinates are inverse", () => {
  const t = { scale: 2.5, tx: -40, ty: 13 };
  const s = imageToScreen(t, 100.25, 7);
  const p = screenToImage(t, s.x, s.y);
  close(p.x, 100.25);
  close(p.y, 7);
});

test("zooming keeps the image point under the cursor fixed", () => {
  const t = { scale: 0.8, tx: 30, ty: -12 };
  for (const factor of [1.2, 0.5, 7, 1 / 3]) {
    const before = screenToImage(t, 321, 123);
    const after = screenToImage(zoomAt(t, factor, 321, 123), 321, 123);
    close(after.x, before.x);
    close(after.y, before.y);
  }
});

test("zoom is clamped and the cursor point still stays put", () => {
  const t = { scale: 32, tx: 0, ty: 0 };
  const z = zoomAt(t, 100, 50, 60);
  assert.equal(z.scale, MAX_SCALE);
  const before = screenToImage(t, 50, 60);
  const after = screenToImage(z, 50, 60);
  close(after.x, before.x);
  close(after.y, before.y);
  assert.equal(zoomAt({ scale: MIN_SCALE, tx: 0, ty: 0 }, 0.1, 0, 0).scale, MIN_SCALE);
});

test("panning moves the image with the pointer", () => {
  const t = panBy({ scale: 3, tx: 1, ty: 2 }, 10, -5);
  assert.deepEqual(t, { scale: 3, tx: 11, ty: -3 });
});

test("fit centres the whole image in the viewport", () => {
  const t = fitTransform(2048, 1024, 800, 600, { margin: 0 });
  close(t.scale, 800 / 2048);
  const topLeft = imageToScreen(t, 0, 0);
  const bottomRight = imageToScreen(t, 2048, 1024);
  close(topLeft.x, 0);
  close(bottomRight.x, 800);
  close((topLeft.y + bottomRight.y) / 2, 300);
  const withMargin = fitTransform(100, 100, 300, 200, { margin: 10 });
  close(withMargin.scale, 1.8);
});

test("the pixel under a point is null outside the image", () => {
  const t = { scale: 4, tx: 10, ty: 10 };
  assert.deepEqual(pixelAt(t, 10, 10, 5, 5), { x: 0, y: 0 });
  assert.deepEqual(pixelAt(t, 29.9, 13.9, 5, 5), { x: 4, y: 0 });
  assert.equal(pixelAt(t, 30, 10, 5, 5), null);
  assert.equal(pixelAt(t, 9, 10, 5, 5), null);
});

test("wheel up zooms in, wheel down zooms out, by the same ratio", () => {
  const up = wheelZoomFactor(-100);
  const down = wheelZoomFactor(100);
  assert.ok(up > 1 && down < 1);
  close(up * down, 1);
  close(wheelZoomFactor(-3, 1), wheelZoomFactor(-48, 0));
});
