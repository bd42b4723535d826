import { test } from "node:test";
import assert from "node:assert/strict";

import { applyDisplay, contrastLut } from "../src/view/display.js";

const rgba = (...pixels) => Uint8ClampedArray.from(pixels.flat());

test("neutral contrast and brightness leave the pixels as they are", () => {
  const lut = contrastLut(1, 0);
  for (let v = 0; v < 256; v++) assert.equal(lut[v], v);
  const src = rgba([10, 20, 30, 255], [200, 100, 0, 255]);
  assert.deepEqual([...applyDisplay(src, new Uint8ClampedArray(8), { colorMode: "rgb", contrast: 1, brightness: 0 })], [...src]);
});

test("contrast stretches around mid-grey and brightness shifts", () => {
  const lut = contrastLut(2, 0);
  assert.equal(lut[128], 129); // (128/255 - .5) * 2 + .5 -> 129
  assert.equal(lut[64], 0);
  assert.equal(lut[192], 255);
  assert.equal(contrastLut(1, 0.2)[100], 151);
  assert.equal(contrastLut(1, -1)[255], 0);
});

test("single-channel modes keep one channel and gray averages", () => {
  const src = rgba([30, 60, 90, 255]);
  const out = new Uint8ClampedArray(4);
  const display = { contrast: 1, brightness: 0 };
  assert.deepEqual([...applyDisplay(src, out, { ...display, colorMode: "green" })], [0, 60, 0, 255]);
  assert.deepEqual([...applyDisplay(src, out, { ...display, colorMode: "blue" })], [0, 0, 90, 255]);
  assert.deepEqual([...applyDisplay(src, out, { ...display, colorMode: "gray" })], [60, 60, 60, 255]);
});

test("a grayscale image stays gray in single-channel modes", () => {
  const src = rgba([77, 77, 77, 255]);
  const out = applyDisplay(src, new Uint8ClampedArray(4), { colorMode: "red", contrast: 1, brightness: 0 }, 1);
  assert.deepEqual([...out], [77, 77, 77, 255]);
});

test("an unknown mode is an error", () => {
  assert.throws(() => applyDisplay(rgba([1, 2, 3, 255]), new Uint8ClampedArray(4), { colorMode: "hsv", contrast: 1, brightness: 0 }), /unknown colour mode/);
});
