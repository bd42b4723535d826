/**
 * The viewer's model: the image being shown, its masks, and the view state.
 *
 * Views subscribe and redraw what a reason concerns; tools and controllers change
 * the model only through these methods. Every method that changes something calls
 * notify(reason, detail) exactly once, and nothing when the value is unchanged.
 *
 * Reasons:
 *   "image"     a new image was set (everything else was reset)
 *   "raster"    a drawable for (kind, z) arrived or rasters were cleared; detail {kind, z}
 *   "masks"     the label image changed: replaced (new segmentation, re-threshold, a version
 *               loaded; detail = the masks) or edited (detail {edit: true, rect, planes, labels}:
 *               the changed pixels lie in rect {x0, y0, x1, y1} of the planes listed)
 *   "selection" the selected masks changed (detail: the Set of labels)
 *   "sketch"    what a tool is drawing changed (a path being traced, a box, a brush stroke)
 *   "plane"     the Z plane changed
 *   "layers"    background view, mask/outline visibility or opacity changed
 *   "display"   colour mode, contrast, brightness or the channels' levels and colour maps changed
 *   "transform" zoom or pan changed
 *   "viewport"  the canvas was resized
 *   "diameter"  the calibration disk's diameter or visibility changed
 *   "cursor"    the pixel under the pointer (or the label there) changed
 */
import { LabelImage, ORIGIN_NAMES } from "./labelImage.js";
import { Observable } from "./observable.js";
import { fitTransform, IDENTITY, transformsEqual, zoomAt } from "./transform.js";

/** What the canvas shows under the masks (Cellpose GUI's view drop-down, PgUp/PgDn). */
export const BACKGROUNDS = Object.freeze(["image", "flows", "cellprob"]);
/** Channel display (Cellpose GUI's colour drop-down, W/S and R/G/B keys). */
export const COLOR_MODES = Object.freeze(["rgb", "red", "green", "blue", "gray"]);

/**
 * @typedef {object} ViewState
 * @property {number} z the Z plane shown
 * @property {string} background one of BACKGROUNDS
 * @property {boolean} showMasks
 * @property {boolean} showOutlines
 * @property {number} opacity of the mask overlay, 0..1
 * @property {string} colorMode one of COLOR_MODES
 * @property {number} contrast
 * @property {number} brightness
 * @property {number|null} diameter of the calibration disk, in pixels (null: none)
 * @property {boolean} showDisk
 * @property {Array<import("./channels/levels.js").ChannelSetting>|null} channels levels and colour
 *   map of each channel, applied to the stored values (null: the server's 8-bit picture)
 */

/** @type {Readonly<ViewState>} */
export const DEFAULT_VIEW = Object.freeze({
  z: 0,
  background: "image",
  showMasks: true,
  showOutlines: true,
  opacity: 0.45,
  colorMode: "rgb",
  contrast: 1,
  brightness: 0,
  diameter: null,
  showDisk: true,
  channels: null,
});

/**
 * @typedef {object} ImageInfo
 * @property {number|string} id
 * @property {string} name
 * @property {number} width  Lx
 * @property {number} height Ly
 * @property {number} depth  Lz (1 for 2D images)
 * @property {number} channels number of channels (1 for grayscale)
 */

export class ViewerModel extends Observable {
  constructor() {
    super();
    /** @type {ImageInfo|null} */
    this.image = null;
    /**
     * @type {LabelImage|null} labels (int32, shape (depth, height, width) in C order,
     * 0 = background), depth, height, width, count, version, origins per label.
     */
    this.masks = null;
    /** @type {Set<number>} selected mask labels */
    this.selection = new Set();
    /**
     * What the active tool is drawing, in image coordinates (view/sketchLayer.js draws it), or null.
     * @type {{kind: string, points?: Array<{x: number, y: number}>, [key: string]: any}|null}
     */
    this.sketch = null;
    /** @type {ViewState} */
    this.view = { ...DEFAULT_VIEW };
    this.transform = { ...IDENTITY };
    this.viewport = { width: 0, height: 0 };
    /** @type {{x: number, y: number, label: number}|null} image pixel under the pointer */
    this.cursor = null;
    this._rasters = new Map();
  }

  // ---- image and rasters ---------------------------------------------------

  /** @param {ImageInfo} info */
  setImage(info) {
    for (const key of ["width", "height", "depth", "channels"]) {
      if (!Number.isInteger(info[key]) || info[key] < 1) throw new Error(`image ${key} must be a positive integer, got ${info[key]}`);
    }
    this.image = { ...info };
    this.masks = null;
    this.selection = new Set();
    this.sketch = null;
    this._rasters.clear();
    this.cursor = null;
    this.view = { ...this.view, z: Math.min(this.view.z, info.depth - 1), channels: null };
    this.notify("image", this.image);
  }

