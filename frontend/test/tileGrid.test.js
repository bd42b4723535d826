import { test } from "node:test";
import assert from "node:assert/strict";

import { TileCache } from "../src/tiles/cache.js";
import {
  chooseLevel, coarserCover, describePyramid, splitTileKey, tileHeight, tileKey, tileWidth, visibleTiles,
} from "../src/tiles/grid.js";
import { computeOutlines } from "../src/outlines.js";
import { BOTTOM, LEFT, RIGHT, TOP, tileEdge, tileOutlines } from "../src/tiles/labelTiles.js";
import { fitTransform, screenToImage, zoomAt } from "../src/transform.js";

/** The pyramid the server describes for a 20,000 x 20,000 image: levels halve until one tile holds it. */
function pyramidOf(width, height, tileSize = 512) {
  const levels = [];
  for (let level = 0, w = width, h = height; ; level++, w = Math.ceil(w / 2), h = Math.ceil(h / 2)) {
    levels.push({ level, width: w, height: h, scale: 2 ** level });
    if (w <= tileSize && h <= tileSize) break;
  }
  return describePyramid({ tiled: true, width, height, depth: 1, channels: 3, dtype: "uint8", tile_size: tileSize, levels, labels: ["v1"] });
}

const SLIDE = pyramidOf(20000, 20000);

test("a 20,000-pixel image has levels down to one tile, with the last column and row narrower", () => {
  assert.equal(SLIDE.levels.length, 7); // 20000, 10000, 5000, 2500, 1250, 625, 313
  assert.deepEqual(SLIDE.levels.map((l) => l.cols), [40, 20, 10, 5, 3, 2, 1]);
  assert.equal(tileWidth(SLIDE, 0, 39), 20000 - 39 * 512); // 32 pixels
  assert.equal(tileWidth(SLIDE, 0, 38), 512);
  assert.equal(tileHeight(SLIDE, 6, 0), 313);
});

test("bad pyramid descriptions are refused with a message naming the field", () => {
  assert.throws(() => describePyramid({ width: 10, height: 0, tile_size: 512, levels: [{ width: 10, height: 10 }] }), /height/);
  assert.throws(() => describePyramid({ width: 10, height: 10, tile_size: 512, levels: [] }), /levels/);
  assert.throws(
    () => describePyramid({ width: 10, height: 10, tile_size: 4, levels: [{ width: 10, height: 10, scale: 2 }, { width: 10, height: 10, scale: 1 }] }),
    /finest to coarsest/,
  );
});

test("the level is the coarsest whose pixels are no larger than a device pixel, switching exactly at powers of two", () => {
  assert.equal(chooseLevel(SLIDE, 4), 0);
  assert.equal(chooseLevel(SLIDE, 1), 0);
  assert.equal(chooseLevel(SLIDE, 0.51), 0);
  assert.equal(chooseLevel(SLIDE, 0.5), 1);
  assert.equal(chooseLevel(SLIDE, 0.26), 1);
  assert.equal(chooseLevel(SLIDE, 0.25), 2);
  assert.equal(chooseLevel(SLIDE, 1 / 64), 6); // never past the coarsest level
  // A fitted 20k image in a 1280 x 800 viewport (0.0384 CSS px per pixel): level 4 (scale 16) on a
  // normal screen, one finer on a 2x screen.
  const fitted = fitTransform(20000, 20000, 1280, 800, { margin: 16 });
  assert.equal(chooseLevel(SLIDE, fitted.scale), 4);
  assert.equal(chooseLevel(SLIDE, fitted.scale * 2), 3);
});

