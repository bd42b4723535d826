/**
 * The tiled image page's panels: the overlay choice (filled masks, outlines, both or
 * none; their opacity; which saved label image) and the status line (zoom, the level
 * drawn, the pixel under the pointer). They render the model and turn their inputs
 * into model calls, like the small-image viewer's panels.
 */

/** Label-image keys in a stable order, the newest last ("v2" before "v10"). */
export function sortLabelKeys(keys) {
  return [...keys].sort((a, b) => a.localeCompare(b, "en", { numeric: true }));
}

export class OverlayPanel {
  /**
   * @param {HTMLElement} root holds input[name=show_masks], input[name=show_outlines],
   *   input[name=opacity], select[name=labels] and [data-role=labels-note]
   * @param {import("../model.js").ViewerModel} model
   * @param {{onLabels: (key: string|null) => void}} deps called with the chosen label image
   */
  constructor(root, model, { onLabels }) {
    this.model = model;
    this.onLabels = onLabels;
    /** @type {HTMLInputElement} */
    this.masks = root.querySelector("[name=show_masks]");
    /** @type {HTMLInputElement} */
    this.outlines = root.querySelector("[name=show_outlines]");
    /** @type {HTMLInputElement} */
    this.opacity = root.querySelector("[name=opacity]");
    /** @type {HTMLSelectElement} */
    this.labels = root.querySelector("[name=labels]");
    /** @type {HTMLElement} */
    this.note = root.querySelector("[data-role=labels-note]");
    this.masks.addEventListener("change", () => model.setMasksVisible(this.masks.checked));
    this.outlines.addEventListener("change", () => model.setOutlinesVisible(this.outlines.checked));
    this.opacity.addEventListener("input", () => model.setOpacity(Number(this.opacity.value) / 100));
    this.labels.addEventListener("change", () => onLabels(this.labels.value || null));
    this._unsubscribe = model.subscribe((reason) => {
      if (reason === "layers") this.render();
    });
    this.render();
  }

  render() {
    const { view } = this.model;
    this.masks.checked = view.showMasks;
    this.outlines.checked = view.showOutlines;
    this.opacity.value = String(Math.round(view.opacity * 100));
  }

  /**
   * List the label images that exist and choose one (the newest when `chosen` is not given).
   * @param {string[]} keys
   * @param {string|null} [chosen]
   * @returns {string|null} the one chosen (null: none exists)
   */
  setLabelKeys(keys, chosen) {
    const sorted = sortLabelKeys(keys);
    const key = chosen && sorted.includes(chosen) ? chosen : sorted.at(-1) ?? null;
    this.labels.replaceChildren(
      ...sorted.map((k) => {
        const option = document.createElement("option");
        option.value = k;
        option.textContent = k;
        return option;
      }),
    );
    this.labels.value = key ?? "";
    this.labels.disabled = sorted.length < 2;
    this.note.hidden = sorted.length > 0;
    this.note.textContent = sorted.length ? "" : "No masks yet: run a segmentation.";
    this.onLabels(key);
    return key;
  }

  destroy() {
    this._unsubscribe();
  }
}

export class SlideStatus {
  /**
   * @param {{hover: HTMLElement, zoom: HTMLElement}} elements
   * @param {import("../model.js").ViewerModel} model
   * @param {{level: () => number}} deps level: the pyramid level the renderer draws (0 = full resolution)
   */
  constructor(elements, model, { level }) {
    this.elements = elements;
    this.model = model;
    this.level = level;
    this._unsubscribe = model.subscribe((reason) => {
      if (reason === "cursor") this.renderHover();
      if (reason === "transform" || reason === "viewport" || reason === "image") this.renderZoom();
    });
    this.renderHover();
    this.renderZoom();
  }

  renderHover() {
    const { cursor } = this.model;
    this.elements.hover.textContent = cursor ? `x ${cursor.x}, y ${cursor.y}` : "";
  }

  renderZoom() {
    const percent = this.model.transform.scale * 100;
    const shown = percent >= 10 ? Math.round(percent) : Math.round(percent * 10) / 10;
    const level = this.level();
    this.elements.zoom.textContent = `${shown} %${level > 0 ? ` · level ${level}` : ""}`;
  }

  destroy() {
    this._unsubscribe();
  }
}
