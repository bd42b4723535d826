/** The public models page: versions, metrics on the held-out test set, contributors. */
import { cardSections } from "./cardSections.js";
import { api, el, fmtAp, guarded } from "./common.js";

/** @type {HTMLElement} */
const page = document.querySelector("[data-page=models]");

guarded(async () => {
  const models = await api.request("GET", "/api/community/models/");
  page.querySelector("[data-role=models] tbody").replaceChildren(...models.flatMap((m) => [el("tr", { dataset: { model: m.id } },
    el("td", {}, `${m.name} v${m.version}`), el("td", {}, m.is_current ? "current" : ""),
    el("td", {}, fmtAp(m.metrics?.ap50)), el("td", {}, fmtAp(m.metrics?.ap75)), el("td", {}, fmtAp(m.metrics?.ap90)),
    el("td", {}, m.contributors.join(", ") || "–"), el("td", {}, m.changelog || m.description)),
  ...cardRow(m)]));
  page.dataset.state = "ready";
});

/** The model card below its model's row (nothing when the version has no card). */
function cardRow(m) {
  const sections = cardSections(m.metrics?.card);
  if (!sections.length) return [];
  return [el("tr", { dataset: { card: m.id } }, el("td", { colspan: "7" }, el("details", {},
    el("summary", {}, `Model card of ${m.name} v${m.version}`),
    sections.map((section) => el("section", {}, el("h3", {}, section.title),
      section.rows ? el("table", {}, el("thead", {}, el("tr", {}, section.head.map((h) => el("th", {}, h)))),
        el("tbody", {}, section.rows.map((row) => el("tr", {}, row.map((cell) => el("td", {}, cell))))))
        : el("ul", {}, section.items.map((item) => el("li", {}, item))))))))];
}
