/**
 * Re-thresholding: the cellprob and flow-threshold sliders recompute the masks on
 * the server from the stored flows (no network run) when a slider is released,
 * then the page redraws the new masks.
 */
export class ThresholdPanel {
  /**
   * @param {HTMLElement} root contains ranges named cellprob_threshold and flow_threshold,
   *   an <output> for each (data-for=name) and [data-role="threshold-status"]
   * @param {{api: import("../api.js").ApiClient, imageId: number|string,
   *          onResult: (response: object) => Promise<void>|void, guard?: () => string|null}} deps
   *   guard: why the masks must not be recomputed now (unsaved edits), or null
   */
  constructor(root, { api, imageId, onResult, guard = () => null }) {
    this.root = root;
    this.guard = guard;
    this.api = api;
    this.imageId = imageId;
    this.onResult = onResult;
    this.inputs = [.../** @type {NodeListOf<HTMLInputElement>} */ (root.querySelectorAll('input[type="range"]'))];
    /** @type {HTMLElement} */
    this.status = root.querySelector('[data-role="threshold-status"]');
    this._request = 0;
    for (const input of this.inputs) {
      input.addEventListener("input", () => this._showValue(input));
      input.addEventListener("change", () => this.apply());
      this._showValue(input);
    }
    this.setEnabled(false);
  }

  _showValue(input) {
    const output = this.root.querySelector(`output[data-for="${input.name}"]`);
    if (output) output.textContent = Number(input.value).toFixed(input.name === "flow_threshold" ? 2 : 1);
  }

  /** @param {boolean} enabled whether the image has results to re-threshold */
  setEnabled(enabled) {
    for (const input of this.inputs) input.disabled = !enabled;
    this.root.classList.toggle("is-disabled", !enabled);
  }

  /** Put the sliders where a segmentation's options left them. */
  setValues(values) {
    for (const input of this.inputs) {
      if (values[input.name] !== undefined && values[input.name] !== null) input.value = String(values[input.name]);
      this._showValue(input);
    }
  }

  values() {
    return Object.fromEntries(this.inputs.map((input) => [input.name, Number(input.value)]));
  }

  async apply() {
    const why = this.guard();
    if (why) {
      this.status.textContent = `${why} Re-thresholding replaces the masks.`;
      this.status.dataset.state = "error";
      return;
    }
    const request = ++this._request;
    this.status.textContent = "Recomputing masks…";
    this.status.dataset.state = "busy";
    try {
      const response = await this.api.rethreshold(this.imageId, this.values());
      if (request !== this._request) return; // a newer request supersedes this one
      await this.onResult(response);
      this.status.textContent = "";
      this.status.dataset.state = "";
    } catch (error) {
      if (request !== this._request) return;
      this.status.textContent = error.message;
      this.status.dataset.state = "error";
    }
  }
}
