/**
 * The histogram of cell sizes: bins (pure, unit-tested) and an SVG drawing with both
 * axes labelled (size in pixels, number of cells), each bar's count above it (where the
 * bar is wide enough) and its range and count in its title.
 */

/**
 * Equal-width bins over [min, max] of the values; the last bin includes max.
 * @param {number[]} values
 * @param {number} [count] number of bins (default: Sturges' rule, 1 + log2 n, at most 40)
 * @returns {{lo: number, hi: number, count: number}[]}
 */
export function histogramBins(values, count) {
  if (!values.length) return [];
  let min = Infinity;
  let max = -Infinity;
  for (const v of values) {
    if (v < min) min = v;
    if (v > max) max = v;
  }
  const n = count ?? Math.min(40, Math.ceil(1 + Math.log2(values.length)));
  if (max === min) return [{ lo: min, hi: max, count: values.length }];
  const width = (max - min) / n;
  const bins = Array.from({ length: n }, (_, k) => ({ lo: min + k * width, hi: min + (k + 1) * width, count: 0 }));
  for (const v of values) bins[Math.min(n - 1, Math.floor((v - min) / width))].count++;
  return bins;
}

/** Round tick values: 0 and about `n` steps of 1, 2 or 5 x 10^k up to at least `max`. */
export function niceTicks(max, n = 4) {
  if (!(max > 0)) return [0];
  const raw = max / n;
  const power = 10 ** Math.floor(Math.log10(raw));
  const step = [1, 2, 5, 10].map((m) => m * power).find((s) => s >= raw);
  const ticks = [];
  for (let v = 0; v < max + step; v += step) {
    ticks.push(Number(v.toPrecision(12)));
    if (v >= max) break;
  }
  return ticks;
}

const SVG = "http://www.w3.org/2000/svg";

function el(tag, attrs, text) {
  const node = document.createElementNS(SVG, tag);
  for (const [k, v] of Object.entries(attrs)) node.setAttribute(k, String(v));
  if (text !== undefined) node.textContent = text;
  return node;
}

const format = (v) => (Math.abs(v) >= 100 ? String(Math.round(v)) : String(Number(v.toPrecision(3))));

/**
 * Draw the bins into `svg` (cleared first), with a size axis and a count axis.
 * @param {SVGSVGElement} svg with width and height attributes
 * @param {{lo: number, hi: number, count: number}[]} bins
 * @param {{xLabel?: string}} [options]
 */
export function drawHistogram(svg, bins, { xLabel = "area (px)" } = {}) {
  const width = Number(svg.getAttribute("width"));
  const height = Number(svg.getAttribute("height"));
  const left = 34;
  const bottom = 30;
  const top = 14; // room for the tallest bar's count
  const right = 8;
  svg.replaceChildren();
  svg.dataset.bins = String(bins.length);
  if (!bins.length) {
    svg.append(el("text", { x: width / 2, y: height / 2, "text-anchor": "middle", class: "axis-label" }, "No cells"));
    return;
  }
  const maxCount = Math.max(...bins.map((b) => b.count));
  const yTicks = niceTicks(maxCount);
  const yMax = yTicks[yTicks.length - 1];
  const lo = bins[0].lo;
  const hi = bins[bins.length - 1].hi;
  const span = hi - lo || 1;
  const plotW = width - left - right;
  const plotH = height - top - bottom;
  const sx = (v) => (hi > lo ? left + ((v - lo) / span) * plotW : left + plotW / 2);
  const sy = (c) => top + plotH - (c / yMax) * plotH;
  const barW = bins.length === 1 ? plotW / 2 : plotW / bins.length; // one size: a bar in the middle
  bins.forEach((bin, k) => {
    const x = bins.length === 1 ? left + plotW / 4 : sx(bin.lo);
    const bar = el("rect", { x: x + 0.5, y: sy(bin.count), width: Math.max(1, barW - 1), height: sy(0) - sy(bin.count), class: "bar" });
    bar.dataset.count = String(bin.count);
    bar.append(el("title", {}, `${format(bin.lo)}–${format(bin.hi)} px: ${bin.count} ${bin.count === 1 ? "cell" : "cells"}`));
    bar.dataset.bin = String(k);
    svg.append(bar);
    if (bin.count > 0 && barW >= 12) {
      svg.append(el("text", { x: x + barW / 2, y: sy(bin.count) - 2, "text-anchor": "middle", class: "tick count" }, String(bin.count)));
    }
  });
  svg.append(el("line", { x1: left, y1: sy(0), x2: width - right, y2: sy(0), class: "axis" }));
  svg.append(el("line", { x1: left, y1: top, x2: left, y2: sy(0), class: "axis" }));
  for (const t of yTicks) {
    svg.append(el("text", { x: left - 4, y: sy(t) + 3, "text-anchor": "end", class: "tick" }, String(t)));
  }
  const xTicks = hi > lo ? [[lo, "start"], [(lo + hi) / 2, "middle"], [hi, "end"]] : [[lo, "middle"]];
  for (const [v, anchor] of xTicks) {
    svg.append(el("text", { x: sx(v), y: sy(0) + 12, "text-anchor": anchor, class: "tick" }, format(v)));
  }
  svg.append(el("text", { x: left + plotW / 2, y: height - 4, "text-anchor": "middle", class: "axis-label" }, xLabel));
  svg.append(el("text", { x: 10, y: top + plotH / 2, "text-anchor": "middle", class: "axis-label",
    transform: `rotate(-90 10 ${top + plotH / 2})` }, "cells"));
}
