/**
 * The display controls (view, overlays, opacity, colour, contrast, brightness,
 * scale disk). Inputs change the model; model changes (from keys, say) update
 * the inputs, so the panel always shows the model's state.
 *
 * Controls are found by name inside the panel: background (radio), show_masks,
 * show_outlines, show_disk (checkboxes), opacity, contrast, brightness (ranges),
 * color_mode (select), and a [data-action="reset-display"] button.
 */
import { DEFAULT_VIEW } from "../model.js";

export class DisplayPanel {
  /**
   * @param {HTMLElement} root
   * @param {import("../model.js").ViewerModel} model
   */
  constructor(root, model) {
    this.root = root;
    this.model = model;
    /**
     * @template {Element} T
     * @param {string} name
     * @returns {T}
     */
    const field = (name) => root.querySelector(`[name="${name}"]`);
    /**
     * @type {{background: HTMLInputElement[], showMasks: HTMLInputElement, showOutlines: HTMLInputElement,
     *         showDisk: HTMLInputElement, opacity: HTMLInputElement, colorMode: HTMLSelectElement,
     *         contrast: HTMLInputElement, brightness: HTMLInputElement}}
     */
    this.fields = {
      background: [.../** @type {NodeListOf<HTMLInputElement>} */ (root.querySelectorAll('[name="background"]'))],
      showMasks: field("show_masks"),
      showOutlines: field("show_outlines"),
      showDisk: field("show_disk"),
      opacity: field("opacity"),
      colorMode: field("color_mode"),
      contrast: field("contrast"),
      brightness: field("brightness"),
    };
    const f = this.fields;
    for (const radio of f.background) radio.addEventListener("change", () => radio.checked && model.setBackground(radio.value));
    f.showMasks.addEventListener("change", () => model.setMasksVisible(f.showMasks.checked));
    f.showOutlines.addEventListener("change", () => model.setOutlinesVisible(f.showOutlines.checked));
    f.showDisk.addEventListener("change", () => model.setDiskVisible(f.showDisk.checked));
    f.opacity.addEventListener("input", () => model.setOpacity(Number(f.opacity.value) / 100));
    f.colorMode.addEventListener("change", () => model.setColorMode(f.colorMode.value));
    f.contrast.addEventListener("input", () => model.setContrast(2 ** Number(f.contrast.value)));
    f.brightness.addEventListener("input", () => model.setBrightness(Number(f.brightness.value) / 100));
    root.querySelector('[data-action="reset-display"]')?.addEventListener("click", () => {
      model.setColorMode(DEFAULT_VIEW.colorMode);
      model.setContrast(DEFAULT_VIEW.contrast);
      model.setBrightness(DEFAULT_VIEW.brightness);
    });
    this._unsubscribe = model.subscribe((reason) => {
      if (["layers", "display", "diameter", "masks", "image"].includes(reason)) this.render();
    });
    this.render();
  }

  render() {
    const { view } = this.model;
    const f = this.fields;
    for (const radio of f.background) radio.checked = radio.value === view.background;
    f.showMasks.checked = view.showMasks;
    f.showOutlines.checked = view.showOutlines;
    f.showDisk.checked = view.showDisk;
    f.opacity.value = String(Math.round(view.opacity * 100));
    f.colorMode.value = view.colorMode;
    f.contrast.value = String(Math.log2(view.contrast));
    f.brightness.value = String(Math.round(view.brightness * 100));
    // Colour modes mean nothing for a grayscale image.
    f.colorMode.disabled = this.model.image?.channels === 1;
  }

  destroy() {
    this._unsubscribe();
  }
}
