import { test } from "node:test";
import assert from "node:assert/strict";

import { describeEdits, mergeSummary } from "../src/merge/mergeDialog.js";
import { planMerge } from "../src/merge/threeWay.js";

const row = (text) => Int32Array.from(text, (c) => (c === "." ? 0 : Number(c)));
const plan = (base, mine, theirs) => planMerge({ base: row(base), mine: row(mine), theirs: row(theirs), width: base.length, height: 1 });

test("the summary counts my changes, theirs and the conflicts before anything is saved", () => {
  // Mine deletes 3 and edits 1; theirs adds a mask and deletes 1.
  const p = plan("111..22..33...", "1111.22.......", ".....11..22.33");
  const lines = mergeSummary(p, new Map());
  assert.match(lines[0], /1 change of mine and 1 change of theirs; 1 conflict/);
  assert.match(lines[1], /Choose mine or theirs for 1 conflict/);
});

test("keeping mine over a mask they deleted is said before saving", () => {
  const p = plan("111..22", "1111.22", ".....11");
  const conflict = p.changes.find((c) => c.side === "conflict");
  const lines = mergeSummary(p, new Map([[conflict.id, "mine"]]));
  assert.ok(lines.some((line) => /brings back mask 1, which they deleted/.test(line)), lines.join("\n"));
  assert.ok(!mergeSummary(p, new Map([[conflict.id, "theirs"]])).some((line) => /brings back/.test(line)));
});

test("each side's edits read as added, changed and deleted masks", () => {
  assert.equal(describeEdits({ added: [7], changed: [], deleted: [2, 3] }), "added mask 7, deleted masks 2, 3");
  assert.equal(describeEdits({ added: [], changed: [], deleted: [] }), "left them as they were");
});
