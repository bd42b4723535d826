import { test } from "node:test";
import assert from "node:assert/strict";

import { computeOutlines, countLabels, maxLabel } from "../src/outlines.js";

/** The obvious definition, one pixel at a time. */
function slowOutlines(labels, width, height) {
  const out = new Uint8Array(width * height);
  const at = (x, y) => (x < 0 || y < 0 || x >= width || y >= height ? -1 : labels[y * width + x]);
  for (let y = 0; y < height; y++) {
    for (let x = 0; x < width; x++) {
      const l = at(x, y);
      if (l === 0) continue;
      const neighbours = [at(x - 1, y), at(x + 1, y), at(x, y - 1), at(x, y + 1)];
      out[y * width + x] = neighbours.some((n) => n !== l) ? 1 : 0;
    }
  }
  return out;
}

function fromRows(rows) {
  return { labels: Int32Array.from(rows.flat()), width: rows[0].length, height: rows.length };
}

test("a filled square gives its one-pixel ring", () => {
  const { labels, width, height } = fromRows([
    [0, 0, 0, 0, 0, 0],
    [0, 1, 1, 1, 1, 0],
    [0, 1, 1, 1, 1, 0],
    [0, 1, 1, 1, 1, 0],
    [0, 1, 1, 1, 1, 0],
    [0, 0, 0, 0, 0, 0],
  ]);
  assert.deepEqual([...computeOutlines(labels, width, height)], [
    0, 0, 0, 0, 0, 0,
    0, 1, 1, 1, 1, 0,
    0, 1, 0, 0, 1, 0,
    0, 1, 0, 0, 1, 0,
    0, 1, 1, 1, 1, 0,
    0, 0, 0, 0, 0, 0,
  ]);
});

test("touching cells each keep their own boundary and edge cells are closed", () => {
  const { labels, width, height } = fromRows([
    [1, 1, 2, 2],
    [1, 1, 2, 2],
    [1, 1, 2, 2],
  ]);
  assert.deepEqual([...computeOutlines(labels, width, height)], [
    1, 1, 1, 1,
    1, 1, 1, 1,
    1, 1, 1, 1,
  ]);
});

test("it matches the obvious implementation on random label images", () => {
  let seed = 12345;
  const rand = () => ((seed = (seed * 1103515245 + 12345) & 0x7fffffff) / 0x7fffffff);
  for (let trial = 0; trial < 20; trial++) {
    const width = 5 + Math.floor(rand() * 40);
    const height = 5 + Math.floor(rand() * 40);
    const labels = new Int32Array(width * height);
    // Blocky labels so cells have interiors.
    for (let y = 0; y < height; y++) {
      for (let x = 0; x < width; x++) {
        labels[y * width + x] = Math.floor(x / 4) * 3 + Math.floor(y / 5) + (rand() < 0.1 ? 7 : 0);
        if (rand() < 0.2) labels[y * width + x] = 0;
      }
    }
    assert.deepEqual(computeOutlines(labels, width, height), slowOutlines(labels, width, height), `trial ${trial}`);
  }
});

test("it reuses the output buffer and rejects a wrong size", () => {
  const labels = new Int32Array(12).fill(1);
  const out = new Uint8Array(12);
  assert.equal(computeOutlines(labels, 4, 3, out), out);
  assert.throws(() => computeOutlines(labels, 5, 3), /hold 12 pixels/);
});

test("counting labels ignores gaps in the numbering", () => {
  const labels = Int32Array.from([0, 5, 5, 183, 0, 2, 183]);
  assert.equal(countLabels(labels), 3);
  assert.equal(maxLabel(labels), 183);
  assert.equal(countLabels(new Int32Array(4)), 0);
});
