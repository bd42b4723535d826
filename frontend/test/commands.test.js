import { test } from "node:test";
import assert from "node:assert/strict";

import { History } from "../src/commands/history.js";
import { CompositeCommand, LabelEdit } from "../src/commands/labelEdit.js";
import {
  deleteMasks, drawMask, eraseStroke, mergeMasks, paintStroke, reshapeMask, splitMask,
} from "../src/commands/maskEdits.js";
import { Editor } from "../src/editor.js";
import { traceOutline } from "../src/geometry/outline.js";
import { ORIGIN } from "../src/labelImage.js";
import { ViewerModel } from "../src/model.js";

/** A model with masks from rows of characters ("." = 0, digits = labels); stacks: several planes. */
function modelWith(...planes) {
  const height = planes[0].length;
  const width = planes[0][0].length;
  const depth = planes.length;
  const labels = new Int32Array(depth * width * height);
  planes.forEach((rows, z) =>
    rows.forEach((row, y) => [...row].forEach((c, x) => (labels[(z * height + y) * width + x] = c === "." ? 0 : Number(c)))),
  );
  const model = new ViewerModel();
  model.setImage({ id: 1, name: "t", width, height, depth, channels: 1 });
  model.setMasks({ labels, shape: depth > 1 ? [depth, height, width] : [height, width], version: 1 });
  return model;
}

function rows(model, z = model.view.z) {
  const { width, height } = model.masks;
  const plane = model.planeLabels(z);
  return Array.from({ length: height }, (_, y) =>
    Array.from(plane.subarray(y * width, (y + 1) * width), (l) => (l === 0 ? "." : String(l))).join(""),
  );
}

const SQUARE = (x0, y0, x1, y1) => [{ x: x0, y: y0 }, { x: x1, y: y0 }, { x: x1, y: y1 }, { x: x0, y: y1 }];

/** Do, check, undo (back to the start), redo (the same result again). */
function roundTrip(model, command, expected) {
  const before = rows(model);
  const history = new History();
  history.execute(command);
  assert.deepEqual(rows(model), expected, "after do");
  const count = model.masks.count;
  history.undo();
  assert.deepEqual(rows(model), before, "after undo");
  history.redo();
  assert.deepEqual(rows(model), expected, "after redo");
  assert.equal(model.masks.count, count);
}

test("drawing fills free pixels only and makes a new manual mask", () => {
  const model = modelWith(["......", ".11...", ".11...", "......"]);
  const command = drawMask(model, SQUARE(0, 0, 4, 3));
  roundTrip(model, command, ["2222..", "2112..", "2112..", "......"]);
  assert.equal(model.masks.count, 2);
  assert.equal(model.originOf(2), "manual");
  assert.equal(model.originOf(1), "model");
});

test("with overwrite on, drawing takes other masks' pixels and marks them edited", () => {
  const model = modelWith(["......", ".11...", ".11...", "......"]);
  new History().execute(drawMask(model, SQUARE(2, 0, 4, 4), { overwrite: true }));
  assert.deepEqual(rows(model), ["..22..", ".122..", ".122..", "..22.."]);
  assert.equal(model.originOf(1), "edited");
});

test("drawing inside another mask changes nothing", () => {
  const model = modelWith(["111", "111", "111"]);
  assert.equal(drawMask(model, SQUARE(0, 0, 3, 3)), null);
});

test("drawing with a label adds to that mask", () => {
  const model = modelWith(["1....", "....."]);
  new History().execute(drawMask(model, SQUARE(3, 0, 5, 2), { label: 1 }));
  assert.deepEqual(rows(model), ["1..11", "...11"]);
  assert.equal(model.masks.count, 1);
  assert.equal(model.originOf(1), "edited");
});

test("deleting removes whole masks on every plane", () => {
  const model = modelWith(["11.", "..2"], ["1..", "22."]);
  const history = new History();
  history.execute(deleteMasks(model, [1]));
  assert.deepEqual([rows(model, 0), rows(model, 1)], [["...", "..2"], ["...", "22."]]);
  assert.equal(model.masks.count, 1);
  history.undo();
  assert.deepEqual([rows(model, 0), rows(model, 1)], [["11.", "..2"], ["1..", "22."]]);
  assert.equal(model.masks.count, 2);
});

test("merging relabels the second mask and fills the seam", () => {
  const model = modelWith(["11.22", "11.22", "....."]);
  roundTrip(model, mergeMasks(model, 1, 2), ["11111", "11111", "....."]);
  assert.equal(model.masks.count, 1);
  assert.equal(mergeMasks(model, 1, 1), null);
});

test("splitting keeps the larger piece's label and gives the other a new one", () => {
  const model = modelWith([".......", ".11111.", ".11111.", ".11111.", "......."]);
  const command = splitMask(model, [{ x: 2.5, y: 0 }, { x: 2.5, y: 5 }]);
  roundTrip(model, command, [".......", ".21111.", ".21111.", ".21111.", "......."]);
  assert.equal(model.originOf(2), "edited");
  assert.equal(splitMask(model, [{ x: 0.5, y: 0.5 }, { x: 6.5, y: 0.5 }]), null, "a line on background splits nothing");
});

