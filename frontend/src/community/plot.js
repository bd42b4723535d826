/**
 * Line plots of a training run (loss and validation AP per epoch) as SVG polylines.
 * `plotPoints` is pure (unit-tested); `drawPlot` writes the SVG.
 */

/**
 * @param {{x: number, y: number|null}[]} data (points with y null are skipped)
 * @param {{width: number, height: number, pad?: number, yMin?: number, yMax?: number, xMax?: number}} box
 * @returns {{points: string, yMin: number, yMax: number, n: number}} SVG "x,y x,y" in pixels
 */
export function plotPoints(data, { width, height, pad = 24, yMin, yMax, xMax }) {
  const valid = data.filter((p) => typeof p.y === "number" && Number.isFinite(p.y));
  if (!valid.length) return { points: "", yMin: 0, yMax: 1, n: 0 };
  const ys = valid.map((p) => p.y);
  let lo = yMin ?? Math.min(...ys);
  let hi = yMax ?? Math.max(...ys);
  if (hi - lo < 1e-9) { lo -= 0.5; hi += 0.5; }
  const xs = valid.map((p) => p.x);
  const x0 = Math.min(...xs, 1);
  const x1 = Math.max(xMax ?? 0, ...xs, x0 + 1);
  const sx = (x) => pad + ((x - x0) / (x1 - x0)) * (width - 2 * pad);
  const sy = (y) => height - pad - ((y - lo) / (hi - lo)) * (height - 2 * pad);
  const points = valid.map((p) => `${sx(p.x).toFixed(1)},${sy(p.y).toFixed(1)}`).join(" ");
  return { points, yMin: lo, yMax: hi, n: valid.length };
}

const SVG = "http://www.w3.org/2000/svg";

function svgEl(tag, attrs, text) {
  const node = document.createElementNS(SVG, tag);
  for (const [k, v] of Object.entries(attrs)) node.setAttribute(k, v);
  if (text !== undefined) node.textContent = text;
  return node;
}

/**
 * Draw one series into `svg` (cleared first), with its y range labelled.
 * @param {SVGSVGElement} svg
 * @param {{x: number, y: number|null}[]} data
 * @param {{color?: string, yMin?: number, yMax?: number, xMax?: number, label?: string}} [options]
 */
export function drawPlot(svg, data, { color = "#1f6feb", yMin, yMax, xMax, label = "" } = {}) {
  const width = Number(svg.getAttribute("width"));
  const height = Number(svg.getAttribute("height"));
  svg.replaceChildren();
  const plot = plotPoints(data, { width, height, yMin, yMax, xMax });
  svg.dataset.points = String(plot.n);
  svg.append(svgEl("rect", { x: 24, y: 24, width: width - 48, height: height - 48, fill: "none", stroke: "#ccc" }));
  svg.append(svgEl("text", { x: 2, y: 20, "font-size": 11 }, `${plot.yMax.toFixed(3)} ${label}`));
  svg.append(svgEl("text", { x: 2, y: height - 6, "font-size": 11 }, plot.yMin.toFixed(3)));
  if (plot.n) {
    svg.append(svgEl("polyline", { points: plot.points, fill: "none", stroke: color, "stroke-width": 2 }));
    for (const xy of plot.points.split(" ")) {
      const [cx, cy] = xy.split(",");
      svg.append(svgEl("circle", { cx, cy, r: 3, fill: color }));
    }
  }
}
