/**
 * Edit a mask's outline: click a mask to see its outline as a few draggable
 * vertices (the traced pixel outline, simplified); drag a vertex, or drag a point on
 * an edge to add one there. Each release reshapes the mask (one undoable step).
 * Escape or Enter, or a click on background, stops editing it.
 */
import { reshapeMask } from "../commands/maskEdits.js";
import { traceOutline } from "../geometry/outline.js";
import { segmentDistance, simplifyOutline } from "../geometry/polygon.js";

const GRAB_PX = 8; // screen pixels around a vertex that grab it
const EDGE_PX = 5; // ... around an edge that insert a vertex

export class OutlineTool {
  /** @param {{model: import("../model.js").ViewerModel, editor: import("../editor.js").Editor}} context */
  constructor({ model, editor }) {
    this.model = model;
    this.editor = editor;
    this.target = null; // {label, part: plane indices, points: vertices}
    this.active = null; // index of the vertex being dragged
    this._own = false;
    this._offModel = model.subscribe((reason) => {
      // Masks changed by something else (undo, another tool): follow the mask or let go of it.
      if ((reason === "masks" || reason === "plane") && this.target && !this._own) this._retarget();
    });
  }

  get cursor() {
    return this.active !== null ? "grabbing" : "pointer";
  }

  _select(label, index) {
    const { width, height } = this.model.masks;
    const traced = traceOutline(this.model.planeLabels(), width, height, index);
    if (!traced) {
      this.release();
      return;
    }
    this.target = { label, part: traced.pixels, points: simplifyOutline(traced.points) };
    this.model.setSelection([label]);
    this._show();
  }

  /** Trace the target again from one of its pixels (after an undo, say). */
  _retarget() {
    const { label, part } = this.target;
    const plane = this.model.planeLabels();
    const index = plane ? [...part].find((p) => plane[p] === label) : undefined;
    if (index === undefined) this.release();
    else this._select(label, index);
  }

  _nearestVertex(e) {
    const scale = this.model.transform.scale;
    let best = -1;
    let bestDistance = GRAB_PX;
    this.target.points.forEach((p, i) => {
      const d = Math.hypot(p.x - e.x, p.y - e.y) * scale;
      if (d <= bestDistance) (best = i), (bestDistance = d);
    });
    return best;
  }

  _nearestEdge(e) {
    const { points } = this.target;
    const scale = this.model.transform.scale;
    for (let i = 0; i < points.length; i++) {
      if (segmentDistance(e, points[i], points[(i + 1) % points.length]) * scale <= EDGE_PX) return i + 1;
    }
    return -1;
  }

  pointerDown(e) {
    if (e.button !== 0) return;
    if (this.target) {
      const vertex = this._nearestVertex(e);
      if (vertex >= 0) {
        this.active = vertex;
        return;
      }
      const edge = this._nearestEdge(e);
      if (edge >= 0) {
        this.target.points.splice(edge, 0, { x: e.x, y: e.y });
        this.active = edge;
        this._show();
        return;
      }
    }
    const label = this.model.labelAt(e.px, e.py);
    if (!label) {
      this.release();
      return;
    }
    if (!this.editor.canEdit()) return;
    const { width } = this.model.masks;
    this._select(label, e.py * width + e.px);
  }

  pointerMove(e) {
    if (this.active === null) return;
    this.target.points[this.active] = { x: e.x, y: e.y };
    this._show();
  }

  pointerUp() {
    if (this.active === null) return;
    this.active = null;
    const { label, part, points } = this.target;
    this._own = true;
    let done;
    try {
      done = this.editor.execute(
        reshapeMask(this.model, label, part, points, { overwrite: this.editor.settings.overwrite }),
      );
    } finally {
      this._own = false;
    }
    if (done) this._retargetAfterEdit();
    else this._show();
  }

  /** After our own edit: keep the vertices the person placed, but follow the mask's new pixels. */
  _retargetAfterEdit() {
    const { label, points } = this.target;
    const { width, height } = this.model.masks;
    const plane = this.model.planeLabels();
    let index = -1;
    for (let i = 0; i < plane.length && index < 0; i++) if (plane[i] === label) index = i;
    if (index < 0) {
      this.release();
      return;
    }
    const traced = traceOutline(plane, width, height, index);
    this.target = { label, part: traced.pixels, points };
    this._show();
  }

  key(name) {
    if (!this.target || (name !== "Escape" && name !== "Enter")) return false;
    this.release();
    return true;
  }

  _show() {
    this.model.setSketch({ kind: "vertices", points: this.target.points, active: this.active });
  }

  release() {
    this.target = null;
    this.active = null;
    this.model.setSketch(null);
  }

  deactivate() {
    this._offModel();
    this.release();
  }
}
