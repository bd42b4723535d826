/**
 * Shape interpolation between planes of a stack (the Cellpose GUI's "skip planes and
 * interpolate"): a mask drawn on planes z0 and z1 is filled in on the planes between
 * with shapes that morph from one outline to the other. Each shape is the zero level
 * of the signed distances to the two outlines, blended linearly along Z.
 */
import { labelBounds } from "./regions.js";

const DIAGONAL = Math.SQRT2;

/**
 * Chamfer distance (1, √2) from each foreground pixel to the nearest background pixel;
 * 0 on background. Pixels beyond the edges count as background.
 * @param {Uint8Array} mask 1 = foreground, shape (h, w)
 * @returns {Float32Array}
 */
export function distanceInside(mask, w, h) {
  const d = new Float32Array(mask.length);
  const at = (x, y) => (x < 0 || y < 0 || x >= w || y >= h ? 0 : d[y * w + x]);
  for (let i = 0; i < mask.length; i++) d[i] = mask[i] ? Infinity : 0;
  for (let y = 0; y < h; y++) {
    for (let x = 0; x < w; x++) {
      const i = y * w + x;
      if (d[i] === 0) continue;
      d[i] = Math.min(d[i], at(x - 1, y) + 1, at(x, y - 1) + 1, at(x - 1, y - 1) + DIAGONAL, at(x + 1, y - 1) + DIAGONAL);
    }
  }
  for (let y = h - 1; y >= 0; y--) {
    for (let x = w - 1; x >= 0; x--) {
      const i = y * w + x;
      if (d[i] === 0) continue;
      d[i] = Math.min(d[i], at(x + 1, y) + 1, at(x, y + 1) + 1, at(x + 1, y + 1) + DIAGONAL, at(x - 1, y + 1) + DIAGONAL);
    }
  }
  return d;
}

/** Positive inside the mask, negative outside, about zero on its edge. */
function signedDistance(mask, w, h) {
  const inside = distanceInside(mask, w, h);
  const outside = distanceInside(mask.map((v) => 1 - v), w, h);
  const out = new Float32Array(mask.length);
  for (let i = 0; i < mask.length; i++) out[i] = mask[i] ? inside[i] - 0.5 : 0.5 - outside[i];
  return out;
}

/**
 * The shapes of mask `label` on the planes strictly between two planes holding it.
 * @param {Int32Array} planeA labels of plane z0, shape (height, width)
 * @param {Int32Array} planeB labels of plane z1
 * @param {number} gap z1 - z0 (at least 2)
 * @returns {Uint32Array[]} for each plane z0 + 1 .. z1 - 1, the plane indices of the shape
 */
export function interpolateShapes(planeA, planeB, width, height, label, gap) {
  const a = labelBounds(planeA, width, label);
  const b = labelBounds(planeB, width, label);
  if (!a || !b || gap < 2) return [];
  const margin = 2;
  const x0 = Math.max(0, Math.min(a.x0, b.x0) - margin);
  const y0 = Math.max(0, Math.min(a.y0, b.y0) - margin);
  const x1 = Math.min(width, Math.max(a.x1, b.x1) + margin);
  const y1 = Math.min(height, Math.max(a.y1, b.y1) + margin);
  const w = x1 - x0;
  const h = y1 - y0;
  const crop = (plane) => {
    const mask = new Uint8Array(w * h);
    for (let y = 0; y < h; y++) for (let x = 0; x < w; x++) mask[y * w + x] = plane[(y + y0) * width + x + x0] === label ? 1 : 0;
    return mask;
  };
  const da = signedDistance(crop(planeA), w, h);
  const db = signedDistance(crop(planeB), w, h);
  const shapes = [];
  for (let k = 1; k < gap; k++) {
    const t = k / gap;
    const pixels = [];
    for (let j = 0; j < da.length; j++) {
      if ((1 - t) * da[j] + t * db[j] > 0) pixels.push((Math.floor(j / w) + y0) * width + (j % w) + x0);
    }
    shapes.push(Uint32Array.from(pixels));
  }
  return shapes;
}
