/**
 * A small IndexedDB store for the editor's backups (backup.js): records keyed by
 * `key`, found by `imageId`. Typed arrays are stored as they are (structured clone).
 */
const DB_NAME = "cellposeweb-editor";
const STORE = "backups";

function promised(request) {
  return new Promise((resolve, reject) => {
    request.onsuccess = () => resolve(request.result);
    request.onerror = () => reject(request.error);
  });
}

export class IdbStore {
  constructor({ indexedDB = globalThis.indexedDB, name = DB_NAME } = {}) {
    this.indexedDB = indexedDB;
    this.name = name;
    this._db = null;
  }

  _open() {
    if (!this._db) {
      if (!this.indexedDB) return Promise.reject(new Error("this browser has no IndexedDB"));
      const request = this.indexedDB.open(this.name, 1);
      request.onupgradeneeded = () => {
        const store = request.result.createObjectStore(STORE, { keyPath: "key" });
        store.createIndex("imageId", "imageId");
      };
      this._db = promised(request);
    }
    return this._db;
  }

  async _run(mode, operation) {
    const db = await this._open();
    const transaction = db.transaction(STORE, mode);
    const result = promised(operation(transaction.objectStore(STORE)));
    await new Promise((resolve, reject) => {
      transaction.oncomplete = resolve;
      transaction.onerror = () => reject(transaction.error);
      transaction.onabort = () => reject(transaction.error ?? new Error("the backup was not written"));
    });
    return result;
  }

  put(record) {
    return this._run("readwrite", (store) => store.put(record));
  }

  delete(key) {
    return this._run("readwrite", (store) => store.delete(key));
  }

  byImage(imageId) {
    return this._run("readonly", (store) => store.index("imageId").getAll(imageId));
  }
}

/** The same interface in memory (for tests). */
export class MemoryStore {
  constructor() {
    this.records = new Map();
  }

  async put(record) {
    this.records.set(record.key, structuredClone(record));
  }

  async delete(key) {
    this.records.delete(key);
  }

  async byImage(imageId) {
    return [...this.records.values()].filter((r) => r.imageId === imageId).map((r) => structuredClone(r));
  }
}
