/**
 * Tile-grid maths of a multiscale image: which level suits a zoom, which tiles of a
 * level cover the viewport, where a tile lies in image coordinates, and a numeric key
 * per tile. Pure functions over the pyramid description the server sends
 * (`GET /api/images/<id>/pyramid/`, docs/frontend.md "Tiled images").
 *
 * Coordinates: image coordinates are level-0 pixels (the view transform's, see
 * transform.js); a level with `scale` s holds one pixel per s x s image pixels, and its
 * tile (col, row) holds level pixels [col*T, col*T + tw) x [row*T, row*T + th) with
 * T = tile_size and tw, th = T except in the last column and row.
 */

/**
 * @typedef {object} PyramidLevel
 * @property {number} level  index, 0 = full resolution
 * @property {number} width  pixels of this level along X
 * @property {number} height pixels of this level along Y
 * @property {number} scale  image (level-0) pixels per pixel of this level: 1, 2, 4, ...
 * @property {number} cols   tiles along X: ceil(width / tileSize)
 * @property {number} rows   tiles along Y
 *
 * @typedef {object} Pyramid
 * @property {boolean} tiled
 * @property {number} width   level-0 pixels along X
 * @property {number} height
 * @property {number} depth   Z planes (1 for 2D images); levels do not downsample Z
 * @property {number} channels
 * @property {string} dtype
 * @property {number} tileSize
 * @property {PyramidLevel[]} levels finest first
 * @property {string[]} labels keys of the label images that exist
 * @property {string|null} latestLabels the key of the latest version's label image (null: none)
 *
 * @typedef {{c0: number, c1: number, r0: number, r1: number}} TileRange
 *   columns c0..c1-1 and rows r0..r1-1 (empty when c0 >= c1 or r0 >= r1)
 */

/** Key limits: a tile key packs (level, z, row, col) into one exact double (< 2^53). */
const COL_SPAN = 2 ** 14;
const Z_SPAN = 2 ** 16;
const LEVEL_SPAN = 2 ** 9;

const positiveInt = (value) => Number.isInteger(value) && value > 0;

/**
 * Check and normalise the API's pyramid description.
 * @param {any} body the JSON of GET /api/images/<id>/pyramid/
 * @returns {Pyramid}
 */
export function describePyramid(body) {
  if (!body || typeof body !== "object") throw new Error("the pyramid description must be a JSON object");
  const { width, height } = body;
  const depth = body.depth ?? 1;
  const tileSize = body.tile_size;
  for (const [name, value] of [["width", width], ["height", height], ["depth", depth], ["tile_size", tileSize]]) {
    if (!positiveInt(value)) throw new Error(`pyramid ${name} must be a positive integer, got ${value}`);
  }
  if (depth > Z_SPAN) throw new Error(`pyramid depth must be at most ${Z_SPAN}, got ${depth}`);
  if (!Array.isArray(body.levels) || body.levels.length === 0 || body.levels.length > LEVEL_SPAN) {
    throw new Error(`pyramid levels must be a list of 1 to ${LEVEL_SPAN} levels`);
  }
  const levels = body.levels.map((level, i) => {
    if (!positiveInt(level.width) || !positiveInt(level.height)) {
      throw new Error(`pyramid level ${i} needs a positive integer width and height`);
    }
    const scale = level.scale ?? width / level.width;
    if (!(scale >= 1)) throw new Error(`pyramid level ${i} scale must be >= 1, got ${scale}`);
    const cols = Math.ceil(level.width / tileSize);
    const rows = Math.ceil(level.height / tileSize);
    if (cols > COL_SPAN || rows > COL_SPAN) throw new Error(`pyramid level ${i} has more than ${COL_SPAN} tiles a side`);
    return { level: level.level ?? i, width: level.width, height: level.height, scale, cols, rows };
  });
  for (let i = 1; i < levels.length; i++) {
    if (levels[i].scale <= levels[i - 1].scale) throw new Error("pyramid levels must go from finest to coarsest");
  }
  return {
    tiled: Boolean(body.tiled),
    width,
    height,
    depth,
    channels: body.channels ?? 1,
    dtype: String(body.dtype ?? "uint8"),
    tileSize,
    levels,
    labels: Array.isArray(body.labels) ? body.labels.map(String) : [],
    latestLabels: typeof body.latest_labels === "string" && body.latest_labels ? body.latest_labels : null,
  };
}

/**
 * The level to draw at a zoom: the coarsest one whose pixels are no larger than a
 * device pixel (so the view is never blurrier than the screen), level 0 when zoomed in.
 * @param {Pyramid} pyramid
 * @param {number} devicePerImage device pixels per image pixel (view scale x devicePixelRatio)
 * @returns {number} index into pyramid.levels
 */
