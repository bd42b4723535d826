import { test } from "node:test";
import assert from "node:assert/strict";

import { ApiClient, ApiError, describeImage, errorMessage, getCookie } from "../src/api.js";

function fakeFetch(responses) {
  const calls = [];
  const fetch = async (url, init = {}) => {
    calls.push({ url, ...init });
    const { status = 200, body = null, type = "application/json" } = responses.shift();
    const text = body === null ? "" : typeof body === "string" ? body : JSON.stringify(body);
    return new Response(status === 204 ? null : text, { status, headers: { "Content-Type": type } });
  };
  return { fetch, calls };
}

test("the server's detail is the message", () => {
  assert.equal(errorMessage(400, { detail: "img.tif: unsupported format", errors: { file: ["x"] } }), "img.tif: unsupported format");
  assert.equal(errorMessage(400, { diameter: ["Ensure this value is greater than or equal to 0."] }),
    "diameter: Ensure this value is greater than or equal to 0.");
  assert.equal(errorMessage(400, { non_field_errors: ["Bad."] }), "Bad.");
  assert.equal(errorMessage(413, "<html>Too big</html>"), "The file is too large.");
  assert.equal(errorMessage(502, ""), "The server is unavailable. Try again later.");
  assert.equal(errorMessage(418, null), "The request failed (HTTP 418).");
  assert.match(errorMessage(0), /could not be reached/);
});

test("cookies are read by exact name", () => {
  assert.equal(getCookie("csrftoken", "a=1; csrftoken=abc%3D; xcsrftoken=no"), "abc=");
  assert.equal(getCookie("missing", "a=1"), null);
});

test("state-changing requests send the CSRF token and JSON", async () => {
  const { fetch, calls } = fakeFetch([{ status: 202, body: { id: 7, status: "queued" } }, { body: { count: 0, results: [] } }]);
  const api = new ApiClient({ fetch, csrfToken: () => "tok" });
  const job = await api.segment(3, { diameter: null });
  assert.deepEqual(job, { id: 7, status: "queued" });
  assert.equal(calls[0].url, "/api/images/3/segment/");
  assert.equal(calls[0].method, "POST");
  assert.equal(calls[0].headers["X-CSRFToken"], "tok");
  assert.equal(calls[0].headers["Content-Type"], "application/json");
  assert.equal(calls[0].body, '{"diameter":null}');
  await api.listImages({ search: "nuc lei", page: 2 });
  assert.equal(calls[1].url, "/api/images/?search=nuc+lei&page=2");
  assert.equal(calls[1].headers["X-CSRFToken"], undefined);
});

test("errors become ApiError with the status and the server's message", async () => {
  const { fetch } = fakeFetch([{ status: 409, body: { detail: "img is being segmented (job 4)" } }]);
  const api = new ApiClient({ fetch, csrfToken: () => null });
  await assert.rejects(api.deleteImage(1), (error) => {
    assert.ok(error instanceof ApiError);
    assert.equal(error.status, 409);
    assert.equal(error.message, "img is being segmented (job 4)");
    return true;
  });
});

test("a network failure says the server could not be reached", async () => {
  const api = new ApiClient({ fetch: async () => { throw new TypeError("Failed to fetch"); } });
  await assert.rejects(api.getJob(1), (error) => error.status === 0 && /could not be reached/.test(error.message));
});

test("an image without masks has no annotation rather than an error", async () => {
  const { fetch } = fakeFetch([{ status: 404, body: { detail: "no masks yet" } }, { status: 204 }]);
  const api = new ApiClient({ fetch });
  assert.equal(await api.getAnnotation(5), null);
  assert.equal(await api.deleteImage(5), null);
});

test("a batch job names its images and the model list tolerates a missing endpoint", async () => {
  const { fetch, calls } = fakeFetch([{ status: 202, body: { id: 1 } }, { status: 404, body: { detail: "Not found." } }]);
  const api = new ApiClient({ fetch });
  await api.segmentMany([1, 2], { channels: [0, 0] });
  assert.deepEqual(JSON.parse(calls[0].body), { channels: [0, 0], images: [1, 2] });
  assert.deepEqual(await api.listModels(), []);
});

