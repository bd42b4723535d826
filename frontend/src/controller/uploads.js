/**
 * The upload queue: one XMLHttpRequest per file (fetch cannot report upload
 * progress), a few at a time, each with its own progress and, when the server
 * rejects the file, the server's own message (it validates by content).
 * A file whose axes the server cannot tell from its shape (error code
 * "axes_needed") waits in "needs-axes" with the readings the server offers;
 * sendWithAxes() sends it again naming the one the user chose.
 *
 * A file larger than `chunkBytes()` goes through the chunked upload instead (ChunkedUpload:
 * resumable, one chunk in flight, retried with backoff); smaller files take the single request.
 *
 * Notifies ("item", item) whenever an item changes and ("uploaded", item) when a
 * file was stored.
 */
import { errorMessage } from "../api.js";
import { Observable } from "../observable.js";
import { ChunkedUpload, fetchTransport, ResumeStore } from "./chunkedUpload.js";
import { waitForIngest } from "./ingestWait.js";

/**
 * @typedef {object} UploadItem
 * @property {number} id
 * @property {File} file
 * @property {string} name
 * @property {number} size bytes
 * @property {"queued"|"hashing"|"uploading"|"processing"|"ingesting"|"done"|"failed"|"needs-axes"|"cancelled"} status
 *   hashing: reading a large file for its SHA-256 before the chunked upload starts;
 *   processing: all bytes sent, the server is checking the file and making its thumbnail;
 *   ingesting: a tiled image, its pyramid being built on the server (progress: the share built;
 *   cancel() stops it and the server keeps nothing);
 *   needs-axes: refused until the user says how to read its axes
 * @property {number} progress 0..1 of the bytes sent
 * @property {string|null} error the server's message for a rejected file
 * @property {object|null} image the created image as the API returned it
 * @property {string|null} axes the axes sent with the file (null: the server guesses)
 * @property {string[]|null} axesChoices the readings the server offers ("ZYX", "CYX", ...)
 * @property {number[]|null} shape the array's shape, as the server read it
 * @property {boolean} [chunked] sent through the chunked upload
 * @property {string|null} [sha256] the file's SHA-256, once read (chunked uploads)
 */

export const AXES_NEEDED = "axes_needed";
const UNFINISHED = ["queued", "hashing", "uploading", "processing", "ingesting"];

export class UploadQueue extends Observable {
  /**
   * @param {{url: string, csrfToken: () => string|null, concurrency?: number,
   *          createRequest?: () => XMLHttpRequest, chunkBytes?: () => number,
   *          chunked?: object, fetch?: typeof fetch, waitIngest?: typeof waitForIngest}} options
   *   chunkBytes: files larger than this go through the chunked upload (0 or absent: never);
   *   fetch, waitIngest: for a tiled image's ingest (tests pass fakes)
   *   chunked: more options for ChunkedUpload (transport, store, base, maxAttempts, sleep, ...)
   */
  constructor({ url, csrfToken, concurrency = 3, createRequest = () => new XMLHttpRequest(), chunkBytes = () => 0, chunked = {},
    fetch: fetchFn = (...args) => globalThis.fetch(...args), waitIngest = waitForIngest }) {
    super();
    this.fetch = fetchFn;
    this.waitIngest = waitIngest;
    this.url = url;
    this.csrfToken = csrfToken;
    this.concurrency = concurrency;
    this.createRequest = createRequest;
    this.chunkBytes = chunkBytes;
    this.chunked = { transport: fetchTransport({ csrfToken }), store: new ResumeStore(null), ...chunked };
    /** @type {UploadItem[]} */
    this.items = [];
    this._nextId = 1;
    this._requests = new Map();
  }

  /** @param {Iterable<File>} files */
  add(files) {
    const added = [];
    for (const file of files) {
      /** @type {UploadItem} */
      const item = {
        id: this._nextId++, file, name: file.name, size: file.size,
        status: "queued", progress: 0, error: null, image: null, axes: null, axesChoices: null, shape: null,
      };
      this.items.push(item);
      added.push(item);
      this.notify("item", item);
    }
    this._pump();
    return added;
  }

  cancel(item) {
    const request = this._requests.get(item.id);
    if (request) request.abort();
    else if (item.status === "queued" || item.status === "needs-axes") this._update(item, { status: "cancelled" });
  }

  /**
   * Send a file refused for ambiguous axes again, read as `axes` (one of its axesChoices).
   * @param {UploadItem} item
   * @param {string} axes
   */
  sendWithAxes(item, axes) {
    if (item.status !== "needs-axes" || !item.axesChoices?.includes(axes)) return;
    this._update(item, { status: "queued", axes, error: null, progress: 0 });
    this._pump();
  }

  /** Forget finished items (done, failed, cancelled). */
  clearFinished() {
    this.items = this.items.filter((item) => UNFINISHED.includes(item.status));
    this.notify("cleared");
  }

