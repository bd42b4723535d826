/** "My contributions": submit a curated image (licence, consent, tags, note) and follow each one. */
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

async function loadContributions() {
  const body = await api.request("GET", "/api/contributions/", { query: { scope: "mine" } });
  const tbody = page.querySelector("[data-role=contributions] tbody");
  tbody.replaceChildren(...results(body).map((c) => el("tr", { dataset: { contribution: c.id, status: c.status } },
    el("td", {}, `#${c.id}`),
    el("td", {}, c.image_name, el("div", {}, `${c.n_masks} masks · AP@0.5 of the current model ${fmtAp(c.current_ap)}`)),
    el("td", { className: "status" }, c.status_display),
    el("td", {}, checksList(c.checks)),
    reviewCell(c),
    el("td", {}, c.license))));
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
