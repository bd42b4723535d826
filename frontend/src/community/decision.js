/** The release decision on the dashboard: a finished run's candidate beside the current model on
 * every test image (table, both overlays side by side), AP per image kind over the releases, the
 * training data it saw; and the typed confirmation that release and roll back ask for. */
import { decodeMasks } from "../codec.js";
import { computeOutlines } from "../outlines.js";
import { el } from "./common.js";
import { confirmationMatches, kindSeries, rowCells, sortedRows, summaryText, trainingDataView } from "./comparison.js";
import { drawChart } from "./plot.js";
import { modelName } from "./releaseText.js";

/** @type {[number, number, number]} */
const CURRENT_COLOUR = [255, 0, 255];
/** @type {[number, number, number]} */
const CANDIDATE_COLOUR = [0, 230, 255];

/** Draw `bitmap` with the outlines of `labels` into `canvas`.
 * @param {HTMLCanvasElement} canvas @param {ImageBitmap} bitmap
 * @param {{shape: number[], labels: Int32Array}} masks @param {[number, number, number]} colour */
function drawOverlay(canvas, bitmap, masks, [r, g, b]) {
  const [height, width] = masks.shape;
  canvas.width = width;
  canvas.height = height;
  const ctx = canvas.getContext("2d");
  ctx.drawImage(bitmap, 0, 0);
  const outlines = computeOutlines(masks.labels, width, height);
  const picture = ctx.getImageData(0, 0, width, height);
  for (let i = 0; i < outlines.length; i++) if (outlines[i]) picture.data.set([r, g, b, 255], i * 4);
  ctx.putImageData(picture, 0, 0);
}

/**
 * Show the decision of `run` (a succeeded run) in `box`; hidden for other runs.
 * @param {HTMLElement} box the [data-role=decision] section
 * @param {{id: number, status: string, candidate: number|null}} run
 * @param {{api: any, guarded: (action: () => Promise<any>) => Promise<any>}} deps
 */
export async function showDecision(box, run, { api, guarded }) {
  if (run.status !== "succeeded" || !run.candidate) { box.hidden = true; return; }
  const body = await api.request("GET", `/api/training-runs/${run.id}/comparison/`);
  box.hidden = false;
  box.dataset.run = String(run.id);
  const candidateName = modelName(body.candidate);
  const currentName = body.current?.name ?? "the current model";
  box.querySelector("[data-role=decision-candidate]").textContent = candidateName;
  box.querySelector("[data-role=decision-current]").textContent = currentName;
  box.querySelector("[data-role=comparison-summary]").textContent = summaryText(body.rows);
  const viewer = /** @type {HTMLElement} */ (box.querySelector("[data-role=compare-viewer]"));
  viewer.hidden = true;
  const tbody = box.querySelector("[data-role=comparison] tbody");
  tbody.replaceChildren(...sortedRows(body.rows).map((row) => el("tr", {
    dataset: { contribution: row.contribution, verdict: row.verdict }, className: `verdict-${row.verdict}`,
    onclick: () => guarded(() => openImage(box, run.id, row, { api, candidateName, currentName })),
  }, rowCells(row).map((cell, i) => el("td", {}, i === 0 ? el("a", { href: "#" }, cell) : cell)))));
  const { categories, series } = kindSeries(body.releases ?? []);
  drawChart(box.querySelector("[data-role=kind-plot]"), series, { categories, yMin: 0, yMax: 1, yTitle: "AP@0.5", legend: true });
  const data = trainingDataView(body.training_data);
  box.querySelector("[data-role=training-data] tbody").replaceChildren(
    ...data.kinds.map((cells) => el("tr", {}, cells.map((c) => el("td", {}, c)))));
  box.querySelector("[data-role=training-total]").textContent = data.total;
  box.querySelector("[data-role=training-contributors]").textContent = data.contributors || "–";
}

async function openImage(box, runId, row, { api, candidateName, currentName }) {
  const [bitmap, masks] = await Promise.all([
    api.fetchBitmap(`/api/contributions/${row.contribution}/image/`),
    api.request("GET", `/api/training-runs/${runId}/comparison/${row.contribution}/masks/`),
  ]);
  const [current, candidate] = await Promise.all([decodeMasks(masks.current), decodeMasks(masks.candidate)]);
  const viewer = /** @type {HTMLElement} */ (box.querySelector("[data-role=compare-viewer]"));
  drawOverlay(box.querySelector("[data-role=current-canvas]"), bitmap, current, CURRENT_COLOUR);
  drawOverlay(box.querySelector("[data-role=candidate-canvas]"), bitmap, candidate, CANDIDATE_COLOUR);
  box.querySelector("[data-role=current-caption]").textContent =
    `${currentName}: AP@0.5 ${row.current.ap50.toFixed(3)}, ${row.current.n_found} of ${row.n_true} cells found`;
  box.querySelector("[data-role=candidate-caption]").textContent =
    `${candidateName}: AP@0.5 ${row.candidate.ap50.toFixed(3)}, ${row.candidate.n_found} of ${row.n_true} cells found`;
  box.querySelector("[data-role=compare-title]").textContent =
    `${row.image_name}: ${row.gained} cells gained, ${row.lost} lost (${row.verdict})`;
  viewer.dataset.contribution = String(row.contribution);
  viewer.hidden = false;
  for (const tr of box.querySelectorAll("[data-role=comparison] tbody tr")) {
    tr.classList.toggle("selected", /** @type {HTMLElement} */ (tr).dataset.contribution === String(row.contribution));
  }
}

/**
 * Ask in `dialog` and resolve true only once the person typed `expected` and confirmed.
 * @param {HTMLDialogElement} dialog
 * @param {{question: string, expected: string, action: string}} ask
 * @returns {Promise<boolean>}
 */
export function typedConfirm(dialog, { question, expected, action }) {
  /** @type {HTMLInputElement} */
  const input = dialog.querySelector("[data-role=confirm-input]");
  /** @type {HTMLButtonElement} */
  const button = dialog.querySelector("[data-role=confirm-button]");
  dialog.querySelector("[data-role=confirm-question]").textContent = question;
  dialog.querySelector("[data-role=confirm-expected]").textContent = expected;
  button.textContent = action;
  input.value = "";
  button.disabled = true;
  input.oninput = () => { button.disabled = !confirmationMatches(input.value, expected); };
  return new Promise((resolve) => {
    dialog.addEventListener("close", () => resolve(dialog.returnValue === "confirm" &&
      confirmationMatches(input.value, expected)), { once: true });
    dialog.returnValue = "";
    dialog.showModal();
    input.focus();
  });
}