  /**
   * Store something drawable (ImageBitmap, canvas) for a raster kind and plane, or for kind
   * "channels" the plane's stored values (channels/compose.js ChannelPlane).
   * @param {"image"|"flows"|"cellprob"|"channels"} kind
   */
  setRaster(kind, z, drawable) {
    this._rasters.set(`${kind}:${z}`, drawable);
    this.notify("raster", { kind, z });
  }

  raster(kind, z = this.view.z) {
    return this._rasters.get(`${kind}:${z}`) ?? null;
  }

  hasRaster(kind, z = this.view.z) {
    return this._rasters.has(`${kind}:${z}`);
  }

  /** Forget every plane of the given kinds (e.g. flows after a new segmentation). */
  clearRasters(...kinds) {
    for (const key of [...this._rasters.keys()]) {
      if (kinds.includes(key.split(":")[0])) this._rasters.delete(key);
    }
    this.notify("raster", { kinds });
  }

  // ---- masks -----------------------------------------------------------------

  /**
   * Replace the masks (a loaded version, a new segmentation). The selection is cleared.
   * @param {{labels: Int32Array, shape: number[], version?: number, origins?: Array<string|null>}|null} masks
   *   labels: int32, shape (Ly, Lx) or (Lz, Ly, Lx) matching the image; origins: the API's
   *   "model" / "manual" / "edited" for label k at index k - 1.
   */
  setMasks(masks) {
    this.selection = new Set();
    if (masks === null) {
      this.masks = null;
      this.notify("masks", null);
      return;
    }
    if (!this.image) throw new Error("set the image before its masks");
    const shape = masks.shape.length === 2 ? [1, ...masks.shape] : masks.shape;
    const [depth, height, width] = shape;
    const { image } = this;
    if (depth !== image.depth || height !== image.height || width !== image.width) {
      throw new Error(
        `masks shape (${masks.shape.join(", ")}) does not match the image (${image.depth}, ${image.height}, ${image.width})`,
      );
    }
    this.masks = new LabelImage(masks.labels, { depth, height, width, version: masks.version ?? null, origins: masks.origins });
    this._refreshCursorLabel();
    this.notify("masks", this.masks);
  }

  /**
   * Write an edit into the masks. Only commands call this (commands/labelEdit.js), so that
   * every edit can be undone.
   * @param {{indices: Uint32Array, values: Int32Array|number, origins?: Array<[number, number]>,
   *          rect?: {x0: number, y0: number, x1: number, y1: number}|null, planes?: number[]|null}} change
   *   indices: voxel indices; values: the new label of each (or one for all); origins: [label, ORIGIN]
   *   pairs to set; rect, planes: where the changed pixels lie (for redrawing only that part).
   */
  writeLabels({ indices, values, origins = [], rect = null, planes = null }) {
    if (!this.masks) throw new Error("there are no masks to edit");
    const labels = this.masks.write(indices, values);
    for (const [label, origin] of origins) this.masks.setOrigin(label, origin);
    this._refreshCursorLabel();
    this.notify("masks", { edit: true, rect, planes, labels });
    const gone = [...this.selection].filter((label) => this.masks.area(label) === 0);
    if (gone.length) this.setSelection([...this.selection].filter((label) => !gone.includes(label)));
  }

  /** "model", "manual" or "edited": where the mask with this label came from. */
  originOf(label) {
    return this.masks && label > 0 ? ORIGIN_NAMES[this.masks.origin(label)] : null;
  }

  // ---- selection and sketch ----------------------------------------------------

  /** @param {Iterable<number>} labels the masks to select (background 0 is ignored) */
  setSelection(labels) {
    const next = new Set([...labels].filter((label) => label > 0));
    if (next.size === this.selection.size && [...next].every((label) => this.selection.has(label))) return;
    this.selection = next;
    this.notify("selection", next);
  }

  /** @param {object|null} sketch see the `sketch` property */
  setSketch(sketch) {
    if (sketch === null && this.sketch === null) return;
    this.sketch = sketch;
    this.notify("sketch", sketch);
  }
  /** The labels of one plane: an Int32Array view (no copy), shape (height, width). */
  planeLabels(z = this.view.z) {
    if (!this.masks) return null;
    const n = this.masks.width * this.masks.height;
    return this.masks.labels.subarray(z * n, (z + 1) * n);
  }

  labelAt(x, y, z = this.view.z) {
    const m = this.masks;
    if (!m || x < 0 || y < 0 || x >= m.width || y >= m.height) return 0;
    return m.labels[(z * m.height + y) * m.width + x];
  }

  // ---- view state ------------------------------------------------------------

  _setView(patch, reason) {
    const changed = Object.keys(patch).some((key) => this.view[key] !== patch[key]);
    if (!changed) return false;
    this.view = { ...this.view, ...patch };
    this.notify(reason, patch);
    return true;
  }

