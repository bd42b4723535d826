import { test } from "node:test";
import assert from "node:assert/strict";

import { makeColorTable, unpackRGBA } from "../src/colors.js";
import { ViewerModel } from "../src/model.js";
import { ImageLayer, MaskOverlayLayer, RasterLayer, ScaleDiskLayer } from "../src/view/layers.js";
import { Renderer } from "../src/view/renderer.js";

/** A canvas stand-in that records what is drawn on it. */
class FakeContext {
  constructor(canvas, log) {
    this.canvas = canvas;
    this.log = log;
    this.globalAlpha = 1;
  }
  createImageData(w, h) { return { width: w, height: h, data: new Uint8ClampedArray(w * h * 4) }; }
  putImageData(imageData) { this.log.push({ op: "put", canvas: this.canvas.name }); this.canvas.pixels = imageData.data.slice(); }
  getImageData(x, y, w, h) { return { data: new Uint8ClampedArray(w * h * 4).fill(100) }; }
  drawImage(source) { this.log.push({ op: "draw", canvas: this.canvas.name, source: source.name ?? source, alpha: this.globalAlpha }); }
  setTransform(...args) { this.transform = args; }
  fillRect() {}
  beginPath() {}
  arc(...args) { this.log.push({ op: "arc", args }); }
  fill() {}
  stroke() {}
}

function setup() {
  const log = [];
  let n = 0;
  const surfaceFactory = (width, height) => {
    const canvas = { name: `surface${n++}`, width, height };
    canvas.getContext = () => new FakeContext(canvas, log);
    return canvas;
  };
  const screen = { name: "screen", width: 0, height: 0 };
  screen.getContext = () => new FakeContext(screen, log);
  const frames = [];
  const model = new ViewerModel();
  const layers = {
    image: new ImageLayer({ surfaceFactory }),
    flows: new RasterLayer("flows"),
    masks: new MaskOverlayLayer({ surfaceFactory }),
    disk: new ScaleDiskLayer(),
  };
  const renderer = new Renderer(screen, model, Object.values(layers), { requestFrame: (cb) => frames.push(cb), pixelRatio: () => 1 });
  const runFrames = () => {
    while (frames.length) frames.shift()();
  };
  return { log, model, renderer, layers, frames, runFrames, screen };
}

function loaded({ log, model, runFrames }) {
  model.setImage({ id: 1, name: "a", width: 4, height: 3, depth: 1, channels: 1 });
  model.setViewport(40, 30);
  model.setRaster("image", 0, "bitmap");
  model.setMasks({ labels: Int32Array.from([1, 1, 0, 2, 1, 1, 0, 2, 0, 0, 0, 2]), shape: [3, 4] });
  runFrames();
  log.length = 0;
}

test("changes are drawn once per animation frame", () => {
  const ctx = setup();
  loaded(ctx);
  ctx.model.setOpacity(0.3);
  ctx.model.setTransform({ scale: 2, tx: 0, ty: 0 });
  ctx.model.setTransform({ scale: 3, tx: 1, ty: 1 });
  assert.equal(ctx.frames.length, 1);
  ctx.runFrames();
  assert.equal(ctx.renderer.stats.frames, 2);
});

test("pan and zoom redraw the composed layers without recomposing them", () => {
  const ctx = setup();
  loaded(ctx);
  ctx.model.setTransform({ scale: 5, tx: -3, ty: 7 });
  ctx.runFrames();
  assert.equal(ctx.log.filter((e) => e.op === "put").length, 0);
  const draws = ctx.log.filter((e) => e.op === "draw" && e.canvas === "screen");
  assert.equal(draws.length, 2); // the image, and the masks with their outlines
  assert.deepEqual(ctx.renderer.ctx.transform, [5, 0, 0, 5, -3, 7]);
});

test("new masks, opacity or overlay toggles recompose the overlay, not the image", () => {
  const ctx = setup();
  loaded(ctx);
  const overlay = ctx.layers.masks.surface.canvas.name;
  for (const change of [
    () => ctx.model.setMasks({ labels: new Int32Array(12).fill(3), shape: [3, 4] }),
    () => ctx.model.setOpacity(0.9),
    () => ctx.model.setOutlinesVisible(false),
  ]) {
    ctx.log.length = 0;
    change();
    ctx.runFrames();
    assert.deepEqual(ctx.log.filter((e) => e.op === "put").map((e) => e.canvas), [overlay]);
  }
});

test("switching the view does not recompose anything", () => {
  const ctx = setup();
  loaded(ctx);
  ctx.model.setRaster("flows", 0, "flowbitmap");
  ctx.model.setBackground("flows");
  ctx.runFrames();
  assert.equal(ctx.log.filter((e) => e.op === "put").length, 0);
});

test("a display change recomposes only the image layer", () => {
  const ctx = setup();
  loaded(ctx);
  ctx.model.setContrast(2);
  ctx.runFrames();
  assert.deepEqual(ctx.log.filter((e) => e.op === "put").map((e) => e.canvas), [ctx.layers.image.surface.canvas.name]);
});

