import { test } from "node:test";
import assert from "node:assert/strict";

import { traceOutline } from "../src/geometry/outline.js";
import { fillPolygon, signedArea2, simplifyClosed, simplifyOutline } from "../src/geometry/polygon.js";
import { componentAt, labelComponents, seamBetween, splitPieces } from "../src/geometry/regions.js";
import { diskOffsets, linePixels4, polylinePixels, strokePixels } from "../src/geometry/strokes.js";

/** A label plane from rows of characters: "." = 0, digits = labels. */
function plane(rows) {
  const height = rows.length;
  const width = rows[0].length;
  const labels = new Int32Array(width * height);
  rows.forEach((row, y) => [...row].forEach((c, x) => (labels[y * width + x] = c === "." ? 0 : Number(c))));
  return { labels, width, height };
}

/** The obvious implementation: test every pixel centre with a ray cast. */
function slowFill(points, width, height) {
  const out = [];
  for (let y = 0; y < height; y++) {
    for (let x = 0; x < width; x++) {
      const px = x + 0.5;
      const py = y + 0.5;
      let inside = false;
      for (let i = 0, j = points.length - 1; i < points.length; j = i++) {
        const a = points[j];
        const b = points[i];
        if (a.y <= py !== b.y <= py && px < a.x + ((py - a.y) * (b.x - a.x)) / (b.y - a.y)) inside = !inside;
      }
      if (inside) out.push(y * width + x);
    }
  }
  return out;
}

function random(seed) {
  let s = seed;
  return () => ((s = (s * 1103515245 + 12345) & 0x7fffffff) / 0x7fffffff);
}

test("a polygon fills the pixels whose centres are inside it", () => {
  const square = [{ x: 1, y: 1 }, { x: 4, y: 1 }, { x: 4, y: 3 }, { x: 1, y: 3 }];
  assert.deepEqual([...fillPolygon(square, 6, 5)], [7, 8, 9, 13, 14, 15]);
  assert.equal(fillPolygon(square.slice(0, 2), 6, 5).length, 0);
});

test("filling matches a ray cast for random polygons, clipped at the plane's edges", () => {
  const rand = random(7);
  for (let trial = 0; trial < 40; trial++) {
    const n = 3 + Math.floor(rand() * 9);
    const points = Array.from({ length: n }, () => ({ x: rand() * 30 - 5, y: rand() * 24 - 4 }));
    assert.deepEqual([...fillPolygon(points, 20, 16)], slowFill(points, 20, 16), `trial ${trial}`);
  }
});

test("tracing an outline and filling it gives back exactly the mask's pixels", () => {
  const { labels, width, height } = plane([
    "..........",
    ".11111....",
    ".1...1.22.",
    ".1.1.1.22.",
    ".11111.1..",
    "...1......",
    "..11......",
  ]);
  const traced = traceOutline(labels, width, height, 11);
  assert.equal(traced.label, 1);
  const filled = new Set(fillPolygon(traced.points, width, height));
  // The part's pixels plus the hole inside it (holes are not traced).
  for (const p of traced.pixels) assert.ok(filled.has(p), `pixel ${p} lost`);
  assert.deepEqual([...filled].filter((p) => labels[p] !== 1).sort((a, b) => a - b), [22, 23, 24, 32, 34]);
  assert.ok(signedArea2(traced.points) > 0, "clockwise on screen");
  assert.equal(traceOutline(labels, width, height, 0), null);
});

test("tracing round-trips random blobs exactly", () => {
  const rand = random(3);
  for (let trial = 0; trial < 20; trial++) {
    const width = 24;
    const height = 20;
    const labels = new Int32Array(width * height);
    const cx = 6 + rand() * 12;
    const cy = 5 + rand() * 10;
    const r = 2 + rand() * 5;
    for (let y = 0; y < height; y++) for (let x = 0; x < width; x++) if ((x - cx) ** 2 + ((y - cy) * 1.3) ** 2 < r * r) labels[y * width + x] = 5;
    const start = labels.indexOf(5);
    if (start < 0) continue;
    const { points, pixels } = traceOutline(labels, width, height, start);
    assert.deepEqual([...fillPolygon(points, width, height)], [...pixels], `trial ${trial}`);
  }
});

test("a single pixel traces to its four corners", () => {
  const { labels, width, height } = plane(["...", ".1.", "..."]);
  assert.deepEqual(traceOutline(labels, width, height, 4).points, [
    { x: 2, y: 1 }, { x: 2, y: 2 }, { x: 1, y: 2 }, { x: 1, y: 1 },
  ]);
});

test("simplifying keeps corners and drops points on straight runs", () => {
  const points = [];
  for (let x = 0; x < 10; x++) points.push({ x, y: 0 });
  for (let y = 0; y < 10; y++) points.push({ x: 10, y });
  for (let x = 10; x > 0; x--) points.push({ x, y: 10 });
  for (let y = 10; y > 0; y--) points.push({ x: 0, y });
  assert.deepEqual(simplifyClosed(points, 0.5), [{ x: 0, y: 0 }, { x: 10, y: 0 }, { x: 10, y: 10 }, { x: 0, y: 10 }]);
  const circle = Array.from({ length: 400 }, (_, i) => ({ x: 50 + 40 * Math.cos(i / 63.66), y: 50 + 40 * Math.sin(i / 63.66) }));
  const simple = simplifyOutline(circle, { maxPoints: 24 });
  assert.ok(simple.length <= 24 && simple.length >= 8, `${simple.length} points`);
});

