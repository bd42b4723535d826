import { test } from "node:test";
import assert from "node:assert/strict";

import { comboOf, EDITOR_GESTURES, EDITOR_SHORTCUTS, handleEditorKey, TOOLS } from "../src/controller/editorKeys.js";
import { Editor } from "../src/editor.js";
import { ViewerModel } from "../src/model.js";
import { BrushTool } from "../src/tools/brush.js";
import { DrawTool } from "../src/tools/draw.js";
import { MaskClicks } from "../src/tools/maskClicks.js";
import { OutlineTool } from "../src/tools/outline.js";
import { ToolRegistry } from "../src/tools/registry.js";
import { masksInside, SelectTool } from "../src/tools/select.js";
import { SplitTool } from "../src/tools/split.js";

/** A 40 x 30 image at 2 screen pixels per image pixel, with two 6 x 6 masks. */
function setup() {
  const model = new ViewerModel();
  model.setImage({ id: 1, name: "t", width: 40, height: 30, depth: 1, channels: 1 });
  const labels = new Int32Array(40 * 30);
  for (let y = 5; y < 11; y++) for (let x = 5; x < 11; x++) labels[y * 40 + x] = 1;
  for (let y = 5; y < 11; y++) for (let x = 20; x < 26; x++) labels[y * 40 + x] = 2;
  model.setMasks({ labels, shape: [30, 40], version: 1 });
  model.setTransform({ scale: 2, tx: 0, ty: 0 });
  const editor = new Editor(model);
  const said = [];
  editor.subscribe((reason, detail) => reason === "message" && said.push(detail));
  return { model, editor, said };
}

/** A ToolEvent at image point (x, y) (screen = 2x). */
function at(x, y, extra = {}) {
  return { x, y, px: Math.floor(x), py: Math.floor(y), sx: 2 * x, sy: 2 * y, button: 0, buttons: 1, shiftKey: false, ctrlKey: false, altKey: false, metaKey: false, ...extra };
}

function drag(tool, points, extra = {}) {
  tool.pointerDown(at(...points[0], extra));
  for (const p of points.slice(1)) tool.pointerMove(at(...p, extra));
  tool.pointerUp(at(...points.at(-1), { ...extra, buttons: 0 }));
}

test("tracing an outline closes when the pointer comes back near its start", () => {
  const { model, editor } = setup();
  const tool = new DrawTool({ model, editor });
  tool.pointerDown(at(30, 15));
  for (const p of [[34, 15], [38, 15], [38, 22], [34, 28], [30, 28], [30, 22], [30, 17]]) tool.pointerMove(at(...p));
  assert.equal(tool.points, null, "closed before the release");
  assert.equal(model.sketch, null);
  tool.pointerUp(at(30, 17, { buttons: 0 }));
  assert.equal(model.masks.count, 3);
  assert.equal(model.labelAt(34, 20), 3);
  assert.equal(model.originOf(3), "manual");
  assert.deepEqual([...model.selection], [3]);
  assert.equal(editor.history.length, 1);
});

test("clicked vertices make an outline, closed by clicking its start", () => {
  const { model, editor } = setup();
  const tool = new DrawTool({ model, editor });
  for (const p of [[30, 15], [38, 15], [38, 25]]) {
    tool.pointerDown(at(...p));
    tool.pointerUp(at(...p, { buttons: 0 }));
  }
  tool.pointerMove(at(31, 16, { buttons: 0 }));
  assert.equal(model.sketch.nearStart, true, "the start lights up when a click would close");
  tool.pointerDown(at(30.5, 15.5));
  assert.equal(model.masks.count, 3);
});

test("Escape cancels an outline; Backspace takes back a vertex", () => {
  const { model, editor } = setup();
  const tool = new DrawTool({ model, editor });
  tool.pointerDown(at(30, 15));
  tool.pointerUp(at(30, 15, { buttons: 0 }));
  tool.pointerDown(at(35, 15));
  tool.pointerUp(at(35, 15, { buttons: 0 }));
  assert.equal(tool.key("Backspace"), true);
  assert.equal(tool.points.length, 1);
  assert.equal(tool.key("Escape"), true);
  assert.equal(tool.points, null);
  assert.equal(tool.key("Escape"), false, "nothing left to cancel: the key goes to others");
});

