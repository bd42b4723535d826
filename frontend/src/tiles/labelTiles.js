/**
 * Label tiles: decoding `GET .../labels/<key>/tiles/<level>/<z>/<col>/<row>.bin`, and
 * the outlines of one tile that agree with the outlines of the whole image.
 *
 * A pixel is on an outline when it belongs to a cell and one of its 4 neighbours has
 * another label or lies outside the image (outlines.js, the rule of the small-image
 * viewer). At a tile's border that neighbour lies in the next tile, so a tile's outlines
 * are computed with the adjacent row or column of each neighbour tile (its "edge"):
 * a cell cut by a tile border gets no outline along the cut, and a cell whose real
 * boundary runs along the border keeps it. While a neighbour tile is not loaded its
 * side is treated as "same label" (no outline there yet), and the tile is composed
 * again when the neighbour arrives (tiles/store.js).
 */
import { int32FromLittleEndian, inflateWithStreams } from "../codec.js";

/** Sides of a tile, as bits (a mask of the sides whose neighbour is not known yet). */
export const LEFT = 1;
export const RIGHT = 2;
export const TOP = 4;
export const BOTTOM = 8;
export const SIDES = Object.freeze([LEFT, RIGHT, TOP, BOTTOM]);

/** The side of the neighbour that faces `side` (its LEFT faces our RIGHT). */
export function facing(side) {
  return side === LEFT ? RIGHT : side === RIGHT ? LEFT : side === TOP ? BOTTOM : TOP;
}

/**
 * Decode one label tile response body.
 * @param {Uint8Array} bytes zlib-compressed little-endian int32 labels in C order
 * @param {number} width  X-Tile-Width
 * @param {number} height X-Tile-Height
 * @param {{inflate?: (bytes: Uint8Array) => Promise<Uint8Array>}} [options]
 * @returns {Promise<Int32Array>} int32, shape (height, width); 0 = background, 1..N = cells
 */
export async function decodeLabelTile(bytes, width, height, { inflate = inflateWithStreams } = {}) {
  if (!Number.isInteger(width) || !Number.isInteger(height) || width < 1 || height < 1) {
    throw new Error(`a label tile needs positive X-Tile-Width and X-Tile-Height headers, got ${width} x ${height}`);
  }
  const labels = int32FromLittleEndian(await inflate(bytes));
  if (labels.length !== width * height) {
    throw new Error(`a label tile holds ${labels.length} labels, ${width} x ${height} needs ${width * height}`);
  }
  return labels;
}

/**
 * The row or column of a tile that touches `side`, in order (top to bottom, left to right).
 * @param {Int32Array} labels int32, shape (height, width)
 * @param {number} side LEFT, RIGHT, TOP or BOTTOM
 * @returns {Int32Array} length height (LEFT, RIGHT) or width (TOP, BOTTOM)
 */
export function tileEdge(labels, width, height, side) {
  if (side === TOP) return labels.slice(0, width);
  if (side === BOTTOM) return labels.slice((height - 1) * width, height * width);
  const x = side === LEFT ? 0 : width - 1;
  const out = new Int32Array(height);
  for (let y = 0; y < height; y++) out[y] = labels[y * width + x];
  return out;
}

/**
 * @typedef {object} TileEdges the pixels just outside each side of a tile:
 *   an Int32Array (the neighbour tile's facing row or column; zeros beyond the image's
 *   edge, where every cell has an outline), or null when the neighbour is not known yet
 *   (no outline along that side).
 * @property {Int32Array|null} left   length height
 * @property {Int32Array|null} right  length height
 * @property {Int32Array|null} top    length width
 * @property {Int32Array|null} bottom length width
 */

/**
 * Outline pixels of one tile, given what lies around it.
 * @param {Int32Array} labels int32, shape (height, width); 0 = background
 * @param {number} width
 * @param {number} height
 * @param {TileEdges} edges
 * @param {Uint8Array} [out] reused output of length width*height
 * @returns {Uint8Array} uint8, shape (height, width): 1 on outlines, 0 elsewhere
 */
export function tileOutlines(labels, width, height, edges, out) {
  const n = width * height;
  if (labels.length !== n) throw new Error(`labels hold ${labels.length} pixels, ${width} x ${height} needs ${n}`);
  const result = out && out.length === n ? out : new Uint8Array(n);
  const { left, right, top, bottom } = edges;
  const lastX = width - 1;
  const lastY = height - 1;
  for (let y = 0; y < height; y++) {
    const row = y * width;
    for (let x = 0; x < width; x++) {
      const i = row + x;
      const l = labels[i];
      if (l === 0) {
        result[i] = 0;
        continue;
      }
      const west = x > 0 ? labels[i - 1] : left ? left[y] : l;
      const east = x < lastX ? labels[i + 1] : right ? right[y] : l;
      const north = y > 0 ? labels[i - width] : top ? top[x] : l;
      const south = y < lastY ? labels[i + width] : bottom ? bottom[x] : l;
      result[i] = west !== l || east !== l || north !== l || south !== l ? 1 : 0;
    }
  }
  return result;
}
