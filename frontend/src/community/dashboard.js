/** The admins' dashboard: test-set membership, training runs (live loss and validation AP over
 * the websocket), a finished run's candidate beside the current model on every test image
 * (decision.js), release and roll back after a typed confirmation, and the import of a `.pth`
 * model file. */
import { api, el, fmtAp, guarded, results, socketUrl } from "./common.js";
import { wireModelImport } from "./modelImport.js";
import { showDecision, typedConfirm } from "./decision.js";
import { drawPlot } from "./plot.js";
import { changedText, modelName, releaseQuestion, rollbackQuestion } from "./releaseText.js";

/** @type {HTMLElement} */
const page = document.querySelector("[data-page=dashboard]");
/** @type {HTMLElement} */
const runBox = page.querySelector("[data-role=run]");
/** @type {HTMLFormElement} */
const trainForm = page.querySelector("[data-role=train-form]");
/** @type {HTMLDialogElement} */
const confirmDialog = page.querySelector("[data-role=confirm-dialog]");
let socket = null;
let runId = null;

async function loadApproved() {
  const body = await api.request("GET", "/api/contributions/", { query: { scope: "all" } });
  const approved = results(body).filter((c) => c.status === "approved");
  page.querySelector("[data-role=approved] tbody").replaceChildren(...approved.map((c) => {
    const other = c.split === "test" ? "train" : "test";
    return el("tr", { dataset: { contribution: c.id, split: c.split } },
      el("td", {}, `#${c.id}`), el("td", {}, c.image_name), el("td", {}, c.contributor), el("td", {}, c.tags.join(", ")),
      el("td", {}, c.split),
      el("td", {}, el("button", { type: "button", dataset: { action: `mark-${other}` }, onclick: () => guarded(async () => {
        await api.request("POST", `/api/contributions/${c.id}/split/`, { json: { split: other } });
        await loadApproved();
      }) }, `Mark ${other}`)));
  }));
}

function metricsTable(metrics) {
  const table = page.querySelector("[data-role=run-metrics]");
  if (!metrics?.candidate) { table.replaceChildren(); return; }
  const rows = [["all test images", metrics.candidate, metrics.current],
    ...Object.keys(metrics.candidate.per_tag ?? {}).map((tag) =>
      [`tag: ${tag}`, metrics.candidate.per_tag[tag], metrics.current.per_tag?.[tag]])];
  table.replaceChildren(
    el("tr", {}, el("th", {}, `Test set v${metrics.test_set}`), el("th", {}, "candidate AP@0.5 / 0.75 / 0.9"),
      el("th", {}, `current (${metrics.current.name ?? ""}) AP@0.5 / 0.75 / 0.9`)),
    ...rows.map(([name, c, cur]) => el("tr", {}, el("td", {}, name),
      el("td", { dataset: { role: "candidate-ap" } }, [c?.ap50, c?.ap75, c?.ap90].map(fmtAp).join(" / ")),
      el("td", {}, [cur?.ap50, cur?.ap75, cur?.ap90].map(fmtAp).join(" / ")))));
}

function showRun(run) {
  runBox.hidden = false;
  runBox.dataset.status = run.status;
  runBox.querySelector("[data-role=run-id]").textContent = `#${run.id}`;
  runBox.querySelector("[data-role=run-status]").textContent = run.status;
  /** @type {HTMLProgressElement} */
  const progress = runBox.querySelector("[data-role=run-progress]");
  progress.value = run.progress;
  runBox.querySelector("[data-role=run-stage]").textContent = run.stage;
  runBox.querySelector("[data-role=run-error]").textContent = run.error ?? "";
  /** @type {HTMLButtonElement} */
  const cancel = runBox.querySelector("[data-action=cancel-run]");
  cancel.hidden = !["queued", "running"].includes(run.status);
  const history = run.history ?? [];
  const xMax = run.params?.n_epochs;
  drawPlot(runBox.querySelector("[data-role=loss-plot]"), history.map((r) => ({ x: r.epoch, y: r.train_loss })),
    { xMax, label: "loss" });
  drawPlot(runBox.querySelector("[data-role=ap-plot]"), history.map((r) => ({ x: r.epoch, y: r.val_ap50 })),
    { xMax, yMin: 0, yMax: 1, color: "#17803d", label: "AP@0.5" });
  metricsTable(run.metrics);
}