test("the brush adds to a mask and the eraser removes, both undoably", () => {
  const model = modelWith([".....", ".1...", "....."]);
  roundTrip(model, paintStroke(model, [{ x: 1.5, y: 1.5 }, { x: 3.5, y: 1.5 }], 1, { label: 1 }), [".....", ".111.", "....."]);
  roundTrip(model, eraseStroke(model, [{ x: 1.5, y: 1.5 }], 5), [".....", ".....", "....."]);
  const fresh = paintStroke(model, [{ x: 4.5, y: 0.5 }], 1);
  new History().execute(fresh);
  assert.equal(model.labelAt(4, 0), 2);
  assert.equal(model.originOf(2), "manual");
});

test("the eraser limited to one mask leaves its neighbours alone", () => {
  const model = modelWith(["1122", "1122"]);
  new History().execute(eraseStroke(model, [{ x: 2, y: 1 }], 5, { label: 2 }));
  assert.deepEqual(rows(model), ["11..", "11.."]);
});

test("an outline edit moves the mask's boundary", () => {
  const model = modelWith(["......", ".11...", ".11...", "......"]);
  const traced = traceOutline(model.planeLabels(), 6, 4, 7);
  const moved = SQUARE(1, 1, 4, 4);
  roundTrip(model, reshapeMask(model, 1, traced.pixels, moved), ["......", ".111..", ".111..", ".111.."]);
  const again = traceOutline(model.planeLabels(), 6, 4, 7);
  const shrunk = reshapeMask(model, 1, again.pixels, SQUARE(1, 1, 2, 2));
  new History().execute(shrunk);
  assert.deepEqual(rows(model), ["......", ".1....", "......", "......"]);
});

test("edits on one plane of a stack leave the others alone", () => {
  const model = modelWith(["...", "..."], ["...", "..."]);
  model.setPlane(1);
  new History().execute(drawMask(model, SQUARE(0, 0, 2, 2)));
  assert.deepEqual(rows(model, 0), ["...", "..."]);
  assert.deepEqual(rows(model, 1), ["11.", "11."]);
});

test("a command keeps a compact diff and where it lies", () => {
  const model = modelWith(["....", "....", "...."]);
  const command = drawMask(model, SQUARE(1, 1, 3, 3));
  assert.equal(command.pixels, 4);
  assert.equal(command.before, 0, "a uniform 'before' is one number");
  assert.equal(command.after, 1);
  assert.deepEqual(command.rect, { x0: 1, y0: 1, x1: 3, y1: 3 });
  assert.deepEqual(command.planes, [0]);
  assert.ok(command.bytes < 200);
});

test("the model says where an edit happened, and keeps count, areas and the next label", () => {
  const model = modelWith(["1...", "...."]);
  const events = [];
  model.subscribe((reason, detail) => events.push([reason, detail]));
  new History().execute(drawMask(model, SQUARE(2, 0, 4, 2)));
  assert.equal(events.length, 1);
  const [reason, detail] = events[0];
  assert.equal(reason, "masks");
  assert.equal(detail.edit, true);
  assert.deepEqual(detail.rect, { x0: 2, y0: 0, x1: 4, y1: 2 });
  assert.deepEqual([...detail.labels], [2]);
  assert.equal(model.masks.area(2), 4);
  assert.equal(model.masks.nextLabel(), 3);
  assert.equal(model.masks.revision, 1);
});

test("a deleted label is never reused, so undo cannot mix two masks", () => {
  const model = modelWith(["12", ".."]);
  const history = new History();
  history.execute(deleteMasks(model, [2]));
  history.execute(drawMask(model, SQUARE(0, 1, 2, 2)));
  assert.equal(model.labelAt(0, 1), 3);
});

test("composite commands do in order and undo in reverse", () => {
  const log = [];
  const step = (name) => ({ do: () => log.push(`do ${name}`), undo: () => log.push(`undo ${name}`), bytes: 10 });
  const history = new History();
  history.execute(new CompositeCommand("both", [step("a"), step("b")]));
  history.undo();
  assert.deepEqual(log, ["do a", "do b", "undo b", "undo a"]);
  assert.equal(history.bytes, 20);
});

test("the history is capped, and a new step drops what could be redone", () => {
  const history = new History({ limit: 100 });
  let value = 0;
  const add = (n) => ({ name: `add ${n}`, do: () => (value += n), undo: () => (value -= n) });
  for (let i = 1; i <= 150; i++) history.execute(add(1));
  assert.equal(history.length, 100);
  while (history.undo());
  assert.equal(value, 50, "only the last 100 steps can be undone");
  history.redo();
  history.execute(add(10));
  assert.equal(history.canRedo, false);
  assert.equal(history.undoName, "add 10");
  const events = [];
  history.subscribe((reason, detail) => events.push(detail.action));
  history.undo();
  history.redo();
  history.clear();
  assert.deepEqual(events, ["undo", "redo", "clear"]);
});

