import { test } from "node:test";
import assert from "node:assert/strict";
import { deflateSync, inflateSync } from "node:zlib";

import { packRGBA } from "../src/colors.js";
import { ViewerModel } from "../src/model.js";
import { describePyramid, tileHeight, tileKey, tileWidth } from "../src/tiles/grid.js";
import { TileLoader } from "../src/tiles/loader.js";
import { TileRenderer } from "../src/tiles/renderer.js";
import { TileStore } from "../src/tiles/store.js";

const flush = async (n = 5) => {
  for (let i = 0; i < n; i++) await new Promise((resolve) => setTimeout(resolve, 0));
};

/** A fetch whose responses the test releases one by one; it records aborts. */
function controlledFetch() {
  const calls = [];
  const fetch = (url, { signal }) =>
    new Promise((resolve, reject) => {
      const call = { url, signal, aborted: false, resolve, reject };
      signal.addEventListener("abort", () => {
        call.aborted = true;
        reject(Object.assign(new Error("aborted"), { name: "AbortError" }));
      });
      calls.push(call);
    });
  return { fetch, calls };
}

const okResponse = (body = "x", headers = {}) => ({
  ok: true,
  status: 200,
  headers: { get: (name) => headers[name] ?? null },
  blob: async () => body,
  arrayBuffer: async () => body,
});

const request = (id) => ({ id, url: `/t/${id}`, decode: async (r) => ({ value: await r.blob(), bytes: 1 }) });

test("the loader fetches a few tiles at a time, most wanted first", async () => {
  const { fetch, calls } = controlledFetch();
  const loaded = [];
  const loader = new TileLoader({ fetch, maxInFlight: 2, onLoad: (r, value) => loaded.push([r.id, value]) });
  loader.want(["a", "b", "c"].map(request));
  assert.deepEqual(calls.map((c) => c.url), ["/t/a", "/t/b"]);
  calls[1].resolve(okResponse("B"));
  await flush();
  assert.deepEqual(loaded, [["b", "B"]]);
  assert.deepEqual(calls.map((c) => c.url), ["/t/a", "/t/b", "/t/c"]);
});

test("tiles that left the view are cancelled, in flight or queued", async () => {
  const { fetch, calls } = controlledFetch();
  const loaded = [];
  const loader = new TileLoader({ fetch, maxInFlight: 2, onLoad: (r) => loaded.push(r.id) });
  loader.want(["a", "b", "c", "d"].map(request));
  loader.want(["b", "e"].map(request)); // a is no longer wanted (cancelled), c and d never start
  assert.equal(calls[0].aborted, true);
  assert.equal(calls[1].aborted, false);
  assert.deepEqual(calls.map((c) => c.url), ["/t/a", "/t/b", "/t/e"]);
  calls[0].resolve(okResponse("late")); // too late: the abort won
  calls[1].resolve(okResponse());
  calls[2].resolve(okResponse());
  await flush();
  assert.deepEqual(loaded.sort(), ["b", "e"]);
  assert.equal(loader.stats.cancelled, 1);
  assert.equal(loader.inFlight, 0);
});

test("a tile that failed is reported once and not asked for again until retry", async () => {
  const { fetch, calls } = controlledFetch();
  const errors = [];
  const loader = new TileLoader({ fetch, onLoad: () => {}, onError: (r, error) => errors.push([r.id, error.status]) });
  loader.want([request("a")]);
  calls[0].resolve({ ok: false, status: 500, headers: { get: () => null } });
  await flush();
  assert.deepEqual(errors, [["a", 500]]);
  loader.want([request("a")]);
  assert.equal(calls.length, 1);
  loader.retry();
  loader.want([request("a")]);
  assert.equal(calls.length, 2);
});

/** A 4 x 2-tile image of 8 x 4 pixels (tile 4 x 4... level 0) with a coarser level of one tile. */
function smallPyramid() {
  return describePyramid({
    tiled: true, width: 16, height: 8, depth: 1, channels: 1, dtype: "uint8", tile_size: 4,
    levels: [{ level: 0, width: 16, height: 8, scale: 1 }, { level: 1, width: 8, height: 4, scale: 2 }, { level: 2, width: 4, height: 2, scale: 4 }],
    labels: ["v1"],
  });
}

