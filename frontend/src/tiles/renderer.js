/**
 * The tiled canvas renderer: draws the image tiles of the level that suits the zoom,
 * then the overlay tiles (masks, outlines) of the same level, at most once per
 * animation frame and only after something changed.
 *
 * A tile that has not arrived is drawn from the nearest coarser level that has its
 * area (blurry for a moment rather than empty), with the tiles of the next finer level
 * that are still held drawn over it (after zooming out). Tiles are placed in device pixels
 * with rounded edges, so neighbours share their border exactly (no hairline seams at
 * fractional zooms). The draw loop allocates nothing: reused range objects, numeric
 * tile keys, cached ImageBitmaps; only a change of the visible tile set asks the
 * store to load something (TileStore.plan).
 */
import { BACKDROP } from "../view/renderer.js";
import { chooseLevel, coarserCover, sameRange, tileHeight, tileKey, tileWidth, visibleTiles } from "./grid.js";

/** Reasons that change nothing on the canvas. */
const NOT_DRAWN = new Set(["cursor", "masks", "selection", "sketch", "diameter", "raster"]);

export class TileRenderer {
  /**
   * @param {HTMLCanvasElement} canvas
   * @param {import("../model.js").ViewerModel} model the view state (transform, viewport, plane, overlays)
   * @param {import("./store.js").TileStore} store
   * @param {{requestFrame?: (cb: FrameRequestCallback) => any, pixelRatio?: () => number, ring?: number}} [options]
   *   ring: tiles loaded ahead around the view on each side
   */
  constructor(canvas, model, store, { requestFrame, pixelRatio, ring = 1 } = {}) {
    this.canvas = canvas;
    this.ctx = canvas.getContext("2d", { alpha: false });
    this.model = model;
    this.store = store;
    this.pyramid = store.pyramid;
    this.requestFrame = requestFrame ?? ((cb) => requestAnimationFrame(cb));
    this.pixelRatio = pixelRatio ?? (() => globalThis.devicePixelRatio || 1);
    this.ring = ring;
    this.pending = false;
    /** Frame statistics, read by the benchmark and the browser tests. */
    this.stats = { frames: 0, lastFrameMs: 0, level: -1, drawn: 0, fallback: 0, missing: 0 };
    this._visible = { c0: 0, c1: 0, r0: 0, r1: 0 };
    this._ringRange = { c0: 0, c1: 0, r0: 0, r1: 0 };
    this._planned = { level: -1, z: -1, overlay: false, range: { c0: 0, c1: 0, r0: 0, r1: 0 } };
    this._cover = { col: 0, row: 0, sx: 0, sy: 0, sw: 0, sh: 0 };
    this._unsubscribe = [
      model.subscribe((reason) => {
        if (!NOT_DRAWN.has(reason)) this.schedule();
      }),
      store.subscribe((reason, detail) => {
        if (reason !== "tile") return;
        if (detail?.kind === "labels" && detail.key === undefined) this._planned.level = -1; // another label image
        this.schedule();
      }),
    ];
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

  /** Whether the overlay is on (and there is a label image to draw it from). */
  overlayVisible() {
    const { view } = this.model;
    return this.store.labelKey !== null && (view.showMasks || view.showOutlines);
  }

  /** Draw one frame now. */
  render() {
    const start = performance.now();
    const { ctx, model, pyramid, store, stats } = this;
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
    stats.drawn = 0;
    stats.fallback = 0;
    stats.missing = 0;
    if (model.image) {
      const t = model.transform;
      const level = chooseLevel(pyramid, t.scale * ratio);
      const z = model.view.z;
      const overlay = this.overlayVisible();
      visibleTiles(pyramid, level, t, model.viewport.width, model.viewport.height, 0, this._visible);
      this._plan(level, z, overlay);
      store.beginFrame();
      // Crisp pixels when magnified, smooth when minified (as the small-image viewer).
      ctx.imageSmoothingEnabled = pyramid.levels[level].scale * t.scale * ratio < 1;
      this._drawLevel(level, z, t, ratio, false);
      if (overlay) this._drawLevel(level, z, t, ratio, true);
      stats.level = level;
    }
    stats.frames += 1;
    stats.lastFrameMs = performance.now() - start;
  }

  _plan(level, z, overlay) {
    const planned = this._planned;
    if (planned.level === level && planned.z === z && planned.overlay === overlay && sameRange(planned.range, this._visible)) return;
    visibleTiles(this.pyramid, level, this.model.transform, this.model.viewport.width, this.model.viewport.height, this.ring, this._ringRange);
    this.store.plan(level, z, this._visible, this._ringRange, { overlay });
    planned.level = level;
    planned.z = z;
    planned.overlay = overlay;
    Object.assign(planned.range, this._visible);
  }

  _tile(overlay, key) {
    return overlay ? this.store.overlayTile(key) : this.store.imageTile(key);
  }

  _drawLevel(level, z, t, ratio, overlay) {
    const { ctx, pyramid, stats } = this;
    const { c0, c1, r0, r1 } = this._visible;
    const T = pyramid.tileSize;
    const unit = pyramid.levels[level].scale * t.scale * ratio; // device pixels per level pixel
    const ox = t.tx * ratio;
    const oy = t.ty * ratio;
    const top = pyramid.levels.length - 1;
    for (let row = r0; row < r1; row++) {
      const y0 = Math.round(row * T * unit + oy);
      const y1 = Math.round((row * T + tileHeight(pyramid, level, row)) * unit + oy);
      for (let col = c0; col < c1; col++) {
        const x0 = Math.round(col * T * unit + ox);
        const x1 = Math.round((col * T + tileWidth(pyramid, level, col)) * unit + ox);
        const bitmap = this._tile(overlay, tileKey(level, z, col, row));
        if (bitmap !== undefined) {
          ctx.drawImage(bitmap, x0, y0, x1 - x0, y1 - y0);
          stats.drawn += 1;
          continue;
        }
        let found = false;
        for (let coarser = level + 1; coarser <= top && !found; coarser++) {
          const cover = coarserCover(pyramid, level, col, row, coarser, this._cover);
          const parent = this._tile(overlay, tileKey(coarser, z, cover.col, cover.row));
          if (parent === undefined) continue;
          const sw = Math.min(cover.sw, parent.width - cover.sx);
          const sh = Math.min(cover.sh, parent.height - cover.sy);
          if (sw > 0 && sh > 0) ctx.drawImage(parent, cover.sx, cover.sy, sw, sh, x0, y0, x1 - x0, y1 - y0);
          found = true;
        }
        // Zoomed out past tiles still held: the finer level's tiles are sharper than any coarser one.
        if (level > 0 && this._drawFiner(level, z, col, row, unit, ox, oy, overlay)) found = true;
        if (found) stats.fallback += 1;
        else stats.missing += 1;
      }
    }
  }

  /** Draw the tiles of the next finer level that lie in tile (col, row) of `level`; whether any was. */
  _drawFiner(level, z, col, row, unit, ox, oy, overlay) {
    const { ctx, pyramid } = this;
    const finer = level - 1;
    if (pyramid.levels[level].scale !== 2 * pyramid.levels[finer].scale) return false;
    const T = pyramid.tileSize;
    const { cols, rows } = pyramid.levels[finer];
    const half = unit / 2; // device pixels per finer-level pixel
    let any = false;
    for (let r = 2 * row; r < Math.min(2 * row + 2, rows); r++) {
      for (let c = 2 * col; c < Math.min(2 * col + 2, cols); c++) {
        const child = this._tile(overlay, tileKey(finer, z, c, r));
        if (child === undefined) continue;
        const x0 = Math.round(c * T * half + ox);
        const y0 = Math.round(r * T * half + oy);
        const x1 = Math.round((c * T + tileWidth(pyramid, finer, c)) * half + ox);
        const y1 = Math.round((r * T + tileHeight(pyramid, finer, r)) * half + oy);
        ctx.drawImage(child, x0, y0, x1 - x0, y1 - y0);
        any = true;
      }
    }
    return any;
  }

  destroy() {
    for (const off of this._unsubscribe) off();
  }
}
