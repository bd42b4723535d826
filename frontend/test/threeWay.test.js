import { test } from "node:test";
import assert from "node:assert/strict";

import { applyMerge, matchLabels, mergeOrigins, planMerge, restoredBy } from "../src/merge/threeWay.js";

/** A 1 x width label image from a string: "." background, digits labels. */
function row(text) {
  return Int32Array.from(text, (c) => (c === "." ? 0 : Number(c)));
}

function text(labels) {
  return Array.from(labels, (l) => (l === 0 ? "." : String(l))).join("");
}

function plan(base, mine, theirs) {
  return planMerge({ base: base && row(base), mine: row(mine), theirs: row(theirs), width: base?.length ?? mine.length, height: 1 });
}

test("edits on different masks combine without asking", () => {
  // base: masks 1, 2, 3. Mine deletes 1 and grows 3; theirs adds a mask and shrinks 2.
  const p = plan("11..22..33....", "....22..333...", "11..2...33..44");
  assert.equal(p.counts.conflicts, 0);
  assert.equal(p.counts.mine, 2);
  assert.equal(p.counts.theirs, 2);
  // Their new mask 4 takes a label above every base and mine label (4 here: top of both is 3).
  assert.equal(text(applyMerge(p, "mine")), "....2...333.44");
});

test("their renumbered labels are matched to the base masks by overlap", () => {
  // Theirs deleted mask 1; the server renumbered 2 -> 1 and 3 -> 2.
  const match = matchLabels(row("11..22..33"), row("....11..22"));
  assert.deepEqual([...match], [0, 2, 3]);
  const p = plan("11..22..33", "11..22..33", "....11..22");
  assert.equal(p.counts.theirs, 1);
  assert.equal(text(applyMerge(p, "mine")), "....22..33");
});

test("the same mask changed on both sides is a conflict that takes the side chosen", () => {
  // Mine grows 2 to the left, theirs grows 2 to the right.
  const p = plan("..22..", ".222..", "..222.");
  assert.equal(p.counts.conflicts, 1);
  const [change] = p.changes;
  assert.equal(change.side, "conflict");
  assert.deepEqual(change.labels, [2]);
  assert.deepEqual(change.mine.changed, [2]);
  assert.equal(text(applyMerge(p, "mine")), ".222..");
  assert.equal(text(applyMerge(p, new Map([[change.id, "theirs"]]))), "..222.");
  assert.throws(() => applyMerge(p, new Map()), /no choice/);
});

test("keeping mine over a mask they deleted says it restores that mask", () => {
  // Mine edits mask 1, theirs deletes it.
  const p = plan("111..22", "1111.22", ".....11");
  assert.equal(p.counts.conflicts, 1);
  const conflict = p.changes.find((c) => c.side === "conflict");
  assert.deepEqual(conflict.theirs.deleted, [1]);
  assert.deepEqual(restoredBy(conflict, "mine"), [1]);
  assert.deepEqual(restoredBy(conflict, "theirs"), []);
  assert.equal(text(applyMerge(p, "mine")), "1111.22");
  assert.equal(text(applyMerge(p, "theirs")), ".....22");
});

test("a mask they deleted that I did not touch stays deleted", () => {
  const p = plan("11..22..33.", "11..22..333", "11......33.");
  assert.equal(p.counts.conflicts, 0);
  assert.equal(text(applyMerge(p, "mine")), "11......333");
});

test("the same deletion on both sides is no conflict", () => {
  const p = plan("11..22", "....22", "....11");
  assert.equal(p.counts.same, 1);
  assert.equal(p.counts.conflicts, 0);
  assert.equal(text(applyMerge(p, "mine")), "....22");
});

test("new masks drawn on both sides over the same pixels conflict, elsewhere both are kept", () => {
  // Base has mask 1; mine draws 2 at the end, theirs draws a mask in the middle and one at the end.
  const p = plan("11......", "11....22", "11.22.33");
  // Theirs: 1 matches base 1; their 2 (middle) and 3 (end) are new: labels 3 and 4.
  assert.equal(p.counts.theirs, 1);
  assert.equal(p.counts.conflicts, 1);
  assert.equal(text(applyMerge(p, "mine")), "11.33.22");
  assert.equal(text(applyMerge(p, "theirs")), "11.33.44");
});

test("without a base version every mask of each side is an addition", () => {
  const p = plan(null, "11....", "....11");
  assert.equal(p.counts.mine, 1);
  assert.equal(p.counts.theirs, 1);
  assert.equal(text(applyMerge(p, "mine")), "11..22");
  assert.deepEqual(p.changes.find((c) => c.side === "theirs").theirs.added, [2]);
});

test("merged origins follow the side each mask was taken from", () => {
  const p = plan("11..22", "111.22", "....11");
  // Mine edited 1, theirs deleted 1: a conflict. Mask 2 is theirs' label 1 (untouched).
  const merged = applyMerge(p, "mine");
  assert.equal(text(merged), "111.22");
  assert.deepEqual(mergeOrigins(p, "mine", ["edited", "model"], ["manual"]), ["edited", "model"]);
  // Theirs added a drawn mask: it keeps their origin.
  const q = plan("11....", "11....", "11..22");
  assert.deepEqual(mergeOrigins(q, "mine", ["model"], ["model", "manual"]), ["model", "manual"]);
});

test("label images of different sizes are refused", () => {
  assert.throws(() => planMerge({ base: null, mine: new Int32Array(4), theirs: new Int32Array(5), width: 4, height: 1 }), /same size/);
});

test("changes say where they are on a stack's planes", () => {
  // 2 planes of 2 x 2: mine adds a mask at (x 1, y 1) on plane 1.
  const base = new Int32Array(8);
  const mine = base.slice();
  mine[7] = 1;
  const p = planMerge({ base, mine, theirs: base.slice(), width: 2, height: 2 });
  assert.deepEqual(p.changes[0].at, { x: 1, y: 1, z: 1 });
});

test("my own labels, kept after an earlier save the server renumbered, are matched too", () => {
  // Base (my last save, renumbered 3 -> 1, 4 -> 2) vs the tab, which still shows labels 3 and 4;
  // I then grew 4, they deleted base mask 1.
  const p = plan("11..22.", "33..444", "....11.");
  assert.equal(p.counts.conflicts, 0);
  assert.equal(p.counts.mine, 1);
  assert.equal(p.counts.theirs, 1);
  assert.deepEqual(p.changes.find((c) => c.side === "mine").mine.changed, [2]);
  assert.equal(text(applyMerge(p, "mine")), "....222");
  // My origins are looked up by my own labels (mask 1 is gone: no origin).
  assert.deepEqual(mergeOrigins(p, "mine", [null, null, "model", "edited"], ["model"]), [null, "edited"]);
});
