/**
 * The release decision as plain data (no DOM; tested under node): a candidate beside the current
 * model per test image, AP per image kind over the releases as chart series, the training data
 * the candidate saw, and the typed confirmation's check.
 */

const fmt = (value, digits = 3) => (typeof value === "number" && Number.isFinite(value) ? value.toFixed(digits) : "–");
const signed = (value) => (typeof value === "number" && Number.isFinite(value) ? `${value > 0 ? "+" : ""}${value.toFixed(3)}` : "–");
const plural = (n, word) => `${n} ${word}${n === 1 ? "" : "s"}`;

/** @typedef {{contribution: number, image_name: string, kind: string, n_true: number, delta_ap50: number,
 *   verdict: "better"|"worse"|"same", gained: number, lost: number,
 *   candidate: {ap50: number, n_cells: number, n_found: number}, current: {ap50: number, n_cells: number, n_found: number}}} ImageRow */

/** Worst first: the images the candidate made worse are the ones to look at before releasing.
 * @param {ImageRow[]} rows @returns {ImageRow[]} */
export function sortedRows(rows) {
  return [...rows].sort((a, b) => a.delta_ap50 - b.delta_ap50 || b.lost - a.lost || a.contribution - b.contribution);
}

/** The table cells of one test image. @param {ImageRow} row @returns {string[]} */
export function rowCells(row) {
  return [row.image_name, row.kind, String(row.n_true), fmt(row.current.ap50), fmt(row.candidate.ap50),
    signed(row.delta_ap50), `+${row.gained} / −${row.lost}`, row.verdict];
}

/** "Better on 2 of 5 test images, worse on 1, the same on 2; 7 cells gained, 3 lost."
 * @param {ImageRow[]} rows */
export function summaryText(rows) {
  if (!rows.length) return "This run stored no per-image comparison (it finished before the dashboard compared images).";
  const count = (v) => rows.filter((r) => r.verdict === v).length;
  const gained = rows.reduce((n, r) => n + r.gained, 0);
  const lost = rows.reduce((n, r) => n + r.lost, 0);
  return `Better on ${count("better")} of ${plural(rows.length, "test image")}, worse on ${count("worse")}, ` +
    `the same on ${count("same")}; ${plural(gained, "cell")} gained, ${lost} lost (matched at IoU 0.5).`;
}

/**
 * AP@0.5 per image kind over the releases as chart series (x = position in `releases`).
 * @param {{label: string, per_kind: Record<string, number|null>}[]} releases
 * @returns {{categories: string[], series: {name: string, data: {x: number, y: number|null}[]}[]}}
 */
export function kindSeries(releases) {
  const kinds = [...new Set(releases.flatMap((r) => Object.keys(r.per_kind ?? {})))].sort();
  return {
    categories: releases.map((r) => r.label),
    series: kinds.map((kind) => ({ name: kind, data: releases.map((r, x) => ({ x, y: r.per_kind?.[kind] ?? null })) })),
  };
}

/**
 * The training data the candidate saw: rows per image kind and the contributors.
 * @param {{n_images: number, n_cells: number, per_kind: Record<string, {n_images: number, n_cells: number}>,
 *   contributors: {name: string, n_images: number}[]}|null|undefined} data
 */
export function trainingDataView(data) {
  if (!data) return { kinds: [], contributors: "", total: "No record of the training data." };
  return {
    kinds: Object.entries(data.per_kind ?? {}).map(([kind, row]) => [kind, String(row.n_images), String(row.n_cells)]),
    contributors: (data.contributors ?? []).map((c) => `${c.name} (${plural(c.n_images, "image")})`).join(", "),
    total: `${plural(data.n_images, "image")}, ${plural(data.n_cells, "cell")}.`,
  };
}

/** Whether the typed confirmation names the expected model (spaces around it do not count).
 * @param {string} typed @param {string} expected */
export function confirmationMatches(typed, expected) {
  return Boolean(expected) && typed.trim() === expected;
}
