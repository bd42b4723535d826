/**
 * "Import masks…" in the Versions panel: a file of existing annotations (a Cellpose _seg.npy,
 * a label TIFF/PNG, an ImageJ ROI zip, GeoJSON from QuPath, COCO) becomes the image's next
 * version (POST .../annotation/import/, provenance "imported"). The server's reason is shown
 * when a file cannot be read; nothing is imported over unsaved edits.
 */
export class ImportMasks {
  /**
   * @param {HTMLElement} root holds [data-action=import-masks], an <input type=file> and
   *   [data-role=import-status]
   * @param {{api: import("../api.js").ApiClient, imageId: number|string, guard: () => string|null,
   *          onImported: (annotation: object) => Promise<void>|void}} deps
   *   guard: why the masks must not be replaced now (unsaved edits), or null
   */
  constructor(root, { api, imageId, guard, onImported }) {
    this.api = api;
    this.imageId = imageId;
    this.guard = guard;
    this.onImported = onImported;
    /** @type {HTMLButtonElement} */
    this.button = root.querySelector("[data-action=import-masks]");
    /** @type {HTMLInputElement} */
    this.input = root.querySelector("input[type=file][data-role=import-file]");
    /** @type {HTMLElement} */
    this.status = root.querySelector("[data-role=import-status]");
    this.button.addEventListener("click", () => {
      const why = this.guard();
      if (why) this._say(`${why} An import replaces the masks.`, "error");
      else this.input.click();
    });
    this.input.addEventListener("change", () => {
      const [file] = this.input.files ?? [];
      this.input.value = "";
      if (file) this.import(file);
    });
  }

  _say(message, state = "") {
    this.status.textContent = message;
    this.status.dataset.state = state;
    this.status.hidden = !message;
  }

  /** @param {File} file */
  async import(file) {
    const why = this.guard();
    if (why) {
      this._say(`${why} An import replaces the masks.`, "error");
      return;
    }
    this.button.disabled = true;
    this._say(`Importing ${file.name}…`, "busy");
    try {
      const annotation = await this.api.importAnnotation(this.imageId, file);
      await this.onImported(annotation);
      this._say(`Imported ${file.name} as version ${annotation.version} (${annotation.n_masks} cells).`, "done");
    } catch (error) {
      this._say(`Could not import ${file.name}: ${error.message}`, "error");
    } finally {
      this.button.disabled = false;
    }
  }
}
