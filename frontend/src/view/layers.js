/**
 * Canvas layers. Each layer only draws: it reads the model, composes its pixels
 * into an offscreen surface when a model change makes them stale, and draws that
 * surface with the current view transform (already set on the context). Pan and
 * zoom therefore never recompute pixels: they are one drawImage per visible layer.
 *
 * Layer protocol (used by Renderer):
 *   invalidate(reason, detail) -> boolean   mark stale if this reason concerns the layer
 *   visible(model) -> boolean
 *   draw(ctx, model)                        compose if stale, then draw at image coordinates
 */
import { makeColorTable, packRGBA, paintOverlay, paintOverlayRect, withAlpha } from "../colors.js";
import { computeOutlines, growRect, unionRect, updateOutlines } from "../outlines.js";
import { composeChannels } from "../channels/compose.js";
import { applyDisplay } from "./display.js";
import { context2d, createSurface, PixelSurface } from "./surface.js";

class ComposedLayer {
  constructor({ surfaceFactory = createSurface } = {}) {
    this.surfaceFactory = surfaceFactory;
    this.surface = null;
    this.stale = true;
  }

  /** The reasons after which this layer must recompose. */
  get staleOn() {
    return ["image", "masks", "plane"];
  }

  invalidate(reason) {
    if (this.staleOn.includes(reason)) this.stale = true;
    return this.stale;
  }

  _surface(width, height) {
    if (!this.surface || !this.surface.fits(width, height)) {
      this.surface = new PixelSurface(width, height, this.surfaceFactory);
    }
    return this.surface;
  }

  /**
   * Compose the layer's pixels into its surface (or set it to null: nothing to draw).
   * @param {import("../model.js").ViewerModel} _model
   */
  compose(_model) {
    throw new Error(`${this.constructor.name} must define compose(model)`);
  }

  draw(ctx, model) {
    if (this.stale) {
      this.compose(model);
      this.stale = false;
    }
    if (this.surface) this.paint(ctx, model);
  }

  paint(ctx, _model) {
    ctx.drawImage(this.surface.canvas, 0, 0);
  }
}

/**
 * The image plane through the channel display: the stored channel values through their
 * levels and colour maps once they are here and set (else the server's 8-bit picture),
 * then colour mode, contrast and brightness.
 */
export class ImageLayer extends ComposedLayer {
  constructor(options) {
    super(options);
    this._source = null; // the drawable the cached source pixels came from
    this._sourcePixels = null;
    this._composed = null; // RGBA of the channels through their levels and colour maps
    this._composedFrom = null; // the channel values and settings (JSON) it was composed from
    this._composedKey = "";
  }

  get staleOn() {
    return ["image", "plane", "display"];
  }

  invalidate(reason, detail) {
    const kinds = detail?.kinds ?? [detail?.kind];
    if (reason === "raster" && (kinds.includes("image") || kinds.includes("channels"))) this.stale = true;
    return super.invalidate(reason);
  }

  visible(model) {
    return model.view.background === "image" && model.raster("image") !== null;
  }

  compose(model) {
    const source = model.raster("image");
    if (!source) {
      this.surface = null;
      return;
    }
    const { width, height } = model.image;
    const surface = this._surface(width, height);
    if (this._source !== source) {
      // Read the decoded PNG's pixels once per plane; display changes reuse them.
      const scratch = this.surfaceFactory(width, height);
      const sctx = context2d(scratch, { willReadFrequently: true });
      sctx.drawImage(source, 0, 0, width, height);
      this._sourcePixels = sctx.getImageData(0, 0, width, height).data;
      this._source = source;
    }
    const values = model.view.channels && model.raster("channels");
    if (values) {
      // Contrast and brightness reuse the composed channels; levels and colour maps recompose them.
      const key = JSON.stringify(model.view.channels);
      if (this._composedFrom !== values || this._composedKey !== key) {
        if (this._composed?.length !== 4 * width * height) this._composed = new Uint8ClampedArray(4 * width * height);
        composeChannels(values, model.view.channels, this._composed);
        this._composedFrom = values;
        this._composedKey = key;
      }
      applyDisplay(this._composed, surface.imageData.data, model.view, 3);
    } else {
      applyDisplay(this._sourcePixels, surface.imageData.data, model.view, model.image.channels);
    }
    surface.commit();
  }
}

/** A server-rendered raster shown as the background: flows (RGB) or cellprob. */
export class RasterLayer {
  /** @param {"flows"|"cellprob"} kind */
  constructor(kind) {
    this.kind = kind;
  }

  invalidate() {
    return false;
  }

  visible(model) {
    return model.view.background === this.kind && model.raster(this.kind) !== null;
  }

  draw(ctx, model) {
    const { width, height } = model.image;
    ctx.drawImage(model.raster(this.kind), 0, 0, width, height);
  }
}

