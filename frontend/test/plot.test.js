import assert from "node:assert/strict";
import { test } from "node:test";

import { chartLayout, niceTicks, plotPoints, tickDecimals } from "../src/community/plot.js";

test("ticks are round numbers covering the range", () => {
  assert.deepEqual(niceTicks(0, 1, 5), [0, 0.25, 0.5, 0.75, 1]);
  assert.deepEqual(niceTicks(0.31, 0.78, 5), [0.4, 0.6]);
  assert.deepEqual(niceTicks(1, 10, 6), [2, 4, 6, 8, 10]);
  assert.deepEqual(niceTicks(2, 2), [2]);
});

test("tick labels carry the decimals that tell them apart", () => {
  assert.equal(tickDecimals([0, 0.25, 0.5]), 2);
  assert.equal(tickDecimals([0.2, 0.4]), 1);
  assert.equal(tickDecimals([10, 20]), 0);
});

test("the layout puts higher values higher and labels every tick", () => {
  const layout = chartLayout([{ name: "loss", data: [{ x: 1, y: 2 }, { x: 2, y: 1 }, { x: 3, y: null }] }],
    { width: 300, height: 200, xMax: 4 });
  assert.equal(layout.lines[0].n, 2);
  const [[, y1], [, y2]] = layout.lines[0].points.split(" ").map((p) => p.split(",").map(Number));
  assert.ok(y1 < y2);
  assert.deepEqual(layout.xTicks.map((t) => t.label), ["1", "2", "3", "4"]);
  assert.ok(layout.yTicks.length >= 2 && layout.yTicks.every((t) => t.y >= layout.plot.top && t.y <= layout.plot.bottom));
});

test("categories label the x axis in order", () => {
  const layout = chartLayout([{ name: "fluorescent", data: [{ x: 0, y: 0.5 }, { x: 1, y: 0.7 }] }],
    { width: 300, height: 200, yMin: 0, yMax: 1, categories: ["v1", "v2"] });
  assert.deepEqual(layout.xTicks.map((t) => t.label), ["v1", "v2"]);
  assert.deepEqual(layout.xTicks.map((t) => t.anchor), ["start", "end"]);
  assert.ok(layout.xTicks[0].x < layout.xTicks[1].x);
  assert.deepEqual(layout.yTicks.map((t) => t.label), ["0.00", "0.25", "0.50", "0.75", "1.00"]);
});

test("epochs are labelled with whole numbers only", () => {
  const layout = chartLayout([{ name: "loss", data: [{ x: 1, y: 2 }, { x: 3, y: 1 }] }], { width: 300, height: 200 });
  assert.deepEqual(layout.xTicks.map((t) => t.label), ["1", "2", "3"]);
});

test("a single series still gives its points and range", () => {
  const plot = plotPoints([{ x: 1, y: 0.2 }], { width: 100, height: 100 });
  assert.equal(plot.n, 1);
  assert.ok(plot.yMin <= 0.2 && plot.yMax >= 0.2);
});
