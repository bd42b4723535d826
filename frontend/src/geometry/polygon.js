/**
 * Polygons in image coordinates: filling them into pixels, and simplifying outlines.
 *
 * Points are {x, y} in image coordinates: the top-left corner of pixel (0, 0) is
 * (0, 0) and the centre of pixel (x, y) is (x + 0.5, y + 0.5) (see transform.js).
 * A pixel belongs to a polygon when its centre lies inside (even-odd rule), so an
 * outline traced along pixel edges (outline.js) fills back to exactly its pixels.
 */

/**
 * The pixels whose centres lie inside a closed polygon, clipped to the plane.
 * @param {Array<{x: number, y: number}>} points vertices, in order (the last joins the first)
 * @param {number} width plane width
 * @param {number} height plane height
 * @returns {Uint32Array} row-major pixel indices (y * width + x), in increasing order
 */
export function fillPolygon(points, width, height) {
  const n = points.length;
  if (n < 3) return new Uint32Array(0);
  let minY = Infinity;
  let maxY = -Infinity;
  for (const p of points) {
    if (p.y < minY) minY = p.y;
    if (p.y > maxY) maxY = p.y;
  }
  const yStart = Math.max(0, Math.ceil(minY - 0.5));
  const yEnd = Math.min(height - 1, Math.floor(maxY - 0.5));
  const out = [];
  const crossings = [];
  for (let y = yStart; y <= yEnd; y++) {
    const yc = y + 0.5;
    crossings.length = 0;
    for (let i = 0, j = n - 1; i < n; j = i++) {
      const a = points[j];
      const b = points[i];
      if (a.y <= yc !== b.y <= yc) crossings.push(a.x + ((yc - a.y) * (b.x - a.x)) / (b.y - a.y));
    }
    crossings.sort((p, q) => p - q);
    const row = y * width;
    for (let k = 0; k + 1 < crossings.length; k += 2) {
      const xa = Math.max(0, Math.ceil(crossings[k] - 0.5));
      const xb = Math.min(width - 1, Math.ceil(crossings[k + 1] - 0.5) - 1);
      for (let x = xa; x <= xb; x++) out.push(row + x);
    }
  }
  return Uint32Array.from(out);
}

/** Twice the signed area (positive when the vertices turn clockwise on screen, y down). */
export function signedArea2(points) {
  let sum = 0;
  for (let i = 0, j = points.length - 1; i < points.length; j = i++) {
    sum += points[j].x * points[i].y - points[i].x * points[j].y;
  }
  return sum;
}

export function distance(a, b) {
  return Math.hypot(a.x - b.x, a.y - b.y);
}

/** Distance from p to the segment a-b. */
export function segmentDistance(p, a, b) {
  const dx = b.x - a.x;
  const dy = b.y - a.y;
  const length2 = dx * dx + dy * dy;
  const t = length2 === 0 ? 0 : Math.max(0, Math.min(1, ((p.x - a.x) * dx + (p.y - a.y) * dy) / length2));
  return Math.hypot(p.x - (a.x + t * dx), p.y - (a.y + t * dy));
}

/** The length of an open path. */
export function pathLength(points) {
  let length = 0;
  for (let i = 1; i < points.length; i++) length += distance(points[i - 1], points[i]);
  return length;
}

/**
 * Douglas-Peucker on a closed polygon: the vertices that keep it within `tolerance`
 * of the original. The first vertex and the one farthest from it are always kept.
 * @returns {Array<{x: number, y: number}>} a subset of the points, in order
 */
export function simplifyClosed(points, tolerance) {
  const n = points.length;
  if (n <= 4) return points.slice();
  let far = 0;
  let best = -1;
  for (let i = 1; i < n; i++) {
    const d = distance(points[0], points[i]);
    if (d > best) {
      best = d;
      far = i;
    }
  }
  const keep = new Uint8Array(n);
  keep[0] = keep[far] = 1;
  const stack = [[0, far], [far, n]];
  while (stack.length) {
    const [a, b] = stack.pop();
    const pa = points[a];
    const pb = points[b % n];
    let worst = -1;
    let at = -1;
    for (let i = a + 1; i < b; i++) {
      const d = segmentDistance(points[i], pa, pb);
      if (d > worst) {
        worst = d;
        at = i;
      }
    }
    if (at >= 0 && worst > tolerance) {
      keep[at] = 1;
      stack.push([a, at], [at, b]);
    }
  }
  return points.filter((_, i) => keep[i]);
}

/**
 * An outline simplified for editing by hand: within `tolerance` pixels of the
 * original, with the tolerance raised until there are at most `maxPoints` vertices.
 */
export function simplifyOutline(points, { tolerance = 0.75, maxPoints = 48 } = {}) {
  let t = tolerance;
  let out = simplifyClosed(points, t);
  while (out.length > maxPoints && t < 1e6) {
    t *= 1.4;
    out = simplifyClosed(points, t);
  }
  return out;
}
