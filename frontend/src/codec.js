/**
 * The annotation mask encoding used by `GET /api/images/{id}/annotation/`:
 * labels as int32 little-endian, zlib-compressed (RFC 1950), then base64.
 *
 * The inflate/deflate step is a parameter so the same code runs in the browser
 * (Compression Streams API, the default) and in Node tests (node:zlib).
 */

/** @typedef {(bytes: Uint8Array) => Promise<Uint8Array>} ByteTransform */

export const ENCODING = "zlib-base64";

/** Inflate zlib data with the Compression Streams API ('deflate' = zlib format). */
export async function inflateWithStreams(bytes) {
  const stream = new Blob([bytes]).stream().pipeThrough(new DecompressionStream("deflate"));
  return new Uint8Array(await new Response(stream).arrayBuffer());
}

/** Deflate to zlib format with the Compression Streams API. */
export async function deflateWithStreams(bytes) {
  const stream = new Blob([bytes]).stream().pipeThrough(new CompressionStream("deflate"));
  return new Uint8Array(await new Response(stream).arrayBuffer());
}

export function base64ToBytes(text) {
  const binary = atob(text);
  const bytes = new Uint8Array(binary.length);
  for (let i = 0; i < binary.length; i++) bytes[i] = binary.charCodeAt(i);
  return bytes;
}

export function bytesToBase64(bytes) {
  let binary = "";
  const chunk = 0x8000;
  for (let i = 0; i < bytes.length; i += chunk) {
    binary += String.fromCharCode.apply(null, bytes.subarray(i, i + chunk));
  }
  return btoa(binary);
}

const LITTLE_ENDIAN = new Uint8Array(new Uint32Array([1]).buffer)[0] === 1;

/** Little-endian int32 bytes -> Int32Array (copies only on big-endian hosts or misalignment). */
export function int32FromLittleEndian(bytes) {
  if (bytes.byteLength % 4 !== 0) {
    throw new Error(`mask data is ${bytes.byteLength} bytes, not a whole number of int32 values`);
  }
  if (LITTLE_ENDIAN && bytes.byteOffset % 4 === 0) {
    return new Int32Array(bytes.buffer, bytes.byteOffset, bytes.byteLength / 4);
  }
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  const out = new Int32Array(bytes.byteLength / 4);
  for (let i = 0; i < out.length; i++) out[i] = view.getInt32(i * 4, true);
  return out;
}

export function int32ToLittleEndian(values) {
  if (LITTLE_ENDIAN) return new Uint8Array(values.buffer, values.byteOffset, values.byteLength);
  const out = new Uint8Array(values.length * 4);
  const view = new DataView(out.buffer);
  for (let i = 0; i < values.length; i++) view.setInt32(i * 4, values[i], true);
  return out;
}

/**
 * Decode the `masks` object of an annotation.
 *
 * @param {{data: string, shape: number[], dtype?: string, byteorder?: string, encoding?: string}} encoded
 *   as the API sends it (annotations/encoding.py): encoding "zlib-base64", dtype "int32",
 *   byteorder "little"; data: base64 of zlib-compressed int32 little-endian labels in C order;
 *   shape: (Ly, Lx) or (Lz, Ly, Lx).
 * @param {{inflate?: ByteTransform}} [options]
 * @returns {Promise<{labels: Int32Array, shape: number[]}>}
 *   labels: int32, length Lz*Ly*Lx (C order), 0 = background, 1..N = cells.
 */
export async function decodeMasks(encoded, { inflate = inflateWithStreams } = {}) {
  if (!encoded || typeof encoded.data !== "string" || !Array.isArray(encoded.shape)) {
    throw new Error("annotation masks must be {data: base64 string, shape: [Ly, Lx] or [Lz, Ly, Lx]}");
  }
  const { shape } = encoded;
  if (shape.length < 2 || shape.length > 3 || !shape.every((n) => Number.isInteger(n) && n > 0)) {
    throw new Error(`annotation masks shape must be (Ly, Lx) or (Lz, Ly, Lx), got (${shape.join(", ")})`);
  }
  if ((encoded.encoding ?? ENCODING) !== ENCODING) {
    throw new Error(`annotation masks encoding must be ${ENCODING}, got ${encoded.encoding}`);
  }
  if ((encoded.dtype ?? "int32") !== "int32" || (encoded.byteorder ?? "little") !== "little") {
    throw new Error(`annotation masks must be little-endian int32, got ${encoded.byteorder} ${encoded.dtype}`);
  }
  const labels = int32FromLittleEndian(await inflate(base64ToBytes(encoded.data)));
  const expected = shape.reduce((a, b) => a * b, 1);
  if (labels.length !== expected) {
    throw new Error(`annotation masks hold ${labels.length} labels, shape (${shape.join(", ")}) needs ${expected}`);
  }
  return { labels, shape: [...shape] };
}

/**
 * The inverse of decodeMasks (for saving edits and for tests).
 * @param {Int32Array} labels int32, C order
 * @param {number[]} shape (Ly, Lx) or (Lz, Ly, Lx)
 */
export async function encodeMasks(labels, shape, { deflate = deflateWithStreams } = {}) {
  const compressed = await deflate(int32ToLittleEndian(labels));
  return { encoding: ENCODING, dtype: "int32", byteorder: "little", shape: [...shape], data: bytesToBase64(compressed) };
}
