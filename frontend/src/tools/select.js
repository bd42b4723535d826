/**
 * Select masks: click one (Shift+click adds or removes it), or drag a box to select
 * every mask lying wholly inside it on this plane. Delete then removes them all.
 */

const DRAG_PX = 4; // screen pixels before a press becomes a box

/**
 * The masks of a plane that lie wholly inside a rectangle of pixels.
 * @param {Int32Array} labels the plane, shape (height, width)
 * @param {{x0: number, y0: number, x1: number, y1: number}} rect pixels, x1 and y1 exclusive
 * @returns {number[]} labels, increasing
 */
export function masksInside(labels, width, height, rect) {
  const x0 = Math.max(0, rect.x0);
  const y0 = Math.max(0, rect.y0);
  const x1 = Math.min(width, rect.x1);
  const y1 = Math.min(height, rect.y1);
  const inside = new Map();
  for (let y = y0; y < y1; y++) {
    for (let x = x0; x < x1; x++) {
      const l = labels[y * width + x];
      if (l) inside.set(l, (inside.get(l) ?? 0) + 1);
    }
  }
  if (!inside.size) return [];
  const total = new Map([...inside.keys()].map((l) => [l, 0]));
  for (let i = 0; i < labels.length; i++) {
    const l = labels[i];
    if (l && total.has(l)) total.set(l, total.get(l) + 1);
  }
  return [...inside].filter(([l, n]) => total.get(l) === n).map(([l]) => l).sort((a, b) => a - b);
}

export class SelectTool {
  /** @param {{model: import("../model.js").ViewerModel, editor: import("../editor.js").Editor}} context */
  constructor({ model }) {
    this.model = model;
    this._press = null;
  }

  get cursor() {
    return "default";
  }

  pointerDown(e) {
    if (e.button !== 0) return;
    this._press = { x: e.x, y: e.y, sx: e.sx, sy: e.sy, box: false, shift: e.shiftKey };
  }

  pointerMove(e) {
    const press = this._press;
    if (!press) return;
    if (!press.box && Math.hypot(e.sx - press.sx, e.sy - press.sy) > DRAG_PX) press.box = true;
    if (press.box) {
      this.model.setSketch({
        kind: "box", x0: Math.min(press.x, e.x), y0: Math.min(press.y, e.y), x1: Math.max(press.x, e.x), y1: Math.max(press.y, e.y),
      });
    }
  }

  pointerUp(e) {
    const press = this._press;
    this._press = null;
    if (!press) return;
    const { model } = this;
    const current = press.shift ? [...model.selection] : [];
    if (press.box) {
      model.setSketch(null);
      const masks = model.masks;
      if (!masks) return;
      const rect = {
        x0: Math.round(Math.min(press.x, e.x)), y0: Math.round(Math.min(press.y, e.y)),
        x1: Math.round(Math.max(press.x, e.x)), y1: Math.round(Math.max(press.y, e.y)),
      };
      model.setSelection([...current, ...masksInside(model.planeLabels(), masks.width, masks.height, rect)]);
      return;
    }
    const label = model.labelAt(e.px, e.py);
    if (press.shift && label) {
      model.setSelection(model.selection.has(label) ? current.filter((l) => l !== label) : [...current, label]);
    } else {
      model.setSelection(label ? [label] : []);
    }
  }

  key(name) {
    if (name !== "Escape" || !this.model.selection.size) return false;
    this.model.setSelection([]);
    return true;
  }

  deactivate() {
    this._press = null;
    this.model.setSketch(null);
  }
}
