import assert from "node:assert/strict";
import { createHash, randomBytes } from "node:crypto";
import { test } from "node:test";

import { Sha256, sha256OfBlob } from "../src/controller/sha256.js";

const hex = (bytes) => new Sha256().update(bytes).hexDigest();
const ascii = (text) => new TextEncoder().encode(text);

test("the FIPS 180-4 vectors hash to their published digests", () => {
  assert.equal(hex(ascii("")), "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855");
  assert.equal(hex(ascii("abc")), "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad");
  assert.equal(hex(ascii("abcdbcdecdefdefgefghfghighijhijkijkljklmklmnlmnomnopnopq")),
    "248d6a61d20638b8e5c026930c3e6039a33ce45964ff2167f6ecedd419db06c1");
  assert.equal(hex(new Uint8Array(1_000_000).fill(0x61)), "cdc76e5c9914fb9281a1c7e284d73e67f1809a48a497200e046d39ccc7112cd0");
});

test("random data fed in random slices hashes as node:crypto hashes it whole", () => {
  for (const size of [0, 1, 55, 56, 63, 64, 65, 119, 120, 1000, 100_003]) {
    const data = randomBytes(size);
    const hash = new Sha256();
    for (let i = 0; i < size;) {
      const step = 1 + Math.floor(Math.random() * 200);
      hash.update(data.subarray(i, i + step));
      i += step;
    }
    assert.equal(hash.hexDigest(), createHash("sha256").update(data).digest("hex"), `size ${size}`);
  }
});

test("a blob is hashed slice by slice with progress up to its size", async () => {
  const data = randomBytes(70_001);
  const seen = [];
  const digest = await sha256OfBlob(new Blob([data]), { sliceBytes: 16_384, onProgress: (done) => seen.push(done) });
  assert.equal(digest, createHash("sha256").update(data).digest("hex"));
  assert.deepEqual(seen, [16_384, 32_768, 49_152, 65_536, 70_001]);
});

test("a finished hash refuses more bytes", () => {
  const hash = new Sha256();
  hash.digest();
  assert.throws(() => hash.update(ascii("x")), /after digest/);
});