export function chooseLevel(pyramid, devicePerImage) {
  const { levels } = pyramid;
  let chosen = 0;
  // A little tolerance so that a fitted view at exactly 1/2 uses level 1, not level 0.
  for (let i = 1; i < levels.length; i++) if (levels[i].scale * devicePerImage <= 1 + 1e-9) chosen = i;
  return chosen;
}

/**
 * The tiles of a level that a viewport shows, grown by `ring` tiles on each side (the
 * prefetch ring) and clipped to the grid.
 * @param {Pyramid} pyramid
 * @param {number} levelIndex
 * @param {{scale: number, tx: number, ty: number}} transform image -> CSS pixels
 * @param {number} viewWidth  viewport in CSS pixels
 * @param {number} viewHeight
 * @param {number} [ring] extra tiles on each side
 * @param {TileRange} [out] reused result object (the renderer calls this every frame)
 * @returns {TileRange}
 */
export function visibleTiles(pyramid, levelIndex, transform, viewWidth, viewHeight, ring = 0, out = { c0: 0, c1: 0, r0: 0, r1: 0 }) {
  const level = pyramid.levels[levelIndex];
  const span = pyramid.tileSize * level.scale * transform.scale; // one tile, in CSS pixels
  const left = -transform.tx / span;
  const top = -transform.ty / span;
  out.c0 = Math.max(0, Math.floor(left) - ring);
  out.r0 = Math.max(0, Math.floor(top) - ring);
  out.c1 = Math.min(level.cols, Math.ceil(left + viewWidth / span) + ring);
  out.r1 = Math.min(level.rows, Math.ceil(top + viewHeight / span) + ring);
  if (out.c1 < out.c0) out.c1 = out.c0;
  if (out.r1 < out.r0) out.r1 = out.r0;
  return out;
}

/** Whether two ranges hold the same tiles. */
export function sameRange(a, b) {
  return a.c0 === b.c0 && a.c1 === b.c1 && a.r0 === b.r0 && a.r1 === b.r1;
}

/** The pixel width of tile column `col` of a level (smaller in the last column). */
export function tileWidth(pyramid, levelIndex, col) {
  return Math.min(pyramid.tileSize, pyramid.levels[levelIndex].width - col * pyramid.tileSize);
}

/** The pixel height of tile row `row` of a level. */
export function tileHeight(pyramid, levelIndex, row) {
  return Math.min(pyramid.tileSize, pyramid.levels[levelIndex].height - row * pyramid.tileSize);
}

/**
 * One number per tile, the same for the same (level, z, col, row): Map keys that cost
 * no string building in the draw loop.
 */
export function tileKey(levelIndex, z, col, row) {
  return ((levelIndex * Z_SPAN + z) * COL_SPAN + row) * COL_SPAN + col;
}

/**
 * The inverse of tileKey.
 * @returns {{level: number, z: number, col: number, row: number}}
 */
export function splitTileKey(key) {
  const col = key % COL_SPAN;
  let rest = (key - col) / COL_SPAN;
  const row = rest % COL_SPAN;
  rest = (rest - row) / COL_SPAN;
  const z = rest % Z_SPAN;
  return { level: (rest - z) / Z_SPAN, z, col, row };
}

/**
 * The tile of a coarser level that holds the top-left corner of a finer tile, and where
 * the finer tile's area lies in it (level pixels of the coarser tile): the renderer
 * draws that part of the coarser tile while the finer one loads.
 * @param {Pyramid} pyramid
 * @param {number} levelIndex the finer level
 * @param {number} col
 * @param {number} row
 * @param {number} coarser a level index > levelIndex
 * @param {{col: number, row: number, sx: number, sy: number, sw: number, sh: number}} [out]
 */
export function coarserCover(pyramid, levelIndex, col, row, coarser, out = { col: 0, row: 0, sx: 0, sy: 0, sw: 0, sh: 0 }) {
  const T = pyramid.tileSize;
  const ratio = pyramid.levels[levelIndex].scale / pyramid.levels[coarser].scale; // < 1
  const x = col * T * ratio; // the finer tile's origin, in coarser-level pixels
  const y = row * T * ratio;
  out.col = Math.floor(x / T);
  out.row = Math.floor(y / T);
  out.sx = x - out.col * T;
  out.sy = y - out.row * T;
  out.sw = tileWidth(pyramid, levelIndex, col) * ratio;
  out.sh = tileHeight(pyramid, levelIndex, row) * ratio;
  return out;
}
