/**
 * The tile store: the decoded tiles of one tiled image, what the view asks for next,
 * and the overlay pictures composed from its label tiles. It is the tiled viewer's
 * model of pixels; the view state (zoom, plane, which overlays) stays in ViewerModel.
 *
 * Three caches with their own byte budgets: image tiles (ImageBitmap), label tiles
 * (Int32Array) and overlay tiles (ImageBitmap of masks and outlines, composed from a
 * label tile and its neighbours' edges, labelTiles.js). One TileLoader fetches both
 * kinds, most wanted first. Notifies "tile" when something new can be drawn and
 * "error" ({kind, error}) when a tile could not be loaded.
 */
import { makeColorTable, packRGBA, paintOverlay, withAlpha } from "../colors.js";
import { Observable } from "../observable.js";
import { splitTileKey, tileHeight, tileKey, tileWidth } from "./grid.js";
import { TileCache } from "./cache.js";
import { maxLabel } from "../outlines.js";
import { decodeLabelTile, facing, LEFT, RIGHT, SIDES, TOP, BOTTOM, tileEdge, tileOutlines } from "./labelTiles.js";
import { TileLoader } from "./loader.js";

const MB = 1024 * 1024;

/** Tiles of the coarsest level are always wanted (something to draw anywhere) if there are at most this many. */
const OVERVIEW_TILES = 16;

/** Overlay tiles are composed in tasks of about this long (a 512² tile takes 2-4 ms). */
const COMPOSE_SLICE_MS = 6;

/**
 * @typedef {object} OverlayStyle
 * @property {boolean} showMasks    cells filled with their colour (colors.js, as the small-image viewer)
 * @property {boolean} showOutlines white outlines
 * @property {number} opacity       of the filled cells, 0..1
 *
 * @typedef {{labels: Int32Array, width: number, height: number, max: number}} LabelTile
 * @typedef {{bitmap: ImageBitmap, generation: number, unknown: number}} OverlayTile
 *   unknown: the sides (labelTiles.js bits) whose neighbour was not loaded when it was composed
 */

const closeBitmap = (value) => value?.close?.();

export class TileStore extends Observable {
  /**
   * @param {{pyramid: import("./grid.js").Pyramid,
   *          imageUrl: (level: number, z: number, col: number, row: number) => string,
   *          labelUrl: (key: string, level: number, z: number, col: number, row: number) => string,
   *          fetch?: typeof fetch, maxInFlight?: number,
   *          budgets?: {image?: number, labels?: number, overlays?: number},
   *          createBitmap?: (source: any) => Promise<ImageBitmap>,
   *          makeImageData?: (pixels: Uint8ClampedArray<ArrayBuffer>, width: number, height: number) => ImageData,
   *          inflate?: (bytes: Uint8Array) => Promise<Uint8Array>}} options
   *   imageUrl/labelUrl take the server's level numbers; createBitmap, makeImageData and inflate
   *   default to the browser's (tests pass their own)
   */
  constructor({ pyramid, imageUrl, labelUrl, fetch, maxInFlight = 6, budgets = {}, createBitmap, makeImageData, inflate }) {
    super();
    this.pyramid = pyramid;
    this.imageUrl = imageUrl;
    this.labelUrl = labelUrl;
    this.createBitmap = createBitmap ?? ((source) => createImageBitmap(source));
    this.makeImageData = makeImageData ?? ((pixels, width, height) => new ImageData(pixels, width, height));
    this.inflate = inflate;
    /** @type {TileCache<ImageBitmap>} */
    this.images = new TileCache({ budget: budgets.image ?? 256 * MB, dispose: closeBitmap });
    /** @type {TileCache<LabelTile>} */
    this.labels = new TileCache({ budget: budgets.labels ?? 128 * MB });
    /** @type {TileCache<OverlayTile>} */
    this.overlays = new TileCache({ budget: budgets.overlays ?? 128 * MB, dispose: (tile) => closeBitmap(tile.bitmap) });
    this.loader = new TileLoader({
      fetch,
      maxInFlight,
      onLoad: (request, value, bytes) => this._loaded(request.tag, value, bytes),
      onError: (request, error) => this.notify("error", { kind: request.tag.kind, error }),
      discard: (value) => closeBitmap(value),
    });
    /** @type {string|null} the label image shown (one of pyramid.labels) */
    this.labelKey = null;
    /** @type {OverlayStyle} */
    this.style = { showMasks: true, showOutlines: true, opacity: 0.45 };
    this.outlinePixel = packRGBA(255, 255, 255, 255);
    this._generation = 1; // bumped when the style or the label image changes
    this._colors = null;
    this._table = null;
    this._zeros = new Int32Array(pyramid.tileSize);
    /** @type {Set<number>} overlay tiles to compose */
    this._toCompose = new Set();
    this._composing = new Set();
    this._composeScheduled = false;
    this._plan = null;
  }

  // ---- what the view draws (called every frame: no allocation) -----------------

  /** Start a frame: what the frame draws stays cached at least until the next one. */
  beginFrame() {
    this.images.beginFrame();
    this.labels.beginFrame();
    this.overlays.beginFrame();
  }