  setPlane(z) {
    const depth = this.image ? this.image.depth : 1;
    const clamped = Math.max(0, Math.min(depth - 1, Math.round(z)));
    if (this._setView({ z: clamped }, "plane")) this._refreshCursorLabel();
  }

  stepPlane(step) {
    this.setPlane(this.view.z + step);
  }

  setBackground(kind) {
    if (!BACKGROUNDS.includes(kind)) throw new Error(`background must be one of ${BACKGROUNDS.join(", ")}, got ${kind}`);
    this._setView({ background: kind }, "layers");
  }

  /** Show `kind` as the background, or the image again if it already is (the I, L, C keys). */
  toggleBackground(kind) {
    this.setBackground(this.view.background === kind ? "image" : kind);
  }

  cycleBackground(step) {
    const i = BACKGROUNDS.indexOf(this.view.background);
    this.setBackground(BACKGROUNDS[(i + step + BACKGROUNDS.length) % BACKGROUNDS.length]);
  }

  setMasksVisible(visible) {
    this._setView({ showMasks: Boolean(visible) }, "layers");
  }

  setOutlinesVisible(visible) {
    this._setView({ showOutlines: Boolean(visible) }, "layers");
  }

  setOpacity(opacity) {
    this._setView({ opacity: Math.max(0, Math.min(1, Number(opacity))) }, "layers");
  }

  setColorMode(mode) {
    if (!COLOR_MODES.includes(mode)) throw new Error(`colour mode must be one of ${COLOR_MODES.join(", ")}, got ${mode}`);
    this._setView({ colorMode: mode }, "display");
  }

  cycleColorMode(step) {
    const i = COLOR_MODES.indexOf(this.view.colorMode);
    this.setColorMode(COLOR_MODES[(i + step + COLOR_MODES.length) % COLOR_MODES.length]);
  }

  /** R/G/B keys in the Cellpose GUI: show that channel alone, or RGB again if it already is. */
  toggleSingleChannel(mode) {
    this.setColorMode(this.view.colorMode === mode ? "rgb" : mode);
  }

  /** @param {number} contrast multiplier around mid-grey, 0.1..10 */
  setContrast(contrast) {
    this._setView({ contrast: Math.max(0.1, Math.min(10, Number(contrast))) }, "display");
  }

  /** @param {number} brightness offset in units of full scale, -1..1 */
  setBrightness(brightness) {
    this._setView({ brightness: Math.max(-1, Math.min(1, Number(brightness))) }, "display");
  }

  /**
   * @param {Array<import("./channels/levels.js").ChannelSetting>|null} settings one per channel
   *   of the image (null: show the server's picture)
   */
  setChannelSettings(settings) {
    if (settings && this.image && settings.length !== this.image.channels) {
      throw new Error(`${settings.length} channel settings for an image of ${this.image.channels} channels`);
    }
    if (JSON.stringify(settings) === JSON.stringify(this.view.channels)) return;
    this._setView({ channels: settings ? settings.map((s) => ({ ...s })) : null }, "display");
  }

  /** @param {number|null} diameter cell diameter in pixels; null = automatic (no disk) */
  setDiameter(diameter) {
    const value = diameter > 0 ? Number(diameter) : null;
    this._setView({ diameter: value }, "diameter");
  }

  setDiskVisible(visible) {
    this._setView({ showDisk: Boolean(visible) }, "diameter");
  }

  // ---- transform -------------------------------------------------------------

  setTransform(transform) {
    if (transformsEqual(transform, this.transform)) return;
    this.transform = { scale: transform.scale, tx: transform.tx, ty: transform.ty };
    this.notify("transform", this.transform);
  }

  /** Zoom by factor around a screen point (default: the viewport's centre). */
  zoomBy(factor, sx = this.viewport.width / 2, sy = this.viewport.height / 2) {
    this.setTransform(zoomAt(this.transform, factor, sx, sy));
  }

  /** Show the whole image in the viewport. */
  fit() {
    if (!this.image) return;
    const { width, height } = this.viewport;
    this.setTransform(fitTransform(this.image.width, this.image.height, width, height, { margin: 16 }));
  }

  setViewport(width, height) {
    if (width === this.viewport.width && height === this.viewport.height) return;
    this.viewport = { width, height };
    this.notify("viewport", this.viewport);
  }

  // ---- cursor ----------------------------------------------------------------

  /** @param {{x: number, y: number}|null} pixel integer image pixel under the pointer */
  setCursor(pixel) {
    const next = pixel ? { x: pixel.x, y: pixel.y, label: this.labelAt(pixel.x, pixel.y) } : null;
    const prev = this.cursor;
    if (prev === next || (prev && next && prev.x === next.x && prev.y === next.y && prev.label === next.label)) return;
    this.cursor = next;
    this.notify("cursor", next);
  }

  _refreshCursorLabel() {
    if (this.cursor) this.cursor = { ...this.cursor, label: this.labelAt(this.cursor.x, this.cursor.y) };
  }
}
