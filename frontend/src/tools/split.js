/**
 * Split a mask along a line: drag across it (or click where the line starts and
 * where it ends), from background to background. The larger piece keeps the mask's
 * label; the others become new masks.
 */
import { splitMask } from "../commands/maskEdits.js";

const STEP_PX = 2;

export class SplitTool {
  /** @param {{model: import("../model.js").ViewerModel, editor: import("../editor.js").Editor}} context */
  constructor({ model, editor }) {
    this.model = model;
    this.editor = editor;
    this.points = null;
    this._pressed = false;
    this._dragged = false;
  }

  get cursor() {
    return "crosshair";
  }

  pointerDown(e) {
    if (e.button !== 0) return;
    const p = { x: e.x, y: e.y };
    if (this.points) {
      this.points.push(p); // the second click ends the line
      this.finish();
      return;
    }
    if (!this.editor.canEdit()) return;
    this.points = [p];
    this._pressed = true;
    this._dragged = false;
    this._show(this.points);
  }

  pointerMove(e) {
    if (!this.points) return;
    const p = { x: e.x, y: e.y };
    if (!this._pressed) {
      this._show([...this.points, p]);
      return;
    }
    const last = this.points.at(-1);
    if (Math.hypot(p.x - last.x, p.y - last.y) * this.model.transform.scale >= STEP_PX) {
      this.points.push(p);
      this._dragged = true;
    }
    this._show(this.points);
  }

  pointerUp() {
    this._pressed = false;
    if (this.points && this._dragged) this.finish();
  }

  key(name) {
    if (name !== "Escape" || !this.points) return false;
    this.cancel();
    return true;
  }

  _show(points) {
    this.model.setSketch({ kind: "line", points });
  }

  finish() {
    const points = this.points;
    this.cancel();
    this.editor.execute(splitMask(this.model, points), "Draw the line right across one mask, from background to background.");
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
