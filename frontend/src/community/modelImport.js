/**
 * The dashboard's model import: a Cellpose 3 `.pth` (or this site's `.pt`) file sent to
 * POST /api/models/import/ as a new version that is not current; the server's reason when
 * it refuses the file, shown beside the form.
 */
import { ApiError } from "../api.js";
import { modelName } from "./releaseText.js";

/** What the form says once a file is registered. */
export function importedText(model) {
  return `Imported ${model.imported_from ?? "the file"} as ${modelName(model)}. It is not current: ` +
    "release it under Model versions to make it the community model.";
}

/**
 * @param {HTMLFormElement} form with a file input `file`, inputs `name`, `description`, a
 *   `[data-role=import-status]` element and a submit button
 * @param {{api: import("../api.js").ApiClient, onImported: (model: object) => Promise<void>|void}} options
 */
export function wireModelImport(form, { api, onImported }) {
  const status = form.querySelector("[data-role=import-status]");
  /** @type {HTMLButtonElement} */
  const submit = form.querySelector("button[type=submit]");
  form.addEventListener("submit", async (event) => {
    event.preventDefault();
    const body = new FormData(form);
    if (!body.get("name")) body.delete("name");
    submit.disabled = true;
    status.className = "import-status";
    status.textContent = "Reading the model file…";
    try {
      const model = await api.request("POST", "/api/models/import/", { form: body });
      status.classList.add("ok");
      status.textContent = importedText(model);
      form.reset();
      await onImported(model);
    } catch (error) {
      status.classList.add("fail");
      status.textContent = error instanceof ApiError ? error.message : String(error?.message ?? error);
    } finally {
      submit.disabled = false;
    }
  });
}
