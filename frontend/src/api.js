/**
 * The REST API client: fetch with the session's CSRF token, JSON in and out, and
 * errors turned into ApiError with the server's human-readable message.
 *
 * Every API error body is {"detail": "<message>"} (cellposeweb/exceptions.py),
 * validation errors add per-field "errors"; errorMessage() also copes with plain
 * DRF bodies and with non-JSON responses (a proxy's 502 page, say).
 */

export class ApiError extends Error {
  /**
   * @param {string} message what to show the user
   * @param {{status: number, body?: any}} info
   */
  constructor(message, { status, body }) {
    super(message);
    this.name = "ApiError";
    this.status = status;
    this.body = body;
  }
}

const STATUS_MESSAGES = {
  0: "The server could not be reached. Check your connection and try again.",
  400: "The request was not accepted.",
  401: "Your session has ended. Sign in again.",
  403: "You are not allowed to do that.",
  404: "Not found.",
  409: "That conflicts with the current state; reload and try again.",
  413: "The file is too large.",
  415: "That file type is not supported.",
  429: "Too many requests; wait a moment and try again.",
  500: "The server failed. Try again later.",
  502: "The server is unavailable. Try again later.",
  503: "The server is busy. Try again later.",
};

/** The first human message in a DRF error structure ({field: ["msg"]}, [..], "msg"). */
function firstMessage(errors, field = "") {
  if (typeof errors === "string") return field && field !== "non_field_errors" ? `${field}: ${errors}` : errors;
  if (Array.isArray(errors)) {
    for (const item of errors) {
      const message = firstMessage(item, field);
      if (message) return message;
    }
    return "";
  }
  if (errors && typeof errors === "object") {
    for (const [key, value] of Object.entries(errors)) {
      const message = firstMessage(value, key);
      if (message) return message;
    }
  }
  return "";
}

/** What to tell the user about a failed response. */
export function errorMessage(status, body) {
  if (body && typeof body === "object") {
    if (typeof body.detail === "string" && body.detail) return body.detail;
    if (typeof body.error === "string" && body.error) return body.error;
    const message = firstMessage(body);
    if (message) return message;
  }
  if (typeof body === "string" && body.trim() && body.length < 300 && !body.trimStart().startsWith("<")) {
    return body.trim();
  }
  return STATUS_MESSAGES[status] ?? `The request failed (HTTP ${status}).`;
}

/** A cookie's value from a cookie string (document.cookie by default). */
export function getCookie(name, cookies = globalThis.document?.cookie ?? "") {
  for (const part of cookies.split(";")) {
    const [key, ...rest] = part.trim().split("=");
    if (key === name) return decodeURIComponent(rest.join("="));
  }
  return null;
}

function parseBody(text, contentType) {
  if (!text) return null;
  if (contentType && contentType.includes("json")) {
    try {
      return JSON.parse(text);
    } catch {
      return text;
    }
  }
  return text;
}

export class ApiClient {
  /**
   * @param {{base?: string, fetch?: typeof fetch, csrfToken?: () => string|null}} [options]
   *   base: prefix of every API path, e.g. "" (same origin) or "https://host"
   */
  constructor({ base = "", fetch: fetchImpl, csrfToken } = {}) {
    this.base = base;
    this.fetch = fetchImpl ?? ((...args) => globalThis.fetch(...args));
    this.csrfToken = csrfToken ?? (() => getCookie("csrftoken"));
  }

  url(path, query) {
    const params = new URLSearchParams();
    for (const [key, value] of Object.entries(query ?? {})) {
      if (value !== undefined && value !== null && value !== "") params.set(key, String(value));
    }
    const qs = params.toString();
    return `${this.base}${path}${qs ? `?${qs}` : ""}`;
  }

  /** Headers for a state-changing request from a page (session + CSRF). */
  csrfHeaders() {
    const token = this.csrfToken();
    return token ? { "X-CSRFToken": token } : {};
  }

