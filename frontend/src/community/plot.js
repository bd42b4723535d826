/**
 * Line charts of the dashboard (loss and validation AP per epoch, AP per image kind over the
 * releases) as SVG: axes with tick values, axis titles, one polyline per series and a legend.
 * `niceTicks`, `plotPoints` and `chartLayout` are pure (unit-tested); `drawChart` writes the SVG.
 */

/** Round tick values covering [lo, hi]: steps of 1, 2, 2.5 or 5 times a power of ten.
 * @param {number} lo @param {number} hi @param {number} [count] about how many ticks
 * @returns {number[]} */
export function niceTicks(lo, hi, count = 5) {
  if (!Number.isFinite(lo) || !Number.isFinite(hi) || hi <= lo) return [lo];
  const raw = (hi - lo) / Math.max(1, count - 1);
  const power = 10 ** Math.floor(Math.log10(raw));
  const step = [1, 2, 2.5, 5, 10].map((m) => m * power).find((s) => s >= raw) ?? 10 * power;
  const ticks = [];
  for (let v = Math.ceil(lo / step - 1e-9) * step; v <= hi + step * 1e-9; v += step) ticks.push(Number(v.toFixed(10)));
  return ticks;
}

/** The number of decimals that tells the ticks apart (one more for steps of 2.5). @param {number[]} ticks */
export function tickDecimals(ticks) {
  if (ticks.length < 2) return 3;
  const step = Math.abs(ticks[1] - ticks[0]);
  const exponent = Math.floor(Math.log10(step) + 1e-9);
  const mantissa = step / 10 ** exponent;
  return Math.min(6, Math.max(0, -exponent + (Math.abs(mantissa - 2.5) < 1e-6 ? 1 : 0)));
}

const PAD = { left: 44, right: 10, top: 10, bottom: 34 };

/**
 * Pixel positions of the series, the ticks and the plotting box.
 * @param {{name: string, color?: string, data: {x: number, y: number|null}[]}[]} series (y null: skipped)
 * @param {{width: number, height: number, yMin?: number, yMax?: number, xMin?: number, xMax?: number,
 *   categories?: string[]}} box `categories` label x = 0, 1, … instead of numeric x ticks
 */
export function chartLayout(series, { width, height, yMin, yMax, xMin, xMax, categories }) {
  const valid = series.map((s) => ({ ...s, data: s.data.filter((p) => typeof p.y === "number" && Number.isFinite(p.y)) }));
  const all = valid.flatMap((s) => s.data);
  const ys = all.map((p) => p.y);
  let lo = yMin ?? (ys.length ? Math.min(...ys) : 0);
  let hi = yMax ?? (ys.length ? Math.max(...ys) : 1);
  if (hi - lo < 1e-9) { lo -= 0.5; hi += 0.5; }
  const xs = all.map((p) => p.x);
  const x0 = categories ? 0 : xMin ?? Math.min(...xs, 1);
  const x1 = categories ? Math.max(1, categories.length - 1) : Math.max(xMax ?? 0, ...xs, x0 + 1);
  const plot = { left: PAD.left, top: PAD.top, right: width - PAD.right, bottom: height - PAD.bottom };
  const inset = categories ? 16 : 0; // categories sit inside the box, not on its edges
  const sx = (x) => plot.left + inset + ((x - x0) / (x1 - x0 || 1)) * (plot.right - plot.left - 2 * inset);
  const sy = (y) => plot.bottom - ((y - lo) / (hi - lo)) * (plot.bottom - plot.top);
  const yValues = niceTicks(lo, hi, 5);
  const digits = tickDecimals(yValues);
  const numeric = niceTicks(x0, x1, 6);
  const whole = numeric.filter((v) => Number.isInteger(v)); // epochs and positions are whole numbers
  const xValues = categories ? categories.map((_, i) => i) : whole.length >= 2 ? whole : numeric;
  return {
    plot,
    yTicks: yValues.map((v) => ({ value: v, label: v.toFixed(digits), y: sy(v) })),
    xTicks: xValues.map((v, i) => ({
      value: v, label: categories ? categories[v] : String(v), x: sx(v),
      // the first and last category labels grow inwards so that long names stay inside the chart
      anchor: categories && xValues.length > 1 ? (i === 0 ? "start" : i === xValues.length - 1 ? "end" : "middle") : "middle",
    })),
    lines: valid.map((s) => ({
      name: s.name, color: s.color, n: s.data.length,
      points: s.data.map((p) => `${sx(p.x).toFixed(1)},${sy(p.y).toFixed(1)}`).join(" "),
    })),
  };
}

/** One series' SVG points (kept for callers that plot a single line). */
export function plotPoints(data, box) {
  const { lines, yTicks } = chartLayout([{ name: "", data }], box);
  return { points: lines[0].points, n: lines[0].n, yMin: yTicks[0]?.value ?? 0, yMax: yTicks.at(-1)?.value ?? 1 };
}

