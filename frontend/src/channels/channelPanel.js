/**
 * The per-channel display controls: for each channel a colour map, a level mode
 * (percentiles of the plane, or min/max values) and its low and high levels, with the
 * value range they give on the plane on show. Inputs change the model's channel
 * settings; the panel re-renders from the model (one <fieldset data-channel=c> per channel).
 */
import { COLORMAPS } from "./colormaps.js";
import { channelRanges, defaultSettings } from "./compose.js";
import { settingProblem } from "./levels.js";

const format = (v) => (Number.isFinite(v) ? String(Number(v.toPrecision(4))) : "–");

export class ChannelPanel {
  /**
   * @param {HTMLElement} root the container to fill
   * @param {import("../model.js").ViewerModel} model
   */
  constructor(root, model) {
    this.root = root;
    this.model = model;
    this._built = -1; // channels the fieldsets were built for
    this._unsubscribe = model.subscribe((reason, detail) => {
      if (reason === "image" || reason === "display" || reason === "plane") this.render();
      else if (reason === "raster" && (detail?.kind === "channels" || detail?.kinds?.includes("channels"))) this.render();
    });
    this.render();
  }

  _build(channels) {
    this.root.replaceChildren();
    for (let c = 0; c < channels; c++) {
      const set = document.createElement("fieldset");
      set.className = "channel-levels";
      set.dataset.channel = String(c);
      set.innerHTML = `
        <legend>Channel ${c + 1}</legend>
        <label>Colour map <select name="colormap">${COLORMAPS.map((n) => `<option value="${n}">${n}</option>`).join("")}</select></label>
        <label>Levels <select name="mode"><option value="percentile">percentiles</option><option value="minmax">min / max</option></select></label>
        <label><span data-role="low-label">Low</span> <input type="number" name="low" step="any"></label>
        <label><span data-role="high-label">High</span> <input type="number" name="high" step="any"></label>
        <p class="help" data-role="range" aria-live="polite"></p>
        <p class="form-error" data-role="problem" role="alert" hidden></p>`;
      /** @type {(name: string) => HTMLInputElement} */
      const field = (name) => set.querySelector(`[name=${name}]`);
      field("colormap").addEventListener("change", () => this._update(c, { colormap: field("colormap").value }));
      field("mode").addEventListener("change", () => this._switchMode(c, field("mode").value));
      for (const name of ["low", "high"]) field(name).addEventListener("change", () => this._update(c, { [name]: Number(field(name).value) }));
      this.root.append(set);
    }
    const reset = document.createElement("button");
    reset.type = "button";
    reset.className = "btn small ghost";
    reset.dataset.action = "reset-levels";
    reset.textContent = "Reset levels and colour maps";
    reset.addEventListener("click", () => this.model.setChannelSettings(defaultSettings(channels)));
    this.root.append(reset);
    this._built = channels;
  }

  /** The value range of each channel on this plane (null until its values are here). */
  _ranges() {
    const plane = this.model.raster("channels");
    const settings = this.model.view.channels;
    if (!plane || !settings) return null;
    return channelRanges(plane, settings);
  }

  _update(channel, patch) {
    const settings = this.model.view.channels.map((s) => ({ ...s }));
    settings[channel] = { ...settings[channel], ...patch };
    const problem = settingProblem(settings[channel]);
    /** @type {HTMLElement} */
    const box = this.root.querySelector(`[data-channel="${channel}"] [data-role=problem]`);
    box.hidden = !problem;
    box.textContent = problem ? `Not applied: ${problem}.` : "";
    if (!problem) this.model.setChannelSettings(settings);
  }

  /** Switching to min/max starts from the values the percentiles gave, and back to 1 / 99 %. */
  _switchMode(channel, mode) {
    if (mode === "minmax") {
      const range = this._ranges()?.[channel];
      const { lo, hi } = range && range.hi > range.lo ? range : { lo: 0, hi: 255 };
      this._update(channel, { mode, low: Number(lo.toPrecision(6)), high: Number(hi.toPrecision(6)) });
    } else {
      this._update(channel, { mode, ...defaultSettings(1)[0], colormap: this.model.view.channels[channel].colormap });
    }
  }

  render() {
    const { image, view } = this.model;
    if (!image || !view.channels) {
      this.root.hidden = true;
      return;
    }
    this.root.hidden = false;
    if (this._built !== image.channels) this._build(image.channels);
    const ranges = this._ranges();
    view.channels.forEach((setting, c) => {
      /** @type {HTMLElement} */
      const set = this.root.querySelector(`[data-channel="${c}"]`);
      /** @type {(name: string) => HTMLInputElement} */
      const field = (name) => set.querySelector(`[name=${name}]`);
      field("colormap").value = setting.colormap;
      field("mode").value = setting.mode;
      if (document.activeElement !== field("low")) field("low").value = String(setting.low);
      if (document.activeElement !== field("high")) field("high").value = String(setting.high);
      const percent = setting.mode === "percentile";
      set.querySelector("[data-role=low-label]").textContent = percent ? "Low %" : "Min";
      set.querySelector("[data-role=high-label]").textContent = percent ? "High %" : "Max";
      for (const name of ["low", "high"]) {
        field(name).min = percent ? "0" : "";
        field(name).max = percent ? "100" : "";
      }
      const range = ranges?.[c];
      set.querySelector("[data-role=range]").textContent = range
        ? `Shows values ${format(range.lo)} (black) to ${format(range.hi)} (full colour).`
        : "Loading the channel values…";
      set.dataset.lo = range ? String(range.lo) : "";
      set.dataset.hi = range ? String(range.hi) : "";
    });
  }

  destroy() {
    this._unsubscribe();
  }
}