test("the visible tiles cover the viewport exactly, at the image's edges too", () => {
  // Level 0 at 1:1, viewport 1000 x 600 whose top-left shows image pixel (1000, 300).
  const t = { scale: 1, tx: -1000, ty: -300 };
  assert.deepEqual(visibleTiles(SLIDE, 0, t, 1000, 600), { c0: 1, c1: 4, r0: 0, r1: 2 });
  // A viewport edge exactly on a tile border does not pull in the next tile.
  assert.deepEqual(visibleTiles(SLIDE, 0, { scale: 1, tx: -512, ty: -1024 }, 1024, 512), { c0: 1, c1: 3, r0: 2, r1: 3 });
  // Past the right and bottom edges: clipped to the grid; the prefetch ring too.
  const corner = { scale: 1, tx: -19800, ty: -19800 };
  assert.deepEqual(visibleTiles(SLIDE, 0, corner, 1000, 1000), { c0: 38, c1: 40, r0: 38, r1: 40 });
  assert.deepEqual(visibleTiles(SLIDE, 0, corner, 1000, 1000, 2), { c0: 36, c1: 40, r0: 36, r1: 40 });
  // Left of and above the image: nothing but the first tiles.
  assert.deepEqual(visibleTiles(SLIDE, 0, { scale: 1, tx: 300, ty: 300 }, 400, 400), { c0: 0, c1: 1, r0: 0, r1: 1 });
  // Entirely outside: an empty range.
  const outside = visibleTiles(SLIDE, 0, { scale: 1, tx: 5000, ty: 0 }, 400, 400);
  assert.equal(outside.c1 - outside.c0, 0);
  // At level 4 (scale 16) a tile spans 8192 image pixels: the fitted view sees all 3 x 3 tiles.
  const fitted = fitTransform(20000, 20000, 1280, 800, { margin: 16 });
  assert.deepEqual(visibleTiles(SLIDE, 4, fitted, 1280, 800), { c0: 0, c1: 3, r0: 0, r1: 3 });
});

test("every visible image pixel lies in a visible tile (random views, all levels)", () => {
  let seed = 7;
  const random = () => ((seed = (seed * 1103515245 + 12345) & 0x7fffffff) / 0x7fffffff);
  for (let trial = 0; trial < 200; trial++) {
    const scale = 2 ** (random() * 10 - 6);
    const t = { scale, tx: -random() * 20000 * scale + 500, ty: -random() * 20000 * scale + 300 };
    const level = chooseLevel(SLIDE, scale);
    const range = visibleTiles(SLIDE, level, t, 1000, 600);
    const span = 512 * SLIDE.levels[level].scale;
    for (const [sx, sy] of [[0, 0], [999.9, 0], [0, 599.9], [999.9, 599.9], [500, 300]]) {
      const p = screenToImage(t, sx, sy);
      if (p.x < 0 || p.y < 0 || p.x >= 20000 || p.y >= 20000) continue;
      const col = Math.floor(p.x / span);
      const row = Math.floor(p.y / span);
      assert.ok(col >= range.c0 && col < range.c1 && row >= range.r0 && row < range.r1, `trial ${trial}: (${col}, ${row}) not in ${JSON.stringify(range)}`);
    }
  }
});

test("zooming around the cursor keeps the image point under it and moves to finer levels", () => {
  let t = fitTransform(20000, 20000, 1280, 800, { margin: 16 });
  const cursor = [900, 250];
  const anchor = screenToImage(t, ...cursor);
  const levels = [];
  for (let i = 0; i < 30; i++) {
    t = zoomAt(t, 1.25, ...cursor);
    const p = screenToImage(t, ...cursor);
    assert.ok(Math.abs(p.x - anchor.x) < 1e-6 && Math.abs(p.y - anchor.y) < 1e-6);
    levels.push(chooseLevel(SLIDE, t.scale));
  }
  assert.equal(levels[0], 4);
  assert.equal(levels.at(-1), 0);
  assert.deepEqual([...levels].sort((a, b) => b - a), levels, "levels only get finer while zooming in");
  // The tile under the cursor at level 0 is the one that holds the anchor.
  const range = visibleTiles(SLIDE, 0, t, 1280, 800);
  const col = Math.floor(anchor.x / 512);
  assert.ok(col >= range.c0 && col < range.c1);
});

