import { test } from "node:test";
import assert from "node:assert/strict";

import { waitForIngest } from "../src/controller/ingestWait.js";
import { UploadQueue } from "../src/controller/uploads.js";

/** A fetch that answers each URL from a list of bodies, in turn, and records the calls. */
function fakeFetch(answers) {
  const calls = [];
  const fetchFn = async (url) => {
    calls.push(url);
    const [status, body] = answers[url].shift();
    return { ok: status >= 200 && status < 300, status, json: async () => body };
  };
  return { fetchFn, calls };
}

const URL = "/api/uploads/u1/";
const ingesting = (progress) => [200, { status: "ingesting", progress, url: URL, image: null, error: "" }];

test("it polls the upload until its ingest is done, then returns the image", async () => {
  const image = { id: 7, tiled: true };
  const { fetchFn, calls } = fakeFetch({
    [URL]: [ingesting(0.5), [200, { status: "done", progress: 1, url: URL, image: 7, error: "" }]],
    "/api/images/7/": [[200, image]],
  });
  const shares = [];
  const got = await waitForIngest(ingesting(0)[1], { fetch: fetchFn, interval: 1, onProgress: (s) => shares.push(s) });
  assert.deepEqual(got, image);
  assert.deepEqual(calls, [URL, URL, "/api/images/7/"]);
  assert.deepEqual(shares, [0, 0.5]);
});

test("a failed ingest throws the server's reason", async () => {
  const { fetchFn } = fakeFetch({ [URL]: [[200, { status: "failed", url: URL, image: null, error: "3 pixel value(s) are NaN" }]] });
  await assert.rejects(waitForIngest(ingesting(0)[1], { fetch: fetchFn, interval: 1 }), /3 pixel value\(s\) are NaN/);
});

test("a poll the server refuses throws its message", async () => {
  const { fetchFn } = fakeFetch({ [URL]: [[404, { detail: "Upload u1 not found." }]] });
  await assert.rejects(waitForIngest(ingesting(0)[1], { fetch: fetchFn, interval: 1 }), /not found/);
});

test("the upload queue follows a 202 and reports the file uploaded once its image exists", async (t) => {
  const image = { id: 9, tiled: true };
  const { fetchFn } = fakeFetch({
    [URL]: [[200, { status: "done", progress: 1, url: URL, image: 9, error: "" }]],
    "/api/images/9/": [[200, image]],
  });
  t.mock.method(globalThis, "fetch", fetchFn);
  t.mock.timers.enable({ apis: ["setTimeout"] });
  const request = { upload: {}, open() {}, setRequestHeader() {}, send() {} };
  const q = new UploadQueue({ url: "/api/images/", csrfToken: () => null, createRequest: () => request });
  const uploaded = new Promise((resolve) => q.subscribe((reason, item) => reason === "uploaded" && resolve(item)));
  const [item] = q.add([new File([new Uint8Array(4)], "slide.tif")]);
  request.status = 202;
  request.responseText = JSON.stringify({ status: "ingesting", progress: 0, url: URL, image: null, error: "" });
  request.onload();
  assert.equal(item.status, "ingesting"); // not done while the pyramid is built
  t.mock.timers.tick(1000);
  const done = await uploaded;
  assert.equal(done.status, "done");
  assert.deepEqual(done.image, image);
});

test("an ingest already done when the 202 was written needs no poll", async () => {
  const { fetchFn, calls } = fakeFetch({ "/api/images/3/": [[200, { id: 3 }]] });
  const got = await waitForIngest({ status: "done", url: URL, image: 3 }, { fetch: fetchFn, interval: 1 });
  assert.deepEqual(got, { id: 3 });
  assert.deepEqual(calls, ["/api/images/3/"]);
});

test("aborting the wait stops polling at once", async () => {
  const { fetchFn, calls } = fakeFetch({ [URL]: [] });
  const controller = new AbortController();
  const waiting = waitForIngest(ingesting(0.2)[1], { fetch: fetchFn, interval: 60_000, signal: controller.signal });
  controller.abort();
  await assert.rejects(waiting, { name: "AbortError" });
  assert.deepEqual(calls, []); // no poll after the abort
});

test("cancelling a file whose tiles are being built deletes its upload and ends cancelled", async () => {
  const deletes = [];
  const fetchFn = async (url, init) => {
    deletes.push([url, init.method, init.headers["X-CSRFToken"]]);
    return { ok: true, status: 204, json: async () => null };
  };
  const waitIngest = (state, { signal, onProgress }) => {
    onProgress(0.3);
    return new Promise((resolve, reject) => signal.addEventListener("abort", () => reject(signal.reason)));
  };
  const request = { upload: {}, open() {}, setRequestHeader() {}, send() {} };
  const q = new UploadQueue({ url: "/api/images/", csrfToken: () => "tok", createRequest: () => request,
    fetch: fetchFn, waitIngest });
  const [item] = q.add([new File([new Uint8Array(4)], "slide.tif")]);
  request.status = 202;
  request.responseText = JSON.stringify({ status: "ingesting", progress: 0, url: URL, image: null, error: "" });
  request.onload();
  assert.equal(item.status, "ingesting");
  assert.equal(item.progress, 0.3);
  q.cancel(item);
  await new Promise((resolve) => setTimeout(resolve, 0));
  assert.equal(item.status, "cancelled");
  assert.deepEqual(deletes, [[URL, "DELETE", "tok"]]);
});
