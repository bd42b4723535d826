/**
 * Draw a new mask by its outline: press and drag around the cell, or click its
 * vertices one by one. The outline closes itself when the pointer comes back within
 * a few screen pixels of where it started (as in the Cellpose GUI); releasing a drag,
 * a double-click or Enter close it too; Escape cancels and Backspace takes back the
 * last vertex. The new mask fills background pixels only, unless overwrite is on.
 * With Shift at the start and one mask selected, the outline adds to that mask.
 *
 * The right button draws too, in every tool (the Cellpose GUI's gesture): the pointer
 * router hands right-button presses to a DrawTool made with traceOnly, which traces
 * while the button is held and closes on release (a right-click alone draws nothing).
 */
import { drawMask } from "../commands/maskEdits.js";

export const CLOSE_PX = 8; // screen pixels from the start that close the outline
const STEP_PX = 2; // screen pixels between traced points

export class DrawTool {
  /**
   * @param {{model: import("../model.js").ViewerModel, editor: import("../editor.js").Editor}} context
   * @param {{traceOnly?: boolean}} [options] traceOnly: a press without a drag cancels (no vertex clicking)
   */
  constructor({ model, editor }, { traceOnly = false } = {}) {
    this.model = model;
    this.editor = editor;
    this.traceOnly = traceOnly;
    this.points = null; // image coordinates of the outline so far
    this._pressed = false;
    this._traced = false; // points were added by dragging
    this._away = false; // the pointer has gone far enough from the start to close by coming back
    this._label = null; // add to this mask instead of making a new one
  }

  get cursor() {
    return "crosshair";
  }

  /** The pointer router sends right-button presses to this tool itself while it is active. */
  get drawsWithRightButton() {
    return true;
  }

  _screenDistance(a, b) {
    return Math.hypot(a.x - b.x, a.y - b.y) * this.model.transform.scale;
  }

  _nearStart(p) {
    return this.points && this._screenDistance(p, this.points[0]) <= CLOSE_PX;
  }

  pointerDown(e) {
    if (e.button !== 0 && e.button !== 2) return;
    const p = { x: e.x, y: e.y };
    if (!this.points) {
      if (!this.editor.canEdit()) return;
      const selected = [...this.model.selection];
      this._label = e.shiftKey && selected.length === 1 ? selected[0] : null;
      this.points = [p];
      this._away = false;
    } else if (this.points.length >= 3 && this._nearStart(p)) {
      this.finish();
      return;
    } else {
      this.points.push(p);
    }
    this._pressed = true;
    this._traced = false;
    this._show(null);
  }

  pointerMove(e) {
    if (!this.points) return;
    const p = { x: e.x, y: e.y };
    if (!this._pressed) {
      this._show(p); // the rubber band to the next vertex
      return;
    }
    if (this._screenDistance(p, this.points.at(-1)) >= STEP_PX) {
      this.points.push(p);
      this._traced = true;
      if (this._screenDistance(p, this.points[0]) > 3 * CLOSE_PX) this._away = true;
    }
    if (this._away && this.points.length >= 3 && this._nearStart(p)) {
      this.finish();
      return;
    }
    this._show(null);
  }

  pointerUp() {
    if (!this.points) return;
    this._pressed = false;
    if (this._traced) this.finish(); // a traced outline closes on release
    else if (this.traceOnly) this.cancel();
  }

  doubleClick() {
    if (this.points) this.finish();
    else this.model.fit();
  }

  key(name) {
    if (!this.points) return false;
    if (name === "Escape") this.cancel();
    else if (name === "Enter") this.finish();
    else if (name === "Backspace") {
      this.points.pop();
      if (this.points.length) this._show(null);
      else this.cancel();
    } else return false;
    return true;
  }

  _show(hover) {
    this.model.setSketch({
      kind: "path",
      points: this.points,
      hover,
      closeRadius: CLOSE_PX,
      nearStart: Boolean(hover && this.points.length >= 3 && this._nearStart(hover)),
    });
  }

  /** Close the outline and make the mask. */
  finish() {
    const points = this.points;
    const label = this._label;
    this.cancel();
    if (!points || points.length < 3) {
      this.editor.say("An outline needs at least three points.");
      return;
    }
    const { overwrite } = this.editor.settings;
    const command = drawMask(this.model, points, { overwrite, label });
    const done = this.editor.execute(
      command,
      overwrite ? "The outline encloses no pixel." : "The outline encloses no free pixel (turn on Overwrite to take other masks' pixels).",
    );
    if (done && label === null) this.model.setSelection([this.model.masks.ceiling]);
  }

  cancel() {
    this.points = null;
    this._pressed = false;
    this.model.setSketch(null);
  }

  deactivate() {
    this.cancel();
  }
}