  get active() {
    return this.items.filter((item) => ["hashing", "uploading", "processing"].includes(item.status)).length;
  }

  _update(item, patch) {
    Object.assign(item, patch);
    this.notify("item", item);
  }

  _pump() {
    for (const item of this.items) {
      if (this.active >= this.concurrency) return;
      if (item.status === "queued") this._start(item);
    }
  }

  _finish(item, patch) {
    this._requests.delete(item.id);
    this._update(item, patch);
    if (patch.status === "done") this.notify("uploaded", item);
    this._pump();
  }

  _start(item) {
    const threshold = this.chunkBytes();
    if (threshold > 0 && item.size > threshold) {
      this._startChunked(item, threshold);
      return;
    }
    const xhr = this.createRequest();
    this._requests.set(item.id, xhr);
    this._update(item, { status: "uploading", progress: 0 });
    xhr.open("POST", this.url);
    xhr.setRequestHeader("Accept", "application/json");
    const token = this.csrfToken();
    if (token) xhr.setRequestHeader("X-CSRFToken", token);
    xhr.upload.onprogress = (e) => {
      if (e.lengthComputable && e.total > 0) this._update(item, { progress: e.loaded / e.total });
    };
    xhr.upload.onload = () => this._update(item, { status: "processing", progress: 1 });
    xhr.onload = () => {
      /** @type {any} */
      let body = xhr.responseText;
      try {
        body = JSON.parse(xhr.responseText);
      } catch {
        // not JSON: errorMessage() handles text and HTML bodies
      }
      if (xhr.status === 202 && body?.url) { // a tiled image: its pyramid is built in the background
        this._waitIngest(item, body);
      } else if (xhr.status >= 200 && xhr.status < 300) {
        this._finish(item, { status: "done", progress: 1, image: body });
      } else if (xhr.status === 400 && body?.code === AXES_NEEDED && Array.isArray(body.axes_choices)) {
        this._finish(item, {
          status: "needs-axes", error: errorMessage(xhr.status, body), axesChoices: body.axes_choices,
          shape: Array.isArray(body.shape) ? body.shape : null,
        });
      } else {
        this._finish(item, { status: "failed", error: errorMessage(xhr.status, body) });
      }
    };
    xhr.onerror = () => this._finish(item, { status: "failed", error: errorMessage(0) });
    xhr.onabort = () => this._finish(item, { status: "cancelled" });
    const form = new FormData();
    form.append("file", item.file, item.name);
    if (item.axes) form.append("axes", item.axes);
    xhr.send(form);
  }

  /** Follow a tiled image's ingest; cancel() then DELETEs the upload, which stops it on the server. */
  _waitIngest(item, state) {
    const controller = new AbortController();
    const token = this.csrfToken();
    this._requests.set(item.id, {
      abort: () => {
        if (controller.signal.aborted) return;
        controller.abort();
        this.fetch(state.url, { method: "DELETE", credentials: "same-origin", headers: token ? { "X-CSRFToken": token } : {} })
          .catch(() => {});
      },
    });
    const onProgress = (share) => this._update(item, { status: "ingesting", progress: share });
    this.waitIngest(state, { signal: controller.signal, onProgress }).then(
      (image) => this._finish(item, { status: "done", progress: 1, image }),
      (error) => this._finish(item, controller.signal.aborted ? { status: "cancelled" } : { status: "failed", error: error.message }),
    );
  }

  _startChunked(item, chunkBytes) {
    const upload = new ChunkedUpload(item.file, {
      ...this.chunked,
      chunkBytes,
      onHashing: (fraction) => this._update(item, { status: "hashing", progress: fraction }),
      onProgress: (fraction) => this._update(item, { status: "uploading", progress: fraction }),
      onCompleting: () => this._update(item, { status: "processing", progress: 1 }),
      onIngesting: (share) => this._update(item, { status: "ingesting", progress: share }),
    });
    upload.sha256 = item.sha256 ?? null;
    this._requests.set(item.id, upload);
    this._update(item, { status: "uploading", progress: 0, chunked: true });
    upload.run(item.axes).then(
      (image) => this._finish(item, { status: "done", progress: 1, image }),
      (error) => {
        const sha256 = upload.sha256;
        if (upload.aborted) this._finish(item, { status: "cancelled" });
        else if (error.status === 400 && error.body?.code === AXES_NEEDED && Array.isArray(error.body.axes_choices)) {
          this._finish(item, {
            status: "needs-axes", error: error.message, axesChoices: error.body.axes_choices, sha256,
            shape: Array.isArray(error.body.shape) ? error.body.shape : null,
          });
        } else {
          const resumable = upload.id && this.chunked.store.get(item.file) === upload.id;
          const hint = resumable ? " Drop the same file again to continue where it stopped." : "";
          this._finish(item, { status: "failed", error: `${error.message ?? String(error)}${hint}`, sha256 });
        }
      },
    );
  }
}
