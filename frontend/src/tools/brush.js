/**
 * The brush adds the pixels under a stroke to a mask: the selected mask, else the
 * one the stroke starts on, else a new mask (which is then selected, so further
 * strokes extend it). The eraser clears them: from the selected mask only, or from
 * every mask when none is selected. Size with , and . (the Cellpose GUI's keys).
 */
import { eraseStroke, paintStroke } from "../commands/maskEdits.js";

export class BrushTool {
  /**
   * @param {{model: import("../model.js").ViewerModel, editor: import("../editor.js").Editor}} context
   * @param {{erase?: boolean}} [options]
   */
  constructor({ model, editor }, { erase = false } = {}) {
    this.model = model;
    this.editor = editor;
    this.erase = erase;
    this.points = null;
    this.label = null;
    this._offSettings = editor.subscribe((reason) => {
      if (reason === "settings" && this._last) this._showBrush(this._last);
    });
  }

  get cursor() {
    return "none";
  }

  get diameter() {
    return this.editor.settings.brushSize;
  }

  pointerDown(e) {
    if (e.button !== 0 || !this.editor.canEdit()) return;
    const selected = [...this.model.selection];
    const only = selected.length === 1 ? selected[0] : null;
    this.label = this.erase ? only : only ?? (this.model.labelAt(e.px, e.py) || null);
    this.points = [{ x: e.x, y: e.y }];
    this._showStroke();
  }

  pointerMove(e) {
    this._last = { x: e.x, y: e.y };
    if (!this.points) {
      this._showBrush(this._last);
      return;
    }
    this.points.push({ x: e.x, y: e.y });
    this._showStroke();
  }

  pointerUp(e) {
    const points = this.points;
    this.points = null;
    this._showBrush({ x: e.x, y: e.y });
    if (!points) return;
    const { model, editor } = this;
    const { overwrite } = editor.settings;
    if (this.erase) {
      editor.execute(eraseStroke(model, points, this.diameter, { label: this.label }), "Nothing to erase there.");
      return;
    }
    const done = editor.execute(
      paintStroke(model, points, this.diameter, { label: this.label, overwrite }),
      "The brush found no free pixel (turn on Overwrite to take other masks' pixels).",
    );
    if (done && this.label === null) model.setSelection([model.masks.ceiling]);
  }

  pointerLeave() {
    if (!this.points) this.model.setSketch(null);
  }

  _showStroke() {
    this.model.setSketch({ kind: "stroke", points: this.points, diameter: this.diameter, erase: this.erase });
  }

  _showBrush(p) {
    this.model.setSketch({ kind: "brush", x: p.x, y: p.y, diameter: this.diameter, erase: this.erase });
  }

  deactivate() {
    this.points = null;
    this._offSettings();
    this.model.setSketch(null);
  }
}