const SVG = "http://www.w3.org/2000/svg";
export const PALETTE = ["#1f6feb", "#17803d", "#c2410c", "#8250df", "#b91c1c", "#0e7490"];

function svgEl(tag, attrs, text) {
  const node = document.createElementNS(SVG, tag);
  for (const [k, v] of Object.entries(attrs)) node.setAttribute(k, v);
  if (text !== undefined) node.textContent = text;
  return node;
}

/**
 * Draw `series` into `svg` (cleared first): axes with tick values, axis titles, lines with
 * their points, a legend when there is more than one series. `data-points` on the SVG counts
 * the points drawn.
 * @param {SVGSVGElement} svg
 * @param {{name: string, color?: string, data: {x: number, y: number|null}[]}[]} series
 * @param {{yMin?: number, yMax?: number, xMin?: number, xMax?: number, categories?: string[],
 *   xTitle?: string, yTitle?: string, legend?: boolean}} [options] `legend`: also for a single series
 */
export function drawChart(svg, series, options = {}) {
  const width = Number(svg.getAttribute("width"));
  const height = Number(svg.getAttribute("height"));
  svg.replaceChildren();
  const coloured = series.map((s, i) => ({ ...s, color: s.color ?? PALETTE[i % PALETTE.length] }));
  const layout = chartLayout(coloured, { width, height, ...options });
  const { plot } = layout;
  svg.dataset.points = String(layout.lines.reduce((n, line) => n + line.n, 0));
  const axis = { stroke: "currentColor", "stroke-opacity": 0.6 };
  svg.append(svgEl("line", { x1: plot.left, y1: plot.bottom, x2: plot.right, y2: plot.bottom, ...axis, class: "x-axis" }));
  svg.append(svgEl("line", { x1: plot.left, y1: plot.top, x2: plot.left, y2: plot.bottom, ...axis, class: "y-axis" }));
  for (const tick of layout.yTicks) {
    svg.append(svgEl("line", { x1: plot.left, x2: plot.right, y1: tick.y, y2: tick.y, stroke: "currentColor", "stroke-opacity": 0.12 }));
    svg.append(svgEl("text", { x: plot.left - 4, y: tick.y + 4, "font-size": 10, "text-anchor": "end", fill: "currentColor",
      class: "y-tick" }, tick.label));
  }
  for (const tick of layout.xTicks) {
    svg.append(svgEl("line", { x1: tick.x, x2: tick.x, y1: plot.bottom, y2: plot.bottom + 4, ...axis }));
    const x = tick.anchor === "start" ? tick.x - 8 : tick.anchor === "end" ? tick.x + 8 : tick.x;
    svg.append(svgEl("text", { x, y: plot.bottom + 15, "font-size": 10, "text-anchor": tick.anchor, fill: "currentColor",
      class: "x-tick" }, tick.label));
  }
  if (options.xTitle) {
    svg.append(svgEl("text", { x: (plot.left + plot.right) / 2, y: height - 3, "font-size": 11, "text-anchor": "middle",
      fill: "currentColor" }, options.xTitle));
  }
  if (options.yTitle) {
    svg.append(svgEl("text", { x: 10, y: (plot.top + plot.bottom) / 2, "font-size": 11, "text-anchor": "middle",
      fill: "currentColor", transform: `rotate(-90 10 ${(plot.top + plot.bottom) / 2})` }, options.yTitle));
  }
  layout.lines.forEach((line) => {
    if (!line.n) return;
    const group = svgEl("g", { "data-series": line.name });
    group.append(svgEl("polyline", { points: line.points, fill: "none", stroke: line.color, "stroke-width": 2 }));
    for (const xy of line.points.split(" ")) {
      const [cx, cy] = xy.split(",");
      group.append(svgEl("circle", { cx, cy, r: 3, fill: line.color }));
    }
    svg.append(group);
  });
  if (series.length > 1 || (options.legend && series.length)) {
    const legend = svgEl("g", { class: "legend" });
    coloured.forEach((s, i) => {
      const y = plot.top + 4 + i * 14;
      legend.append(svgEl("rect", { x: plot.left + 8, y: y - 8, width: 10, height: 10, fill: s.color }));
      legend.append(svgEl("text", { x: plot.left + 22, y: y + 1, "font-size": 10, fill: "currentColor", class: "legend-item" }, s.name));
    });
    svg.append(legend);
  }
}

/**
 * Draw one series (a training curve over epochs).
 * @param {SVGSVGElement} svg
 * @param {{x: number, y: number|null}[]} data
 * @param {{color?: string, yMin?: number, yMax?: number, xMax?: number, label?: string}} [options]
 */
export function drawPlot(svg, data, { color, yMin, yMax, xMax, label = "" } = {}) {
  drawChart(svg, [{ name: label, color, data }], { yMin, yMax, xMax, xTitle: "epoch", yTitle: label });
}
