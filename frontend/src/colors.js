/**
 * Colour tables for label images.
 *
 * A colour table is a Uint32Array indexed by label whose entries are RGBA pixels
 * packed in the platform's byte order, so painting a label image is one lookup
 * per pixel into a Uint32Array view of ImageData (paintOverlay). Entry 0 (background) is fully
 * transparent. Each label's colour depends only on the label (and the seed), so a
 * cell keeps its colour when others are added or removed.
 */

const LITTLE_ENDIAN = new Uint8Array(new Uint32Array([1]).buffer)[0] === 1;
const GOLDEN = 0.618033988749895;

/** Pack r, g, b, a (0..255) into one pixel as it lies in ImageData memory. */
export function packRGBA(r, g, b, a = 255) {
  return LITTLE_ENDIAN
    ? ((a << 24) | (b << 16) | (g << 8) | r) >>> 0
    : ((r << 24) | (g << 16) | (b << 8) | a) >>> 0;
}

export function unpackRGBA(pixel) {
  return LITTLE_ENDIAN
    ? [pixel & 255, (pixel >>> 8) & 255, (pixel >>> 16) & 255, pixel >>> 24]
    : [pixel >>> 24, (pixel >>> 16) & 255, (pixel >>> 8) & 255, pixel & 255];
}

/**
 * HSV in [0, 1] -> [r, g, b] in 0..255.
 * @returns {[number, number, number]}
 */
export function hsvToRgb(h, s, v) {
  const i = Math.floor(h * 6) % 6;
  const f = h * 6 - Math.floor(h * 6);
  const p = v * (1 - s);
  const q = v * (1 - f * s);
  const t = v * (1 - (1 - f) * s);
  const [r, g, b] = [
    [v, t, p], [q, v, p], [p, v, t], [p, q, v], [t, p, v], [v, p, q],
  ][i];
  return [Math.round(r * 255), Math.round(g * 255), Math.round(b * 255)];
}

/** A small integer hash (deterministic, well mixed) -> [0, 1). */
function hash01(n) {
  let x = Math.imul(n ^ 0x9e3779b9, 0x85ebca6b);
  x = Math.imul(x ^ (x >>> 13), 0xc2b2ae35);
  x ^= x >>> 16;
  return (x >>> 0) / 4294967296;
}

/**
 * The colour of one label: hues step by the golden ratio so consecutive labels
 * (Cellpose numbers cells 1..N) are far apart on the colour wheel; saturation and
 * value vary a little so that neighbours with close hues still differ.
 * @returns {[number, number, number]} r, g, b in 0..255
 */
export function labelColor(label, seed = 0) {
  const hue = (label * GOLDEN + seed * 0.1234567) % 1;
  const saturation = 0.55 + 0.35 * hash01(label * 2 + seed);
  const value = 0.8 + 0.2 * hash01(label * 2 + 1 + seed);
  return hsvToRgb(hue, saturation, value);
}

/**
 * @param {number} maxLabel the largest label to colour
 * @param {{seed?: number}} [options]
 * @returns {Uint32Array} length maxLabel + 1; entry 0 transparent, others opaque
 */
export function makeColorTable(maxLabel, { seed = 0 } = {}) {
  if (!Number.isInteger(maxLabel) || maxLabel < 0) throw new Error(`maxLabel must be an integer >= 0, got ${maxLabel}`);
  const table = new Uint32Array(maxLabel + 1);
  for (let label = 1; label <= maxLabel; label++) {
    const [r, g, b] = labelColor(label, seed);
    table[label] = packRGBA(r, g, b, 255);
  }
  return table;
}

/** The same pixel with another alpha (0..255). */
export function withAlpha(pixel, alpha) {
  return LITTLE_ENDIAN ? ((pixel & 0x00ffffff) | (alpha << 24)) >>> 0 : ((pixel & 0xffffff00) | alpha) >>> 0;
}

/**
 * Paint masks and their outlines into one overlay: outline pixels in `outlinePixel`,
 * other cell pixels in their table colour (whose alpha sets the masks' opacity), and
 * background transparent. Pass table null to leave the cells unpainted, outlines null
 * to draw no outlines.
 * @param {Int32Array} labels int32 labels, one per pixel
 * @param {Uint32Array|null} table packed RGBA per label (makeColorTable, withAlpha)
 * @param {Uint8Array|null} outlines 1 on outline pixels (outlines.computeOutlines)
 * @param {number} outlinePixel packed RGBA
 * @param {Uint32Array} out packed RGBA pixels
 */
export function paintOverlay(labels, table, outlines, outlinePixel, out) {
  const n = labels.length;
  if (table && outlines) {
    for (let i = 0; i < n; i++) out[i] = outlines[i] ? outlinePixel : table[labels[i]];
  } else if (table) {
    for (let i = 0; i < n; i++) out[i] = table[labels[i]];
  } else if (outlines) {
    for (let i = 0; i < n; i++) out[i] = outlines[i] ? outlinePixel : 0;
  } else {
    out.fill(0);
  }
  return out;
}

/**
 * paintOverlay for the pixels of one rectangle of a width-wide plane (after an edit there).
 * @param {{x0: number, y0: number, x1: number, y1: number}} rect
 */
export function paintOverlayRect(labels, table, outlines, outlinePixel, out, width, rect) {
  for (let y = rect.y0; y < rect.y1; y++) {
    const start = y * width + rect.x0;
    const end = y * width + rect.x1;
    for (let i = start; i < end; i++) {
      out[i] = outlines && outlines[i] ? outlinePixel : table ? table[labels[i]] : 0;
    }
  }
  return out;
}