test("a brush stroke covers a disk along the path, clipped to the plane", () => {
  assert.equal(diskOffsets(1).length, 1);
  assert.equal(diskOffsets(3).length, 9);
  const dot = strokePixels([{ x: 5.5, y: 5.5 }], 3, 20, 20);
  assert.deepEqual([...dot], [84, 85, 86, 104, 105, 106, 124, 125, 126]);
  const line = strokePixels([{ x: 2.5, y: 10.5 }, { x: 12.5, y: 10.5 }], 1, 20, 20);
  assert.deepEqual([...line], Array.from({ length: 11 }, (_, i) => 202 + i));
  const corner = strokePixels([{ x: 0.2, y: 0.2 }], 5, 20, 20);
  assert.ok([...corner].every((i) => i % 20 <= 2 && i < 60));
});

test("cutting lines are 4-connected", () => {
  const pixels = linePixels4(0, 0, 5, 3);
  for (let i = 1; i < pixels.length; i++) {
    const [ax, ay] = pixels[i - 1];
    const [bx, by] = pixels[i];
    assert.equal(Math.abs(ax - bx) + Math.abs(ay - by), 1);
  }
  assert.deepEqual(pixels.at(-1), [5, 3]);
  assert.equal(polylinePixels([{ x: -3, y: 0.5 }, { x: 2.5, y: 0.5 }], 4, 4).length, 3);
});

test("components are 4-connected", () => {
  const mask = Uint8Array.from([1, 0, 1, 0, 1, 1, 1, 0, 0]);
  const { ids, sizes } = labelComponents(mask, 3);
  assert.deepEqual(sizes, [1, 3, 1]);
  assert.equal(ids[0], 1);
  const { labels, width, height } = plane(["11.", ".1.", "1.."]);
  assert.deepEqual([...componentAt(labels, width, height, 0)], [0, 1, 4]);
});

test("a line across a mask splits it into the pieces on each side, losing no pixel", () => {
  const { labels, width, height } = plane([
    ".......",
    ".11111.",
    ".11111.",
    ".11111.",
    ".11111.",
    ".......",
  ]);
  const cut = polylinePixels([{ x: 3.5, y: 0.2 }, { x: 3.5, y: 5.8 }], width, height);
  const pieces = splitPieces(labels, width, height, 1, cut);
  assert.equal(pieces.length, 2);
  assert.equal(pieces[0].length + pieces[1].length, 20);
  assert.ok(pieces[0].length >= pieces[1].length);
  const short = polylinePixels([{ x: 3.5, y: 0.2 }, { x: 3.5, y: 2.5 }], width, height);
  assert.equal(splitPieces(labels, width, height, 1, short).length, 1);
});

test("the seam between two masks is the background touching both", () => {
  const { labels, width, height } = plane(["11.22", "11.22", "....."]);
  assert.deepEqual([...seamBetween(labels, width, height, 1, 2)], [2, 7]);
});

import { distanceInside, interpolateShapes } from "../src/geometry/interpolate.js";

test("the chamfer distance grows inwards from the edge", () => {
  const mask = new Uint8Array(25).fill(1);
  const d = distanceInside(mask, 5, 5);
  assert.equal(d[12], 3, "the centre is three steps from outside");
  assert.equal(d[0], 1);
  assert.equal(distanceInside(new Uint8Array(4), 2, 2).every((v) => v === 0), true);
});

test("interpolated planes morph one outline into the other", () => {
  const width = 30;
  const height = 30;
  const square = (x0, y0, size) => {
    const plane = new Int32Array(width * height);
    for (let y = y0; y < y0 + size; y++) for (let x = x0; x < x0 + size; x++) plane[y * width + x] = 3;
    return plane;
  };
  const same = interpolateShapes(square(5, 5, 10), square(5, 5, 10), width, height, 3, 3);
  assert.equal(same.length, 2);
  for (const shape of same) assert.deepEqual([...shape], [...square(5, 5, 10).keys()].filter((i) => square(5, 5, 10)[i]));
  const growing = interpolateShapes(square(10, 10, 4), square(5, 5, 16), width, height, 3, 4);
  const sizes = growing.map((s) => s.length);
  assert.ok(16 < sizes[0] && sizes[0] < sizes[1] && sizes[1] < sizes[2] && sizes[2] < 256, `sizes ${sizes}`);
  const moving = interpolateShapes(square(5, 10, 10), square(9, 10, 10), width, height, 3, 2);
  const xs = [...moving[0]].map((i) => i % width);
  assert.ok(Math.abs((Math.min(...xs) + Math.max(...xs)) / 2 - 11.5) <= 1, "halfway between the two squares");
  assert.deepEqual(interpolateShapes(square(2, 2, 3), new Int32Array(width * height), width, height, 3, 3), []);
});
