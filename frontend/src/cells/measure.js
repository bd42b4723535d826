/**
 * Per-cell measurements of one plane of a label image, in one pass over its pixels:
 * area, perimeter, eccentricity, centroid, bounding box and the mean of each channel.
 *
 * - area: pixels in the mask.
 * - perimeter: the length of the mask's pixel boundary, in pixel edges: every side of a
 *   mask pixel that touches another label, background or the image border counts 1 (the
 *   outline the exports trace along pixel corners has this length).
 * - eccentricity: of the ellipse with the same second central moments as the pixel
 *   centres, sqrt(1 - l2 / l1) for the moments' eigenvalues l1 >= l2 (0 for a disk or a
 *   square, 1 for a line; scikit-image's regionprops defines it the same way).
 * - means: the average stored value of each channel over the mask's pixels.
 */

/**
 * @typedef {object} CellRow
 * @property {number} label
 * @property {number} area pixels
 * @property {number} perimeter pixel edges
 * @property {number} eccentricity 0..1
 * @property {{x: number, y: number}} centroid mean pixel centre (pixel (x, y) has centre x + 0.5, y + 0.5)
 * @property {{x0: number, y0: number, x1: number, y1: number}} box pixels x0..x1-1, y0..y1-1
 * @property {number[]} means one per channel (empty without channel values)
 */

/**
 * @param {Int32Array} labels int32, shape (height, width), C order: one plane, 0 = background
 * @param {number} width
 * @param {number} height
 * @param {{values: import("../channels/levels.js").ChannelArray, channels: number}|null} [channelValues]
 *   values: shape (channels, height, width), C order: the plane's stored values
 * @returns {CellRow[]} one row per label present, by label
 */
export function measureCells(labels, width, height, channelValues = null) {
  if (labels.length !== width * height) throw new Error(`labels hold ${labels.length} values, ${width} x ${height} needs ${width * height}`);
  const nc = channelValues ? channelValues.channels : 0;
  if (channelValues && channelValues.values.length !== nc * width * height) {
    throw new Error(`channel values hold ${channelValues.values.length} values, ${nc} x ${height} x ${width} needs ${nc * width * height}`);
  }
  let top = 0;
  for (let i = 0; i < labels.length; i++) if (labels[i] > top) top = labels[i];
  const area = new Float64Array(top + 1);
  const sx = new Float64Array(top + 1);
  const sy = new Float64Array(top + 1);
  const sxx = new Float64Array(top + 1);
  const syy = new Float64Array(top + 1);
  const sxy = new Float64Array(top + 1);
  const edges = new Float64Array(top + 1);
  const x0 = new Int32Array(top + 1).fill(width);
  const y0 = new Int32Array(top + 1).fill(height);
  const x1 = new Int32Array(top + 1);
  const y1 = new Int32Array(top + 1);
  const sums = Array.from({ length: nc }, () => new Float64Array(top + 1));
  const planeSize = width * height;
  // Runs of one label along a row: moments in closed form per run, one comparison per pixel
  // with the rows above and below for the top and bottom edges.
  for (let y = 0; y < height; y++) {
    const row = y * width;
    let x = 0;
    while (x < width) {
      const l = labels[row + x];
      let end = x + 1;
      while (end < width && labels[row + end] === l) end++;
      if (l !== 0) {
        const len = end - x;
        const sumX = ((x + end - 1) * len) / 2;
        const sumXX = ((end - 1) * end * (2 * end - 1) - (x - 1) * x * (2 * x - 1)) / 6;
        area[l] += len;
        sx[l] += sumX;
        sxx[l] += sumXX;
        sy[l] += y * len;
        syy[l] += y * y * len;
        sxy[l] += y * sumX;
        if (x < x0[l]) x0[l] = x;
        if (y < y0[l]) y0[l] = y;
        if (end > x1[l]) x1[l] = end;
        if (y + 1 > y1[l]) y1[l] = y + 1;
        let e = 2; // the run's left and right ends
        for (let k = row + x; k < row + end; k++) {
          if (y === 0 || labels[k - width] !== l) e++;
          if (y === height - 1 || labels[k + width] !== l) e++;
        }
        edges[l] += e;
        for (let c = 0; c < nc; c++) {
          const v = channelValues.values;
          let sum = 0;
          for (let k = c * planeSize + row + x, stop = c * planeSize + row + end; k < stop; k++) sum += v[k];
          sums[c][l] += sum;
        }
      }
      x = end;
    }
  }
  const rows = [];
  for (let l = 1; l <= top; l++) {
    const n = area[l];
    if (n === 0) continue;
    const mx = sx[l] / n;
    const my = sy[l] / n;
    const a = sxx[l] / n - mx * mx;
    const c = syy[l] / n - my * my;
    const b = sxy[l] / n - mx * my;
    const half = Math.sqrt(((a - c) / 2) ** 2 + b * b);
    const l1 = (a + c) / 2 + half;
    const l2 = Math.max(0, (a + c) / 2 - half);
    rows.push({
      label: l,
      area: n,
      perimeter: edges[l],
      eccentricity: l1 > 1e-12 ? Math.sqrt(Math.max(0, 1 - l2 / l1)) : 0,
      centroid: { x: mx + 0.5, y: my + 0.5 },
      box: { x0: x0[l], y0: y0[l], x1: x1[l], y1: y1[l] },
      means: sums.map((s) => s[l] / n),
    });
  }
  return rows;
}

/**
 * Rows sorted by a column (a new array).
 * @param {CellRow[]} rows
 * @param {string} key "label", "area", "perimeter", "eccentricity", "origin" or "mean:<channel>"
 * @param {1|-1} direction 1 ascending, -1 descending
 * @param {(label: number) => string|null} [originOf]
 */
export function sortRows(rows, key, direction = 1, originOf = () => null) {
  const value = key.startsWith("mean:")
    ? (row) => row.means[Number(key.slice(5))] ?? 0
    : key === "origin"
      ? (row) => originOf(row.label) ?? ""
      : (row) => row[key];
  return [...rows].sort((p, q) => {
    const a = value(p);
    const b = value(q);
    const order = a < b ? -1 : a > b ? 1 : 0;
    return order * direction || p.label - q.label;
  });
}