test("tile keys are distinct numbers that give back their parts", () => {
  const seen = new Set();
  for (const [level, z, col, row] of [[0, 0, 0, 0], [0, 0, 1, 0], [0, 0, 0, 1], [1, 0, 0, 0], [0, 1, 0, 0], [6, 199, 16383, 16383]]) {
    const key = tileKey(level, z, col, row);
    assert.ok(!seen.has(key));
    seen.add(key);
    assert.deepEqual(splitTileKey(key), { level, z, col, row });
  }
});

test("a coarser tile's part that covers a finer tile is found at every level", () => {
  // Level 0 tile (5, 3) = image [2560, 3072) x [1536, 2048): in level 2 (scale 4) tile (1, 0), pixels 128.. of x.
  assert.deepEqual(coarserCover(SLIDE, 0, 5, 3, 2), { col: 1, row: 0, sx: 128, sy: 384, sw: 128, sh: 128 });
  // The last, narrow column of level 0 (32 px) lies at the end of level 1's last tile.
  const c = coarserCover(SLIDE, 0, 39, 0, 1);
  assert.deepEqual(c, { col: 19, row: 0, sx: 256, sy: 0, sw: 16, sh: 256 });
  assert.ok(c.sx + c.sw <= tileWidth(SLIDE, 1, 19));
});

test("the cache evicts the least recently used tiles down to its byte budget", () => {
  const disposed = [];
  const cache = new TileCache({ budget: 3000, dispose: (value) => disposed.push(value) });
  cache.set(1, "a", 1000);
  cache.set(2, "b", 1000);
  cache.set(3, "c", 1000);
  cache.beginFrame();
  cache.get(1); // "a" is used again: "b" is now the oldest
  cache.beginFrame();
  cache.set(4, "d", 1000);
  assert.deepEqual(disposed, ["b"]);
  assert.equal(cache.bytes, 3000);
  assert.deepEqual([...cache.keys()].sort(), [1, 3, 4]);
  cache.beginFrame();
  cache.set(5, "e", 2500); // evicts oldest first until it fits: c, a, d
  assert.deepEqual(disposed, ["b", "c", "a", "d"]);
  assert.equal(cache.bytes, 2500);
});

test("the cache never evicts what the current frame draws, and catches up afterwards", () => {
  const cache = new TileCache({ budget: 2000 });
  cache.set(1, "a", 1000);
  cache.set(2, "b", 1000);
  cache.beginFrame();
  cache.get(1);
  cache.get(2);
  cache.set(3, "c", 1000); // the frame needs all three: over budget rather than thrash
  assert.equal(cache.size, 3);
  assert.equal(cache.bytes, 3000);
  cache.beginFrame();
  cache.get(3);
  cache.set(4, "d", 1000); // next frame: 1 and 2 were not drawn, they go
  assert.deepEqual([...cache.keys()].sort(), [3, 4]);
  assert.throws(() => new TileCache({ budget: 0 }), /budget/);
});

/** Split a label image into tiles and outline each with its neighbours' edges. */
function tiledOutlines(labels, width, height, T, { known = () => true } = {}) {
  const cols = Math.ceil(width / T);
  const rows = Math.ceil(height / T);
  const tiles = [];
  for (let row = 0; row < rows; row++) {
    for (let col = 0; col < cols; col++) {
      const w = Math.min(T, width - col * T);
      const h = Math.min(T, height - row * T);
      const tile = new Int32Array(w * h);
      for (let y = 0; y < h; y++) for (let x = 0; x < w; x++) tile[y * w + x] = labels[(row * T + y) * width + col * T + x];
      tiles.push({ col, row, w, h, tile });
    }
  }
  const at = (col, row) => tiles.find((t) => t.col === col && t.row === row);
  const out = new Uint8Array(width * height);
  for (const { col, row, w, h, tile } of tiles) {
    const edge = (c, r, side, length) => {
      const n = at(c, r);
      if (!n) return new Int32Array(length); // beyond the image
      return known(c, r) ? tileEdge(n.tile, n.w, n.h, side) : null;
    };
    const edges = {
      left: edge(col - 1, row, RIGHT, h),
      right: edge(col + 1, row, LEFT, h),
      top: edge(col, row - 1, BOTTOM, w),
      bottom: edge(col, row + 1, TOP, w),
    };
    const o = tileOutlines(tile, w, h, edges);
    for (let y = 0; y < h; y++) for (let x = 0; x < w; x++) out[(row * T + y) * width + col * T + x] = o[y * w + x];
  }
  return out;
}