/**
 * Masks and outlines, composed into one overlay surface: cells through the colour
 * table at the model's opacity, outlines opaque on top. One surface means one
 * drawImage per frame for both (pan and zoom at 2048² stay at the display's rate
 * in software rendering); opacity and the X/Z toggles recompose it, which is a
 * table lookup per pixel. An edit recomposes only the rectangle it changed (plus a
 * pixel around it, where outlines may change), so brushing a 2048² image is cheap.
 */
export class MaskOverlayLayer extends ComposedLayer {
  constructor({ outlineColor = [255, 255, 255], ...options } = {}) {
    super(options);
    this.outlinePixel = packRGBA(outlineColor[0], outlineColor[1], outlineColor[2], 255);
    this._colors = null; // opaque colour table, indexed by label
    this._table = null; // the colour table at the current opacity (null: masks hidden)
    this._outlines = null; // outline pixels of the current plane
    this._outlinesFresh = false;
    this._full = true; // whether the next compose redraws everything
    this._dirty = null; // else: the rectangle edits changed
  }

  invalidate(reason, detail) {
    if (reason === "masks" && detail?.edit) {
      const z = this._z;
      if (!detail.planes || detail.planes.includes(z)) {
        this._dirty = unionRect(this._dirty, detail.rect ?? { x0: 0, y0: 0, x1: Infinity, y1: Infinity });
        this.stale = true;
      }
      return this.stale;
    }
    if (reason === "masks" || reason === "image") this._colors = null;
    if (reason === "masks" || reason === "image" || reason === "plane") this._outlinesFresh = false;
    if (reason === "layers" && detail && ("opacity" in detail || "showMasks" in detail || "showOutlines" in detail)) {
      this.stale = true;
      this._full = true;
    }
    if (this.staleOn.includes(reason)) this._full = true;
    return super.invalidate(reason);
  }

  visible(model) {
    return model.masks !== null && (model.view.showMasks || model.view.showOutlines);
  }

  _colorTable(model) {
    const top = model.masks.ceiling;
    if (!this._colors || this._colors.length <= top) {
      this._colors = makeColorTable(Math.max(top, 255) + (this._colors ? 1024 : 0));
      this._table = null;
    }
    if (!this._table) {
      const alpha = Math.round(model.view.opacity * 255);
      this._table = this._colors.map((pixel, label) => (label === 0 ? 0 : withAlpha(pixel, alpha)));
    }
    return this._table;
  }

  compose(model) {
    const labels = model.planeLabels();
    if (!labels) {
      this.surface = null;
      return;
    }
    const { width, height } = model.masks;
    const { showMasks, showOutlines } = model.view;
    const partial = !this._full && this._dirty && this.surface?.fits(width, height) && this._z === model.view.z;
    if (!partial) this._table = null; // opacity may have changed
    const table = showMasks ? this._colorTable(model) : null;
    const surface = this._surface(width, height);
    if (partial) {
      const rect = growRect(this._dirty, 1, width, height);
      if (showOutlines) updateOutlines(labels, width, height, rect, this._outlines);
      else this._outlinesFresh = false; // recomputed when they are shown again
      paintOverlayRect(labels, table, showOutlines ? this._outlines : null, this.outlinePixel, surface.pixels, width, rect);
      surface.commit(rect);
    } else {
      if (showOutlines && !this._outlinesFresh) {
        this._outlines = computeOutlines(labels, width, height, this._outlines);
        this._outlinesFresh = true;
      } else if (!showOutlines) {
        this._outlinesFresh = false; // edits while hidden do not update them
      }
      paintOverlay(labels, table, showOutlines ? this._outlines : null, this.outlinePixel, surface.pixels);
      surface.commit();
    }
    this._z = model.view.z;
    this._full = false;
    this._dirty = null;
  }
}

/**
 * The diameter calibration disk (as in the Cellpose GUI): a disk of the chosen
 * diameter at the image's bottom-left corner, scaled with the image.
 */
export class ScaleDiskLayer {
  invalidate() {
    return false;
  }

  visible(model) {
    return model.view.showDisk && model.view.diameter > 0 && model.image !== null;
  }

  draw(ctx, model) {
    const r = model.view.diameter / 2;
    const margin = Math.max(4, r * 0.25);
    const cx = margin + r;
    const cy = model.image.height - margin - r;
    const px = 1 / model.transform.scale; // one screen pixel in image units
    ctx.beginPath();
    ctx.arc(cx, cy, r, 0, 2 * Math.PI);
    ctx.fillStyle = "rgba(255, 0, 200, 0.45)"; // magenta: visible on gray, RGB and single-channel views
    ctx.fill();
    ctx.lineWidth = 3 * px;
    ctx.strokeStyle = "rgba(0, 0, 0, 0.6)";
    ctx.stroke();
    ctx.lineWidth = 1.5 * px;
    ctx.strokeStyle = "rgba(255, 255, 255, 0.95)";
    ctx.stroke();
  }
}
