/**
 * The status line under the canvas: cell count, the label under the pointer (and
 * where that mask came from), the Z plane of stacks and the zoom.
 */

/** How a mask's origin reads on hover (the Cellpose GUI's `ismanual`, with edits told apart). */
export const ORIGIN_TEXT = { model: "from the model", manual: "drawn by hand", edited: "model, then edited" };
export class StatusBar {
  /**
   * @param {{count: HTMLElement, hover: HTMLElement, zoom: HTMLElement}} elements
   * @param {import("../model.js").ViewerModel} model
   */
  constructor(elements, model) {
    this.elements = elements;
    this.model = model;
    this._unsubscribe = model.subscribe((reason) => {
      if (reason === "masks" || reason === "image") this.renderCount();
      if (reason === "cursor" || reason === "masks" || reason === "plane") this.renderHover();
      if (reason === "transform") this.renderZoom();
    });
    this.renderCount();
    this.renderHover();
    this.renderZoom();
  }

  renderCount() {
    const { masks } = this.model;
    const el = this.elements.count;
    el.dataset.count = masks ? String(masks.count) : "";
    el.textContent = !masks ? "No masks yet" : masks.count === 1 ? "1 cell" : `${masks.count.toLocaleString()} cells`;
  }

  renderHover() {
    const { cursor } = this.model;
    const el = this.elements.hover;
    el.dataset.label = cursor ? String(cursor.label) : "";
    el.dataset.origin = "";
    if (!cursor) el.textContent = "";
    else if (!this.model.masks) el.textContent = `x ${cursor.x}, y ${cursor.y}`;
    else if (cursor.label > 0) {
      const origin = this.model.originOf(cursor.label);
      el.dataset.origin = origin;
      el.textContent = `Cell ${cursor.label} · ${ORIGIN_TEXT[origin]} · x ${cursor.x}, y ${cursor.y}`;
    }
    else el.textContent = `Background · x ${cursor.x}, y ${cursor.y}`;
  }

  renderZoom() {
    this.elements.zoom.textContent = `${Math.round(this.model.transform.scale * 100)} %`;
  }

  destroy() {
    this._unsubscribe();
  }
}
