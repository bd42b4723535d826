import { test } from "node:test";
import assert from "node:assert/strict";

import { histogramBins, niceTicks } from "../src/cells/histogram.js";
import { measureCells, sortRows } from "../src/cells/measure.js";

/** A label plane from rows of text: "." background, digits labels. */
function plane(...rows) {
  const width = rows[0].length;
  return { labels: Int32Array.from(rows.join(""), (c) => (c === "." ? 0 : Number(c))), width, height: rows.length };
}

test("a 3 x 3 square has area 9, perimeter 12 and eccentricity 0", () => {
  const { labels, width, height } = plane(".....", ".111.", ".111.", ".111.", ".....");
  const [row] = measureCells(labels, width, height);
  assert.equal(row.label, 1);
  assert.equal(row.area, 9);
  assert.equal(row.perimeter, 12);
  assert.equal(row.eccentricity, 0);
  assert.deepEqual(row.centroid, { x: 2.5, y: 2.5 });
  assert.deepEqual(row.box, { x0: 1, y0: 1, x1: 4, y1: 4 });
});

test("a one-pixel-wide line has eccentricity 1 and a perimeter of 2n + 2", () => {
  const { labels, width, height } = plane("2222", "....");
  const [row] = measureCells(labels, width, height);
  assert.equal(row.area, 4);
  assert.equal(row.perimeter, 10);
  assert.equal(row.eccentricity, 1);
});

test("a 2 x 4 rectangle's eccentricity comes from its second moments", () => {
  // Pixel centres: x variance (0..3) = 1.25, y variance (0..1) = 0.25: e = sqrt(1 - 0.25 / 1.25).
  const { labels, width, height } = plane("3333", "3333");
  const [row] = measureCells(labels, width, height);
  assert.equal(row.perimeter, 12);
  assert.ok(Math.abs(row.eccentricity - Math.sqrt(0.8)) < 1e-12);
});

test("touching masks and the image border each count as boundary", () => {
  // An L of three pixels next to a single pixel: 8 edges for the L, 4 for the single one.
  const { labels, width, height } = plane("11", "12");
  const rows = measureCells(labels, width, height);
  assert.deepEqual(rows.map((r) => [r.label, r.area, r.perimeter]), [[1, 3, 8], [2, 1, 4]]);
});

test("the mean of each channel is taken over the mask's pixels only", () => {
  const { labels, width, height } = plane("11.", "2..");
  const values = Float32Array.from([
    10, 20, 99, 4, 99, 99, // channel 0
    1, 3, 99, 8, 99, 99, // channel 1
  ]);
  const rows = measureCells(labels, width, height, { values, channels: 2 });
  assert.deepEqual(rows[0].means, [15, 2]);
  assert.deepEqual(rows[1].means, [4, 8]);
});

test("labels with gaps give rows only for the masks present", () => {
  const { labels, width, height } = plane("5.7");
  assert.deepEqual(measureCells(labels, width, height).map((r) => r.label), [5, 7]);
});

test("values of the wrong size are refused", () => {
  assert.throws(() => measureCells(new Int32Array(6), 3, 3), /needs 9/);
  assert.throws(() => measureCells(new Int32Array(4), 2, 2, { values: new Float32Array(3), channels: 1 }), /needs 4/);
});

test("rows sort by any column, ties by label", () => {
  const rows = [
    { label: 1, area: 5, means: [3] },
    { label: 2, area: 9, means: [1] },
    { label: 3, area: 5, means: [2] },
  ];
  assert.deepEqual(sortRows(rows, "area", -1).map((r) => r.label), [2, 1, 3]);
  assert.deepEqual(sortRows(rows, "mean:0", 1).map((r) => r.label), [2, 3, 1]);
  const origins = { 1: "model", 2: "manual", 3: "edited" };
  assert.deepEqual(sortRows(rows, "origin", 1, (l) => origins[l]).map((r) => r.label), [3, 2, 1]);
});

test("size bins cover the range and count every cell once", () => {
  const bins = histogramBins([10, 12, 20, 30, 30], 4);
  assert.equal(bins.length, 4);
  assert.equal(bins[0].lo, 10);
  assert.equal(bins[3].hi, 30);
  assert.deepEqual(bins.map((b) => b.count), [2, 0, 1, 2]); // [10, 15) [15, 20) [20, 25) [25, 30]
  assert.deepEqual(histogramBins([7, 7]), [{ lo: 7, hi: 7, count: 2 }]);
  assert.deepEqual(histogramBins([]), []);
});

