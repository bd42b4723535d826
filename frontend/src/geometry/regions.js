/**
 * Regions of a label plane: connected components, a mask's pixels and bounding box.
 *
 * Planes are Int32Array label images of shape (height, width), row-major; indices
 * are y * width + x. Connectivity is 4 (edge neighbours), as for outlines.
 */

/** The 4-connected pixels with the same label as `index`, found by flood fill. */
export function componentAt(labels, width, height, index) {
  const label = labels[index];
  const seen = new Uint8Array(labels.length);
  const stack = [index];
  const out = [];
  seen[index] = 1;
  while (stack.length) {
    const i = stack.pop();
    out.push(i);
    const x = i % width;
    if (x > 0 && !seen[i - 1] && labels[i - 1] === label) (seen[i - 1] = 1), stack.push(i - 1);
    if (x < width - 1 && !seen[i + 1] && labels[i + 1] === label) (seen[i + 1] = 1), stack.push(i + 1);
    if (i >= width && !seen[i - width] && labels[i - width] === label) (seen[i - width] = 1), stack.push(i - width);
    if (i + width < labels.length && !seen[i + width] && labels[i + width] === label) (seen[i + width] = 1), stack.push(i + width);
  }
  return Uint32Array.from(out).sort();
}

/** {x0, y0, x1, y1} (x1, y1 exclusive) of pixel indices, or null when there are none. */
export function boundsOf(indices, width) {
  if (!indices.length) return null;
  let x0 = Infinity;
  let y0 = Infinity;
  let x1 = -1;
  let y1 = -1;
  for (let k = 0; k < indices.length; k++) {
    const i = indices[k];
    const x = i % width;
    const y = (i - x) / width;
    if (x < x0) x0 = x;
    if (x > x1) x1 = x;
    if (y < y0) y0 = y;
    if (y > y1) y1 = y;
  }
  return { x0, y0, x1: x1 + 1, y1: y1 + 1 };
}

/** The bounding box of a label in a plane (a scan of the plane), or null when absent. */
export function labelBounds(labels, width, label) {
  let x0 = Infinity;
  let y0 = Infinity;
  let x1 = -1;
  let y1 = -1;
  for (let i = 0; i < labels.length; i++) {
    if (labels[i] !== label) continue;
    const x = i % width;
    const y = (i - x) / width;
    if (x < x0) x0 = x;
    if (x > x1) x1 = x;
    if (y < y0) y0 = y;
    if (y > y1) y1 = y;
  }
  return x1 < 0 ? null : { x0, y0, x1: x1 + 1, y1: y1 + 1 };
}

/**
 * 4-connected components of a binary image.
 * @param {Uint8Array} mask 1 = foreground, shape (h, w)
 * @param {number} w the row length (h is mask.length / w)
 * @returns {{ids: Int32Array, sizes: number[]}} ids: 0 = background, 1..K = component
 *   (sizes[k - 1] pixels)
 */
export function labelComponents(mask, w) {
  const ids = new Int32Array(mask.length);
  const sizes = [];
  const stack = [];
  for (let start = 0; start < mask.length; start++) {
    if (!mask[start] || ids[start]) continue;
    const id = sizes.length + 1;
    let size = 0;
    ids[start] = id;
    stack.push(start);
    while (stack.length) {
      const i = stack.pop();
      size++;
      const x = i % w;
      if (x > 0 && mask[i - 1] && !ids[i - 1]) (ids[i - 1] = id), stack.push(i - 1);
      if (x < w - 1 && mask[i + 1] && !ids[i + 1]) (ids[i + 1] = id), stack.push(i + 1);
      if (i >= w && mask[i - w] && !ids[i - w]) (ids[i - w] = id), stack.push(i - w);
      if (i + w < mask.length && mask[i + w] && !ids[i + w]) (ids[i + w] = id), stack.push(i + w);
    }
    sizes.push(size);
  }
  return { ids, sizes };
}

/** The most common non-zero label at the given pixels (0 when all are background). */
export function dominantLabel(labels, indices) {
  const counts = new Map();
  let best = 0;
  let bestCount = 0;
  for (const i of indices) {
    const l = labels[i];
    if (l === 0) continue;
    const c = (counts.get(l) ?? 0) + 1;
    counts.set(l, c);
    if (c > bestCount) {
      best = l;
      bestCount = c;
    }
  }
  return best;
}