  /**
   * @param {string} method
   * @param {string} path
   * @param {{json?: any, form?: FormData, query?: object, signal?: AbortSignal}} [options]
   *   form: a multipart body (file uploads) instead of json
   * @returns {Promise<any>} the parsed JSON body (null for 204)
   */
  async request(method, path, { json, form, query, signal } = {}) {
    const headers = { Accept: "application/json" };
    if (method !== "GET" && method !== "HEAD") Object.assign(headers, this.csrfHeaders());
    if (json !== undefined) headers["Content-Type"] = "application/json";
    let response;
    try {
      response = await this.fetch(this.url(path, query), {
        method,
        headers,
        body: form ?? (json === undefined ? undefined : JSON.stringify(json)),
        credentials: "same-origin",
        signal,
      });
    } catch (error) {
      if (error.name === "AbortError") throw error;
      throw new ApiError(errorMessage(0), { status: 0 });
    }
    const body = parseBody(await response.text(), response.headers.get("Content-Type"));
    if (!response.ok) throw new ApiError(errorMessage(response.status, body), { status: response.status, body });
    return body;
  }

  // ---- images --------------------------------------------------------------

  /**
   * @param {{search?: string, owner?: string, page?: number}} [options] owner: a username (administrators)
   * @returns {Promise<{count: number, next: string|null, previous: string|null, results: object[]}>}
   */
  listImages({ search, owner, page } = {}) {
    return this.request("GET", "/api/images/", { query: { search, owner, page } });
  }

  getImage(id) {
    return this.request("GET", `/api/images/${id}/`);
  }

  deleteImage(id) {
    return this.request("DELETE", `/api/images/${id}/`);
  }

  uploadUrl() {
    return this.url("/api/images/");
  }

  thumbnailUrl(id) {
    return this.url(`/api/images/${id}/thumbnail/`);
  }

  /**
   * How a large image is tiled (GET .../pyramid/: {tiled, width, height, depth, channels, dtype,
   * tile_size, levels, labels}), or null where the server has no such endpoint or image.
   */
  async getPyramid(id) {
    try {
      return await this.request("GET", `/api/images/${id}/pyramid/`);
    } catch (error) {
      if (error instanceof ApiError && error.status === 404) return null;
      throw error;
    }
  }

  /** One 8-bit PNG tile of a tiled image (level: the server's level number). */
  tileUrl(id, level, z, col, row) {
    return this.url(`/api/images/${id}/tiles/${level}/${z}/${col}/${row}.png`);
  }

  /** One label tile (zlib-compressed little-endian int32) of the label image `key`. */
  labelTileUrl(id, key, level, z, col, row) {
    return this.url(`/api/images/${id}/labels/${encodeURIComponent(key)}/tiles/${level}/${z}/${col}/${row}.bin`);
  }

  /**
   * The labels of a rectangle of a tiled image's masks (the latest version unless `version`):
   * {version, labels_key, region, masks} (masks in the compact encoding).
   * @param {number|string} id
   * @param {{x: number, y: number, width: number, height: number, z?: number, version?: number}} region
   */
  getRegion(id, region) {
    return this.request("GET", `/api/images/${id}/annotation/region/`, { query: region });
  }

  /**
   * Save the edited labels of a rectangle as the version after `version`: a stale
   * `version` fails with ApiError status 409 (body.current_version), a region too large 400.
   * @param {number|string} id
   * @param {{x: number, y: number, width: number, height: number, z?: number, version: number, masks: object}} body
   */
  saveRegion(id, body) {
    return this.request("PUT", `/api/images/${id}/annotation/region/`, { json: body });
  }

  /** The 8-bit picture of a rectangle at full resolution, levelled as the tiles are. */
  regionPictureUrl(id, { x, y, width, height, z = 0 }) {
    return this.url(`/api/images/${id}/region.png`, { x, y, width, height, z });
  }

  /** The 8-bit display PNG of one Z plane. */
  planeUrl(id, plane) {
    return this.url(`/api/images/${id}/data/`, { plane });
  }

  flowsUrl(id, plane) {
    return this.url(`/api/images/${id}/flows/`, { format: "png", plane });
  }

