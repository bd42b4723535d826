/**
 * The masks being viewed and edited: a label volume plus what the editor needs to
 * change it cheaply: the area of every label (so the cell count follows each edit
 * without a scan), where each mask came from, and the next free label.
 *
 * Labels are int32 in an Int32Array of shape (depth, height, width), C order;
 * 0 = background, 1..N = cells (gaps allowed while editing; the server renumbers).
 */

/** Where a mask came from (the Cellpose GUI's `ismanual`, with edits told apart). */
export const ORIGIN = Object.freeze({ MODEL: 0, MANUAL: 1, EDITED: 2 });
/** The API's names, indexed by ORIGIN value. */
export const ORIGIN_NAMES = Object.freeze(["model", "manual", "edited"]);

function grow(array, size) {
  if (size <= array.length) return array;
  const bigger = new array.constructor(Math.max(size, array.length * 2));
  bigger.set(array);
  return bigger;
}

export class LabelImage {
  /**
   * @param {Int32Array} labels int32, shape (depth, height, width), C order (kept, not copied)
   * @param {{depth: number, height: number, width: number, version?: number|null,
   *          origins?: Array<string|null>|null}} info origins: the API's list, entry k - 1 for label k
   */
  constructor(labels, { depth, height, width, version = null, origins = null }) {
    if (labels.length !== depth * height * width) {
      throw new Error(`labels hold ${labels.length} values, shape (${depth}, ${height}, ${width}) needs ${depth * height * width}`);
    }
    this.labels = labels;
    this.depth = depth;
    this.height = height;
    this.width = width;
    this.version = version;
    /** Increments on every change; the saver compares it with the last saved revision. */
    this.revision = 0;
    let top = 0;
    for (let i = 0; i < labels.length; i++) if (labels[i] > top) top = labels[i];
    if (top > 4 * labels.length + 65536) {
      throw new Error(`labels go up to ${top} for ${labels.length} pixels; they must be numbered 1..N (the server does)`);
    }
    this.areas = new Int32Array(top + 1);
    for (let i = 0; i < labels.length; i++) this.areas[labels[i]]++;
    this.count = 0;
    for (let l = 1; l <= top; l++) if (this.areas[l] > 0) this.count++;
    /** The largest label ever held: new masks take the next one, so undo never meets a reused label. */
    this.ceiling = top;
    this.origins = new Uint8Array(top + 1);
    if (origins) {
      origins.forEach((name, i) => {
        const value = ORIGIN_NAMES.indexOf(name);
        if (value > 0 && i + 1 <= top) this.origins[i + 1] = value;
      });
    }
  }

  get planeSize() {
    return this.height * this.width;
  }

  /** A label no mask has used yet. */
  nextLabel() {
    return this.ceiling + 1;
  }

  area(label) {
    return label > 0 && label < this.areas.length ? this.areas[label] : 0;
  }

  origin(label) {
    return label < this.origins.length ? this.origins[label] : ORIGIN.MODEL;
  }

  setOrigin(label, origin) {
    this.origins = grow(this.origins, label + 1);
    this.origins[label] = origin;
  }

  /**
   * Write labels: labels[indices[i]] = values (a number for all, or one per index).
   * Keeps areas, count and ceiling right.
   * @param {Uint32Array} indices voxel indices into labels
   * @param {Int32Array|number} values
   * @returns {Set<number>} the non-zero labels whose pixels changed
   */
  write(indices, values) {
    const { labels } = this;
    const uniform = typeof values === "number";
    let top = uniform ? values : 0;
    if (!uniform) for (let i = 0; i < values.length; i++) if (values[i] > top) top = values[i];
    if (top >= this.areas.length) this.areas = grow(this.areas, top + 1);
    if (top > this.ceiling) this.ceiling = top;
    const areas = this.areas;
    const areaBefore = new Map();
    for (let i = 0; i < indices.length; i++) {
      const index = indices[i];
      const before = labels[index];
      const after = uniform ? values : values[i];
      if (before === after) continue;
      if (!areaBefore.has(before)) areaBefore.set(before, areas[before]);
      if (!areaBefore.has(after)) areaBefore.set(after, areas[after]);
      labels[index] = after;
      areas[before]--;
      areas[after]++;
    }
    areaBefore.delete(0);
    for (const [label, area] of areaBefore) {
      if (area === 0 && areas[label] > 0) this.count++;
      else if (area > 0 && areas[label] === 0) this.count--;
    }
    this.revision++;
    return new Set(areaBefore.keys());
  }

  /** The API's list of origins for labels 1..ceiling (entry k - 1 for label k). */
  originNames() {
    const names = new Array(this.ceiling);
    for (let label = 1; label <= this.ceiling; label++) names[label - 1] = this.area(label) ? ORIGIN_NAMES[this.origin(label)] : null;
    return names;
  }

  /** A copy of the labels and origins (what the saver sends and the backup keeps). */
  snapshot() {
    return {
      labels: this.labels.slice(),
      shape: this.depth > 1 ? [this.depth, this.height, this.width] : [this.height, this.width],
      origins: this.originNames(),
      revision: this.revision,
    };
  }
}
