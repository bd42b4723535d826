import { test } from "node:test";
import assert from "node:assert/strict";
import { readFileSync } from "node:fs";

import { EDITOR_GESTURES, EDITOR_SHORTCUTS } from "../src/controller/editorKeys.js";
import { findShortcut, GESTURES, handleKey, keyLabel, SHORTCUTS } from "../src/controller/keyboard.js";
import { ViewerModel } from "../src/model.js";

function model3d() {
  const model = new ViewerModel();
  model.setImage({ id: 1, name: "s", width: 8, height: 8, depth: 5, channels: 3 });
  model.setViewport(100, 100);
  return model;
}

const key = (k, extra = {}) => ({ key: k, preventDefault() { this.prevented = true; }, ...extra });

test("single keys show the image, flows and cell probability views", () => {
  const model = model3d();
  handleKey(key("l"), model);
  assert.equal(model.view.background, "flows");
  handleKey(key("c"), model);
  assert.equal(model.view.background, "cellprob");
  handleKey(key("c"), model);
  assert.equal(model.view.background, "image", "the same key again goes back to the image");
  handleKey(key("L"), model);
  handleKey(key("i"), model);
  assert.equal(model.view.background, "image");
});

test("the Cellpose GUI's keys toggle masks and outlines and cycle views", () => {
  const model = model3d();
  handleKey(key("x"), model);
  assert.equal(model.view.showMasks, false);
  handleKey(key("Z"), model);
  assert.equal(model.view.showOutlines, false);
  handleKey(key("PageDown"), model);
  assert.equal(model.view.background, "flows");
  handleKey(key("PageUp"), model);
  assert.equal(model.view.background, "image");
  handleKey(key("ArrowDown"), model);
  assert.equal(model.view.colorMode, "red");
  handleKey(key("w"), model);
  assert.equal(model.view.colorMode, "rgb");
  handleKey(key("g"), model);
  assert.equal(model.view.colorMode, "green");
});

test("left and right step through Z planes and stop at the ends", () => {
  const model = model3d();
  handleKey(key("ArrowRight"), model);
  handleKey(key("d"), model);
  assert.equal(model.view.z, 2);
  for (let i = 0; i < 10; i++) handleKey(key("a"), model);
  assert.equal(model.view.z, 0);
});

test("keys with Ctrl, Alt or Meta are left to others (the editor's Ctrl+Z)", () => {
  const model = model3d();
  const event = key("z", { ctrlKey: true });
  assert.equal(handleKey(event, model), false);
  assert.equal(model.view.showOutlines, true);
  assert.equal(event.prevented, undefined);
});

test("a handled key prevents the browser's default (page scrolling)", () => {
  const event = key("PageDown");
  assert.equal(handleKey(event, model3d()), true);
  assert.equal(event.prevented, true);
  assert.equal(handleKey(key("q"), model3d()), false);
});

test("zoom keys zoom around the viewport centre", () => {
  const model = model3d();
  handleKey(key("="), model);
  assert.equal(model.transform.scale, 1.25);
  handleKey(key("-"), model);
  assert.equal(model.transform.scale, 1);
});

test("no key is bound twice", () => {
  const keys = SHORTCUTS.flatMap((s) => s.keys);
  assert.equal(new Set(keys).size, keys.length);
  assert.equal(findShortcut("x").description, "Filled masks on / off");
  assert.equal(keyLabel("PageDown"), "PgDn");
});

test("docs/keys.md lists every shortcut and gesture, the editor's too", () => {
  const doc = readFileSync(new URL("../../docs/keys.md", import.meta.url), "utf8");
  for (const { keys } of [...SHORTCUTS, ...GESTURES, ...EDITOR_SHORTCUTS, ...EDITOR_GESTURES]) {
    for (const k of keys) assert.ok(doc.includes(`\`${k}\``) || doc.includes(`\`${keyLabel(k)}\``), `docs/keys.md does not mention ${k}`);
  }
});