/**
 * Split a mask along a cut: the pieces its pixels fall into once the cut pixels are
 * taken out. Only pieces the cut touches take part (other, already separate parts of
 * the mask keep its label); cut pixels that belonged to the mask go to a neighbouring piece,
 * so no pixel is lost (to the largest piece next to it, keeping the cut on the smaller side).
 *
 * @param {Int32Array} labels the plane
 * @param {number} label the mask to split
 * @param {Uint32Array} cut plane indices of the cutting line
 * @returns {Uint32Array[]} the pieces as plane indices, largest first; fewer than two
 *   when the cut does not cross the mask from side to side
 */
export function splitPieces(labels, width, height, label, cut) {
  const box = labelBounds(labels, width, label);
  if (!box) return [];
  const w = box.x1 - box.x0;
  const h = box.y1 - box.y0;
  const local = (i) => {
    const x = i % width;
    const y = (i - x) / width;
    return x < box.x0 || x >= box.x1 || y < box.y0 || y >= box.y1 ? -1 : (y - box.y0) * w + (x - box.x0);
  };
  const mask = new Uint8Array(w * h);
  for (let y = 0; y < h; y++) {
    const row = (y + box.y0) * width + box.x0;
    for (let x = 0; x < w; x++) mask[y * w + x] = labels[row + x] === label ? 1 : 0;
  }
  const onCut = [];
  for (const i of cut) {
    const j = local(i);
    if (j >= 0 && mask[j]) {
      mask[j] = 0;
      onCut.push(j);
    }
  }
  if (!onCut.length) return [];
  const { ids, sizes } = labelComponents(mask, w);
  const touched = new Set(); // the pieces next to the cut
  for (const j of onCut) {
    const x = j % w;
    if (x > 0 && ids[j - 1]) touched.add(ids[j - 1]);
    if (x < w - 1 && ids[j + 1]) touched.add(ids[j + 1]);
    if (j >= w && ids[j - w]) touched.add(ids[j - w]);
    if (j + w < ids.length && ids[j + w]) touched.add(ids[j + w]);
  }
  // Give each cut pixel of the mask to a neighbouring piece, growing from the pieces inwards.
  let pending = onCut;
  while (pending.length) {
    const next = [];
    const assigned = [];
    for (const j of pending) {
      const x = j % w;
      let id = 0;
      const consider = (k) => {
        if (ids[k] && (!id || sizes[ids[k] - 1] > sizes[id - 1])) id = ids[k];
      };
      if (x > 0) consider(j - 1);
      if (x < w - 1) consider(j + 1);
      if (j >= w) consider(j - w);
      if (j + w < ids.length) consider(j + w);
      if (id) assigned.push([j, id]);
      else next.push(j);
    }
    if (!assigned.length) break; // cut pixels with no piece around them: a mask made only of cut
    for (const [j, id] of assigned) {
      ids[j] = id;
      sizes[id - 1]++;
    }
    pending = next;
  }
  const pieces = [...touched].map((id) => ({ id, size: sizes[id - 1], pixels: [] }));
  const byId = new Map(pieces.map((p) => [p.id, p]));
  for (let y = 0; y < h; y++) {
    for (let x = 0; x < w; x++) {
      const piece = byId.get(ids[y * w + x]);
      if (piece) piece.pixels.push((y + box.y0) * width + x + box.x0);
    }
  }
  pieces.sort((a, b) => b.size - a.size || a.pixels[0] - b.pixels[0]);
  return pieces.map((p) => Uint32Array.from(p.pixels));
}

/**
 * The background pixels that lie between masks a and b: those with a 4-neighbour in
 * each. Merging fills them so the merged mask has no seam.
 * @returns {Uint32Array} plane indices
 */
export function seamBetween(labels, width, height, a, b) {
  const boxA = labelBounds(labels, width, a);
  const boxB = labelBounds(labels, width, b);
  if (!boxA || !boxB) return new Uint32Array(0);
  const x0 = Math.max(0, Math.min(boxA.x0, boxB.x0) - 1);
  const y0 = Math.max(0, Math.min(boxA.y0, boxB.y0) - 1);
  const x1 = Math.min(width, Math.max(boxA.x1, boxB.x1) + 1);
  const y1 = Math.min(height, Math.max(boxA.y1, boxB.y1) + 1);
  const out = [];
  for (let y = y0; y < y1; y++) {
    for (let x = x0; x < x1; x++) {
      const i = y * width + x;
      if (labels[i] !== 0) continue;
      let hasA = false;
      let hasB = false;
      const look = (j) => {
        if (labels[j] === a) hasA = true;
        else if (labels[j] === b) hasB = true;
      };
      if (x > 0) look(i - 1);
      if (x < width - 1) look(i + 1);
      if (y > 0) look(i - width);
      if (y < height - 1) look(i + width);
      if (hasA && hasB) out.push(i);
    }
  }
  return Uint32Array.from(out);
}
