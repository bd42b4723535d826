import { test } from "node:test";
import assert from "node:assert/strict";

import { ViewerModel } from "../src/model.js";
import { ContributeLink } from "../src/ui/contributeLink.js";

function setUp(depth) {
  const model = new ViewerModel();
  const link = { hidden: false };
  new ContributeLink(link, model);
  model.setImage({ id: 1, name: "a.tif", width: 2, height: 2, depth, channels: 1 });
  return { model, link };
}

const labels = (depth) => ({ labels: new Int32Array(4 * depth).fill(1), shape: depth > 1 ? [depth, 2, 2] : [2, 2] });

test("the contribute link appears once a 2D image has masks and goes when they are cleared", () => {
  const { model, link } = setUp(1);
  assert.equal(link.hidden, true);
  model.setMasks(labels(1));
  assert.equal(link.hidden, false);
  model.setMasks(null);
  assert.equal(link.hidden, true);
});

test("a stack is never offered: contributions are 2D", () => {
  const { model, link } = setUp(3);
  model.setMasks(labels(3));
  assert.equal(link.hidden, true);
});