/** Cells of random sizes that touch each other and every tile border. */
function cellImage(width, height) {
  const labels = new Int32Array(width * height);
  let seed = 3;
  const random = () => ((seed = (seed * 1103515245 + 12345) & 0x7fffffff) / 0x7fffffff);
  for (let k = 1; k <= 40; k++) {
    const cx = random() * width;
    const cy = random() * height;
    const r = 2 + random() * 6;
    for (let y = 0; y < height; y++) {
      for (let x = 0; x < width; x++) if ((x - cx) ** 2 + (y - cy) ** 2 < r * r) labels[y * width + x] = k;
    }
  }
  return labels;
}

test("outlines computed tile by tile equal the whole image's: none along tile borders, all along real boundaries", () => {
  const width = 45;
  const height = 37;
  const labels = cellImage(width, height);
  const whole = computeOutlines(labels, width, height);
  for (const T of [8, 16, 13]) {
    assert.deepEqual(tiledOutlines(labels, width, height, T), whole, `tile size ${T}`);
  }
});

test("a cell cut by a tile border has no outline along the cut; one that ends on the border keeps it", () => {
  // Two tiles of 4 x 4 side by side; cell 1 spans both, cell 2 lies left of the border, cell 3 right of it.
  const width = 8;
  const height = 4;
  const labels = Int32Array.from([
    1, 1, 1, 1, 1, 1, 1, 1,
    1, 1, 1, 1, 1, 1, 1, 1,
    0, 0, 2, 2, 3, 3, 0, 0,
    0, 0, 2, 2, 3, 3, 0, 0,
  ]);
  const out = tiledOutlines(labels, width, height, 4);
  const at = (x, y) => out[y * width + x];
  assert.equal(at(3, 1), 1, "cell 1 has its lower boundary at the cut's pixel (cell 2 is below)");
  assert.equal(at(3, 0), 1, "row 0 is the image's top edge");
  // Cell 1's pixels on both sides of the border, in row 1, are inside the cell: the bottom row below is
  // 2 and 3, so they are outlines; make a taller cell to see the interior.
  const tall = new Int32Array(8 * 6).fill(1);
  const tallOut = tiledOutlines(tall, 8, 6, 4);
  assert.equal(tallOut[2 * 8 + 3], 0, "no outline along the vertical tile border inside the cell");
  assert.equal(tallOut[2 * 8 + 4], 0);
  assert.equal(tallOut[3 * 8 + 2], 0, "no outline along the horizontal tile border inside the cell");
  assert.equal(tallOut[4 * 8 + 2], 0);
  assert.equal(at(3, 2), 1, "cell 2 ends on the border next to cell 3: outlined");
  assert.equal(at(4, 2), 1, "cell 3 too");
});

test("while a neighbour tile is unknown its side gets no outline, not a false one", () => {
  const tall = new Int32Array(8 * 4).fill(1);
  const out = tiledOutlines(tall, 8, 4, 4, { known: () => false });
  // The border between the two tiles (columns 3 and 4) shows no outline; the image's edges do.
  assert.equal(out[1 * 8 + 3], 0);
  assert.equal(out[1 * 8 + 4], 0);
  assert.equal(out[1 * 8 + 0], 1);
  assert.equal(out[0 * 8 + 5], 1);
});
