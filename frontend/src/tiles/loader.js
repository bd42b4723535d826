/**
 * The tile loader: fetches the tiles the view wants, a few at a time, most wanted
 * first, and cancels those that left the view before they arrived.
 *
 * Caching is the browser's: tiles are plain GETs, and the server's
 * `Cache-Control: private, max-age=86400, immutable` and `ETag` let the HTTP cache answer
 * a tile again without the network (or revalidate it with If-None-Match -> 304) after
 * the decoded copy was evicted from the TileCache. A tile that failed is not asked for
 * again until retry() (no request storm against a failing server); the page shows why.
 *
 * @typedef {object} TileRequest
 * @property {string} id       unique among the requests of one loader
 * @property {string} url
 * @property {(response: Response, signal: AbortSignal) => Promise<{value: any, bytes: number}>} decode
 * @property {any} [tag]       handed back with the result (the store's kind and key)
 */

export class TileLoader {
  /**
   * @param {{fetch?: typeof fetch, maxInFlight?: number,
   *          onLoad: (request: TileRequest, value: any, bytes: number) => void,
   *          onError?: (request: TileRequest, error: Error & {status?: number}) => void,
   *          discard?: (value: any) => void}} options
   *   discard: frees a value decoded for a request cancelled meanwhile (ImageBitmap.close)
   */
  constructor({ fetch: fetchImpl, maxInFlight = 6, onLoad, onError = () => {}, discard = () => {} }) {
    this.fetch = fetchImpl ?? ((...args) => globalThis.fetch(...args));
    this.maxInFlight = maxInFlight;
    this.onLoad = onLoad;
    this.onError = onError;
    this.discard = discard;
    /** @type {TileRequest[]} waiting, most wanted first */
    this._queue = [];
    /** @type {Map<string, AbortController>} */
    this._inFlight = new Map();
    /** @type {Map<string, Error>} ids that failed, not asked for again until retry() */
    this.failed = new Map();
    this.stats = { started: 0, loaded: 0, cancelled: 0, failed: 0 };
  }

  get inFlight() {
    return this._inFlight.size;
  }

  get queued() {
    return this._queue.length;
  }

  /**
   * Replace what is wanted: requests in flight that are not in the list are cancelled,
   * the rest are queued in the list's order (the caller leaves out what it already holds).
   * @param {TileRequest[]} requests most wanted first
   */
  want(requests) {
    const ids = new Set(requests.map((r) => r.id));
    for (const [id, controller] of this._inFlight) {
      if (!ids.has(id)) {
        controller.abort();
        this._inFlight.delete(id);
        this.stats.cancelled += 1;
      }
    }
    this._queue = requests.filter((r) => !this._inFlight.has(r.id) && !this.failed.has(r.id));
    this._pump();
  }

  /** Ask again for the tiles that failed (on the next want()). */
  retry() {
    this.failed.clear();
  }

  /** Cancel everything. */
  stop() {
    this.want([]);
  }

  _pump() {
    while (this._inFlight.size < this.maxInFlight && this._queue.length > 0) {
      this._start(this._queue.shift());
    }
  }

  async _start(request) {
    const controller = new AbortController();
    const { signal } = controller;
    this._inFlight.set(request.id, controller);
    this.stats.started += 1;
    try {
      const response = await this.fetch(request.url, { credentials: "same-origin", signal });
      if (!response.ok) {
        const error = Object.assign(new Error(`tile ${request.url}: HTTP ${response.status}`), { status: response.status });
        throw error;
      }
      const { value, bytes } = await request.decode(response, signal);
      if (signal.aborted) {
        this.discard(value);
      } else {
        this.stats.loaded += 1;
        this.onLoad(request, value, bytes);
      }
    } catch (error) {
      if (!signal.aborted) {
        this.stats.failed += 1;
        this.failed.set(request.id, error);
        this.onError(request, error);
      }
    } finally {
      if (this._inFlight.get(request.id) === controller) this._inFlight.delete(request.id);
      this._pump();
    }
  }
}
