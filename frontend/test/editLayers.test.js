import { test } from "node:test";
import assert from "node:assert/strict";

import { History } from "../src/commands/history.js";
import { drawMask, paintStroke } from "../src/commands/maskEdits.js";
import { computeOutlines } from "../src/outlines.js";
import { makeColorTable, paintOverlay, withAlpha } from "../src/colors.js";
import { ViewerModel } from "../src/model.js";
import { SelectionLayer, SketchLayer } from "../src/view/editLayers.js";
import { MaskOverlayLayer } from "../src/view/layers.js";
import { Renderer } from "../src/view/renderer.js";

/** A canvas stand-in recording putImageData calls (with their dirty rectangles) and path drawing. */
function fakeCanvas(name, log) {
  const canvas = { name, width: 0, height: 0 };
  canvas.getContext = () => ({
    canvas,
    createImageData: (w, h) => ({ width: w, height: h, data: new Uint8ClampedArray(w * h * 4) }),
    putImageData: (data, x, y, ...rect) => log.push({ op: "put", canvas: name, rect }),
    drawImage: (source) => log.push({ op: "draw", canvas: name, source: source.name ?? source }),
    setTransform() {}, fillRect() {}, save() {}, restore() {}, beginPath() {}, closePath() {},
    moveTo: (x, y) => log.push({ op: "moveTo", x, y }),
    lineTo: (x, y) => log.push({ op: "lineTo", x, y }),
    arc: (...args) => log.push({ op: "arc", args }),
    rect: (...args) => log.push({ op: "rect", args }),
    fill() {}, stroke: () => log.push({ op: "stroke" }),
  });
  return canvas;
}

function setup(width = 32, height = 24) {
  const log = [];
  let n = 0;
  const surfaceFactory = () => fakeCanvas(`surface${n++}`, log);
  const model = new ViewerModel();
  const layers = { masks: new MaskOverlayLayer({ surfaceFactory }), selection: new SelectionLayer({ surfaceFactory }), sketch: new SketchLayer() };
  const frames = [];
  new Renderer(fakeCanvas("screen", log), model, Object.values(layers), { requestFrame: (cb) => frames.push(cb), pixelRatio: () => 1 });
  const run = () => {
    while (frames.length) frames.shift()();
  };
  model.setImage({ id: 1, name: "a", width, height, depth: 1, channels: 1 });
  model.setViewport(320, 240);
  const labels = new Int32Array(width * height);
  for (let y = 2; y < 8; y++) for (let x = 2; x < 8; x++) labels[y * width + x] = 1;
  model.setMasks({ labels, shape: [height, width] });
  run();
  log.length = 0;
  return { model, layers, log, run };
}

/** The overlay as composed from scratch, to compare a partial recompose with. */
function fullOverlay(model) {
  const { width, height, labels } = model.masks;
  const alpha = Math.round(model.view.opacity * 255);
  const table = makeColorTable(Math.max(model.masks.ceiling, 255)).map((p, l) => (l ? withAlpha(p, alpha) : 0));
  return paintOverlay(labels, table, computeOutlines(labels, width, height), 0xffffffff, new Uint32Array(width * height));
}

test("an edit recomposes only its rectangle (and a pixel around it) of the overlay", () => {
  const { model, layers, log, run } = setup();
  new History().execute(drawMask(model, [{ x: 20, y: 10 }, { x: 26, y: 10 }, { x: 26, y: 15 }, { x: 20, y: 15 }]));
  run();
  const puts = log.filter((e) => e.op === "put" && e.canvas === layers.masks.surface.canvas.name);
  assert.deepEqual(puts.map((e) => e.rect), [[19, 9, 8, 7]], "x, y, width, height of the dirty rectangle");
  const pixels = new Uint32Array(layers.masks.surface.imageData.data.buffer);
  assert.deepEqual(pixels, fullOverlay(model));
});