test("the history also drops old steps past its memory cap", () => {
  const history = new History({ limit: 1000, maxBytes: 100 });
  for (let i = 0; i < 10; i++) history.execute({ do() {}, undo() {}, bytes: 30 });
  assert.equal(history.length, 3);
});

test("a hundred edits undo and redo back to the same labels", () => {
  const model = modelWith(Array.from({ length: 40 }, () => ".".repeat(40)));
  const editor = new Editor(model);
  for (let i = 0; i < 100; i++) {
    const x = (i * 7) % 38;
    const y = (i * 11) % 38;
    editor.execute(paintStroke(model, [{ x: x + 0.5, y: y + 0.5 }], 3, { overwrite: i % 2 === 0 }));
  }
  const edited = model.masks.labels.slice();
  const count = model.masks.count;
  while (editor.undo());
  assert.ok(model.masks.labels.every((l) => l === 0));
  assert.equal(model.masks.count, 0);
  while (editor.redo());
  assert.deepEqual(model.masks.labels, edited);
  assert.equal(model.masks.count, count);
});

test("the editor deletes the selection, merges, and clears history when masks are replaced", () => {
  const model = modelWith(["11.22", "11.22", "3...."]);
  const editor = new Editor(model);
  const said = [];
  editor.subscribe((reason, detail) => reason === "message" && said.push(detail));
  model.setSelection([3]);
  editor.deleteSelected();
  assert.equal(model.masks.count, 2);
  assert.equal(model.selection.size, 0);
  editor.deleteSelected();
  assert.match(said[0], /Select masks/);
  editor.merge(1, 2);
  assert.deepEqual([...model.selection], [1]);
  assert.equal(model.masks.count, 1);
  assert.equal(editor.history.length, 2);
  model.setMasks({ labels: new Int32Array(15), shape: [3, 5] });
  assert.equal(editor.history.canUndo, false);
});

test("an image without masks gets an empty label volume to draw in", () => {
  const model = new ViewerModel();
  model.setImage({ id: 1, name: "t", width: 4, height: 3, depth: 2, channels: 1 });
  const editor = new Editor(model);
  assert.ok(editor.canEdit());
  assert.equal(model.masks.labels.length, 24);
  assert.equal(model.masks.version, null);
});

test("read-only mode refuses edits and says why", () => {
  const model = modelWith(["1."]);
  const editor = new Editor(model);
  const said = [];
  editor.subscribe((reason, detail) => reason === "message" && said.push(detail));
  editor.setReadOnly("Showing version 1");
  assert.equal(editor.execute(deleteMasks(model, [1])), false);
  assert.deepEqual(said, ["Showing version 1"]);
  assert.equal(model.masks.count, 1);
});

test("brush sizes step like the Cellpose GUI's , and . keys and stay in range", () => {
  const editor = new Editor(modelWith(["."]));
  editor.setBrushSize(20);
  editor.stepBrushSize(1);
  assert.equal(editor.settings.brushSize, 22);
  editor.setBrushSize(0);
  assert.equal(editor.settings.brushSize, 1);
  editor.stepBrushSize(-1);
  assert.equal(editor.settings.brushSize, 1);
  editor.setBrushSize(1000);
  assert.equal(editor.settings.brushSize, 100);
});

test("origins come from the API and go back to it", () => {
  const model = new ViewerModel();
  model.setImage({ id: 1, name: "t", width: 3, height: 1, depth: 1, channels: 1 });
  model.setMasks({ labels: Int32Array.from([1, 2, 3]), shape: [1, 3], origins: ["model", "manual", "edited"] });
  assert.deepEqual([1, 2, 3].map((l) => model.originOf(l)), ["model", "manual", "edited"]);
  new History().execute(deleteMasks(model, [2]));
  assert.deepEqual(model.masks.originNames(), ["model", null, "edited"]);
  assert.equal(model.masks.origin(99), ORIGIN.MODEL);
});

test("LabelEdit.build keeps only voxels that change", () => {
  const model = modelWith(["12"]);
  assert.equal(LabelEdit.build(model, "noop", [0], 1), null);
  const edit = LabelEdit.build(model, "x", [0, 1], 2);
  assert.equal(edit.pixels, 1);
});

test("a mask drawn on two planes of a stack is filled in on the planes between", async () => {
  const { interpolateMask } = await import("../src/commands/maskEdits.js");
  const empty = ["......", "......", "......", "......"];
  const model = modelWith(["......", ".11...", ".11...", "......"], empty, empty, ["......", ".11...", ".11...", "......"], empty);
  const editor = new Editor(model);
  model.setSelection([1]);
  assert.equal(editor.interpolateSelected(), true);
  assert.deepEqual(rows(model, 1), ["......", ".11...", ".11...", "......"]);
  assert.deepEqual(rows(model, 2), ["......", ".11...", ".11...", "......"]);
  assert.deepEqual(rows(model, 4), empty, "no plane past the last one");
  assert.equal(interpolateMask(model, 1), null, "nothing left to fill");
  editor.undo();
  assert.deepEqual(rows(model, 2), empty);
});
