import { test } from "node:test";
import assert from "node:assert/strict";
import { deflateSync, inflateSync } from "node:zlib";

import { base64ToBytes, bytesToBase64, decodeMasks, encodeMasks } from "../src/codec.js";

const nodeInflate = async (bytes) => new Uint8Array(inflateSync(bytes));
const nodeDeflate = async (bytes) => new Uint8Array(deflateSync(bytes));

/** What annotations/encoding.py sends: zlib.compress of little-endian int32, base64. */
function pythonStyleEncode(values, shape) {
  const buf = Buffer.alloc(values.length * 4);
  values.forEach((v, i) => buf.writeInt32LE(v, i * 4));
  return { encoding: "zlib-base64", dtype: "int32", byteorder: "little", shape, data: deflateSync(buf).toString("base64") };
}

test("it decodes the server's encoding with node zlib", async () => {
  const values = [0, 1, 1, 2, 0, 70000, 3, 2147483647];
  const { labels, shape } = await decodeMasks(pythonStyleEncode(values, [2, 4]), { inflate: nodeInflate });
  assert.deepEqual(shape, [2, 4]);
  assert.ok(labels instanceof Int32Array);
  assert.deepEqual([...labels], values);
});

test("it decodes with the Compression Streams default as the browser does", async () => {
  const values = Array.from({ length: 3 * 5 * 7 }, (_, i) => (i * 7919) % 1000);
  const { labels, shape } = await decodeMasks(pythonStyleEncode(values, [3, 5, 7]));
  assert.deepEqual(shape, [3, 5, 7]);
  assert.deepEqual([...labels], values);
});

test("round trip recovers every label", async () => {
  const labels = new Int32Array(64 * 48);
  for (let i = 0; i < labels.length; i++) labels[i] = (i * 31) % 2001;
  const encoded = await encodeMasks(labels, [64, 48], { deflate: nodeDeflate });
  assert.equal(encoded.encoding, "zlib-base64");
  const decoded = await decodeMasks(encoded, { inflate: nodeInflate });
  assert.deepEqual(decoded.labels, labels);
  const viaStreams = await decodeMasks(await encodeMasks(labels, [64, 48]));
  assert.deepEqual(viaStreams.labels, labels);
});

test("it rejects data whose size does not match the shape", async () => {
  await assert.rejects(
    decodeMasks(pythonStyleEncode([1, 2, 3], [2, 2]), { inflate: nodeInflate }),
    /hold 3 labels, shape \(2, 2\) needs 4/,
  );
});

test("it rejects other encodings and dtypes with a message", async () => {
  const good = pythonStyleEncode([1], [1, 1]);
  await assert.rejects(decodeMasks({ ...good, encoding: "rle" }), /encoding must be zlib-base64/);
  await assert.rejects(decodeMasks({ ...good, dtype: "uint16" }), /little-endian int32/);
  await assert.rejects(decodeMasks({ ...good, shape: [1] }), /shape must be/);
  await assert.rejects(decodeMasks({ shape: [1, 1] }), /base64 string/);
});

test("base64 helpers are inverse of each other on large buffers", () => {
  const bytes = new Uint8Array(100_000).map((_, i) => (i * 13) & 255);
  assert.deepEqual(base64ToBytes(bytesToBase64(bytes)), bytes);
  assert.equal(bytesToBase64(bytes), Buffer.from(bytes).toString("base64"));
});
