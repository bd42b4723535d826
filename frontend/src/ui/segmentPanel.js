/**
 * The "Segment" panel of the image page: the options form, the Run button, and
 * the running job (live progress, cancel, the reason when it fails).
 */
import { JobMonitor } from "../controller/jobs.js";
import { JobStatusView } from "./jobStatus.js";
import { bindDiameterFields, bindVolumeFields, fillModelChoices, readSegmentOptions } from "./segmentOptions.js";
import { announceChanges, applyFormValues, recipeFormValues } from "./segmentRecipe.js";

export class SegmentPanel {
  /**
   * @param {HTMLElement} root contains the options <form>, [data-role="form-error"] and [data-role="job"]
   * @param {{api: import("../api.js").ApiClient, imageId: number|string,
   *          model: import("../model.js").ViewerModel,
   *          onSucceeded: (job: object, options: object) => void, openSocket?: ((url: string) => WebSocket)|null,
   *          guard?: () => string|null}} deps guard: why a run must not start now (unsaved edits)
   */
  constructor(root, { api, imageId, model, onSucceeded, openSocket, guard = () => null }) {
    this.root = root;
    this.guard = guard;
    this.api = api;
    this.imageId = imageId;
    this.onSucceeded = onSucceeded;
    this.openSocket = openSocket;
    this.form = root.querySelector("form");
    /** @type {HTMLButtonElement} */
    this.runButton = this.form.querySelector('button[type="submit"]');
    /** @type {HTMLElement} */
    this.errorBox = root.querySelector('[data-role="form-error"]');
    this.jobView = new JobStatusView(root.querySelector('[data-role="job"]'));
    this.monitor = null;
    this.connectionNote = "";
    bindDiameterFields(this.form, (diameter) => model.setDiameter(diameter));
    bindVolumeFields(this.form, (model.image?.depth ?? 1) > 1);
    this.form.addEventListener("submit", (event) => {
      event.preventDefault();
      this.run();
    });
    this.jobView.cancel.addEventListener("click", () => this.cancel());
    /** @type {HTMLElement|null} */
    this.recipeNote = root.querySelector('[data-role="recipe-note"]');
    root.querySelector('[data-action="reset-options"]')?.addEventListener("click", () => this.resetToDefaults());
    api.listModels().then(
      (models) => fillModelChoices(/** @type {HTMLSelectElement} */ (this.form.elements.namedItem("model_version")), models),
      (error) => this.showError(`Could not list the models: ${error.message}`),
    );
  }

  /**
   * Show how the masks on show were made (GET .../annotation/ "recipe"), in the form and
   * a note; null (masks drawn by hand, or none): the form is left as it is.
   */
  restore(recipe) {
    if (this.recipeNote) {
      this.recipeNote.hidden = !recipe;
      this.recipeNote.textContent = recipe
        ? `The masks on show were made by ${recipe.model_name} with these options (version ${recipe.version}).`
        : "";
    }
    if (recipe) applyFormValues(this.form, recipeFormValues(recipe));
  }

  /** Every option back to the server's defaults (inference/options.py); the estimate stays on show. */
  resetToDefaults() {
    this.form.reset();
    /** @type {HTMLSelectElement} */ (this.form.elements.namedItem("model_version")).dataset.wanted = "";
    announceChanges(this.form);
    if (this.recipeNote) this.recipeNote.hidden = true;
    this.showError("");
  }

  showError(message) {
    this.errorBox.hidden = !message;
    this.errorBox.textContent = message || "";
  }

  async run() {
    const why = this.guard();
    this.showError(why ? `${why} A new segmentation replaces the masks.` : "");
    if (why) return;
    let options;
    try {
      options = readSegmentOptions(this.form);
    } catch (error) {
      this.showError(error.message);
      return;
    }
    this.runButton.disabled = true;
    try {
      const job = await this.api.segment(this.imageId, options);
      this.follow(job, options);
    } catch (error) {
      this.runButton.disabled = false;
      this.showError(error.message);
    }
  }

  /**
   * Follow the image's newest queued or running job, if there is one (a job started before the
   * page opened: "Segment after upload" on the image list, or another tab); resolves to it or null.
   */
  async resume() {
    const page = await this.api.listJobs({ image: this.imageId, active: true });
    const job = page.results?.[0] ?? null;
    if (job && !this.monitor) {
      this.runButton.disabled = true;
      this.follow(job, job.params ?? {});
    }
    return job;
  }

  /** Show a job's progress until it ends. */
  follow(job, options) {
    this.monitor?.stop();
    const monitor = new JobMonitor(job, { api: this.api, openSocket: this.openSocket });
    this.monitor = monitor;
    this.connectionNote = "";
    monitor.subscribe((reason, detail) => {
      if (reason === "connection") {
        this.connectionNote = detail.error ? "connection lost, retrying" : detail.mode === "polling" ? "polling" : "";
      }
      this.jobView.render(monitor.job, { note: this.connectionNote });
    });
    this.jobView.render(monitor.job);
    monitor.start();
    monitor.done.then((finished) => {
      if (this.monitor !== monitor) return;
      this.runButton.disabled = false;
      if (finished.status === "succeeded") this.onSucceeded(finished, options);
    });
  }

  async cancel() {
    const monitor = this.monitor;
    if (!monitor) return;
    this.jobView.cancel.disabled = true;
    try {
      monitor.update(await this.api.cancelJob(monitor.job.id));
    } catch (error) {
      this.jobView.cancel.disabled = false;
      this.showError(error.message);
    }
  }
}