  /** @returns {ImageBitmap|undefined} */
  imageTile(key) {
    return this.images.get(key);
  }

  /**
   * The overlay of a label tile, composed with the current style; while it is (re)composed,
   * the previous picture (or undefined). Asking schedules the composition.
   * @returns {ImageBitmap|undefined}
   */
  overlayTile(key) {
    const tile = this.overlays.get(key);
    if (tile === undefined || tile.generation !== this._generation) {
      if (this.labels.get(key) !== undefined && !this._toCompose.has(key) && !this._composing.has(key)) {
        this._toCompose.add(key);
        this._scheduleCompose();
      }
    }
    return tile?.bitmap;
  }

  // ---- what to load -----------------------------------------------------------------

  /**
   * Ask for the tiles a view needs: the visible ones first (nearest the centre first), then
   * the coarsest level's (a picture to fall back on anywhere), then the prefetch ring.
   * @param {number} levelIndex
   * @param {number} z
   * @param {import("./grid.js").TileRange} visible
   * @param {import("./grid.js").TileRange} ring visible grown by the prefetch ring
   * @param {{overlay: boolean}} options overlay: whether label tiles are needed
   */
  plan(levelIndex, z, visible, ring, { overlay }) {
    const withLabels = overlay && this.labelKey !== null;
    const requests = [];
    const add = (level, col, row) => {
      const key = tileKey(level, z, col, row);
      if (!this.images.has(key)) requests.push(this._imageRequest(level, z, col, row, key));
      if (withLabels && !this.labels.has(key)) requests.push(this._labelRequest(level, z, col, row, key));
    };
    const cx = (visible.c0 + visible.c1 - 1) / 2;
    const cy = (visible.r0 + visible.r1 - 1) / 2;
    const byDistance = (a, b) => Math.hypot(a[0] - cx, a[1] - cy) - Math.hypot(b[0] - cx, b[1] - cy);
    const cells = [];
    for (let row = visible.r0; row < visible.r1; row++) for (let col = visible.c0; col < visible.c1; col++) cells.push([col, row]);
    for (const [col, row] of cells.sort(byDistance)) add(levelIndex, col, row);
    const top = this.pyramid.levels.length - 1;
    const coarsest = this.pyramid.levels[top];
    if (top !== levelIndex && coarsest.cols * coarsest.rows <= OVERVIEW_TILES) {
      for (let row = 0; row < coarsest.rows; row++) for (let col = 0; col < coarsest.cols; col++) add(top, col, row);
    }
    const around = [];
    for (let row = ring.r0; row < ring.r1; row++) {
      for (let col = ring.c0; col < ring.c1; col++) {
        if (col < visible.c0 || col >= visible.c1 || row < visible.r0 || row >= visible.r1) around.push([col, row]);
      }
    }
    for (const [col, row] of around.sort(byDistance)) add(levelIndex, col, row);
    this.loader.want(requests);
  }

  _imageRequest(level, z, col, row, key) {
    const server = this.pyramid.levels[level].level;
    return {
      id: `i${key}`,
      url: this.imageUrl(server, z, col, row),
      tag: { kind: "image", key },
      decode: async (response) => {
        const bitmap = await this.createBitmap(await response.blob());
        return { value: bitmap, bytes: 4 * bitmap.width * bitmap.height };
      },
    };
  }

  _labelRequest(level, z, col, row, key) {
    const server = this.pyramid.levels[level].level;
    const labelKey = this.labelKey;
    return {
      id: `l${labelKey}:${key}`,
      url: this.labelUrl(labelKey, server, z, col, row),
      tag: { kind: "labels", key, labelKey },
      decode: async (response) => {
        const width = Number(response.headers.get("X-Tile-Width") ?? tileWidth(this.pyramid, level, col));
        const height = Number(response.headers.get("X-Tile-Height") ?? tileHeight(this.pyramid, level, row));
        const bytes = new Uint8Array(await response.arrayBuffer());
        const labels = await decodeLabelTile(bytes, width, height, { inflate: this.inflate });
        return { value: { labels, width, height, max: maxLabel(labels) }, bytes: labels.byteLength };
      },
    };
  }

  _loaded(tag, value, bytes) {
    if (tag.kind === "image") {
      this.images.set(tag.key, value, bytes);
    } else {
      if (tag.labelKey !== this.labelKey) return; // another label image was chosen meanwhile
      this.labels.set(tag.key, value, bytes);
      this._neighbourArrived(tag.key);
    }
    this.notify("tile", tag);
  }

  /** Overlays next to a newly loaded label tile were composed without its edge: compose them again. */
  _neighbourArrived(key) {
    const { level, z, col, row } = splitTileKey(key);
    for (const side of SIDES) {
      const next = this._neighbourKey(level, z, col, row, side);
      if (next === null) continue;
      const tile = this.overlays.peek(next);
      if (tile && tile.unknown & facing(side)) tile.generation = 0;
    }
  }