let decisionShown = null; // the run whose decision is on screen: load it once, not on every event

async function refreshRun() {
  if (runId === null) return;
  const run = await api.request("GET", `/api/training-runs/${runId}/`);
  showRun(run);
  if (decisionShown !== run.id || run.status !== "succeeded") {
    decisionShown = run.status === "succeeded" ? run.id : null;
    await showDecision(runBox.querySelector("[data-role=decision]"), run, { api, guarded });
  }
  if (!["queued", "running"].includes(run.status)) {
    socket?.close();
    socket = null;
    await loadModels();
  }
}

function follow(id) {
  runId = id;
  socket?.close();
  socket = new WebSocket(socketUrl(`/ws/training-runs/${id}/`));
  // every event says something changed: read the run (history, metrics) from the API
  socket.addEventListener("message", () => guarded(refreshRun));
  guarded(refreshRun);
}

/** Release or roll back once the person typed the name of the model that becomes current (the
 * question names both); then say what happened. */
async function changeModel(question, after, action, path, before) {
  if (!question || !await typedConfirm(confirmDialog, { question, expected: modelName(after), action })) return;
  await guarded(async () => {
    const now = await api.request("POST", path);
    page.querySelector("[data-role=release-status]").textContent = changedText(now, before);
    await loadModels();
  });
}

async function loadModels() {
  const models = await api.request("GET", "/api/community/models/");
  const current = models.find((m) => m.is_current) ?? null;
  const select = page.querySelector("[data-role=base-select]");
  select.replaceChildren(el("option", { value: "" }, "the current model"),
    ...models.map((m) => el("option", { value: m.id }, `${m.name} v${m.version}`)));
  page.querySelector("[data-role=models] tbody").replaceChildren(...models.map((m) => el("tr", {
    dataset: { model: m.id, current: String(m.is_current) } },
  el("td", {}, `${m.name} v${m.version}${m.is_current ? " (current)" : ""}`),
  el("td", {}, fmtAp(m.metrics?.ap50)), el("td", {}, fmtAp(m.metrics?.ap75)), el("td", {}, fmtAp(m.metrics?.ap90)),
  el("td", {}, m.metrics?.current ? [m.metrics.current.ap50, m.metrics.current.ap75, m.metrics.current.ap90].map(fmtAp).join(" / ") : "–"),
  el("td", {}, m.changelog || m.description),
  el("td", {},
    m.is_current
      ? el("button", { type: "button", dataset: { action: "rollback" },
        ...(m.rollback_to ? {} : { disabled: "", title: "No earlier release to roll back to" }), onclick: () => changeModel(
          rollbackQuestion(m), m.rollback_to, "Roll back", `/api/models/${m.id}/rollback/`, m) },
        m.rollback_to ? `Roll back to ${m.rollback_to.name} v${m.rollback_to.version}` : "Nothing to roll back to")
      : el("button", { type: "button", dataset: { action: "release" }, onclick: () => changeModel(
        releaseQuestion(m, current), m, "Release", `/api/models/${m.id}/release/`, current) }, "Release"),
    m.training_run ? el("a", { href: `/api/models/${m.id}/dataset.zip` }, " dataset.zip") : null))));
}

trainForm.addEventListener("submit", (event) => {
  event.preventDefault();
  const form = new FormData(trainForm);
  const options = {};
  for (const key of ["n_epochs", "n_samples_per_epoch", "batch_size", "bsize"]) options[key] = Number(form.get(key));
  options.learning_rate = Number(form.get("learning_rate"));
  if (form.get("base")) options.base = Number(form.get("base"));
  guarded(async () => follow((await api.request("POST", "/api/training-runs/", { json: options })).id));
});

wireModelImport(page.querySelector("[data-role=import-form]"), { api, onImported: () => guarded(loadModels) });

runBox.querySelector("[data-action=cancel-run]").addEventListener("click", () => guarded(async () => {
  await api.request("POST", `/api/training-runs/${runId}/cancel/`);
  await refreshRun();
}));

guarded(async () => {
  await Promise.all([loadApproved(), loadModels()]);
  const runs = results(await api.request("GET", "/api/training-runs/"));
  if (runs.length) follow(runs[0].id);
  page.dataset.state = "ready";
});