test("an outline around another mask only takes free pixels, and says so when there are none", () => {
  const { model, editor, said } = setup();
  const tool = new DrawTool({ model, editor });
  drag(tool, [[6, 6], [10, 6], [10, 10], [6, 10]]);
  assert.equal(model.masks.count, 2);
  assert.match(said[0], /no free pixel/);
});

test("the select tool picks a mask, Shift adds one, a box takes those wholly inside", () => {
  const { model, editor } = setup();
  const tool = new SelectTool({ model, editor });
  drag(tool, [[7, 7]]);
  assert.deepEqual([...model.selection], [1]);
  drag(tool, [[22, 7]], { shiftKey: true });
  assert.deepEqual([...model.selection], [1, 2]);
  drag(tool, [[1, 1]]);
  assert.equal(model.selection.size, 0);
  drag(tool, [[2, 2], [15, 20]]);
  assert.deepEqual([...model.selection], [1]);
  assert.deepEqual(masksInside(model.planeLabels(), 40, 30, { x0: 0, y0: 0, x1: 23, y1: 30 }), [1]);
  editor.deleteSelected();
  assert.equal(model.masks.count, 1);
});

test("Ctrl+click deletes and Alt+click merges into the selected mask", () => {
  const { model, editor } = setup();
  const clicks = new MaskClicks({ model, editor });
  assert.equal(clicks.pointerDown(at(7, 7)), false, "plain clicks are the tool's");
  assert.equal(clicks.pointerDown(at(7, 7, { altKey: true })), true);
  assert.deepEqual([...model.selection], [1]);
  clicks.pointerDown(at(22, 7, { altKey: true }));
  assert.equal(model.masks.count, 1);
  assert.equal(model.labelAt(22, 7), 1);
  clicks.pointerDown(at(22, 7, { ctrlKey: true }));
  assert.equal(model.masks.count, 0);
  editor.undo();
  editor.undo();
  assert.equal(model.masks.count, 2);
});

test("the brush grows the mask it starts on, or makes a new one; the eraser clears", () => {
  const { model, editor } = setup();
  editor.setBrushSize(3);
  const brush = new BrushTool({ model, editor });
  drag(brush, [[10.5, 7.5], [14.5, 7.5]]);
  assert.equal(model.labelAt(14, 7), 1);
  assert.equal(model.originOf(1), "edited");
  model.setSelection([]);
  drag(brush, [[33.5, 20.5]]);
  assert.equal(model.labelAt(33, 20), 3);
  assert.deepEqual([...model.selection], [3], "the new mask is selected so the next stroke extends it");
  const eraser = new BrushTool({ model, editor }, { erase: true });
  model.setSelection([]);
  drag(eraser, [[33.5, 20.5]]);
  assert.equal(model.labelAt(33, 20), 0);
  brush.pointerMove(at(3, 3, { buttons: 0 }));
  assert.equal(model.sketch.kind, "brush");
  assert.equal(model.sketch.diameter, 3);
});

test("the split tool cuts the mask its line crosses", () => {
  const { model, editor, said } = setup();
  const tool = new SplitTool({ model, editor });
  drag(tool, [[8.5, 2], [8.5, 8], [8.5, 14]]);
  assert.equal(model.masks.count, 3);
  assert.notEqual(model.labelAt(6, 7), model.labelAt(10, 7));
  drag(tool, [[30, 2], [30, 14]]);
  assert.match(said.at(-1), /across one mask/);
});