  cellprobUrl(id, plane) {
    return this.url(`/api/images/${id}/cellprob/`, { plane });
  }

  /** @param {"png"|"tif"|"npy"|"roi"|"txt"|"geojson"|"coco"|"csv"} format */
  masksDownloadUrl(id, format) {
    return this.url(`/api/images/${id}/masks/`, { format });
  }

  flowsDownloadUrl(id) {
    return this.url(`/api/images/${id}/flows/`, { format: "tif" });
  }

  /**
   * The current annotation (or the given version), or null when the image has none yet.
   * @param {number|string} id
   * @param {{version?: number}} [options]
   * @returns {Promise<{version: number, n_masks: number, masks: object, origins?: Array<string|null>,
   *                   recipe?: object|null}|null>} recipe: how the masks were made (inference/recipe.py)
   */
  async getAnnotation(id, { version } = {}) {
    try {
      return await this.request("GET", `/api/images/${id}/annotation/`, { query: { version } });
    } catch (error) {
      if (error instanceof ApiError && error.status === 404 && version === undefined) return null;
      throw error;
    }
  }

  /**
   * Save edited masks as the version after `version` (the one the edits are based on;
   * 0 for none). A stale `version` fails with ApiError status 409, whose body holds
   * current_version.
   * @param {{version: number, masks: object, origins?: Array<string|null>}} annotation
   * @returns {Promise<{version: number, n_masks: number, changes: object}>}
   */
  saveAnnotation(id, annotation) {
    return this.request("PUT", `/api/images/${id}/annotation/`, { json: annotation });
  }

  /**
   * The saved versions, newest first (paginated: {count, results}).
   * @param {number|string} id
   * @param {{page?: number}} [options]
   */
  listVersions(id, { page } = {}) {
    return this.request("GET", `/api/images/${id}/annotation/versions/`, { query: { page } });
  }

  /**
   * Import a file of existing annotations (_seg.npy, label TIFF/PNG, ImageJ ROI zip, GeoJSON,
   * COCO) as the image's next version; its 400 message says why a file could not be read.
   * @param {number|string} id
   * @param {Blob} file
   * @param {string} [name]
   * @returns {Promise<{version: number, n_masks: number, source: string}>}
   */
  importAnnotation(id, file, name) {
    const form = new FormData();
    form.append("file", file, name ?? /** @type {File} */ (file).name ?? "annotations");
    return this.request("POST", `/api/images/${id}/annotation/import/`, { form });
  }

  /**
   * Make an older version current again (refused with 409 unless `base` is still the latest).
   * @param {number|string} id
   * @param {number} version
   * @param {{base?: number}} [options]
   */
  restoreVersion(id, version, { base } = {}) {
    return this.request("POST", `/api/images/${id}/annotation/versions/${version}/restore/`, { json: { version: base ?? null } });
  }

  // ---- segmentation ----------------------------------------------------------

  segment(id, options) {
    return this.request("POST", `/api/images/${id}/segment/`, { json: options });
  }

  /** One job over many images. */
  segmentMany(imageIds, options) {
    return this.request("POST", "/api/jobs/", { json: { ...options, images: imageIds } });
  }

  getJob(id) {
    return this.request("GET", `/api/jobs/${id}/`);
  }

  /**
   * Jobs, newest first (one page).
   * @param {{image?: number|string, active?: boolean}} [filter] image: only the jobs that segment
   *   it; active: only queued or running ones
   */
  listJobs({ image, active } = {}) {
    const query = new URLSearchParams();
    if (image !== undefined) query.set("image", String(image));
    if (active) query.set("active", "true");
    const text = query.toString();
    return this.request("GET", `/api/jobs/${text ? `?${text}` : ""}`);
  }

  cancelJob(id) {
    return this.request("POST", `/api/jobs/${id}/cancel/`);
  }

  /**
   * @param {number|string} id
   * @param {Record<string, number>} thresholds by the segmentation options' names (cellprob_threshold,
   *   flow_threshold)
   */
  rethreshold(id, thresholds) {
    return this.request("POST", `/api/images/${id}/rethreshold/`, { json: thresholds });
  }