test("URLs for pictures, downloads and the job socket", () => {
  const api = new ApiClient();
  assert.equal(api.planeUrl(4), "/api/images/4/data/");
  assert.equal(api.planeUrl(4, 0), "/api/images/4/data/?plane=0");
  assert.equal(api.flowsUrl(4, 2), "/api/images/4/flows/?format=png&plane=2");
  assert.equal(api.masksDownloadUrl(4, "geojson"), "/api/images/4/masks/?format=geojson");
  assert.equal(api.jobSocketUrl(9, { protocol: "https:", host: "cp.example.org" }), "wss://cp.example.org/ws/jobs/9/");
  assert.equal(api.jobSocketUrl(9, { protocol: "http:", host: "127.0.0.1:8000" }), "ws://127.0.0.1:8000/ws/jobs/9/");
});

test("an API image becomes the viewer's width, height, depth and channels", () => {
  assert.deepEqual(describeImage({ id: 1, name: "a", shape: [512, 256], axes: "YX", n_channels: 1 }),
    { id: 1, name: "a", width: 256, height: 512, depth: 1, channels: 1 });
  assert.deepEqual(describeImage({ id: 2, name: "b", shape: [31, 2, 61, 57], axes: "ZCYX", n_channels: 2 }),
    { id: 2, name: "b", width: 57, height: 61, depth: 31, channels: 2 });
  assert.deepEqual(describeImage({ id: 3, name: "c", shape: [300, 500, 3], axes: "YXC", n_channels: 3 }),
    { id: 3, name: "c", width: 500, height: 300, depth: 1, channels: 3 });
  assert.throws(() => describeImage({ shape: [5, 5], axes: "ZYX" }), /cannot display/);
});

test("annotations are saved with PUT on a version; a stale one is a 409 carrying the current version", async () => {
  const { fetch, calls } = fakeFetch([
    { body: { version: 3 } },
    { status: 409, body: { detail: "saved by someone else", current_version: 5, base_version: 2 } },
    { body: { count: 1, results: [{ version: 3 }] } },
    { status: 201, body: { version: 6 } },
    { body: { version: 1, masks: {} } },
  ]);
  const api = new ApiClient({ fetch, csrfToken: () => "tok" });
  assert.deepEqual(await api.saveAnnotation(4, { version: 2, masks: { data: "" } }), { version: 3 });
  assert.equal(calls[0].method, "PUT");
  assert.equal(calls[0].url, "/api/images/4/annotation/");
  assert.deepEqual(JSON.parse(calls[0].body), { version: 2, masks: { data: "" } });
  const error = await api.saveAnnotation(4, { version: 2, masks: {} }).catch((e) => e);
  assert.ok(error instanceof ApiError);
  assert.equal(error.status, 409);
  assert.equal(error.body.current_version, 5);
  assert.equal(error.message, "saved by someone else");
  assert.equal((await api.listVersions(4)).count, 1);
  assert.equal(calls[2].url, "/api/images/4/annotation/versions/");
  await api.restoreVersion(4, 1, { base: 5 });
  assert.equal(calls[3].url, "/api/images/4/annotation/versions/1/restore/");
  assert.deepEqual(JSON.parse(calls[3].body), { version: 5 });
  await api.getAnnotation(4, { version: 1 });
  assert.equal(calls[4].url, "/api/images/4/annotation/?version=1");
});

test("the job list narrows to one image's queued or running jobs", async () => {
  const { fetch, calls } = fakeFetch([{ body: { count: 0, results: [] } }, { body: { count: 0, results: [] } }]);
  const api = new ApiClient({ fetch, csrfToken: () => "tok" });
  await api.listJobs({ image: 12, active: true });
  await api.listJobs();
  assert.deepEqual(calls.map((call) => call.url), ["/api/jobs/?image=12&active=true", "/api/jobs/"]);
});
