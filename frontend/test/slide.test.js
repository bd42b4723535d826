import { test } from "node:test";
import assert from "node:assert/strict";

import { ApiClient, ApiError } from "../src/api.js";
import { describePyramid } from "../src/tiles/grid.js";
import { TileStore } from "../src/tiles/store.js";
import { sortLabelKeys } from "../src/ui/slidePanels.js";

function fakeFetch(responses) {
  const calls = [];
  const fetch = async (url, init = {}) => {
    calls.push({ url, ...init });
    const { status = 200, body = null } = responses.shift();
    return new Response(body === null ? "" : JSON.stringify(body), { status, headers: { "Content-Type": "application/json" } });
  };
  return { fetch, calls };
}

test("the pyramid is asked of the contract's URL; a server without it (404) means not tiled", async () => {
  const pyramid = { tiled: true, width: 4, height: 4, tile_size: 512, levels: [{ level: 0, width: 4, height: 4, scale: 1 }], labels: [] };
  const { fetch, calls } = fakeFetch([{ body: pyramid }, { status: 404, body: { detail: "Not found." } }, { status: 500, body: { detail: "boom" } }]);
  const api = new ApiClient({ fetch });
  assert.deepEqual(await api.getPyramid(5), pyramid);
  assert.equal(calls[0].url, "/api/images/5/pyramid/");
  assert.equal(await api.getPyramid(5), null);
  await assert.rejects(api.getPyramid(5), (error) => error instanceof ApiError && error.status === 500 && error.message === "boom");
});

test("tile URLs follow the contract, with the label key escaped", () => {
  const api = new ApiClient();
  assert.equal(api.tileUrl(7, 3, 0, 12, 4), "/api/images/7/tiles/3/0/12/4.png");
  assert.equal(api.labelTileUrl(7, "v3", 0, 2, 1, 0), "/api/images/7/labels/v3/tiles/0/2/1/0.bin");
  assert.equal(api.labelTileUrl(7, "a b/c", 0, 0, 0, 0), "/api/images/7/labels/a%20b%2Fc/tiles/0/0/0/0.bin");
});

test("label images are listed oldest first with numbers in order, so the newest is last", () => {
  assert.deepEqual(sortLabelKeys(["v10", "v2", "v1"]), ["v1", "v2", "v10"]);
  assert.deepEqual(sortLabelKeys([]), []);
});

test("a tile the server refuses is reported with its kind, once", async () => {
  const pyramid = describePyramid({ tiled: true, width: 8, height: 8, tile_size: 8, levels: [{ level: 0, width: 8, height: 8, scale: 1 }] });
  const errors = [];
  const store = new TileStore({
    pyramid,
    imageUrl: () => "/img.png",
    labelUrl: () => "/lab.bin",
    fetch: async () => new Response("no", { status: 503 }),
  });
  store.subscribe((reason, detail) => {
    if (reason === "error") errors.push([detail.kind, detail.error.status]);
  });
  const range = { c0: 0, c1: 1, r0: 0, r1: 1 };
  store.plan(0, 0, range, range, { overlay: false });
  await new Promise((resolve) => setTimeout(resolve, 10));
  store.plan(0, 0, range, range, { overlay: false }); // asked again: not fetched again
  await new Promise((resolve) => setTimeout(resolve, 10));
  assert.deepEqual(errors, [["image", 503]]);
});
