/**
 * Unsaved edits kept in the browser (IndexedDB) until the server confirms a save,
 * so a reload, a crashed tab or a server that went away loses nothing.
 *
 * Each tab writes its own record ("<image>:<tab>"): the full label volume with its
 * origins, the server version it is based on, and when it was written. A tab holds a
 * Web Lock named after itself while it lives, so on opening an image the page offers
 * back only records whose tab is gone (closed, crashed, or this tab before a reload;
 * the tab id survives reloads in sessionStorage).
 *
 * Notifies "backup" with {state: "kept"|"cleared"|"failed", at?, revision?, error?} (revision:
 * that of the masks kept, see labelImage.js).
 */
import { Observable } from "../observable.js";

export const BACKUP_DELAY_MS = 250;
const LOCK_PREFIX = "cellposeweb-editor-tab:";

/** This tab's id: kept across reloads of the tab, new for a new tab. */
export function tabId(storage = globalThis.sessionStorage) {
  const key = "cellposeweb-editor-tab";
  let id = storage?.getItem(key);
  if (!id) {
    id = `${Date.now().toString(36)}-${Math.random().toString(36).slice(2, 10)}`;
    storage?.setItem(key, id);
  }
  return id;
}

/**
 * @typedef {{labels: Int32Array, shape: number[], origins: Array, baseVersion: number, revision: number}} BackupContent
 * @typedef {BackupContent & {key: string, imageId: string, tab: string, savedAt: number}} BackupRecord
 * @typedef {{put: (record: BackupRecord) => Promise<unknown>, delete: (key: string) => Promise<unknown>,
 *            byImage: (imageId: string) => Promise<BackupRecord[]>}} BackupStore what idbStore.js provides
 */

export class EditBackup extends Observable {
  /**
   * @param {{store: BackupStore, imageId: number|string,
   *          tab: string, locks?: LockManager|null, delay?: number,
   *          timers?: {setTimeout: Function, clearTimeout: Function}, now?: () => number}} deps
   */
  constructor({ store, imageId, tab, locks = globalThis.navigator?.locks ?? null, delay = BACKUP_DELAY_MS,
    timers = globalThis, now = () => Date.now() }) {
    super();
    this.store = store;
    this.imageId = imageId;
    this.tab = tab;
    this.locks = locks;
    this.delay = delay;
    this.timers = timers;
    this.now = now;
    this.key = `${imageId}:${tab}`;
    this._timer = null;
    /** @type {Promise<unknown>} */
    this._queue = Promise.resolve(); // store operations run one at a time, in order
  }

  /** Hold this tab's lock for as long as the page lives (resolves once it is held). */
  start() {
    if (!this.locks) return Promise.resolve();
    return new Promise((held) => {
      this.locks.request(`${LOCK_PREFIX}${this.tab}`, () => {
        held();
        return new Promise(() => {}); // never released while the page lives
      }).catch(() => held());
    });
  }

  /**
   * @template T
   * @param {() => T|Promise<T>} operation
   * @returns {Promise<T>}
   */
  _enqueue(operation) {
    const run = this._queue.then(operation);
    this._queue = run.catch(() => {});
    return run;
  }

  /** Write a record soon (edits come in bursts); `record` is called when it is written. */
  schedule(record) {
    if (this._timer !== null) this.timers.clearTimeout(this._timer);
    this._timer = this.timers.setTimeout(() => {
      this._timer = null;
      this.write(record());
    }, this.delay);
  }

  /** @param {BackupContent} record */
  write(record) {
    const at = this.now();
    return this._enqueue(() => this.store.put({ ...record, key: this.key, imageId: String(this.imageId), tab: this.tab, savedAt: at }))
      .then(() => this.notify("backup", { state: "kept", at, revision: record.revision }))
      .catch((error) => this.notify("backup", { state: "failed", error }));
  }

  /** Forget this tab's record (its edits are saved on the server). */
  clear() {
    if (this._timer !== null) this.timers.clearTimeout(this._timer);
    this._timer = null;
    return this._enqueue(() => this.store.delete(this.key))
      .then(() => this.notify("backup", { state: "cleared" }))
      .catch((error) => this.notify("backup", { state: "failed", error }));
  }

  /**
   * Records of this image left by tabs that are gone, newest first: this tab's own
   * (written before a reload) and those of closed or crashed tabs, but not those of
   * tabs still open (they hold their lock), which may still save their edits.
   */
  async recoverable() {
    const records = await this._enqueue(() => this.store.byImage(String(this.imageId)));
    let live = new Set();
    if (this.locks?.query) {
      const { held = [] } = await this.locks.query();
      live = new Set(held.map((lock) => lock.name));
    }
    return records
      .filter((r) => r.tab === this.tab || !live.has(`${LOCK_PREFIX}${r.tab}`))
      .sort((a, b) => b.savedAt - a.savedAt);
  }

  /** Forget records (after they were recovered or declined). */
  discard(records) {
    return this._enqueue(() => Promise.all(records.map((r) => this.store.delete(r.key))));
  }
}
