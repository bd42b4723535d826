/**
 * One file sent through the chunked upload API (annotations/upload_apis.py), for files larger
 * than one request may be: POST /api/uploads/ {name, size, sha256}, then one PUT per chunk
 * (Content-Range, X-Chunk-Sha256), then POST /api/uploads/<id>/complete/ -> the image.
 *
 * One chunk is in flight at a time. A chunk that fails for a reason that may pass (network,
 * 5xx, 408, 429, a 409 offset mismatch: the offset is asked again) is sent again after a backoff,
 * up to `maxAttempts` failures in a row. The upload's id is remembered (ResumeStore, keyed by the
 * file's name, size and lastModified) so that dropping the same file again after a reload or a
 * lost connection asks the server for its offset and continues there. abort() stops and DELETEs.
 */
import { errorMessage } from "../api.js";
import { waitForIngest } from "./ingestWait.js";
import { sha256OfBlob, toHex } from "./sha256.js";

/**
 * The Content-Range of each chunk still to send.
 * @param {number} size the file's bytes
 * @param {number} chunkBytes the largest chunk
 * @param {number} [offset] bytes the server already has
 * @returns {{first: number, last: number}[]} inclusive byte ranges, in order
 */
export function planChunks(size, chunkBytes, offset = 0) {
  if (!(chunkBytes > 0)) throw new Error("planChunks: chunkBytes must be positive");
  const chunks = [];
  for (let first = offset; first < size; first += chunkBytes) {
    chunks.push({ first, last: Math.min(size, first + chunkBytes) - 1 });
  }
  return chunks;
}

/**
 * Milliseconds to wait before try number `attempt` + 1 (attempt: failures so far, from 1):
 * doubling from `baseMs`, at most `maxMs`.
 */
export function backoffDelay(attempt, { baseMs = 1000, maxMs = 30_000 } = {}) {
  return Math.min(maxMs, baseMs * 2 ** Math.max(0, attempt - 1));
}

/** Whether a failed request may succeed if sent again (0: no response at all). */
export function isRetryable(status) {
  return status === 0 || status === 408 || status === 409 || status === 429 || status >= 500;
}

/** Upload ids by file (name, size, lastModified), in localStorage or any Storage. */
export class ResumeStore {
  /** @param {Storage|null} storage null: remember nothing */
  constructor(storage, prefix = "cellposeweb.upload:") {
    this.storage = storage;
    this.prefix = prefix;
  }

  key(file) {
    return `${this.prefix}${file.size}:${file.lastModified ?? 0}:${file.name}`;
  }

  /** @returns {string|null} */
  get(file) {
    try {
      return this.storage?.getItem(this.key(file)) ?? null;
    } catch {
      return null; // storage denied (private mode): start afresh
    }
  }

  set(file, id) {
    try {
      this.storage?.setItem(this.key(file), id);
    } catch {
      // full or denied: the upload still works, it just cannot resume after a reload
    }
  }

  delete(file) {
    try {
      this.storage?.removeItem(this.key(file));
    } catch {
      // as above
    }
  }
}

/**
 * @typedef {{status: number, body: any}} TransportResponse status 0: no response (network)
 * @typedef {(method: string, url: string, options: {json?: object, body?: Blob,
 *   headers?: Record<string, string>, signal?: AbortSignal}) => Promise<TransportResponse>} Transport
 */

/**
 * A Transport over fetch: JSON bodies as JSON, the CSRF token on every request, the body parsed
 * as JSON when it is JSON. A network failure answers status 0; an abort rejects (AbortError).
 * @param {{fetch?: typeof fetch, csrfToken?: () => string|null}} [options]
 * @returns {Transport}
 */