  _neighbourKey(level, z, col, row, side) {
    const { cols, rows } = this.pyramid.levels[level];
    const c = col + (side === LEFT ? -1 : side === RIGHT ? 1 : 0);
    const r = row + (side === TOP ? -1 : side === BOTTOM ? 1 : 0);
    if (c < 0 || r < 0 || c >= cols || r >= rows) return null;
    return tileKey(level, z, c, r);
  }

  // ---- overlays -----------------------------------------------------------------------

  /**
   * Show another label image (null: none); its tiles load on the next plan().
   * @param {string|null} key one of pyramid.labels
   */
  setLabelKey(key) {
    if (key === this.labelKey) return;
    this.labelKey = key;
    this.labels.clear();
    this.overlays.clear();
    this._generation += 1;
    this.notify("tile", { kind: "labels" });
  }

  /** @param {Partial<OverlayStyle>} style */
  setStyle(style) {
    const next = { ...this.style, ...style };
    if (next.showMasks === this.style.showMasks && next.showOutlines === this.style.showOutlines && next.opacity === this.style.opacity) return;
    if (next.opacity !== this.style.opacity) this._table = null;
    this.style = next;
    this._generation += 1;
    this.notify("tile", { kind: "overlay" });
  }

  /** The colour table at the style's opacity, covering labels up to maxLabel (the small viewer's colours). */
  _colorTable(maxLabel) {
    if (!this._colors || this._colors.length <= maxLabel) {
      let size = 256;
      while (size <= maxLabel) size *= 2;
      this._colors = makeColorTable(size - 1);
      this._table = null;
    }
    if (!this._table) {
      const alpha = Math.round(this.style.opacity * 255);
      this._table = this._colors.map((pixel, label) => (label === 0 ? 0 : withAlpha(pixel, alpha)));
    }
    return this._table;
  }

  _scheduleCompose() {
    if (this._composeScheduled) return;
    this._composeScheduled = true;
    setTimeout(() => {
      this._composeScheduled = false;
      // A few milliseconds per task, so that a style change over many tiles never stalls a frame long.
      const start = performance.now();
      for (const key of this._toCompose) {
        this._toCompose.delete(key);
        this._compose(key).catch((error) => this.notify("error", { kind: "labels", error }));
        if (performance.now() - start > COMPOSE_SLICE_MS) break;
      }
      if (this._toCompose.size) this._scheduleCompose();
    }, 0);
  }

  /**
   * The edges around a label tile (zeros beyond the image) and the sides not known yet.
   * @returns {{edges: import("./labelTiles.js").TileEdges, unknown: number}}
   */
  edgesOf(key) {
    const { level, z, col, row } = splitTileKey(key);
    const edges = { left: null, right: null, top: null, bottom: null };
    const names = { [LEFT]: "left", [RIGHT]: "right", [TOP]: "top", [BOTTOM]: "bottom" };
    let unknown = 0;
    for (const side of SIDES) {
      const next = this._neighbourKey(level, z, col, row, side);
      if (next === null) {
        edges[names[side]] = this._zeros;
        continue;
      }
      const neighbour = this.labels.peek(next);
      if (neighbour) edges[names[side]] = tileEdge(neighbour.labels, neighbour.width, neighbour.height, facing(side));
      else unknown |= side;
    }
    return { edges, unknown };
  }

  /** The sides of a tile whose neighbour tile is in the grid but not loaded. */
  _unknownSides(key) {
    const { level, z, col, row } = splitTileKey(key);
    let unknown = 0;
    for (const side of SIDES) {
      const next = this._neighbourKey(level, z, col, row, side);
      if (next !== null && !this.labels.has(next)) unknown |= side;
    }
    return unknown;
  }

  async _compose(key) {
    const tile = this.labels.peek(key);
    if (!tile) return;
    const generation = this._generation;
    const { showMasks, showOutlines } = this.style;
    const { edges, unknown } = this.edgesOf(key);
    const outlines = showOutlines ? tileOutlines(tile.labels, tile.width, tile.height, edges) : null;
    const table = showMasks ? this._colorTable(tile.max) : null;
    const pixels = new Uint32Array(tile.width * tile.height);
    paintOverlay(tile.labels, table, outlines, this.outlinePixel, pixels);
    const imageData = this.makeImageData(new Uint8ClampedArray(pixels.buffer), tile.width, tile.height);
    this._composing.add(key);
    let bitmap;
    try {
      bitmap = await this.createBitmap(imageData);
    } finally {
      this._composing.delete(key);
    }
    if (generation !== this._generation || !this.labels.has(key)) {
      // The style or the label image changed meanwhile: the next frame asks again.
      closeBitmap(bitmap);
      this.notify("tile", { kind: "overlay", key });
      return;
    }
    // A neighbour that arrived while this one was composed would not have marked it stale.
    const missing = unknown & ~this._unknownSides(key);
    this.overlays.set(key, { bitmap, generation: missing ? 0 : generation, unknown }, 4 * tile.width * tile.height);
    this.notify("tile", { kind: "overlay", key });
  }

  /** Cancel the loads and free every decoded tile. */
  destroy() {
    this.loader.stop();
    this.images.clear();
    this.labels.clear();
    this.overlays.clear();
  }
}
