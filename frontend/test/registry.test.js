import { test } from "node:test";
import assert from "node:assert/strict";

import { ViewerModel } from "../src/model.js";
import { PanZoomTool } from "../src/tools/panZoom.js";
import { ToolRegistry } from "../src/tools/registry.js";

test("one tool is active at a time and is told when it starts and stops", () => {
  const calls = [];
  const registry = new ToolRegistry({ model: "m" });
  const make = (name) => (context) => ({
    activate: () => calls.push(`${name}+${context.model}`),
    deactivate: () => calls.push(`${name}-`),
  });
  registry.register("pan", make("pan"), { label: "Pan", key: "P" });
  registry.register("brush", make("brush"));
  const changes = [];
  registry.onChange((name) => changes.push(name));
  registry.activate("pan");
  registry.activate("pan"); // already active: nothing happens
  registry.activate("brush");
  assert.deepEqual(calls, ["pan+m", "pan-", "brush+m"]);
  assert.deepEqual(changes, ["pan", "brush"]);
  assert.equal(registry.activeName, "brush");
  assert.deepEqual(registry.list(), [
    { name: "pan", label: "Pan", key: "P" },
    { name: "brush", label: "brush" },
  ]);
});

test("unknown and duplicate tools are errors that name the problem", () => {
  const registry = new ToolRegistry({});
  registry.register("pan", () => ({}));
  assert.throws(() => registry.register("pan", () => ({})), /already registered/);
  assert.throws(() => registry.activate("lasso"), /no tool named "lasso"; registered: pan/);
});

test("the pan tool drags the image with the pointer and the wheel zooms around the cursor", () => {
  const model = new ViewerModel();
  model.setImage({ id: 1, name: "a", width: 100, height: 100, depth: 1, channels: 1 });
  const tool = new PanZoomTool({ model });
  assert.equal(tool.cursor, "grab");
  tool.pointerDown({ sx: 10, sy: 10 });
  assert.equal(tool.cursor, "grabbing");
  tool.pointerMove({ sx: 25, sy: 5 });
  tool.pointerMove({ sx: 30, sy: 0 });
  tool.pointerUp({});
  tool.pointerMove({ sx: 90, sy: 90 }); // not dragging: no pan
  assert.deepEqual(model.transform, { scale: 1, tx: 20, ty: -10 });
  tool.wheel({ sx: 50, sy: 40, deltaY: -100, deltaMode: 0 });
  assert.ok(model.transform.scale > 1);
  const fixed = (50 - model.transform.tx) / model.transform.scale;
  assert.ok(Math.abs(fixed - 30) < 1e-9); // image x under the cursor stayed 30
});