test("masks are painted through the colour table at the model's opacity, outlines opaque on top", () => {
  const ctx = setup();
  loaded(ctx);
  ctx.model.setOpacity(0.25);
  ctx.runFrames();
  const table = makeColorTable(2);
  const pixels = [...new Uint32Array(ctx.layers.masks.surface.canvas.pixels.buffer)].map(unpackRGBA);
  // Cell 1 is a 2x2 block and cell 2 a column on the image's edge: every cell pixel is an outline.
  const white = [255, 255, 255, 255];
  assert.deepEqual(pixels, [1, 1, 0, 2, 1, 1, 0, 2, 0, 0, 0, 2].map((l) => (l ? white : [0, 0, 0, 0])));
  ctx.model.setOutlinesVisible(false);
  ctx.runFrames();
  const filled = [...new Uint32Array(ctx.layers.masks.surface.canvas.pixels.buffer)].map(unpackRGBA);
  assert.deepEqual(filled[3], [...unpackRGBA(table[2]).slice(0, 3), 64]);
  assert.deepEqual(filled[2], [0, 0, 0, 0]);
  const draw = ctx.log.findLast((e) => e.op === "draw" && e.source === ctx.layers.masks.surface.canvas.name);
  assert.equal(draw.alpha, 1);
});

test("outlines follow the cells' boundaries", () => {
  const ctx = setup();
  ctx.model.setImage({ id: 1, name: "a", width: 5, height: 5, depth: 1, channels: 1 });
  ctx.model.setViewport(50, 50);
  const labels = new Int32Array(25);
  for (const i of [6, 7, 8, 11, 12, 13, 16, 17, 18]) labels[i] = 1; // a 3x3 cell
  ctx.model.setMasks({ labels, shape: [5, 5] });
  ctx.model.setMasksVisible(false);
  ctx.runFrames();
  const pixels = [...new Uint32Array(ctx.layers.masks.surface.canvas.pixels.buffer)].map((p) => (p ? 1 : 0));
  assert.deepEqual(pixels, [0, 0, 0, 0, 0, 0, 1, 1, 1, 0, 0, 1, 0, 1, 0, 0, 1, 1, 1, 0, 0, 0, 0, 0, 0]);
});

test("the view chooses the background and the overlays", () => {
  const ctx = setup();
  loaded(ctx);
  const { model, layers } = ctx;
  model.setBackground("flows");
  assert.equal(layers.image.visible(model), false);
  assert.equal(layers.flows.visible(model), false); // not loaded yet
  model.setRaster("flows", 0, "flowbitmap");
  assert.equal(layers.flows.visible(model), true);
  model.setMasksVisible(false);
  assert.equal(layers.masks.visible(model), true); // outlines still shown
  model.setOutlinesVisible(false);
  assert.equal(layers.masks.visible(model), false);
  ctx.runFrames();
  const sources = ctx.log.filter((e) => e.op === "draw" && e.canvas === "screen").map((e) => e.source);
  assert.deepEqual(sources, ["flowbitmap"]);
});

test("the diameter disk is drawn only with a diameter, at that size", () => {
  const ctx = setup();
  loaded(ctx);
  assert.equal(ctx.layers.disk.visible(ctx.model), false);
  ctx.model.setDiameter(30);
  ctx.runFrames();
  const arc = ctx.log.find((e) => e.op === "arc");
  assert.equal(arc.args[2], 15);
});

test("hovering does not redraw the canvas", () => {
  const ctx = setup();
  loaded(ctx);
  ctx.model.setCursor({ x: 1, y: 1 });
  assert.equal(ctx.frames.length, 0);
  assert.equal(ctx.model.cursor.label, 1);
});

test("the image is composed from the channel values through their levels and colour maps once both are set", () => {
  const ctx = setup();
  loaded(ctx);
  const pixel = (i) => [...ctx.layers.image.surface.canvas.pixels.slice(i * 4, i * 4 + 3)];
  // Without values the server's picture (the fake reads 100 everywhere) shows.
  assert.deepEqual(pixel(0), [100, 100, 100]);
  ctx.model.setChannelSettings([{ mode: "minmax", low: 0, high: 11, colormap: "cyan" }]);
  ctx.model.setRaster("channels", 0, { values: Float32Array.from({ length: 12 }, (_, i) => i), channels: 1, width: 4, height: 3 });
  ctx.runFrames();
  assert.deepEqual(pixel(0), [0, 0, 0]);
  assert.deepEqual(pixel(11), [0, 255, 255]);
  ctx.model.setChannelSettings([{ mode: "minmax", low: 0, high: 22, colormap: "yellow" }]);
  ctx.runFrames();
  assert.deepEqual(pixel(11), [128, 128, 0]);
  assert.throws(() => ctx.model.setChannelSettings([]), /0 channel settings for an image of 1 channels/);
});
