/**
 * Tracing a mask's outline as a polygon, for editing it by its vertices.
 *
 * The outline follows the pixel edges (a "crack" contour): its vertices are pixel
 * corners, so filling it again (polygon.fillPolygon, which takes pixels whose centres
 * are inside) gives back exactly the traced pixels. Holes are not traced.
 */
import { componentAt } from "./regions.js";

const DX = [1, 0, -1, 0]; // right, down, left, up (y grows downwards)
const DY = [0, 1, 0, -1];

/**
 * The outer outline of a set of pixels that are 4-connected.
 * @param {(x: number, y: number) => boolean} inside whether a pixel belongs to the region
 * @param {{x: number, y: number}} topLeft its first pixel in row-major order
 * @returns {Array<{x: number, y: number}>} corners, clockwise on screen
 */
export function traceRegion(inside, topLeft) {
  const x0 = topLeft.x;
  const y0 = topLeft.y;
  let x = x0;
  let y = y0;
  let d = 0; // along the top edge of the first pixel, the region below (on the right)
  const corners = [];
  for (let guard = 0; guard < 1e8; guard++) {
    x += DX[d];
    y += DY[d];
    let ahead; // the pixel ahead on the right, then the one ahead on the left
    let aheadLeft;
    if (d === 0) (ahead = inside(x, y)), (aheadLeft = inside(x, y - 1));
    else if (d === 1) (ahead = inside(x - 1, y)), (aheadLeft = inside(x, y));
    else if (d === 2) (ahead = inside(x - 1, y - 1)), (aheadLeft = inside(x - 1, y));
    else (ahead = inside(x, y - 1)), (aheadLeft = inside(x - 1, y - 1));
    const turn = !ahead ? (d + 1) % 4 : aheadLeft ? (d + 3) % 4 : d;
    if (turn !== d) corners.push({ x, y });
    d = turn;
    if (x === x0 && y === y0 && d === 0) return corners;
  }
  throw new Error("outline tracing did not close");
}

/**
 * The outline of the 4-connected part of a mask that contains pixel `index`.
 * @param {Int32Array} labels the plane, shape (height, width)
 * @returns {{points: Array<{x: number, y: number}>, pixels: Uint32Array, label: number}|null}
 *   points: the corners; pixels: the part's plane indices; null on background
 */
export function traceOutline(labels, width, height, index) {
  const label = labels[index];
  if (!label) return null;
  const pixels = componentAt(labels, width, height, index);
  const member = new Set(pixels);
  const first = pixels[0]; // sorted: the first pixel in row-major order
  const inside = (x, y) => x >= 0 && y >= 0 && x < width && y < height && member.has(y * width + x);
  const points = traceRegion(inside, { x: first % width, y: Math.floor(first / width) });
  return { points, pixels, label };
}
