import assert from "node:assert/strict";
import { test } from "node:test";

import { confirmationMatches, kindSeries, rowCells, sortedRows, summaryText, trainingDataView } from "../src/community/comparison.js";

const row = (contribution, delta, verdict, gained = 0, lost = 0) => ({
  contribution, image_name: `img${contribution}.tif`, kind: "fluorescent", n_true: 10, delta_ap50: delta, verdict, gained, lost,
  candidate: { ap50: 0.5 + delta, n_cells: 9, n_found: 8 }, current: { ap50: 0.5, n_cells: 9, n_found: 7 },
});

test("the images the candidate made worse come first", () => {
  const rows = [row(1, 0.1, "better"), row(2, -0.2, "worse"), row(3, 0, "same", 0, 2), row(4, 0, "same")];
  assert.deepEqual(sortedRows(rows).map((r) => r.contribution), [2, 3, 4, 1]);
});

test("a row shows both APs, the change with its sign and the cells gained and lost", () => {
  assert.deepEqual(rowCells(row(1, 0.125, "better", 3, 1)),
    ["img1.tif", "fluorescent", "10", "0.500", "0.625", "+0.125", "+3 / −1", "better"]);
  assert.equal(rowCells(row(2, -0.25, "worse"))[5], "-0.250");
});

test("the summary counts verdicts and cells over every test image", () => {
  const rows = [row(1, 0.1, "better", 4, 1), row(2, -0.2, "worse", 0, 2), row(3, 0, "same")];
  assert.equal(summaryText(rows),
    "Better on 1 of 3 test images, worse on 1, the same on 1; 4 cells gained, 3 lost (matched at IoU 0.5).");
  assert.match(summaryText([]), /no per-image comparison/);
});

test("AP per kind over releases becomes one series per kind, gaps where a release lacks the kind", () => {
  const view = kindSeries([
    { label: "community v2", per_kind: { fluorescent: 0.6 } },
    { label: "community v3 (candidate)", per_kind: { fluorescent: 0.7, brightfield: 0.4 } },
  ]);
  assert.deepEqual(view.categories, ["community v2", "community v3 (candidate)"]);
  assert.deepEqual(view.series, [
    { name: "brightfield", data: [{ x: 0, y: null }, { x: 1, y: 0.4 }] },
    { name: "fluorescent", data: [{ x: 0, y: 0.6 }, { x: 1, y: 0.7 }] },
  ]);
});

test("the training data lists counts per kind and the contributors", () => {
  const view = trainingDataView({ n_images: 3, n_cells: 41, per_kind: { fluorescent: { n_images: 3, n_cells: 41 } },
    contributors: [{ name: "olivia", n_images: 2 }, { name: "bruno", n_images: 1 }] });
  assert.deepEqual(view.kinds, [["fluorescent", "3", "41"]]);
  assert.equal(view.contributors, "olivia (2 images), bruno (1 image)");
  assert.equal(view.total, "3 images, 41 cells.");
  assert.equal(trainingDataView(undefined).kinds.length, 0);
});

test("the typed confirmation must name the model exactly", () => {
  assert.equal(confirmationMatches(" community v3 ", "community v3"), true);
  assert.equal(confirmationMatches("community v2", "community v3"), false);
  assert.equal(confirmationMatches("Community V3", "community v3"), false);
  assert.equal(confirmationMatches("", ""), false);
});