export function fetchTransport({ fetch: fetchImpl = (...args) => globalThis.fetch(...args), csrfToken = () => null } = {}) {
  return async (method, url, { json, body, headers = {}, signal } = {}) => {
    const all = { Accept: "application/json", ...headers };
    const token = csrfToken();
    if (token) all["X-CSRFToken"] = token;
    if (json !== undefined) all["Content-Type"] = "application/json";
    let response;
    try {
      response = await fetchImpl(url, { method, headers: all, body: json !== undefined ? JSON.stringify(json) : body, signal, credentials: "same-origin" });
    } catch (error) {
      if (signal?.aborted) throw error;
      return { status: 0, body: null };
    }
    const text = await response.text();
    let parsed = text;
    try {
      parsed = text ? JSON.parse(text) : null;
    } catch {
      // text or HTML: errorMessage() reads it
    }
    return { status: response.status, body: parsed };
  };
}

/** The SHA-256 of a chunk by Web Crypto, or null where there is none (then none is sent). */
async function chunkDigest(blob) {
  const subtle = globalThis.crypto?.subtle;
  if (!subtle) return null;
  return toHex(new Uint8Array(await subtle.digest("SHA-256", await blob.arrayBuffer())));
}

export class UploadError extends Error {
  /** @param {number} status @param {any} body */
  constructor(status, body) {
    super(errorMessage(status, body));
    this.status = status;
    this.body = body;
  }
}

export class ChunkedUpload {
  /**
   * @param {File} file
   * @param {{transport: Transport, store?: ResumeStore, chunkBytes: number, base?: string,
   *          maxAttempts?: number, sleep?: (ms: number) => Promise<void>,
   *          backoff?: (attempt: number) => number, hashSliceBytes?: number,
   *          digestChunk?: (blob: Blob) => Promise<string|null>,
   *          onHashing?: (fraction: number) => void, onProgress?: (fraction: number) => void,
   *          onCompleting?: () => void,
   *          waitIngest?: (state: any, options: {signal: AbortSignal, onProgress: (share: number) => void}) => Promise<object>,
   *          onIngesting?: (share: number) => void}} options
   *   onIngesting: a tiled image's pyramid is being built (the share done); abort() cancels it
   *   chunkBytes: the largest chunk this side sends (the server's chunk_size caps it)
   */
  constructor(file, {
    transport, store = new ResumeStore(null), chunkBytes, base = "", maxAttempts = 6,
    sleep = (ms) => new Promise((resolve) => setTimeout(resolve, ms)), backoff = backoffDelay,
    hashSliceBytes = 8 * 1024 * 1024, digestChunk = chunkDigest, onHashing = () => {}, onProgress = () => {}, onCompleting = () => {},
    onIngesting = () => {},
    waitIngest = waitForIngest,
  }) {
    this.file = file;
    this.transport = transport;
    this.store = store;
    this.chunkBytes = chunkBytes;
    this.base = base;
    this.maxAttempts = maxAttempts;
    this.sleep = sleep;
    this.backoff = backoff;
    this.hashSliceBytes = hashSliceBytes;
    this.digestChunk = digestChunk;
    this.onHashing = onHashing;
    this.onProgress = onProgress;
    this.onCompleting = onCompleting;
    this.onIngesting = onIngesting;
    this.waitIngest = waitIngest;
    this.id = null;
    this.offset = 0;
    /** the file's SHA-256, once read (kept for a second try, e.g. with axes) */
    this.sha256 = null;
    this.controller = new AbortController();
  }

  get aborted() {
    return this.controller.signal.aborted;
  }

  url(id) {
    return `${this.base}/api/uploads/${id ? `${id}/` : ""}`;
  }

  /** Stop; the upload is DELETEd on the server and forgotten here. */
  abort() {
    if (this.aborted) return;
    this.controller.abort();
    this.store.delete(this.file);
    if (this.id) this.transport("DELETE", this.url(this.id), {}).catch(() => {});
  }

