/**
 * Outline pixels of a label image.
 *
 * A pixel is on an outline when it belongs to a cell (label > 0) and at least one
 * of its 4 neighbours has a different label or lies outside the image. This is the
 * inner boundary of every mask; it is 8-connected and closed, like the contours the
 * Cellpose GUI draws (`masks_to_outlines`), and neighbouring cells each keep their
 * own boundary.
 */

/**
 * @param {Int32Array} labels int32, shape (height, width) in C order; 0 = background
 * @param {number} width
 * @param {number} height
 * @param {Uint8Array} [out] reused output buffer of length width*height
 * @returns {Uint8Array} uint8, shape (height, width): 1 on outlines, 0 elsewhere
 */
export function computeOutlines(labels, width, height, out) {
  const n = width * height;
  if (labels.length !== n) {
    throw new Error(`labels hold ${labels.length} pixels, (height ${height}, width ${width}) needs ${n}`);
  }
  const result = out && out.length === n ? out : new Uint8Array(n);
  const lastX = width - 1;
  const lastY = height - 1;
  for (let y = 0; y < height; y++) {
    const row = y * width;
    for (let x = 0; x < width; x++) {
      const i = row + x;
      const l = labels[i];
      result[i] =
        l !== 0 &&
        (x === 0 || x === lastX || y === 0 || y === lastY ||
          labels[i - 1] !== l || labels[i + 1] !== l ||
          labels[i - width] !== l || labels[i + width] !== l)
          ? 1
          : 0;
    }
  }
  return result;
}

/**
 * Recompute the outline pixels inside a rectangle only (after an edit there): the
 * same rule as computeOutlines, for rows y0..y1-1 and columns x0..x1-1.
 * @param {{x0: number, y0: number, x1: number, y1: number}} rect clipped to the plane
 * @param {Uint8Array} out the outlines of the whole plane, updated in place
 */
export function updateOutlines(labels, width, height, rect, out) {
  const lastX = width - 1;
  const lastY = height - 1;
  for (let y = rect.y0; y < rect.y1; y++) {
    const row = y * width;
    for (let x = rect.x0; x < rect.x1; x++) {
      const i = row + x;
      const l = labels[i];
      out[i] =
        l !== 0 &&
        (x === 0 || x === lastX || y === 0 || y === lastY ||
          labels[i - 1] !== l || labels[i + 1] !== l ||
          labels[i - width] !== l || labels[i + width] !== l)
          ? 1
          : 0;
    }
  }
  return out;
}

/** A rectangle grown by `margin` pixels on each side and clipped to a width x height plane. */
export function growRect(rect, margin, width, height) {
  return {
    x0: Math.max(0, rect.x0 - margin),
    y0: Math.max(0, rect.y0 - margin),
    x1: Math.min(width, rect.x1 + margin),
    y1: Math.min(height, rect.y1 + margin),
  };
}

/** The smallest rectangle holding both (either may be null). */
export function unionRect(a, b) {
  if (!a) return b;
  if (!b) return a;
  return { x0: Math.min(a.x0, b.x0), y0: Math.min(a.y0, b.y0), x1: Math.max(a.x1, b.x1), y1: Math.max(a.y1, b.y1) };
}

/**
 * The number of distinct non-zero labels (cells) in a label array.
 * @param {Int32Array} labels
 */
export function countLabels(labels) {
  let max = 0;
  for (let i = 0; i < labels.length; i++) if (labels[i] > max) max = labels[i];
  if (max === 0) return 0;
  const seen = new Uint8Array(max + 1);
  let count = 0;
  for (let i = 0; i < labels.length; i++) {
    const l = labels[i];
    if (l > 0 && !seen[l]) {
      seen[l] = 1;
      count++;
    }
  }
  return count;
}

/** The largest label in a label array (0 when empty). */
export function maxLabel(labels) {
  let max = 0;
  for (let i = 0; i < labels.length; i++) if (labels[i] > max) max = labels[i];
  return max;
}