test("the outline tool drags a vertex and reshapes the mask", () => {
  const { model, editor } = setup();
  const tool = new OutlineTool({ model, editor });
  drag(tool, [[7, 7]]);
  assert.equal(model.sketch.kind, "vertices");
  assert.deepEqual(model.sketch.points, [{ x: 11, y: 5 }, { x: 11, y: 11 }, { x: 5, y: 11 }, { x: 5, y: 5 }]);
  drag(tool, [[11, 11], [14, 14], [15, 15]]);
  assert.equal(model.labelAt(13, 13), 1);
  assert.equal(model.originOf(1), "edited");
  assert.equal(model.sketch.kind, "vertices", "still editing the same mask");
  editor.undo();
  assert.equal(model.labelAt(13, 13), 0);
  assert.deepEqual(model.sketch.points.length, 4, "the outline follows the undo");
  assert.equal(tool.key("Escape"), true);
  assert.equal(model.sketch, null);
});

test("tools refuse to edit in read-only mode", () => {
  const { model, editor, said } = setup();
  editor.setReadOnly("You are looking at version 1.");
  const tool = new DrawTool({ model, editor });
  tool.pointerDown(at(30, 15));
  assert.equal(tool.points, null);
  assert.deepEqual(said, ["You are looking at version 1."]);
});

test("editor keys: undo, redo, save, delete, tools, brush size", () => {
  const { model, editor } = setup();
  const tools = new ToolRegistry({ model, editor });
  for (const { name } of TOOLS) tools.register(name, () => ({ name }));
  let saved = 0;
  const context = { editor, tools, saver: { saveNow: () => saved++ } };
  const key = (k, extra = {}) => ({ key: k, preventDefault() { this.prevented = true; }, ctrlKey: false, shiftKey: false, altKey: false, metaKey: false, ...extra });
  model.setSelection([1]);
  assert.equal(handleEditorKey(key("Delete"), context), true);
  assert.equal(model.masks.count, 1);
  handleEditorKey(key("z", { ctrlKey: true }), context);
  assert.equal(model.masks.count, 2);
  handleEditorKey(key("Z", { ctrlKey: true, shiftKey: true }), context);
  assert.equal(model.masks.count, 1);
  handleEditorKey(key("z", { metaKey: true }), context);
  handleEditorKey(key("y", { ctrlKey: true }), context);
  assert.equal(model.masks.count, 1);
  const save = key("s", { ctrlKey: true });
  handleEditorKey(save, context);
  assert.equal(saved, 1);
  assert.equal(save.prevented, true, "never the browser's Save page");
  handleEditorKey(key("3"), context);
  assert.equal(tools.activeName, "draw");
  editor.setBrushSize(10);
  handleEditorKey(key("."), context);
  assert.equal(editor.settings.brushSize, 11);
  assert.equal(handleEditorKey(key("x"), context), false, "view keys are the viewer's");
  assert.equal(comboOf(key("<", { shiftKey: true })), "<");
});

test("no editor key is bound twice, nor clashes with the viewer's", async () => {
  const { SHORTCUTS } = await import("../src/controller/keyboard.js");
  const keys = EDITOR_SHORTCUTS.flatMap((s) => s.keys);
  assert.equal(new Set(keys).size, keys.length);
  const viewer = new Set(SHORTCUTS.flatMap((s) => s.keys));
  assert.deepEqual(keys.filter((k) => viewer.has(k)), []);
  assert.ok(EDITOR_GESTURES.length >= 2);
});

test("the right-button draw tool traces while held and a lone right-click leaves nothing behind", () => {
  const { model, editor } = setup();
  const tool = new DrawTool({ model, editor }, { traceOnly: true });
  tool.pointerDown(at(30, 15, { button: 2, buttons: 2 }));
  tool.pointerUp(at(30, 15, { button: 2, buttons: 0 }));
  assert.equal(tool.points, null, "a click alone starts no outline");
  assert.equal(model.sketch, null);
  drag(tool, [[30, 15], [38, 15], [38, 25], [30, 25]], { button: 2, buttons: 2 });
  assert.equal(model.masks.count, 3);
  assert.equal(model.labelAt(34, 20), 3);
});
