/**
 * Pixels along strokes: the brush and eraser (a disk swept along the pointer's
 * path) and the cutting line of a split (a 4-connected pixel line, which separates
 * the two sides even for 4-connected regions).
 */

/** Offsets [dx, dy] of the pixels of a disk of the given diameter (pixel centres). */
export function diskOffsets(diameter) {
  const r = Math.max(0.5, diameter / 2);
  const reach = Math.ceil(r);
  const out = [];
  for (let dy = -reach; dy <= reach; dy++) {
    for (let dx = -reach; dx <= reach; dx++) if (dx * dx + dy * dy <= r * r) out.push([dx, dy]);
  }
  return out;
}

/** Integer pixels from (x0, y0) to (x1, y1), each step moving in x or in y (4-connected). */
export function linePixels4(x0, y0, x1, y1) {
  const dx = Math.abs(x1 - x0);
  const dy = Math.abs(y1 - y0);
  const sx = Math.sign(x1 - x0);
  const sy = Math.sign(y1 - y0);
  const out = [[x0, y0]];
  let x = x0;
  let y = y0;
  for (let ix = 0, iy = 0; ix < dx || iy < dy; ) {
    if ((0.5 + ix) / dx < (0.5 + iy) / dy) {
      x += sx;
      ix++;
    } else {
      y += sy;
      iy++;
    }
    out.push([x, y]);
  }
  return out;
}

/** The pixel under each point, joined by 4-connected lines. */
function pathPixels(points) {
  const out = [];
  for (let k = 0; k < points.length; k++) {
    const x = Math.floor(points[k].x);
    const y = Math.floor(points[k].y);
    if (k === 0) out.push([x, y]);
    else {
      const prev = out[out.length - 1];
      out.push(...linePixels4(prev[0], prev[1], x, y).slice(1));
    }
  }
  return out;
}

/**
 * The pixels a brush of `diameter` covers along a path, clipped to the plane.
 * @param {Array<{x: number, y: number}>} points image coordinates
 * @returns {Uint32Array} plane indices, each once, increasing
 */
export function strokePixels(points, diameter, width, height) {
  if (!points.length) return new Uint32Array(0);
  const disk = diskOffsets(diameter);
  const centres = pathPixels(points);
  const reach = Math.ceil(Math.max(0.5, diameter / 2));
  let x0 = Infinity;
  let y0 = Infinity;
  let x1 = -Infinity;
  let y1 = -Infinity;
  for (const [x, y] of centres) {
    x0 = Math.min(x0, x);
    y0 = Math.min(y0, y);
    x1 = Math.max(x1, x);
    y1 = Math.max(y1, y);
  }
  x0 = Math.max(0, x0 - reach);
  y0 = Math.max(0, y0 - reach);
  x1 = Math.min(width - 1, x1 + reach);
  y1 = Math.min(height - 1, y1 + reach);
  if (x0 > x1 || y0 > y1) return new Uint32Array(0);
  const w = x1 - x0 + 1;
  const marks = new Uint8Array(w * (y1 - y0 + 1));
  for (const [cx, cy] of centres) {
    for (const [dx, dy] of disk) {
      const x = cx + dx;
      const y = cy + dy;
      if (x >= x0 && x <= x1 && y >= y0 && y <= y1) marks[(y - y0) * w + (x - x0)] = 1;
    }
  }
  const out = [];
  for (let j = 0; j < marks.length; j++) {
    if (marks[j]) out.push((y0 + Math.floor(j / w)) * width + x0 + (j % w));
  }
  return Uint32Array.from(out);
}

/**
 * The 4-connected pixel line along a polyline, clipped to the plane.
 * @returns {Uint32Array} plane indices, each once
 */
export function polylinePixels(points, width, height) {
  const seen = new Set();
  for (const [x, y] of pathPixels(points)) {
    if (x >= 0 && y >= 0 && x < width && y < height) seen.add(y * width + x);
  }
  return Uint32Array.from(seen);
}
