import { test } from "node:test";
import assert from "node:assert/strict";

import { ApiClient, ApiError } from "../src/api.js";
import { RasterLoader } from "../src/controller/rasters.js";
import { ViewerModel } from "../src/model.js";

const flush = () => new Promise((resolve) => setImmediate(resolve));

function setup({ depth = 1, failFlows = false } = {}) {
  const api = new ApiClient();
  const fetched = [];
  api.fetchBitmap = async (url) => {
    fetched.push(url);
    if (failFlows && url.includes("/flows/")) throw new ApiError("a.tif has no flows yet; segment it first.", { status: 404 });
    return `bitmap ${url}`;
  };
  const model = new ViewerModel();
  const errors = [];
  const loader = new RasterLoader(model, api, { onError: (message, kind) => errors.push([kind, message]) });
  model.setImage({ id: 7, name: "a.tif", width: 4, height: 4, depth, channels: 1 });
  return { api, model, loader, fetched, errors };
}

test("the current plane is fetched once, and flows only when shown", async () => {
  const { model, fetched } = setup();
  await flush();
  model.setOpacity(0.1); // a change that needs nothing new
  await flush();
  assert.deepEqual(fetched, ["/api/images/7/data/"]);
  assert.equal(model.raster("image"), "bitmap /api/images/7/data/");
  model.setBackground("flows");
  await flush();
  model.setBackground("image");
  model.setBackground("flows");
  await flush();
  assert.deepEqual(fetched, ["/api/images/7/data/", "/api/images/7/flows/?format=png"]);
});

test("stacks ask for the plane shown", async () => {
  const { model, fetched } = setup({ depth: 3 });
  model.setPlane(2);
  model.setBackground("cellprob");
  await flush();
  assert.deepEqual(fetched.sort(), ["/api/images/7/cellprob/?plane=2", "/api/images/7/data/?plane=0", "/api/images/7/data/?plane=2"]);
});

test("a missing raster is reported once, and fetched again after a reset", async () => {
  const { model, loader, fetched, errors } = setup({ failFlows: true });
  model.setBackground("flows");
  await flush();
  model.setBackground("image");
  model.setBackground("flows");
  await flush();
  assert.deepEqual(errors, [["flows", "a.tif has no flows yet; segment it first."]]);
  assert.equal(fetched.filter((u) => u.includes("flows")).length, 1);
  loader.reset("flows", "cellprob");
  await flush();
  assert.equal(fetched.filter((u) => u.includes("flows")).length, 2);
});
