/**
 * The stored value of each channel under the pointer, in the status bar
 * ("Ch1 1,204 · Ch2 87"), read from the plane's channel values (no request per move).
 */

const format = (v) => (Number.isInteger(v) ? v.toLocaleString() : String(Number(v.toPrecision(5))));

/**
 * @param {import("./compose.js").ChannelPlane|null} plane
 * @param {{x: number, y: number}|null} cursor
 * @returns {number[]|null} one value per channel, or null (no pointer, no values, outside)
 */
export function valuesAt(plane, cursor) {
  if (!plane || !cursor) return null;
  const { x, y } = cursor;
  if (x < 0 || y < 0 || x >= plane.width || y >= plane.height) return null;
  const n = plane.width * plane.height;
  return Array.from({ length: plane.channels }, (_, c) => plane.values[c * n + y * plane.width + x]);
}

export class IntensityReadout {
  /**
   * @param {HTMLElement} element
   * @param {import("../model.js").ViewerModel} model
   */
  constructor(element, model) {
    this.element = element;
    this.model = model;
    this._unsubscribe = model.subscribe((reason) => {
      if (reason === "cursor" || reason === "raster" || reason === "plane" || reason === "image") this.render();
    });
    this.render();
  }

  render() {
    const values = valuesAt(this.model.raster("channels"), this.model.cursor);
    this.element.dataset.values = values ? values.join(",") : "";
    this.element.textContent = values ? values.map((v, c) => `Ch${c + 1} ${format(v)}`).join(" · ") : "";
  }

  destroy() {
    this._unsubscribe();
  }
}
