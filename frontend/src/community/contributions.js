/** "My contributions": submit a curated image (licence, consent, tags, note) and follow each one. */
import { checksPending, checksRunText, pollWhile } from "./checksRun.js";
import { api, checksList, el, fmtAp, guarded, results } from "./common.js";

/** @type {HTMLElement} */
const page = document.querySelector("[data-page=contributions]");
/** @type {HTMLFormElement} */
const contributeForm = page.querySelector("[data-role=contribute-form]");

async function loadImages() {
  /** @type {HTMLSelectElement} */
  const select = page.querySelector("[data-role=image-select]");
  const body = await api.request("GET", "/api/images/", { query: { page_size: 200 } });
  select.replaceChildren(el("option", { value: "" }, "Choose an image…"),
    ...results(body).map((image) => el("option", { value: image.id }, `${image.name} (#${image.id})`)));
  // /community/?image=<id> (a "Contribute" link from the editor) preselects the image
  const wanted = new URLSearchParams(globalThis.location.search).get("image");
  if (wanted) select.value = wanted;
}

function reviewCell(contribution) {
  const comments = contribution.events.filter((e) => e.comment && e.decision !== "submit");
  const used = contribution.used_in.map((m) => el("div", { className: "ok" }, m.label));
  const resubmit = contribution.status === "changes"
    ? el("button", { type: "button", dataset: { action: "resubmit" }, onclick: () => guarded(async () => {
      await api.request("POST", `/api/contributions/${contribution.id}/resubmit/`, { json: {} });
      await loadContributions();
    }) }, "Resubmit my corrected masks")
    : null;
  return el("td", {}, comments.map((e) => el("div", {}, `${e.actor ?? ""}: ${e.comment}`)), used, resubmit);
}

/** The checks, or while they run in the background their progress (and a retry after a failure). */
function checksCell(contribution) {
  const text = checksRunText(contribution);
  const failed = contribution.checks_run?.status === "failed" || contribution.checks_run?.status === "cancelled";
  const retry = failed
    ? el("button", { type: "button", dataset: { action: "retry-checks" }, onclick: () => guarded(async () => {
      await api.request("POST", `/api/contributions/${contribution.id}/checks/retry/`, { json: {} });
      await loadContributions();
    }) }, "Retry the checks")
    : null;
  return el("td", { dataset: { checks: contribution.checks_run?.status ?? "none" } },
    text ? el("div", { className: failed ? "fail" : "pending", dataset: { role: "checks-run" } }, text) : null,
    checksList(contribution.checks), retry);
}

let shown = [];
let stopPolling = () => {};

async function loadContributions() {
  const body = await api.request("GET", "/api/contributions/", { query: { scope: "mine" } });
  shown = results(body);
  const tbody = page.querySelector("[data-role=contributions] tbody");
  tbody.replaceChildren(...shown.map((c) => el("tr", { dataset: { contribution: c.id, status: c.status } },
    el("td", {}, `#${c.id}`),
    el("td", {}, c.image_name, el("div", {}, `${c.n_masks} masks · AP@0.5 of the current model ${fmtAp(c.current_ap)}`)),
    el("td", { className: "status" }, c.status_display),
    checksCell(c),
    reviewCell(c),
    el("td", {}, c.license))));
  // while checks run in the background, reload until they have finished
  stopPolling();
  stopPolling = pollWhile(() => shown.some(checksPending), () => guarded(loadContributions));
}

contributeForm.addEventListener("submit", (event) => {
  event.preventDefault();
  const form = new FormData(contributeForm);
  const tags = String(form.get("tags") ?? "").split(",").map((t) => t.trim()).filter(Boolean);
  guarded(async () => {
    await api.request("POST", "/api/contributions/", { json: {
      image: Number(form.get("image")), license: form.get("license"), consent: form.get("consent") === "on",
      tags, note: String(form.get("note") ?? ""),
    } });
    contributeForm.reset();
    await loadContributions();
  });
});

guarded(async () => {
  await Promise.all([loadImages(), loadContributions()]);
  page.dataset.state = "ready";
});