test("count axis ticks are round numbers reaching the largest count", () => {
  assert.deepEqual(niceTicks(7), [0, 2, 4, 6, 8]);
  assert.deepEqual(niceTicks(100), [0, 50, 100]);
  assert.deepEqual(niceTicks(0), [0]);
});

test("flying to a cell centres its box and zooms at most 8x", async () => {
  const { flyToTransform } = await import("../src/cells/cellsPanel.js");
  const t = flyToTransform({ x0: 10, y0: 20, x1: 30, y1: 40 }, { width: 400, height: 300 }, { margin: 50 });
  // Box 20 x 20 in (300 - 100) / 20 = 10x, capped at 8; centre (20, 30) lands at the viewport's centre.
  assert.equal(t.scale, 8);
  assert.equal(20 * t.scale + t.tx, 200);
  assert.equal(30 * t.scale + t.ty, 150);
  const big = flyToTransform({ x0: 0, y0: 0, x1: 1000, y1: 1000 }, { width: 400, height: 300 }, { margin: 50 });
  assert.equal(big.scale, 0.2);
});

/** The obvious per-pixel version, to check the run-based one against. */
function slowMeasure(labels, width, height, values, channels) {
  const cells = new Map();
  for (let y = 0; y < height; y++) {
    for (let x = 0; x < width; x++) {
      const l = labels[y * width + x];
      if (!l) continue;
      if (!cells.has(l)) cells.set(l, { xs: [], ys: [], edges: 0, sums: new Array(channels).fill(0) });
      const cell = cells.get(l);
      cell.xs.push(x);
      cell.ys.push(y);
      const at = (i, j) => (i < 0 || j < 0 || i >= width || j >= height ? -1 : labels[j * width + i]);
      for (const [dx, dy] of [[1, 0], [-1, 0], [0, 1], [0, -1]]) if (at(x + dx, y + dy) !== l) cell.edges++;
      for (let c = 0; c < channels; c++) cell.sums[c] += values[c * width * height + y * width + x];
    }
  }
  return [...cells.entries()].sort((a, b) => a[0] - b[0]).map(([label, cell]) => {
    const n = cell.xs.length;
    const mx = cell.xs.reduce((a, b) => a + b, 0) / n;
    const my = cell.ys.reduce((a, b) => a + b, 0) / n;
    let a = 0, b = 0, c = 0;
    for (let k = 0; k < n; k++) {
      a += (cell.xs[k] - mx) ** 2 / n;
      c += (cell.ys[k] - my) ** 2 / n;
      b += ((cell.xs[k] - mx) * (cell.ys[k] - my)) / n;
    }
    const l1 = (a + c) / 2 + Math.sqrt(((a - c) / 2) ** 2 + b * b);
    const l2 = (a + c) / 2 - Math.sqrt(((a - c) / 2) ** 2 + b * b);
    return { label, area: n, perimeter: cell.edges, eccentricity: l1 > 1e-12 ? Math.sqrt(Math.max(0, 1 - l2 / l1)) : 0, means: cell.sums.map((s) => s / n) };
  });
}

test("the measurements match a per-pixel computation on random blobs", () => {
  let seed = 7;
  const random = () => ((seed = (seed * 1103515245 + 12345) % 2147483648) / 2147483648);
  const width = 37, height = 23;
  const labels = new Int32Array(width * height);
  for (let k = 1; k <= 12; k++) {
    const cx = random() * width, cy = random() * height, rx = 1 + random() * 6, ry = 1 + random() * 4;
    for (let y = 0; y < height; y++) for (let x = 0; x < width; x++) {
      if (((x - cx) / rx) ** 2 + ((y - cy) / ry) ** 2 <= 1) labels[y * width + x] = k;
    }
  }
  const values = Float32Array.from({ length: 2 * width * height }, () => Math.round(random() * 1000));
  const fast = measureCells(labels, width, height, { values, channels: 2 });
  const slow = slowMeasure(labels, width, height, values, 2);
  assert.equal(fast.length, slow.length);
  assert.ok(fast.length >= 5);
  fast.forEach((row, k) => {
    assert.equal(row.label, slow[k].label);
    assert.equal(row.area, slow[k].area);
    assert.equal(row.perimeter, slow[k].perimeter);
    assert.ok(Math.abs(row.eccentricity - slow[k].eccentricity) < 1e-9, `eccentricity of ${row.label}`);
    row.means.forEach((m, c) => assert.ok(Math.abs(m - slow[k].means[c]) < 1e-9));
  });
});
