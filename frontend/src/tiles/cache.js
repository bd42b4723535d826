/**
 * A least-recently-used cache of decoded tiles with a byte budget.
 *
 * Each entry records the bytes it holds (an ImageBitmap of w x h holds 4*w*h, a label
 * tile 4*w*h) and the time it was last used, as a counter (get() bumps it; no list is
 * reordered, so a lookup in the draw loop allocates nothing). Adding an entry evicts
 * the least recently used ones until the total fits the budget, except the entries
 * used since the current frame began (beginFrame): a viewport that needs more than the
 * budget goes over it rather than evict what it is drawing and load it again forever.
 * Evicted values go to `dispose` (ImageBitmap.close() frees the decoded pixels at once).
 */

/**
 * @template V
 * @typedef {{value: V, bytes: number, used: number}} CacheEntry
 */

/** @template V */
export class TileCache {
  /**
   * @param {{budget: number, dispose?: (value: V, key: number) => void}} options budget in bytes
   */
  constructor({ budget, dispose = () => {} }) {
    if (!(budget > 0)) throw new Error(`the tile cache budget must be a positive number of bytes, got ${budget}`);
    this.budget = budget;
    this.dispose = dispose;
    /** @type {Map<number, CacheEntry<V>>} */
    this._entries = new Map();
    this._clock = 0;
    this._frameStart = 1;
    this.bytes = 0;
  }

  get size() {
    return this._entries.size;
  }

  /** Start a frame: entries used from now on are kept until the next frame starts. */
  beginFrame() {
    this._frameStart = ++this._clock;
  }

  /** The value, marked as just used (undefined when absent). */
  get(key) {
    const entry = this._entries.get(key);
    if (entry === undefined) return undefined;
    entry.used = ++this._clock;
    return entry.value;
  }

  /** The value without marking it used. */
  peek(key) {
    return this._entries.get(key)?.value;
  }

  has(key) {
    return this._entries.has(key);
  }

  /**
   * Add or replace a value (the replaced one is disposed), then evict down to the budget.
   * @param {number} key
   * @param {V} value
   * @param {number} bytes
   */
  set(key, value, bytes) {
    const old = this._entries.get(key);
    if (old !== undefined) {
      this.bytes -= old.bytes;
      if (old.value !== value) this.dispose(old.value, key);
    }
    this._entries.set(key, { value, bytes, used: ++this._clock });
    this.bytes += bytes;
    this._evict();
  }

  delete(key) {
    const entry = this._entries.get(key);
    if (entry === undefined) return false;
    this._entries.delete(key);
    this.bytes -= entry.bytes;
    this.dispose(entry.value, key);
    return true;
  }

  /** Dispose of everything. */
  clear() {
    for (const [key, entry] of this._entries) this.dispose(entry.value, key);
    this._entries.clear();
    this.bytes = 0;
  }

  /** @returns {IterableIterator<number>} */
  keys() {
    return this._entries.keys();
  }

  _evict() {
    while (this.bytes > this.budget) {
      let oldestKey = null;
      let oldest = Infinity;
      for (const [key, entry] of this._entries) {
        if (entry.used < oldest && entry.used < this._frameStart) {
          oldest = entry.used;
          oldestKey = key;
        }
      }
      if (oldestKey === null) return; // everything left is on screen
      this.delete(oldestKey);
    }
  }
}