/** Fakes for the browser's bitmap and ImageData; label tiles as the server encodes them. */
function storeSetup({ labelTiles = {} } = {}) {
  const { fetch, calls } = controlledFetch();
  const bitmaps = [];
  const store = new TileStore({
    pyramid: smallPyramid(),
    imageUrl: (level, z, col, row) => `/img/${level}/${z}/${col}/${row}.png`,
    labelUrl: (key, level, z, col, row) => `/lab/${key}/${level}/${z}/${col}/${row}.bin`,
    fetch,
    maxInFlight: 100,
    createBitmap: async (source) => {
      const bitmap = source.pixels
        ? { width: source.width, height: source.height, pixels: source.pixels, closed: false }
        : { width: 4, height: 4, name: source, closed: false };
      bitmap.close = () => { bitmap.closed = true; };
      bitmaps.push(bitmap);
      return bitmap;
    },
    makeImageData: (pixels, width, height) => ({ pixels: new Uint32Array(pixels.buffer), width, height }),
    inflate: async (bytes) => new Uint8Array(inflateSync(bytes)),
  });
  const answer = async (predicate = () => true) => {
    for (const call of calls) {
      if (call.done || call.aborted || !predicate(call.url)) continue;
      call.done = true;
      const label = call.url.match(/^\/lab\/\w+\/(\d+)\/\d+\/(\d+)\/(\d+)/);
      if (label) {
        const [level, col, row] = label.slice(1).map(Number);
        const w = tileWidth(store.pyramid, level, col);
        const h = tileHeight(store.pyramid, level, row);
        const labels = labelTiles[`${level}/${col}/${row}`] ?? new Int32Array(w * h);
        const data = new Uint8Array(deflateSync(Buffer.from(labels.buffer)));
        call.resolve(okResponse(data.buffer, { "X-Tile-Width": String(w), "X-Tile-Height": String(h) }));
      } else {
        call.resolve(okResponse(call.url));
      }
    }
    await flush();
  };
  return { store, calls, answer, bitmaps };
}

test("the store asks for visible tiles nearest the centre first, then the overview, then the ring, skipping cached ones", async () => {
  const { store, calls, answer } = storeSetup();
  store.plan(0, 0, { c0: 1, c1: 3, r0: 0, r1: 1 }, { c0: 0, c1: 4, r0: 0, r1: 2 }, { overlay: false });
  assert.deepEqual(calls.map((c) => c.url), [
    "/img/0/0/1/0.png", "/img/0/0/2/0.png", // visible
    "/img/2/0/0/0.png", // the coarsest level's only tile
    "/img/0/0/1/1.png", "/img/0/0/2/1.png", "/img/0/0/0/0.png", "/img/0/0/3/0.png", "/img/0/0/0/1.png", "/img/0/0/3/1.png",
  ]);
  await answer();
  assert.equal(store.imageTile(tileKey(0, 0, 1, 0)).name, "/img/0/0/1/0.png");
  const before = calls.length;
  store.plan(0, 0, { c0: 1, c1: 3, r0: 0, r1: 1 }, { c0: 0, c1: 4, r0: 0, r1: 2 }, { overlay: false });
  assert.equal(calls.length, before, "cached tiles are not fetched again");
});

const WHITE = packRGBA(255, 255, 255, 255);

