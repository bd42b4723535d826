import { test } from "node:test";
import assert from "node:assert/strict";

import { ViewerModel } from "../src/model.js";

function recorder(model) {
  const events = [];
  model.subscribe((reason, detail) => events.push({ reason, detail }));
  return events;
}

function imageModel({ depth = 1 } = {}) {
  const model = new ViewerModel();
  model.setImage({ id: 1, name: "a.tif", width: 4, height: 3, depth, channels: 1 });
  return model;
}

test("each change notifies once with its reason", () => {
  const model = imageModel({ depth: 3 });
  const events = recorder(model);
  model.setPlane(2);
  model.setMasksVisible(false);
  model.setOpacity(0.2);
  model.setColorMode("gray");
  model.setContrast(2);
  model.setDiameter(17);
  model.setViewport(800, 600);
  model.setTransform({ scale: 2, tx: 1, ty: 1 });
  assert.deepEqual(events.map((e) => e.reason), [
    "plane", "layers", "layers", "display", "display", "diameter", "viewport", "transform",
  ]);
});

test("setting an unchanged value notifies nobody", () => {
  const model = imageModel();
  const events = recorder(model);
  model.setOpacity(model.view.opacity);
  model.setMasksVisible(true);
  model.setPlane(0);
  model.setPlane(5); // clamped to the only plane
  model.setTransform({ ...model.transform });
  model.setCursor(null);
  assert.deepEqual(events, []);
});

test("masks must match the image, and the cell count comes with them", () => {
  const model = imageModel();
  const events = recorder(model);
  const labels = Int32Array.from([0, 1, 1, 0, 0, 1, 4, 4, 0, 0, 0, 0]);
  model.setMasks({ labels, shape: [3, 4] });
  assert.equal(model.masks.count, 2);
  assert.equal(model.masks.depth, 1);
  assert.equal(model.labelAt(2, 1), 4);
  assert.equal(model.labelAt(9, 9), 0);
  assert.deepEqual(events.map((e) => e.reason), ["masks"]);
  assert.throws(() => model.setMasks({ labels, shape: [4, 3] }), /does not match the image/);
});

test("a stack's plane labels are views into the volume", () => {
  const model = imageModel({ depth: 2 });
  const labels = new Int32Array(24);
  labels[12 + 5] = 9;
  model.setMasks({ labels, shape: [2, 3, 4], count: 1, version: 3 });
  assert.equal(model.planeLabels(0).length, 12);
  assert.equal(model.planeLabels(1)[5], 9);
  assert.equal(model.planeLabels(1).buffer, labels.buffer);
  assert.equal(model.masks.version, 3);
});

test("hover reports the label under the cursor and follows plane changes", () => {
  const model = imageModel({ depth: 2 });
  const labels = new Int32Array(24);
  labels[12 + 4 + 1] = 7; // z=1, y=1, x=1
  model.setMasks({ labels, shape: [2, 3, 4] });
  const events = recorder(model);
  model.setCursor({ x: 1, y: 1 });
  assert.deepEqual(model.cursor, { x: 1, y: 1, label: 0 });
  model.setCursor({ x: 1, y: 1 });
  model.setPlane(1);
  assert.equal(model.cursor.label, 7);
  assert.deepEqual(events.map((e) => e.reason), ["cursor", "plane"]);
});

test("views and colour modes cycle like the Cellpose GUI's keys", () => {
  const model = imageModel();
  model.cycleBackground(1);
  assert.equal(model.view.background, "flows");
  model.cycleBackground(1);
  model.cycleBackground(1);
  assert.equal(model.view.background, "image");
  model.cycleBackground(-1);
  assert.equal(model.view.background, "cellprob");
  model.cycleColorMode(-1);
  assert.equal(model.view.colorMode, "gray");
  model.toggleSingleChannel("red");
  assert.equal(model.view.colorMode, "red");
  model.toggleSingleChannel("red");
  assert.equal(model.view.colorMode, "rgb");
  assert.throws(() => model.setBackground("nope"), /background must be one of/);
});

test("fit and zoom use the viewport", () => {
  const model = imageModel();
  model.setViewport(112, 92); // 16 px margins leave 80 x 60 for a 4 x 3 image
  model.fit();
  assert.equal(model.transform.scale, 20);
  assert.deepEqual(model.transform, { scale: 20, tx: 16, ty: 16 });
  model.zoomBy(2); // around the viewport's centre, which stays on the image's centre
  assert.deepEqual(model.transform, { scale: 40, tx: -24, ty: -14 });
});

test("rasters are kept per kind and plane and can be cleared by kind", () => {
  const model = imageModel({ depth: 2 });
  const events = recorder(model);
  model.setRaster("image", 0, "img0");
  model.setRaster("flows", 0, "flow0");
  model.setRaster("flows", 1, "flow1");
  assert.equal(model.raster("image"), "img0");
  model.clearRasters("flows");
  assert.equal(model.raster("flows"), null);
  assert.equal(model.raster("image"), "img0");
  assert.deepEqual(events.map((e) => e.detail), [{ kind: "image", z: 0 }, { kind: "flows", z: 0 }, { kind: "flows", z: 1 }, { kinds: ["flows"] }]);
});

test("a new image resets masks and rasters", () => {
  const model = imageModel();
  model.setMasks({ labels: new Int32Array(12), shape: [3, 4] });
  model.setRaster("image", 0, "x");
  model.setImage({ id: 2, name: "b", width: 2, height: 2, depth: 1, channels: 3 });
  assert.equal(model.masks, null);
  assert.equal(model.raster("image"), null);
  assert.throws(() => model.setImage({ id: 3, name: "c", width: 0, height: 2, depth: 1, channels: 1 }), /width must be a positive integer/);
});

test("a throwing observer does not stop the others", () => {
  const model = imageModel();
  const seen = [];
  const original = console.error;
  console.error = () => {};
  try {
    model.subscribe(() => {
      throw new Error("boom");
    });
    model.subscribe((reason) => seen.push(reason));
    model.setOpacity(0.9);
  } finally {
    console.error = original;
  }
  assert.deepEqual(seen, ["layers"]);
});
