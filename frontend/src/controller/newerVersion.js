/**
 * Notices when someone saved a newer version of the masks than the one this tab shows
 * (another tab, a merge, another person): when the tab comes back into view or gets the
 * focus, and every minute while it is visible, it asks for the latest version and
 * compares it with the saver's. A tab that says "saved" is then told that it is behind.
 *
 * Notifies "newer" with {version: the latest on the server, ours: the saver's, dirty:
 * whether this tab holds unsaved edits}, or null once it is up to date again.
 */
import { Observable } from "../observable.js";

export const CHECK_EVERY_MS = 60_000;

export class NewerVersionWatch extends Observable {
  /**
   * @param {{api: import("../api.js").ApiClient, imageId: number|string,
   *          saver: import("./saver.js").AnnotationSaver, shown: () => number|null,
   *          timers?: {setInterval: Function, clearInterval: Function}, doc?: Document|null,
   *          win?: {addEventListener: Function, removeEventListener: Function}|null, every?: number}} deps
   *   shown: the older version on show (read-only), or null; no check while one is
   */
  constructor({ api, imageId, saver, shown, timers = globalThis, doc = globalThis.document ?? null,
    win = globalThis.window ?? null, every = CHECK_EVERY_MS }) {
    super();
    this.api = api;
    this.imageId = imageId;
    this.saver = saver;
    this.shown = shown;
    this.timers = timers;
    this.doc = doc;
    this.state = null;
    this._checking = null;
    this._check = () => {
      if (!this.doc || this.doc.visibilityState !== "hidden") this.check();
    };
    this._interval = timers.setInterval(this._check, every);
    doc?.addEventListener("visibilitychange", this._check);
    win?.addEventListener("focus", this._check);
    this._win = win;
    this._unsubscribe = saver.subscribe((reason) => {
      if (reason === "status" && this.state && this.saver.version >= this.state.version) this._set(null);
    });
  }

  _set(state) {
    const same = JSON.stringify(state) === JSON.stringify(this.state);
    this.state = state;
    if (!same) this.notify("newer", state);
  }

  /** Ask the server for the latest version now (one request at a time). */
  check() {
    if (this._checking) return this._checking;
    this._checking = this._ask().finally(() => {
      this._checking = null;
    });
    return this._checking;
  }

  async _ask() {
    if (this.shown() !== null || this.saver.state.status === "conflict") return;
    let latest;
    try {
      const page = await this.api.listVersions(this.imageId);
      latest = page.results?.[0]?.version ?? 0;
    } catch {
      return; // the next check tries again; saving reports what is wrong with the server
    }
    const ours = this.saver.version;
    this._set(latest > ours ? { version: latest, ours, dirty: this.saver.dirty } : null);
  }

  destroy() {
    this.timers.clearInterval(this._interval);
    this.doc?.removeEventListener("visibilitychange", this._check);
    this._win?.removeEventListener("focus", this._check);
    this._unsubscribe();
  }
}