test("an overlay is composed again when its neighbour arrives, outlining only real boundaries", async () => {
  // Tile (0, 0) is all cell 1; tile (1, 0) is cell 1 in the top half of its left column (the same
  // cell, cut by the border) and cell 2 elsewhere.
  const left = new Int32Array(16).fill(1);
  const right = Int32Array.from({ length: 16 }, (_, i) => (i % 4 === 0 && i < 8 ? 1 : 2));
  const { store, answer } = storeSetup({ labelTiles: { "0/0/0": left, "0/1/0": right } });
  store.setLabelKey("v1");
  store.setStyle({ showMasks: false, showOutlines: true });
  store.plan(0, 0, { c0: 0, c1: 1, r0: 0, r1: 1 }, { c0: 0, c1: 1, r0: 0, r1: 1 }, { overlay: true });
  await answer((url) => url.startsWith("/lab/"));
  const key = tileKey(0, 0, 0, 0);
  assert.equal(store.overlayTile(key), undefined, "composed on request, after the frame");
  await flush();
  let pixels = store.overlayTile(key).pixels;
  // Right neighbour unknown: its side has no outline; the image's left and top edges do.
  assert.equal(pixels[1 * 4 + 3], 0, "no outline towards the unloaded neighbour");
  assert.equal(pixels[2 * 4 + 3], 0);
  assert.equal(pixels[1 * 4 + 0], WHITE);
  assert.equal(pixels[0 * 4 + 2], WHITE);
  // The neighbour arrives: the cell continues across the border, so still no outline there.
  store.plan(0, 0, { c0: 0, c1: 2, r0: 0, r1: 1 }, { c0: 0, c1: 2, r0: 0, r1: 1 }, { overlay: true });
  await answer((url) => url.startsWith("/lab/"));
  store.overlayTile(key);
  await flush();
  pixels = store.overlayTile(key).pixels;
  assert.equal(pixels[1 * 4 + 3], 0, "cell 1 continues into the next tile");
  assert.equal(pixels[2 * 4 + 3], WHITE, "cell 2 lies across the border there: outlined now");
  const next = store.overlayTile(tileKey(0, 0, 1, 0));
  await flush();
  const nextPixels = (next ?? store.overlayTile(tileKey(0, 0, 1, 0))).pixels;
  assert.equal(nextPixels[1 * 4 + 0], WHITE, "cell 1's column touches cell 2: outlined");
  assert.equal(nextPixels[1 * 4 + 1], WHITE, "and cell 2 next to it");
  assert.equal(nextPixels[1 * 4 + 2], 0, "cell 2's inside");
});

test("changing the overlay style recomposes, and masks take the small viewer's colours", async () => {
  const cells = Int32Array.from({ length: 8 }, (_, i) => (i < 4 ? 3 : 0)); // level 2 is one 4 x 2 tile
  const { store, answer } = storeSetup({ labelTiles: { "2/0/0": cells } });
  store.setLabelKey("v1");
  store.plan(2, 0, { c0: 0, c1: 1, r0: 0, r1: 1 }, { c0: 0, c1: 1, r0: 0, r1: 1 }, { overlay: true });
  await answer();
  const key = tileKey(2, 0, 0, 0);
  store.overlayTile(key);
  await flush();
  const both = store.overlayTile(key);
  assert.equal(both.pixels[0], WHITE, "outline on the image edge");
  store.setStyle({ showOutlines: false, opacity: 1 });
  assert.equal(store.overlayTile(key), both, "the old picture stays until the new one is ready");
  await flush();
  const masks = store.overlayTile(key);
  assert.notEqual(masks, both);
  const { makeColorTable } = await import("../src/colors.js");
  assert.equal(masks.pixels[0], makeColorTable(3)[3]);
  assert.equal(masks.pixels[4], 0, "background stays transparent");
});

/** A recording stand-in for the visible canvas. */
function fakeCanvas() {
  const log = [];
  const canvas = { width: 0, height: 0 };
  canvas.getContext = () => ({
    canvas,
    setTransform() {},
    fillRect() {},
    drawImage: (...args) => log.push(args),
  });
  return { canvas, log };
}

test("the renderer draws loaded tiles edge to edge, and a coarser tile's part while a finer one loads", async () => {
  const { store, answer, calls } = storeSetup();
  const model = new ViewerModel();
  const { canvas, log } = fakeCanvas();
  const frames = [];
  const renderer = new TileRenderer(canvas, model, store, { requestFrame: (cb) => frames.push(cb), pixelRatio: () => 1, ring: 0 });
  const runFrames = () => {
    while (frames.length) frames.shift()();
  };
  model.setImage({ id: 1, name: "s", width: 16, height: 8, depth: 1, channels: 1 });
  model.setViewport(16, 8);
  model.setTransform({ scale: 1, tx: 0, ty: 0 }); // level 0: 4 x 2 tiles
  runFrames();
  assert.equal(renderer.stats.level, 0);
  assert.equal(renderer.stats.missing, 8);
  await answer((url) => url.startsWith("/img/2/")); // only the overview arrived
  runFrames();
  assert.equal(renderer.stats.fallback, 8);
  // Tile (1, 0) of level 0 = image [4, 8) x [0, 4) = pixels [1, 2) x [0, 1) of the level-2 tile.
  const part = log.find((args) => args.length === 9 && args[5] === 4 && args[6] === 0);
  assert.deepEqual(part.slice(1), [1, 0, 1, 1, 4, 0, 4, 4]);
  await answer();
  log.length = 0;
  runFrames();
  assert.equal(renderer.stats.drawn, 8);
  assert.deepEqual(log.map((args) => args.slice(1)), [
    [0, 0, 4, 4], [4, 0, 4, 4], [8, 0, 4, 4], [12, 0, 4, 4], [0, 4, 4, 4], [4, 4, 4, 4], [8, 4, 4, 4], [12, 4, 4, 4],
  ]);
  // A fractional zoom: each tile's right edge is the next one's left edge (rounded device pixels).
  model.setTransform({ scale: 0.93, tx: 0.3, ty: 0 });
  log.length = 0;
  runFrames();
  for (let i = 0; i < 3; i++) assert.equal(log[i][1] + log[i][3], log[i + 1][1]);
  // Panning inside the same tiles asks the store for nothing new.
  const asked = calls.length;
  const wants = store.loader.stats.started;
  model.setTransform({ scale: 0.93, tx: 0.1, ty: 0 });
  runFrames();
  assert.equal(calls.length, asked);
  assert.equal(store.loader.stats.started, wants);
  renderer.destroy();
});

