/**
 * The edit command: a compact diff of the label volume (the voxels that change, with
 * their labels before and after) plus the origins it changes. do() writes the new
 * labels into the model, undo() the old ones; nothing else is touched.
 *
 * Memory: 4 bytes per changed voxel for the index, and 4 per voxel for each of
 * before/after unless all voxels share one value (drawing on background, deleting
 * a mask), which is then kept as one number. A typical edit of a 2048² image is a
 * few kilobytes, so a history of hundreds of steps stays small.
 */

/** One value when every entry is the same, else the array itself. */
function compact(values) {
  if (typeof values === "number") return values;
  if (values.length === 0) return 0;
  const first = values[0];
  for (let i = 1; i < values.length; i++) if (values[i] !== first) return values;
  return first;
}

export class LabelEdit {
  /**
   * @param {import("../model.js").ViewerModel} model
   * @param {{name: string, indices: Uint32Array, before: Int32Array|number, after: Int32Array|number,
   *          origins?: Array<[number, number, number]>}} diff
   *   indices: voxel indices; before/after: their labels (one per index, or one for all);
   *   origins: [label, origin before, origin after] (labelImage.ORIGIN values)
   */
  constructor(model, { name, indices, before, after, origins = [] }) {
    this.model = model;
    this.name = name;
    this.indices = indices;
    this.before = compact(before);
    this.after = compact(after);
    this.origins = origins;
    const { width, planeSize } = model.masks;
    let x0 = Infinity;
    let y0 = Infinity;
    let x1 = -1;
    let y1 = -1;
    const planes = new Set();
    for (let k = 0; k < indices.length; k++) {
      const i = indices[k];
      const z = Math.floor(i / planeSize);
      const r = i - z * planeSize;
      const x = r % width;
      const y = (r - x) / width;
      planes.add(z);
      if (x < x0) x0 = x;
      if (x > x1) x1 = x;
      if (y < y0) y0 = y;
      if (y > y1) y1 = y;
    }
    this.rect = x1 < 0 ? null : { x0, y0, x1: x1 + 1, y1: y1 + 1 };
    this.planes = [...planes];
  }

  /**
   * The command that sets the given voxels to `after`, keeping only those that change.
   * @param {import("../model.js").ViewerModel} model
   * @param {string} name what the history shows ("Brush", "Delete mask")
   * @param {Uint32Array|number[]} indices voxel indices (each at most once)
   * @param {Int32Array|number} after the new label of each, or one for all
   * @param {{origins?: Array<[number, number]>}} [options] [label, new origin] pairs
   * @returns {LabelEdit|null} null when nothing would change
   */
  static build(model, name, indices, after, { origins = [] } = {}) {
    const { labels } = model.masks;
    const uniform = typeof after === "number";
    const keep = [];
    for (let k = 0; k < indices.length; k++) if (labels[indices[k]] !== (uniform ? after : after[k])) keep.push(k);
    const changed = origins
      .map(([label, origin]) => /** @type {[number, number, number]} */ ([label, model.masks.origin(label), origin]))
      .filter(([, before, now]) => before !== now);
    if (!keep.length && !changed.length) return null;
    const picked = Uint32Array.from(keep, (k) => indices[k]);
    const before = Int32Array.from(picked, (i) => labels[i]);
    const values = uniform ? after : Int32Array.from(keep, (k) => after[k]);
    return new LabelEdit(model, { name, indices: picked, before, after: values, origins: changed });
  }

  get pixels() {
    return this.indices.length;
  }

  /** Approximate memory held, in bytes. */
  get bytes() {
    const size = (v) => (typeof v === "number" ? 8 : v.byteLength);
    return this.indices.byteLength + size(this.before) + size(this.after) + 24 * this.origins.length + 64;
  }

  do() {
    this._write(this.after, this.origins.map(([label, , after]) => [label, after]));
  }

  undo() {
    this._write(this.before, this.origins.map(([label, before]) => [label, before]));
  }

  _write(values, origins) {
    this.model.writeLabels({ indices: this.indices, values, origins, rect: this.rect, planes: this.planes });
  }
}

/** Several commands done as one step (and undone in reverse order). */
export class CompositeCommand {
  /** @param {string} name @param {Array<{do: Function, undo: Function, bytes?: number}>} commands already built */
  constructor(name, commands) {
    this.name = name;
    this.commands = commands;
  }

  get bytes() {
    return this.commands.reduce((sum, c) => sum + (c.bytes ?? 0), 0);
  }

  do() {
    for (const command of this.commands) command.do();
  }

  undo() {
    for (let i = this.commands.length - 1; i >= 0; i--) this.commands[i].undo();
  }
}
