/**
 * The canvas renderer: subscribes to the model, lets each layer decide whether a
 * change makes it stale, and redraws at most once per animation frame.
 */

/** Reasons that change nothing on the canvas. */
const NOT_DRAWN = new Set(["cursor"]);

export const BACKDROP = "#1b1e23";

export class Renderer {
  /**
   * @param {HTMLCanvasElement} canvas the visible canvas
   * @param {import("../model.js").ViewerModel} model
   * @param {Array} layers bottom to top (see layers.js for the protocol)
   * @param {{requestFrame?: (cb: FrameRequestCallback) => any, pixelRatio?: () => number}} [options]
   */
  constructor(canvas, model, layers, { requestFrame, pixelRatio } = {}) {
    this.canvas = canvas;
    this.ctx = canvas.getContext("2d", { alpha: false });
    this.model = model;
    this.layers = layers;
    this.requestFrame = requestFrame ?? ((cb) => requestAnimationFrame(cb));
    this.pixelRatio = pixelRatio ?? (() => globalThis.devicePixelRatio || 1);
    this.pending = false;
    /** Frame statistics, read by the benchmark and the browser tests. */
    this.stats = { frames: 0, lastFrameMs: 0 };
    this._unsubscribe = model.subscribe((reason, detail) => this._onChange(reason, detail));
    this.schedule();
  }

  _onChange(reason, detail) {
    if (NOT_DRAWN.has(reason)) return;
    for (const layer of this.layers) layer.invalidate(reason, detail);
    this.schedule();
  }

  schedule() {
    if (this.pending) return;
    this.pending = true;
    this.requestFrame(() => {
      this.pending = false;
      this.render();
    });
  }

  /** Draw one frame now. */
  render() {
    const start = performance.now();
    const { ctx, model } = this;
    const ratio = this.pixelRatio();
    const width = Math.max(1, Math.round(model.viewport.width * ratio));
    const height = Math.max(1, Math.round(model.viewport.height * ratio));
    if (this.canvas.width !== width || this.canvas.height !== height) {
      this.canvas.width = width;
      this.canvas.height = height;
    }
    ctx.setTransform(1, 0, 0, 1, 0, 0);
    ctx.globalAlpha = 1;
    ctx.fillStyle = BACKDROP;
    ctx.fillRect(0, 0, width, height);
    if (model.image) {
      const { scale, tx, ty } = model.transform;
      ctx.setTransform(scale * ratio, 0, 0, scale * ratio, tx * ratio, ty * ratio);
      // Smooth when minified; show crisp pixels when magnified (as microscopy viewers do).
      ctx.imageSmoothingEnabled = scale * ratio < 1;
      for (const layer of this.layers) {
        if (layer.visible(model)) layer.draw(ctx, model);
      }
    }
    this.stats.frames += 1;
    this.stats.lastFrameMs = performance.now() - start;
  }

  destroy() {
    this._unsubscribe();
  }
}