test("a volume's tiles are asked for the plane on show, and again when the plane changes", async () => {
  const { fetch, calls } = controlledFetch();
  const pyramid = describePyramid({
    tiled: true, width: 8, height: 8, depth: 5, channels: 1, dtype: "uint8", tile_size: 8,
    levels: [{ level: 0, width: 8, height: 8, scale: 1 }], labels: [],
  });
  const store = new TileStore({ pyramid, imageUrl: (level, z, col, row) => `/img/${level}/${z}/${col}/${row}.png`, labelUrl: () => "", fetch });
  const model = new ViewerModel();
  const { canvas } = fakeCanvas();
  const frames = [];
  new TileRenderer(canvas, model, store, { requestFrame: (cb) => frames.push(cb), pixelRatio: () => 1 });
  const runFrames = () => {
    while (frames.length) frames.shift()();
  };
  model.setImage({ id: 1, name: "v", width: 8, height: 8, depth: 5, channels: 1 });
  model.setViewport(8, 8);
  model.setTransform({ scale: 1, tx: 0, ty: 0 });
  model.setPlane(2);
  runFrames();
  model.setPlane(3);
  runFrames();
  assert.deepEqual(calls.map((c) => [c.url, c.aborted]), [["/img/0/2/0/0.png", true], ["/img/0/3/0/0.png", false]]);
});

test("after zooming out, the finer tiles still held stand in for the coarser ones loading", async () => {
  const { store, answer } = storeSetup();
  const model = new ViewerModel();
  const { canvas, log } = fakeCanvas();
  const frames = [];
  const renderer = new TileRenderer(canvas, model, store, { requestFrame: (cb) => frames.push(cb), pixelRatio: () => 1, ring: 0 });
  const runFrames = () => {
    while (frames.length) frames.shift()();
  };
  model.setImage({ id: 1, name: "s", width: 16, height: 8, depth: 1, channels: 1 });
  model.setViewport(16, 8);
  model.setTransform({ scale: 1, tx: 0, ty: 0 });
  runFrames();
  await answer((url) => url.startsWith("/img/0/")); // level 0 only
  runFrames();
  assert.equal(renderer.stats.drawn, 8);
  model.setTransform({ scale: 0.5, tx: 0, ty: 0 }); // level 1: two 4 x 4 tiles, not loaded
  log.length = 0;
  runFrames();
  assert.equal(renderer.stats.level, 1);
  assert.equal(renderer.stats.fallback, 2);
  // Level-1 tile (1, 0) = level-0 tiles (2, 0), (3, 0), (2, 1), (3, 1), each 2 x 2 device pixels.
  const placed = log.map((args) => [args[0].name, ...args.slice(1)]);
  assert.deepEqual(placed.filter(([name]) => /\/img\/0\/0\/[23]\//.test(name)), [
    ["/img/0/0/2/0.png", 4, 0, 2, 2], ["/img/0/0/3/0.png", 6, 0, 2, 2], ["/img/0/0/2/1.png", 4, 2, 2, 2], ["/img/0/0/3/1.png", 6, 2, 2, 2],
  ]);
  renderer.destroy();
});
