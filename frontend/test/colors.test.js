import { test } from "node:test";
import assert from "node:assert/strict";

import { hsvToRgb, labelColor, makeColorTable, packRGBA, paintOverlay, unpackRGBA, withAlpha } from "../src/colors.js";

test("label 0 is transparent and every cell opaque", () => {
  const table = makeColorTable(2000);
  assert.equal(table.length, 2001);
  assert.equal(table[0], 0);
  for (let label = 1; label <= 2000; label++) assert.equal(unpackRGBA(table[label])[3], 255);
});

test("packed pixels land in ImageData byte order", () => {
  const pixels = new Uint32Array([packRGBA(10, 20, 30, 40)]);
  assert.deepEqual([...new Uint8ClampedArray(pixels.buffer)], [10, 20, 30, 40]);
  assert.deepEqual(unpackRGBA(pixels[0]), [10, 20, 30, 40]);
});

test("a label's colour depends only on the label", () => {
  const small = makeColorTable(10);
  const large = makeColorTable(500);
  for (let label = 1; label <= 10; label++) assert.equal(small[label], large[label]);
  assert.deepEqual(labelColor(42), labelColor(42));
});

test("consecutive labels get clearly different colours", () => {
  const distance = (a, b) => Math.hypot(a[0] - b[0], a[1] - b[1], a[2] - b[2]);
  for (let label = 1; label < 2000; label++) {
    assert.ok(distance(labelColor(label), labelColor(label + 1)) > 60, `labels ${label} and ${label + 1}`);
  }
});

test("colours are well spread: 2,000 cells use hundreds of distinct colours", () => {
  const table = makeColorTable(2000);
  assert.ok(new Set(table.subarray(1)).size > 1500);
});

test("hsv conversion hits the primaries", () => {
  assert.deepEqual(hsvToRgb(0, 1, 1), [255, 0, 0]);
  assert.deepEqual(hsvToRgb(1 / 3, 1, 1), [0, 255, 0]);
  assert.deepEqual(hsvToRgb(2 / 3, 1, 1), [0, 0, 255]);
  assert.deepEqual(hsvToRgb(0.5, 0, 0.5), [128, 128, 128]);
});

test("the overlay is a table lookup per pixel with outlines on top", () => {
  const table = makeColorTable(3);
  const labels = Int32Array.from([0, 1, 3, 2, 2]);
  const outlines = Uint8Array.from([0, 0, 1, 0, 1]);
  const white = packRGBA(255, 255, 255);
  const out = new Uint32Array(5);
  assert.deepEqual([...paintOverlay(labels, table, outlines, white, out)], [0, table[1], white, table[2], white]);
  assert.deepEqual([...paintOverlay(labels, table, null, white, out)], [0, table[1], table[3], table[2], table[2]]);
  assert.deepEqual([...paintOverlay(labels, null, outlines, white, out)], [0, 0, white, 0, white]);
  assert.deepEqual([...paintOverlay(labels, null, null, white, out)], [0, 0, 0, 0, 0]);
});

test("changing a pixel's alpha keeps its colour", () => {
  const pixel = packRGBA(10, 20, 30, 255);
  assert.deepEqual(unpackRGBA(withAlpha(pixel, 64)), [10, 20, 30, 64]);
  assert.deepEqual(unpackRGBA(withAlpha(pixel, 0)), [10, 20, 30, 0]);
});

test("it refuses a negative or fractional table size", () => {
  assert.throws(() => makeColorTable(-1), /integer >= 0/);
  assert.throws(() => makeColorTable(1.5), /integer >= 0/);
});