test("brush strokes that grow a mask keep its outline right on both sides of the rectangle", () => {
  const { model, layers, run } = setup();
  const history = new History();
  history.execute(paintStroke(model, [{ x: 8.5, y: 4.5 }, { x: 12.5, y: 4.5 }], 3, { label: 1 }));
  run();
  history.undo();
  run();
  history.redo();
  run();
  assert.deepEqual(new Uint32Array(layers.masks.surface.imageData.data.buffer), fullOverlay(model));
});

test("new labels beyond the colour table get colours too", () => {
  const { model, layers, run } = setup(8, 8);
  model.masks.ceiling = 700; // as after many masks were drawn and deleted: the next label is 701
  new History().execute(drawMask(model, [{ x: 0, y: 0 }, { x: 1, y: 0 }, { x: 1, y: 1 }, { x: 0, y: 1 }]));
  run();
  assert.equal(model.labelAt(0, 0), 701);
  assert.notEqual(new Uint32Array(layers.masks.surface.imageData.data.buffer)[0], 0);
});

test("an edit on another plane of a stack recomposes nothing on this one", () => {
  const log = [];
  const model = new ViewerModel();
  const layer = new MaskOverlayLayer({ surfaceFactory: () => fakeCanvas("overlay", log) });
  const frames = [];
  new Renderer(fakeCanvas("screen", log), model, [layer], { requestFrame: (cb) => frames.push(cb), pixelRatio: () => 1 });
  model.setImage({ id: 1, name: "s", width: 4, height: 4, depth: 2, channels: 1 });
  model.setViewport(40, 40);
  model.setMasks({ labels: new Int32Array(32), shape: [2, 4, 4] });
  while (frames.length) frames.shift()();
  log.length = 0;
  model.setPlane(0);
  new History().execute(drawMask(model, [{ x: 0, y: 0 }, { x: 2, y: 0 }, { x: 2, y: 2 }, { x: 0, y: 2 }]));
  model.setPlane(1);
  model.setPlane(0);
  while (frames.length) frames.shift()();
  assert.equal(log.filter((e) => e.op === "put").length, 1, "one full recompose for the plane change");
});

test("selected masks are tinted with a bright edge; nothing is drawn without a selection", () => {
  const { model, layers, log, run } = setup();
  assert.equal(layers.selection.visible(model), false);
  model.setSelection([1]);
  run();
  const pixels = new Uint32Array(layers.selection.surface.imageData.data.buffer);
  const width = 32;
  const edge = pixels[2 * width + 2];
  const inside = pixels[4 * width + 4];
  assert.ok(edge !== 0 && inside !== 0 && edge !== inside);
  assert.equal(pixels[0], 0);
  assert.ok(log.some((e) => e.op === "draw" && e.source === layers.selection.surface.canvas.name));
});

test("the sketch layer draws what the tool is drawing, and only that redraws", () => {
  const { model, log, run } = setup();
  model.setSketch({ kind: "path", points: [{ x: 1, y: 1 }, { x: 5, y: 1 }], hover: { x: 5, y: 5 } });
  run();
  assert.deepEqual(log.filter((e) => e.op === "lineTo").map((e) => [e.x, e.y]), [[5, 1], [5, 5]]);
  assert.equal(log.filter((e) => e.op === "put").length, 0, "no layer recomposed");
  for (const sketch of [
    { kind: "line", points: [{ x: 0, y: 0 }, { x: 3, y: 3 }] },
    { kind: "box", x0: 1, y0: 1, x1: 4, y1: 4 },
    { kind: "stroke", points: [{ x: 0, y: 0 }], diameter: 5, erase: false },
    { kind: "brush", x: 2, y: 2, diameter: 5, erase: true },
    { kind: "vertices", points: [{ x: 0, y: 0 }, { x: 3, y: 0 }, { x: 3, y: 3 }], active: 1 },
  ]) {
    log.length = 0;
    model.setSketch(sketch);
    run();
    assert.ok(log.some((e) => e.op === "stroke"), sketch.kind);
  }
  model.setSketch(null);
  log.length = 0;
  run();
  assert.equal(log.filter((e) => e.op === "stroke").length, 0);
});
