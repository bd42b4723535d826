/** The curators' review queue: open a contribution read-only with the model's prediction as an
 * overlay, then approve, reject or request changes with a comment. */
import { decodeMasks } from "../codec.js";
import { computeOutlines } from "../outlines.js";
import { checksPending, checksRunText, pollWhile } from "./checksRun.js";
import { api, checksList, el, fmtAp, guarded, results } from "./common.js";

/** @type {HTMLElement} */
const page = document.querySelector("[data-page=review]");
/** @type {HTMLElement} */
const viewer = page.querySelector("[data-role=viewer]");
/** @type {HTMLCanvasElement} */
const canvas = viewer.querySelector("[data-role=canvas]");
/** @type {HTMLInputElement} */
const togglePrediction = viewer.querySelector("[data-role=show-prediction]");
/** @type {HTMLTextAreaElement} */
const commentBox = viewer.querySelector("[data-role=comment]");
let current = null; // {contribution, bitmap, masks, prediction}

function paint(ctx, labels, width, height, [r, g, b]) {
  const outlines = computeOutlines(labels, width, height);
  const picture = ctx.getImageData(0, 0, width, height);
  for (let i = 0; i < outlines.length; i++) {
    if (outlines[i]) picture.data.set([r, g, b, 255], i * 4);
  }
  ctx.putImageData(picture, 0, 0);
}

function draw() {
  if (!current) return;
  const [height, width] = current.masks.shape;
  canvas.width = width;
  canvas.height = height;
  canvas.style.width = `${Math.min(640, width * 3)}px`;
  const ctx = canvas.getContext("2d");
  ctx.drawImage(current.bitmap, 0, 0);
  paint(ctx, current.masks.labels, width, height, [255, 220, 0]);
  if (togglePrediction.checked && current.prediction) paint(ctx, current.prediction.labels, width, height, [255, 0, 255]);
  canvas.dataset.overlay = togglePrediction.checked ? "prediction" : "masks";
}

async function open(contribution) {
  const [bitmap, body] = await Promise.all([
    api.fetchBitmap(contribution.image_url), api.request("GET", contribution.masks_url),
  ]);
  current = {
    contribution, bitmap, masks: await decodeMasks(body.masks),
    prediction: body.prediction ? await decodeMasks(body.prediction) : null,
  };
  viewer.hidden = false;
  viewer.dataset.contribution = contribution.id;
  viewer.querySelector("[data-role=viewer-title]").textContent =
    `#${contribution.id} ${contribution.image_name} by ${contribution.contributor} (${contribution.license})`;
  const running = checksRunText(contribution);
  viewer.querySelector("[data-role=checks]").replaceChildren(
    ...(running ? [el("li", { className: "pending", dataset: { role: "checks-run" } }, running)] : []),
    ...checksList(contribution.checks).children);
  viewer.querySelector("[data-role=note]").textContent = contribution.note ? `Note: ${contribution.note}` : "";
  togglePrediction.disabled = !current.prediction;
  togglePrediction.checked = false;
  for (const row of /** @type {NodeListOf<HTMLTableRowElement>} */ (page.querySelectorAll("[data-role=queue] tr"))) {
    row.classList.toggle("selected", row.dataset.contribution === String(contribution.id));
  }
  draw();
}

/** The queue's checks column: their outcome, or that they are still running (or failed to run). */
function checksSummary(c) {
  const running = checksRunText(c);
  if (running) {
    return el("td", { className: checksPending(c) ? "pending" : "fail", dataset: { role: "checks-run" } }, running);
  }
  return el("td", { className: c.checks_passed ? "ok" : "fail" }, c.checks_passed ? "all passed" :
    `${c.checks.filter((k) => !k.ok).length} failed`);
}

let queued = [];
let stopPolling = () => {};

async function loadQueue() {
  const body = await api.request("GET", "/api/contributions/", { query: { scope: "queue" } });
  queued = results(body);
  const rows = queued.map((c) => el("tr", { dataset: { contribution: c.id }, onclick: () => guarded(() => open(c)) },
    el("td", {}, `#${c.id}`), el("td", {}, el("a", { href: "#" }, c.image_name)), el("td", {}, c.contributor),
    el("td", {}, c.n_masks), el("td", {}, fmtAp(c.current_ap)),
    checksSummary(c),
    el("td", {}, c.tags.join(", "))));
  // contributions whose checks still run: reload the queue (and the open one) until they have finished
  stopPolling();
  stopPolling = pollWhile(() => queued.some(checksPending), () => guarded(async () => {
    await loadQueue();
    const fresh = current && queued.find((c) => c.id === current.contribution.id);
    if (fresh && !checksPending(fresh) && checksPending(current.contribution)) await open(fresh);
  }));
  page.querySelector("[data-role=queue] tbody").replaceChildren(...rows);
  if (!rows.length) page.querySelector("[data-role=queue] tbody").append(el("tr", {}, el("td", { colspan: 7 }, "Nothing to review.")));
}

togglePrediction.addEventListener("change", draw);
for (const button of /** @type {NodeListOf<HTMLButtonElement>} */ (viewer.querySelectorAll("[data-decision]"))) {
  button.addEventListener("click", () => guarded(async () => {
    const comment = commentBox.value;
    await api.request("POST", `/api/contributions/${current.contribution.id}/review/`,
      { json: { decision: button.dataset.decision, comment } });
    viewer.hidden = true;
    commentBox.value = "";
    current = null;
    await loadQueue();
  }));
}

guarded(async () => {
  await loadQueue();
  page.dataset.state = "ready";
});
