import { test } from "node:test";
import assert from "node:assert/strict";

import { describePyramid } from "../src/tiles/grid.js";
import { regionFromQuery, regionInView, regionSaveApi } from "../src/tiles/region.js";

const image = { width: 20000, height: 20000 };

test("the region in view is the viewport in full-resolution pixels, clipped to the image", () => {
  const { region, problem } = regionInView({ scale: 0.5, tx: -1000, ty: 100 }, { width: 800, height: 600 }, image, 2048);
  assert.equal(problem, null);
  assert.deepEqual(region, { x: 2000, y: 0, width: 1600, height: 1000 });
});

test("a view larger than the limit gives no region and says to zoom in", () => {
  const { region, problem } = regionInView({ scale: 0.1, tx: 0, ty: 0 }, { width: 800, height: 600 }, image, 2048);
  assert.equal(region, null);
  assert.match(problem, /zoom in until it shows at most 2048/);
});

test("a view beside the image gives no region", () => {
  const { region, problem } = regionInView({ scale: 1, tx: 30000, ty: 0 }, { width: 800, height: 600 }, image, 2048);
  assert.equal(region, null);
  assert.match(problem, /No part of the image/);
});

test("the page reads its region from the query string and refuses a partial one", () => {
  assert.deepEqual(regionFromQuery("?x=5&y=6&width=7&height=8&z=2"), { x: 5, y: 6, width: 7, height: 8, z: 2 });
  assert.deepEqual(regionFromQuery("?x=5&y=6&width=7&height=8"), { x: 5, y: 6, width: 7, height: 8, z: 0 });
  assert.equal(regionFromQuery("?x=5&y=6&width=7"), null);
  assert.equal(regionFromQuery("?x=5&y=6&width=0&height=3"), null);
});

test("the editor's saves go to the region API with the region and the base version", async () => {
  const calls = [];
  const api = { saveRegion: async (id, body) => { calls.push([id, body]); return { version: 3 }; } };
  const region = { x: 1, y: 2, width: 3, height: 4, z: 0 };
  const response = await regionSaveApi(api, region).saveAnnotation("9", { version: 2, masks: { data: "x" }, origins: [] });
  assert.deepEqual(calls, [["9", { ...region, version: 2, masks: { data: "x" } }]]);
  assert.equal(response.version, 3);
});

test("the pyramid names the latest version's label image", () => {
  const body = { tiled: true, width: 600, height: 600, tile_size: 512, levels: [{ width: 600, height: 600 }, { width: 300, height: 300 }],
    labels: ["seg", "edit-v2-ab"], latest_labels: "edit-v2-ab" };
  assert.equal(describePyramid(body).latestLabels, "edit-v2-ab");
  assert.equal(describePyramid({ ...body, latest_labels: null }).latestLabels, null);
});
