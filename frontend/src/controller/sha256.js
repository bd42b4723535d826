/**
 * An incremental SHA-256 (FIPS 180-4): feed a file slice by slice, read the digest at the end.
 * Web Crypto's digest() takes the whole message at once, which a file of tens of GB is not; the
 * chunked upload needs the file's SHA-256 before its first byte is sent.
 */

const K = new Uint32Array([
  0x428a2f98, 0x71374491, 0xb5c0fbcf, 0xe9b5dba5, 0x3956c25b, 0x59f111f1, 0x923f82a4, 0xab1c5ed5,
  0xd807aa98, 0x12835b01, 0x243185be, 0x550c7dc3, 0x72be5d74, 0x80deb1fe, 0x9bdc06a7, 0xc19bf174,
  0xe49b69c1, 0xefbe4786, 0x0fc19dc6, 0x240ca1cc, 0x2de92c6f, 0x4a7484aa, 0x5cb0a9dc, 0x76f988da,
  0x983e5152, 0xa831c66d, 0xb00327c8, 0xbf597fc7, 0xc6e00bf3, 0xd5a79147, 0x06ca6351, 0x14292967,
  0x27b70a85, 0x2e1b2138, 0x4d2c6dfc, 0x53380d13, 0x650a7354, 0x766a0abb, 0x81c2c92e, 0x92722c85,
  0xa2bfe8a1, 0xa81a664b, 0xc24b8b70, 0xc76c51a3, 0xd192e819, 0xd6990624, 0xf40e3585, 0x106aa070,
  0x19a4c116, 0x1e376c08, 0x2748774c, 0x34b0bcb5, 0x391c0cb3, 0x4ed8aa4a, 0x5b9cca4f, 0x682e6ff3,
  0x748f82ee, 0x78a5636f, 0x84c87814, 0x8cc70208, 0x90befffa, 0xa4506ceb, 0xbef9a3f7, 0xc67178f2,
]);

const INITIAL = [0x6a09e667, 0xbb67ae85, 0x3c6ef372, 0xa54ff53a, 0x510e527f, 0x9b05688c, 0x1f83d9ab, 0x5be0cd19];

export class Sha256 {
  constructor() {
    /** the eight 32-bit words of the running hash */
    this.state = new Uint32Array(INITIAL);
    /** a partial 64-byte block not yet compressed */
    this.block = new Uint8Array(64);
    this.blockLength = 0;
    /** bytes fed so far */
    this.length = 0;
    this.words = new Uint32Array(64);
    this.finished = false;
  }

  /**
   * Feed the next bytes of the message.
   * @param {Uint8Array} bytes
   * @returns {this}
   */
  update(bytes) {
    if (this.finished) throw new Error("Sha256: update() after digest()");
    let i = 0;
    this.length += bytes.length;
    if (this.blockLength > 0) {
      const take = Math.min(64 - this.blockLength, bytes.length);
      this.block.set(bytes.subarray(0, take), this.blockLength);
      this.blockLength += take;
      i = take;
      if (this.blockLength < 64) return this;
      this._compress(this.block, 0);
      this.blockLength = 0;
    }
    for (; i + 64 <= bytes.length; i += 64) this._compress(bytes, i);
    if (i < bytes.length) {
      this.block.set(bytes.subarray(i), 0);
      this.blockLength = bytes.length - i;
    }
    return this;
  }

  /**
   * The digest of everything fed; the hash cannot be fed afterwards.
   * @returns {Uint8Array} 32 bytes
   */
  digest() {
    if (this.finished) throw new Error("Sha256: digest() twice");
    const bitLength = this.length * 8; // exact up to 2^53 bits
    const padLength = this.blockLength < 56 ? 56 - this.blockLength : 120 - this.blockLength;
    const tail = new Uint8Array(padLength + 8);
    tail[0] = 0x80;
    const view = new DataView(tail.buffer);
    view.setUint32(padLength, Math.floor(bitLength / 2 ** 32));
    view.setUint32(padLength + 4, bitLength >>> 0);
    const length = this.length;
    this.update(tail);
    this.length = length;
    this.finished = true;
    const out = new Uint8Array(32);
    const outView = new DataView(out.buffer);
    for (let j = 0; j < 8; j++) outView.setUint32(j * 4, this.state[j]);
    return out;
  }

  /** @returns {string} the digest as 64 lowercase hexadecimal digits */
  hexDigest() {
    return toHex(this.digest());
  }

  _compress(bytes, offset) {
    const w = this.words;
    for (let t = 0; t < 16; t++) {
      const p = offset + t * 4;
      w[t] = (bytes[p] << 24) | (bytes[p + 1] << 16) | (bytes[p + 2] << 8) | bytes[p + 3];
    }
    for (let t = 16; t < 64; t++) {
      const a = w[t - 15];
      const b = w[t - 2];
      const s0 = ((a >>> 7) | (a << 25)) ^ ((a >>> 18) | (a << 14)) ^ (a >>> 3);
      const s1 = ((b >>> 17) | (b << 15)) ^ ((b >>> 19) | (b << 13)) ^ (b >>> 10);
      w[t] = (w[t - 16] + s0 + w[t - 7] + s1) | 0;
    }
    const s = this.state;
    let a = s[0], b = s[1], c = s[2], d = s[3], e = s[4], f = s[5], g = s[6], h = s[7];
    for (let t = 0; t < 64; t++) {
      const S1 = ((e >>> 6) | (e << 26)) ^ ((e >>> 11) | (e << 21)) ^ ((e >>> 25) | (e << 7));
      const ch = (e & f) ^ (~e & g);
      const t1 = (h + S1 + ch + K[t] + w[t]) | 0;
      const S0 = ((a >>> 2) | (a << 30)) ^ ((a >>> 13) | (a << 19)) ^ ((a >>> 22) | (a << 10));
      const maj = (a & b) ^ (a & c) ^ (b & c);
      const t2 = (S0 + maj) | 0;
      h = g;
      g = f;
      f = e;
      e = (d + t1) | 0;
      d = c;
      c = b;
      b = a;
      a = (t1 + t2) | 0;
    }
    s[0] += a; s[1] += b; s[2] += c; s[3] += d; s[4] += e; s[5] += f; s[6] += g; s[7] += h;
  }
}

/** @param {Uint8Array} bytes */
export function toHex(bytes) {
  return Array.from(bytes, (byte) => byte.toString(16).padStart(2, "0")).join("");
}

/**
 * The SHA-256 of a Blob (a File), read `sliceBytes` at a time so that memory stays flat.
 * @param {Blob} blob
 * @param {{sliceBytes?: number, onProgress?: (done: number, total: number) => void,
 *          signal?: AbortSignal}} [options]
 * @returns {Promise<string>} 64 lowercase hexadecimal digits
 */
export async function sha256OfBlob(blob, { sliceBytes = 8 * 1024 * 1024, onProgress, signal } = {}) {
  const hash = new Sha256();
  for (let start = 0; start < blob.size; start += sliceBytes) {
    signal?.throwIfAborted();
    const slice = blob.slice(start, Math.min(blob.size, start + sliceBytes));
    hash.update(new Uint8Array(await slice.arrayBuffer()));
    onProgress?.(Math.min(blob.size, start + sliceBytes), blob.size);
  }
  return hash.hexDigest();
}