  /**
   * Send the file (resuming where the server stopped, if it was started before) and complete it.
   * @param {string|null} [axes] as for POST /api/images/
   * @returns {Promise<object>} the image, as POST /api/images/ returns it
   * @throws {UploadError} refused, or still failing after maxAttempts tries (then the upload
   *   stays on the server and resumes when the same file is sent again); AbortError if aborted
   */
  async run(axes = null) {
    const signal = this.controller.signal;
    let serverChunk = await this._open();
    let failures = 0;
    while (this.offset < this.file.size) {
      signal.throwIfAborted();
      const length = Math.min(this.chunkBytes, serverChunk);
      const [{ first, last }] = planChunks(this.file.size, length, this.offset);
      const blob = this.file.slice(first, last + 1);
      const headers = { "Content-Type": "application/octet-stream", "Content-Range": `bytes ${first}-${last}/${this.file.size}` };
      const digest = await this.digestChunk(blob);
      if (digest) headers["X-Chunk-Sha256"] = digest;
      const response = await this.transport("PUT", this.url(this.id), { body: blob, headers, signal });
      if (response.status === 200) {
        this.offset = response.body.offset;
        serverChunk = response.body.chunk_size ?? serverChunk;
        failures = 0;
        this.onProgress(this.offset / this.file.size);
        continue;
      }
      failures = await this._failed(response, failures);
      if (response.status === 409 || response.status === 0) {
        const where = await this.transport("GET", this.url(this.id), { signal });
        if (where.status === 200) this.offset = where.body.offset;
        else if (where.status === 404) this._gone(where);
      }
    }
    failures = 0;
    this.onCompleting();
    for (;;) {
      signal.throwIfAborted();
      const response = await this.transport("POST", `${this.url(this.id)}complete/`, { json: axes ? { axes } : {}, signal });
      if (response.status === 201) {
        this.store.delete(this.file);
        return response.body;
      }
      if (response.status === 202 && response.body?.url) { // a tiled image: built in the background
        this.store.delete(this.file);
        return this.waitIngest(response.body, { signal, onProgress: this.onIngesting });
      }
      if (response.status === 400) this.store.delete(this.file); // refused: the server deleted it
      failures = await this._failed(response, failures);
    }
  }

  /** Count one more failure: wait and go on if it may pass, else throw. */
  async _failed(response, failures) {
    if (response.status === 404) this._gone(response);
    if (!isRetryable(response.status)) throw new UploadError(response.status, response.body);
    failures += 1;
    if (failures >= this.maxAttempts) throw new UploadError(response.status, response.body);
    const signal = this.controller.signal;
    const aborted = new Promise((resolve) => signal.addEventListener("abort", resolve, { once: true }));
    await Promise.race([this.sleep(this.backoff(failures)), aborted]); // cancel does not wait out a backoff
    signal.throwIfAborted();
    return failures;
  }

  _gone(response) {
    this.store.delete(this.file);
    throw new UploadError(response.status, response.body);
  }

  /** Find the upload this file started before, or start one; returns the server's chunk size. */
  async _open() {
    const signal = this.controller.signal;
    const known = this.store.get(this.file);
    if (known) {
      const response = await this.transport("GET", this.url(known), { signal });
      if (response.status === 200 && response.body.size === this.file.size) {
        this.id = known;
        this.offset = response.body.offset;
        this.onProgress(this.offset / this.file.size);
        return response.body.chunk_size;
      }
      if (response.status !== 0) this.store.delete(this.file); // gone (completed, stale, deleted)
    }
    if (!this.sha256) {
      this.onHashing(0);
      this.sha256 = await sha256OfBlob(this.file, {
        sliceBytes: this.hashSliceBytes, signal, onProgress: (done, total) => this.onHashing(done / total),
      });
    }
    let failures = 0;
    for (;;) {
      signal.throwIfAborted();
      const response = await this.transport("POST", this.url(null), {
        json: { name: this.file.name, size: this.file.size, sha256: this.sha256 }, signal,
      });
      if (response.status === 201) {
        this.id = response.body.id;
        this.offset = response.body.offset;
        this.store.set(this.file, this.id);
        this.onProgress(0);
        return response.body.chunk_size;
      }
      if (response.status === 409) throw new UploadError(response.status, response.body); // too many open
      failures = await this._failed(response, failures);
    }
  }
}