  /** Model versions the server offers; [] when the server has no such endpoint. */
  async listModels() {
    try {
      const body = await this.request("GET", "/api/models/");
      return Array.isArray(body) ? body : body?.results ?? [];
    } catch (error) {
      if (error instanceof ApiError && error.status === 404) return [];
      throw error;
    }
  }

  /** The websocket URL that pushes a job's progress. */
  jobSocketUrl(id, location = globalThis.location) {
    const scheme = location.protocol === "https:" ? "wss:" : "ws:";
    return `${scheme}//${location.host}/ws/jobs/${id}/`;
  }

  /**
   * Fetch an image URL and decode it into something drawImage() accepts.
   * @param {string} url
   * @param {{signal?: AbortSignal}} [options]
   */
  async fetchBitmap(url, { signal } = {}) {
    let response;
    try {
      response = await this.fetch(url, { credentials: "same-origin", signal });
    } catch (error) {
      if (error.name === "AbortError") throw error;
      throw new ApiError(errorMessage(0), { status: 0 });
    }
    if (!response.ok) {
      const body = parseBody(await response.text(), response.headers.get("Content-Type"));
      throw new ApiError(errorMessage(response.status, body), { status: response.status, body });
    }
    return createImageBitmap(await response.blob());
  }

  /**
   * The stored values of every channel of one plane (for cell measurements and display levels).
   * @param {number|string} id
   * @param {number} [plane] Z index (stacks)
   * @returns {Promise<import("./channels/compose.js").ChannelPlane>} values: shape (channels, height,
   *   width), C order, in the stored type (uint8, uint16, int16) or float32
   */
  async getChannels(id, plane) {
    let response;
    try {
      response = await this.fetch(this.url(`/api/images/${id}/channels/`, { plane }), { credentials: "same-origin" });
    } catch {
      throw new ApiError(errorMessage(0), { status: 0 });
    }
    if (!response.ok) {
      const body = parseBody(await response.text(), response.headers.get("Content-Type"));
      throw new ApiError(errorMessage(response.status, body), { status: response.status, body });
    }
    const shape = String(response.headers.get("X-Array-Shape") ?? "").split(",").map(Number);
    const dtype = response.headers.get("X-Array-Dtype");
    const Type = CHANNEL_TYPES[dtype];
    const buffer = await response.arrayBuffer();
    if (!Type || shape.length !== 3 || shape.some((n) => !Number.isInteger(n) || n < 1) ||
        buffer.byteLength !== Type.BYTES_PER_ELEMENT * shape[0] * shape[1] * shape[2]) {
      throw new ApiError(`The channel values came as ${dtype} of shape "${shape.join(",")}" in ${buffer.byteLength} bytes, which do not fit.`, { status: 0 });
    }
    const [channels, height, width] = shape;
    return { values: new Type(buffer), channels, height, width }; // little-endian, as every browser host
  }
}

/** The typed array for each X-Array-Dtype the channel values come in. */
const CHANNEL_TYPES = { uint8: Uint8Array, uint16: Uint16Array, int16: Int16Array, float32: Float32Array };

/**
 * The viewer's description of an image from the API's image object, whose `shape`
 * and `axes` describe the stored array ("YX", "YXC", "CYX", "ZYX", "ZYXC", "ZCYX", "CZYX").
 * @returns {import("./model.js").ImageInfo}
 */
export function describeImage(image) {
  const axes = String(image.axes ?? "");
  const shape = image.shape ?? [];
  if (axes.length !== shape.length || !axes.includes("Y") || !axes.includes("X")) {
    throw new Error(`cannot display an image of shape (${shape.join(", ")}) with axes "${axes}"`);
  }
  const size = (axis) => (axes.includes(axis) ? shape[axes.indexOf(axis)] : 1);
  return {
    id: image.id,
    name: image.name,
    width: size("X"),
    height: size("Y"),
    depth: size("Z"),
    channels: image.n_channels ?? size("C"),
  };
}
