/**
 * Navigation: drag to pan, wheel to zoom around the cursor, double-click to fit
 * (the Cellpose GUI's "full view"). It is both the viewer's default tool and the
 * navigator the pointer router uses for the wheel, the middle button and
 * space+drag whatever tool is active.
 */
import { panBy, wheelZoomFactor, zoomAt } from "../transform.js";

export class PanZoomTool {
  /** @param {{model: import("../model.js").ViewerModel}} context */
  constructor({ model }) {
    this.model = model;
    this._last = null;
  }

  get cursor() {
    return this._last ? "grabbing" : "grab";
  }

  pointerDown(e) {
    this._last = { sx: e.sx, sy: e.sy };
  }

  pointerMove(e) {
    if (!this._last) return;
    const { model } = this;
    model.setTransform(panBy(model.transform, e.sx - this._last.sx, e.sy - this._last.sy));
    this._last = { sx: e.sx, sy: e.sy };
  }

  pointerUp() {
    this._last = null;
  }

  wheel(e) {
    const { model } = this;
    model.setTransform(zoomAt(model.transform, wheelZoomFactor(e.deltaY, e.deltaMode), e.sx, e.sy));
  }

  doubleClick() {
    this.model.fit();
  }
}
