/**
 * Offscreen drawing surfaces for layers. A layer composes its pixels once into a
 * surface; the renderer then only drawImage()s the surface with the view transform,
 * which the browser does on the compositor/GPU path at any zoom.
 */

/**
 * @typedef {OffscreenCanvas|HTMLCanvasElement} SurfaceCanvas
 * @typedef {OffscreenCanvasRenderingContext2D|CanvasRenderingContext2D} SurfaceContext
 */

/**
 * A canvas of the given size: OffscreenCanvas where available, else a detached <canvas>.
 * @param {number} width
 * @param {number} height
 * @returns {SurfaceCanvas}
 */
export function createSurface(width, height) {
  if (typeof OffscreenCanvas !== "undefined") return new OffscreenCanvas(width, height);
  const canvas = document.createElement("canvas");
  canvas.width = width;
  canvas.height = height;
  return canvas;
}

/**
 * The 2D context of a surface canvas. TypeScript cannot pick getContext's "2d" overload on the
 * OffscreenCanvas | HTMLCanvasElement union, so the JSDoc cast says what both return.
 * @param {SurfaceCanvas} canvas
 * @param {CanvasRenderingContext2DSettings} [settings]
 * @returns {SurfaceContext}
 */
export function context2d(canvas, settings) {
  return /** @type {SurfaceContext} */ (canvas.getContext("2d", settings));
}

/**
 * A surface plus an ImageData of the same size whose pixels are also exposed as a
 * Uint32Array (one packed RGBA value per pixel, see colors.packRGBA).
 */
export class PixelSurface {
  constructor(width, height, create = createSurface) {
    this.width = width;
    this.height = height;
    this.canvas = create(width, height);
    this.ctx = context2d(this.canvas);
    this.imageData = this.ctx.createImageData(width, height);
    this.pixels = new Uint32Array(this.imageData.data.buffer);
  }

  /**
   * Copy the ImageData onto the canvas after its pixels were written.
   * @param {{x0: number, y0: number, x1: number, y1: number}} [rect] only this part changed
   */
  commit(rect) {
    if (rect) this.ctx.putImageData(this.imageData, 0, 0, rect.x0, rect.y0, rect.x1 - rect.x0, rect.y1 - rect.y0);
    else this.ctx.putImageData(this.imageData, 0, 0);
  }

  fits(width, height) {
    return this.width === width && this.height === height;
  }
}
