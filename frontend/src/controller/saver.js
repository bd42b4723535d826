/**
 * Saving the masks: a few seconds after the last edit (autosave) and on demand
 * (Ctrl+S), as `PUT /api/images/{id}/annotation/` with the version the edits are
 * based on. The server refuses a save on a stale version (409): the saver then
 * stops and waits for the person to choose (keepMine(), or the page loads theirs).
 * When the server cannot be reached, it retries with growing delays; the edits are
 * kept in the browser meanwhile (backup.js) until a save is confirmed.
 *
 * Notifies "status" with the state below, and "saved" with the server's answer.
 *   status: "saved"    nothing to save (detail.version: the server's version)
 *           "unsaved"  edits not yet sent (an autosave is scheduled)
 *           "saving"   a save is in flight
 *           "offline"  the server could not be reached or failed; retrying (detail.retryIn ms)
 *           "error"    the server refused the save (detail.message); retried after the next edit
 *           "conflict" someone saved version detail.conflict.current meanwhile
 */
import { encodeMasks } from "../codec.js";
import { Observable } from "../observable.js";

export const AUTOSAVE_DELAY_MS = 2500;
export const RETRY_DELAYS_MS = [2000, 4000, 8000, 15000, 30000];

export class AnnotationSaver extends Observable {
  /**
   * @param {{model: import("../model.js").ViewerModel, api: Pick<import("../api.js").ApiClient, "saveAnnotation">,
   *          imageId: number|string, backup?: import("./backup.js").EditBackup|null,
   *          encode?: Function, delay?: number, retryDelays?: number[],
   *          timers?: {setTimeout: Function, clearTimeout: Function}}} deps
   */
  constructor({ model, api, imageId, backup = null, encode = encodeMasks, delay = AUTOSAVE_DELAY_MS,
    retryDelays = RETRY_DELAYS_MS, timers = globalThis }) {
    super();
    this.model = model;
    this.api = api;
    this.imageId = imageId;
    this.backup = backup;
    this.encode = encode;
    this.delay = delay;
    this.retryDelays = retryDelays;
    this.timers = timers;
    this.version = 0; // the server version the masks are based on (0: none)
    this.state = { status: "saved", version: 0, message: "", conflict: null, retryIn: 0 };
    this._savedRevision = 0;
    this._paused = false;
    this._timer = null;
    this._inflight = null;
    this._again = false;
    this._failures = 0;
    this._unsubscribe = model.subscribe((reason, detail) => {
      if (reason === "masks" && detail?.edit) this.changed();
    });
  }

  /** Whether the masks hold edits the server has not confirmed. */
  get dirty() {
    const masks = this.model.masks;
    return Boolean(masks) && masks.revision !== this._savedRevision;
  }

  _set(patch) {
    this.state = { ...this.state, ...patch, version: this.version };
    this.notify("status", this.state);
  }

  /**
   * The masks now in the model are what server version `version` holds (just loaded),
   * or, with dirty, edits on top of it (recovered from the browser's storage).
   */
  reset(version, { dirty = false } = {}) {
    this._cancelTimer();
    this.version = version ?? 0;
    this._savedRevision = dirty ? -1 : this.model.masks?.revision ?? 0;
    this._failures = 0;
    this._paused = false;
    this._set({ status: dirty ? "unsaved" : "saved", message: "", conflict: null, retryIn: 0 });
    if (dirty) {
      this.backup?.schedule(() => this._record());
      this._schedule(this.delay);
    }
  }

  /** Stop saving (an older version is on show); reset() starts again. */
  pause() {
    this._cancelTimer();
    this._paused = true;
  }

  /** An edit happened: keep it in the browser now, send it soon. */
  changed() {
    if (this._paused) return;
    this.backup?.schedule(() => this._record());
    if (this.state.status === "conflict") return; // waiting for the person's choice
    if (this.state.status !== "saving" && this.state.status !== "offline") this._set({ status: "unsaved", message: "" });
    if (this.state.status !== "offline") this._schedule(this.delay);
  }

  _record() {
    const snapshot = this.model.masks.snapshot();
    return { ...snapshot, baseVersion: this.version };
  }

  _schedule(ms) {
    this._cancelTimer();
    this._timer = this.timers.setTimeout(() => {
      this._timer = null;
      this.save();
    }, ms);
  }

  _cancelTimer() {
    if (this._timer !== null) this.timers.clearTimeout(this._timer);
    this._timer = null;
  }

  /** Save now (Ctrl+S): also after an error, and while offline (an immediate retry). */
  saveNow() {
    if (this.state.status === "conflict") return Promise.resolve(null);
    return this.save();
  }

  /** After a conflict: save these edits as the version after the current one. */
  keepMine() {
    const current = this.state.conflict?.current;
    if (current === undefined) return Promise.resolve(null);
    this.version = current;
    this._set({ status: "unsaved", conflict: null, message: "" });
    return this.save();
  }

  /** @returns {Promise<object|null>} the server's answer, or null when nothing was saved */
  save() {
    if (this._inflight) {
      this._again = true;
      return this._inflight;
    }
    this._cancelTimer();
    if (this._paused || !this.dirty || this.state.status === "conflict") {
      if (!this.dirty && this.state.status !== "conflict" && !this._paused) this._set({ status: "saved", message: "" });
      return Promise.resolve(null);
    }
    this._inflight = this._send().finally(() => {
      this._inflight = null;
      if (this._again) {
        this._again = false;
        if (this.dirty && this.state.status === "unsaved") this.save();
      }
    });
    return this._inflight;
  }

  async _send() {
    const masks = this.model.masks;
    const revision = masks.revision;
    const snapshot = masks.snapshot(); // edits made while this save is in flight are saved next
    const base = this.version;
    this._set({ status: "saving", message: "", retryIn: 0 });
    let response;
    try {
      const encoded = await this.encode(snapshot.labels, snapshot.shape);
      response = await this.api.saveAnnotation(this.imageId, { version: base, masks: encoded, origins: snapshot.origins });
    } catch (error) {
      this._failed(error);
      return null;
    }
    this._failures = 0;
    this.version = response.version;
    this._savedRevision = revision;
    if (this.model.masks !== masks) return response; // replaced meanwhile (a reload): nothing more to do
    if (this.dirty) {
      this._set({ status: "unsaved", message: "" });
      this.backup?.schedule(() => this._record());
      this._schedule(this.delay);
    } else {
      this._set({ status: "saved", message: "" });
      this.backup?.clear();
    }
    this.notify("saved", response);
    return response;
  }

  _failed(error) {
    const status = error?.status ?? 0;
    if (status === 409) {
      const current = error.body?.current_version;
      this._set({ status: "conflict", message: error.message, conflict: { current, base: this.version } });
      return;
    }
    if (status === 0 || status === 429 || status >= 500) {
      const retryIn = this.retryDelays[Math.min(this._failures, this.retryDelays.length - 1)];
      this._failures++;
      this._set({ status: "offline", message: error?.message ?? String(error), retryIn });
      this._schedule(retryIn);
      return;
    }
    this._set({ status: "error", message: error?.message ?? String(error) });
  }

  destroy() {
    this._cancelTimer();
    this._unsubscribe();
  }
}
