/** The public models page: versions, metrics on the held-out test set, contributors. */
import { api, el, fmtAp, guarded } from "./common.js";

/** @type {HTMLElement} */
const page = document.querySelector("[data-page=models]");

guarded(async () => {
  const models = await api.request("GET", "/api/community/models/");
  page.querySelector("[data-role=models] tbody").replaceChildren(...models.map((m) => el("tr", { dataset: { model: m.id } },
    el("td", {}, `${m.name} v${m.version}`), el("td", {}, m.is_current ? "current" : ""),
    el("td", {}, fmtAp(m.metrics?.ap50)), el("td", {}, fmtAp(m.metrics?.ap75)), el("td", {}, fmtAp(m.metrics?.ap90)),
    el("td", {}, m.contributors.join(", ") || "–"), el("td", {}, m.changelog || m.description))));
  page.dataset.state = "ready";
});
