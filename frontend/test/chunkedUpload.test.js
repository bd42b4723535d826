import assert from "node:assert/strict";
import { createHash, randomBytes } from "node:crypto";
import { test } from "node:test";

import { backoffDelay, ChunkedUpload, isRetryable, planChunks, ResumeStore } from "../src/controller/chunkedUpload.js";
import { UploadQueue } from "../src/controller/uploads.js";

/** An in-memory server speaking the chunked upload protocol; `fail` answers chosen requests. */
function fakeServer({ chunkSize = 1000, fail = () => null } = {}) {
  const uploads = new Map();
  const log = [];
  let next = 1;
  const transport = async (method, url, { json, body, headers = {} } = {}) => {
    const path = url.replace(/^.*\/api\/uploads\//, "");
    log.push(`${method} ${path}${headers["Content-Range"] ? ` ${headers["Content-Range"]}` : ""}`);
    const injected = fail(method, path, log.length);
    if (injected) return injected;
    const id = path.split("/")[0];
    const upload = uploads.get(id);
    const view = (u) => ({ id: u.id, size: u.size, offset: u.bytes.length, chunk_size: chunkSize });
    if (method === "POST" && path === "") {
      const created = { id: `u${next++}`, size: json.size, sha256: json.sha256, bytes: Buffer.alloc(0) };
      uploads.set(created.id, created);
      return { status: 201, body: view(created) };
    }
    if (!upload) return { status: 404, body: { detail: "Not found." } };
    if (method === "GET") return { status: 200, body: view(upload) };
    if (method === "DELETE") {
      uploads.delete(id);
      return { status: 204, body: null };
    }
    if (method === "PUT") {
      const [, first, last] = headers["Content-Range"].match(/bytes (\d+)-(\d+)\//).map(Number);
      if (first !== upload.bytes.length) return { status: 409, body: { detail: `continues at ${upload.bytes.length}` } };
      const chunk = Buffer.from(await body.arrayBuffer());
      assert.equal(chunk.length, last - first + 1);
      assert.ok(chunk.length <= chunkSize);
      if (headers["X-Chunk-Sha256"]) assert.equal(headers["X-Chunk-Sha256"], createHash("sha256").update(chunk).digest("hex"));
      upload.bytes = Buffer.concat([upload.bytes, chunk]);
      return { status: 200, body: view(upload) };
    }
    if (method === "POST" && path.endsWith("complete/")) {
      if (upload.bytes.length !== upload.size) return { status: 409, body: { detail: "not all bytes" } };
      assert.equal(createHash("sha256").update(upload.bytes).digest("hex"), upload.sha256);
      uploads.delete(id);
      return { status: 201, body: { id: 7, name: "big.tif", axes: json.axes ?? null } };
    }
    throw new Error(`unexpected ${method} ${url}`);
  };
  return { transport, uploads, log };
}

function memoryStorage() {
  const map = new Map();
  return { getItem: (k) => map.get(k) ?? null, setItem: (k, v) => map.set(k, String(v)), removeItem: (k) => map.delete(k), map };
}

const fileOf = (bytes, name = "big.tif") => new File([bytes], name, { lastModified: 1_700_000_000_000 });
const noSleep = { sleep: async () => {} };

test("chunks cover the file from the offset in ranges of at most the chunk size", () => {
  assert.deepEqual(planChunks(2500, 1000), [{ first: 0, last: 999 }, { first: 1000, last: 1999 }, { first: 2000, last: 2499 }]);
  assert.deepEqual(planChunks(2500, 1000, 1500), [{ first: 1500, last: 2499 }]);
  assert.deepEqual(planChunks(2000, 1000, 2000), []);
  assert.throws(() => planChunks(10, 0), /positive/);
});

test("the backoff doubles from its base up to its cap and only passing failures are retried", () => {
  assert.deepEqual([1, 2, 3, 4, 5, 6, 7].map((n) => backoffDelay(n)), [1000, 2000, 4000, 8000, 16000, 30000, 30000]);
  assert.deepEqual([0, 408, 409, 429, 500, 503].map(isRetryable), [true, true, true, true, true, true]);
  assert.deepEqual([400, 403, 404, 413].map(isRetryable), [false, false, false, false]);
});

test("a file is sent chunk by chunk with the progress of each and completed into the image", async () => {
  const data = randomBytes(2500);
  const server = fakeServer({ chunkSize: 1000 });
  const progress = [];
  const upload = new ChunkedUpload(fileOf(data), { transport: server.transport, chunkBytes: 4096, onProgress: (f) => progress.push(f), ...noSleep });
  const image = await upload.run("ZYX");
  assert.deepEqual(image, { id: 7, name: "big.tif", axes: "ZYX" });
  assert.deepEqual(server.log, ["POST ", "PUT u1/ bytes 0-999/2500", "PUT u1/ bytes 1000-1999/2500", "PUT u1/ bytes 2000-2499/2500", "POST u1/complete/"]);
  assert.deepEqual(progress, [0, 0.4, 0.8, 1]);
});

test("a failed chunk is sent again after a doubling backoff", async () => {
  const server = fakeServer({ chunkSize: 1000, fail: (method, path, n) => (n === 3 || n === 5 ? { status: n === 3 ? 0 : 503, body: null } : null) });
  const waits = [];
  const upload = new ChunkedUpload(fileOf(randomBytes(1500)), { transport: server.transport, chunkBytes: 1000, sleep: async (ms) => waits.push(ms) });
  await upload.run();
  assert.deepEqual(waits, [1000, 2000]);
  assert.deepEqual(server.log, ["POST ", "PUT u1/ bytes 0-999/1500", "PUT u1/ bytes 1000-1499/1500", "GET u1/", "PUT u1/ bytes 1000-1499/1500", "PUT u1/ bytes 1000-1499/1500", "POST u1/complete/"]);
});

test("a chunk still failing after the last attempt rejects and the upload stays resumable", async () => {
  const store = new ResumeStore(memoryStorage());
  const file = fileOf(randomBytes(1500));
  const server = fakeServer({ chunkSize: 1000, fail: (method) => (method === "PUT" ? { status: 502, body: { detail: "Bad gateway" } } : null) });
  const upload = new ChunkedUpload(file, { transport: server.transport, store, chunkBytes: 1000, maxAttempts: 3, ...noSleep });
  await assert.rejects(upload.run(), (error) => error.status === 502 && error.message === "Bad gateway");
  assert.equal(server.log.filter((line) => line.startsWith("PUT")).length, 3);
  assert.equal(store.get(file), "u1");
  assert.ok(server.uploads.has("u1"));
});

test("a refused chunk is not retried", async () => {
  const server = fakeServer({ fail: (method) => (method === "PUT" ? { status: 413, body: { detail: "too large" } } : null) });
  const upload = new ChunkedUpload(fileOf(randomBytes(10)), { transport: server.transport, chunkBytes: 1000, ...noSleep });
  await assert.rejects(upload.run(), /too large/);
  assert.equal(server.log.filter((line) => line.startsWith("PUT")).length, 1);
});

test("the same file sent again resumes at the server's offset without hashing or starting anew", async () => {
  const data = randomBytes(3000);
  const storage = memoryStorage();
  let cut = true;
  const server = fakeServer({ chunkSize: 1000, fail: (method) => (cut && method === "PUT" && server.uploads.get("u1")?.bytes.length === 2000 ? { status: 0, body: null } : null) });
  const first = new ChunkedUpload(fileOf(data), { transport: server.transport, store: new ResumeStore(storage), chunkBytes: 1000, maxAttempts: 1, ...noSleep });
  await assert.rejects(first.run());
  assert.equal(server.uploads.get("u1").bytes.length, 2000);

  cut = false;
  server.log.length = 0;
  const hashing = [];
  const progress = [];
  const again = new ChunkedUpload(fileOf(data), {
    transport: server.transport, store: new ResumeStore(storage), chunkBytes: 1000, onHashing: (f) => hashing.push(f), onProgress: (f) => progress.push(f), ...noSleep,
  });
  await again.run();
  assert.deepEqual(server.log, ["GET u1/", "PUT u1/ bytes 2000-2999/3000", "POST u1/complete/"]);
  assert.deepEqual(hashing, []);
  assert.deepEqual(progress, [2000 / 3000, 1]);
  assert.equal(storage.map.size, 0, "a completed upload is forgotten");
});

test("a remembered upload the server no longer has is started afresh", async () => {
  const storage = memoryStorage();
  const file = fileOf(randomBytes(500));
  new ResumeStore(storage).set(file, "gone");
  const server = fakeServer();
  await new ChunkedUpload(file, { transport: server.transport, store: new ResumeStore(storage), chunkBytes: 1000, ...noSleep }).run();
  assert.deepEqual(server.log, ["GET gone/", "POST ", "PUT u1/ bytes 0-499/500", "POST u1/complete/"]);
});

test("aborting deletes the upload on the server and forgets it", async () => {
  const storage = memoryStorage();
  const server = fakeServer({ chunkSize: 1000 });
  const transport = async (method, url, options) => {
    const response = await server.transport(method, url, options);
    if (method === "PUT") upload.abort();
    return response;
  };
  const upload = new ChunkedUpload(fileOf(randomBytes(3000)), { transport, store: new ResumeStore(storage), chunkBytes: 1000, ...noSleep });
  await assert.rejects(upload.run(), (error) => error.name === "AbortError");
  await new Promise((resolve) => setTimeout(resolve, 0));
  assert.ok(server.log.includes("DELETE u1/"));
  assert.equal(server.uploads.size, 0);
  assert.equal(storage.map.size, 0);
});

test("cancelling during a backoff stops at once, not when the wait ends", async () => {
  const server = fakeServer({ fail: (method) => (method === "PUT" ? { status: 503, body: null } : null) });
  const upload = new ChunkedUpload(fileOf(randomBytes(10)), {
    transport: server.transport, chunkBytes: 1000, sleep: () => new Promise(() => {}), // never ends by itself
  });
  const running = upload.run();
  upload.abort();
  await assert.rejects(running, (error) => error.name === "AbortError");
});

test("the queue sends files over the chunk size in chunks and smaller ones in one request", async () => {
  const server = fakeServer({ chunkSize: 1000 });
  const requests = [];
  const createRequest = () => {
    const xhr = {
      upload: {}, open: (method, url) => requests.push(`${method} ${url}`), setRequestHeader() {},
      send() {
        xhr.status = 201;
        xhr.responseText = JSON.stringify({ id: 1 });
        xhr.onload();
      },
    };
    return xhr;
  };
  const queue = new UploadQueue({ url: "/api/images/", csrfToken: () => null, createRequest, chunkBytes: () => 1000, chunked: { transport: server.transport, ...noSleep } });
  const statuses = [];
  queue.subscribe((reason, item) => reason === "item" && item.name === "big.tif" && statuses.push(item.status));
  const done = new Promise((resolve) => queue.subscribe((reason, item) => reason === "uploaded" && item.name === "big.tif" && resolve(item)));
  queue.add([fileOf(randomBytes(1000), "small.tif"), fileOf(randomBytes(2500), "big.tif")]);
  const big = await done;
  assert.deepEqual(requests, ["POST /api/images/"]);
  assert.deepEqual(big.image, { id: 7, name: "big.tif", axes: null });
  assert.ok(big.chunked);
  assert.deepEqual([...new Set(statuses)], ["queued", "uploading", "hashing", "processing", "done"]);
});

test("a tiled image completed with 202 is waited for until its ingest has made the image", async () => {
  const data = randomBytes(1500);
  const server = fakeServer({
    chunkSize: 1000,
    fail: (method, path) => (method === "POST" && path.endsWith("complete/")
      ? { status: 202, body: { id: "u1", status: "ingesting", progress: 0, url: "/api/uploads/u1/" } } : null),
  });
  const store = new ResumeStore(memoryStorage());
  const waited = [];
  const upload = new ChunkedUpload(fileOf(data), {
    transport: server.transport, store, chunkBytes: 4096, ...noSleep,
    waitIngest: async (state) => {
      waited.push(state.url);
      return { id: 9, name: "big.tif" };
    },
  });
  assert.deepEqual(await upload.run(), { id: 9, name: "big.tif" });
  assert.deepEqual(waited, ["/api/uploads/u1/"]);
  assert.equal(store.get(fileOf(data)), null, "a completed upload is not offered for resuming");
});

test("aborting while the tiles are built stops the wait and deletes the upload on the server", async () => {
  const data = randomBytes(1500);
  const server = fakeServer({
    chunkSize: 1000,
    fail: (method, path) => (method === "POST" && path.endsWith("complete/")
      ? { status: 202, body: { id: "u1", status: "ingesting", progress: 0, url: "/api/uploads/u1/" } } : null),
  });
  const shares = [];
  const upload = new ChunkedUpload(fileOf(data), {
    transport: server.transport, store: new ResumeStore(memoryStorage()), chunkBytes: 4096, ...noSleep,
    onIngesting: (share) => shares.push(share),
    waitIngest: (state, { signal, onProgress }) => {
      onProgress(0.25);
      return new Promise((resolve, reject) => signal.addEventListener("abort", () => reject(signal.reason)));
    },
  });
  const running = upload.run();
  while (!shares.length) await new Promise((resolve) => setTimeout(resolve, 0));
  upload.abort();
  await assert.rejects(running, { name: "AbortError" });
  assert.deepEqual(shares, [0.25]);
  assert.ok(server.log.some((line) => line === "DELETE u1/"), server.log.join("\n"));
});
