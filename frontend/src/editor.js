/**
 * The annotation editor's facade: the command history, the editing settings, and
 * the operations tools and keys ask for. Tools never write labels themselves: they
 * build a command (commands/maskEdits.js) and hand it to execute().
 *
 * Notifies "settings" (brush size, overwrite), "message" (a hint for the person:
 * why a gesture did nothing) and "mode" (editing allowed or not).
 */
import { History } from "./commands/history.js";
import { deleteMasks, interpolateMask, mergeMasks } from "./commands/maskEdits.js";
import { Observable } from "./observable.js";

export const BRUSH_SIZES = Object.freeze({ min: 1, max: 100 });

export class Editor extends Observable {
  /**
   * @param {import("./model.js").ViewerModel} model
   * @param {{history?: History}} [options]
   */
  constructor(model, { history = new History() } = {}) {
    super();
    this.model = model;
    this.history = history;
    this.settings = { brushSize: 9, overwrite: false };
    this.readOnly = null; // why editing is off (a message), or null
    // Masks replaced wholesale (a version loaded, a new segmentation): old diffs no longer apply.
    this._unsubscribe = model.subscribe((reason, detail) => {
      if ((reason === "masks" && !detail?.edit) || reason === "image") history.clear();
    });
  }

  // ---- settings -------------------------------------------------------------------

  setBrushSize(size) {
    const value = Math.max(BRUSH_SIZES.min, Math.min(BRUSH_SIZES.max, Math.round(Number(size) || 1)));
    if (value === this.settings.brushSize) return;
    this.settings = { ...this.settings, brushSize: value };
    this.notify("settings", this.settings);
  }

  /** The Cellpose GUI's , and . keys: a step of about 10 % (at least one pixel). */
  stepBrushSize(direction) {
    const size = this.settings.brushSize;
    this.setBrushSize(size + direction * Math.max(1, Math.round(size * 0.1)));
  }

  /** Whether new pixels may be taken from other masks (off: they fill background only). */
  setOverwrite(overwrite) {
    if (Boolean(overwrite) === this.settings.overwrite) return;
    this.settings = { ...this.settings, overwrite: Boolean(overwrite) };
    this.notify("settings", this.settings);
  }

  /** @param {string|null} reason editing is off while set (e.g. an older version is shown) */
  setReadOnly(reason) {
    if (reason === this.readOnly) return;
    this.readOnly = reason;
    this.notify("mode", reason);
  }

  say(message) {
    this.notify("message", message);
  }

  // ---- editing ---------------------------------------------------------------------

  /** Masks to edit: an image without any gets an empty label volume to draw in. */
  ensureMasks() {
    const { model } = this;
    if (!model.masks && model.image) {
      const { depth, height, width } = model.image;
      const shape = depth > 1 ? [depth, height, width] : [height, width];
      model.setMasks({ labels: new Int32Array(depth * height * width), shape, version: null });
    }
    return model.masks;
  }

  /** Whether edits are possible now (says why not when they are not). */
  canEdit() {
    if (this.readOnly) {
      this.say(this.readOnly);
      return false;
    }
    return Boolean(this.ensureMasks());
  }

  /**
   * Do a command as one undoable step.
   * @param {{do: Function, undo: Function}|null} command null: nothing to do
   * @param {string} [whyNot] said when the command is null
   * @returns {boolean} whether something was done
   */
  execute(command, whyNot) {
    if (this.readOnly) {
      this.say(this.readOnly);
      return false;
    }
    if (!command) {
      if (whyNot) this.say(whyNot);
      return false;
    }
    this.history.execute(command);
    return true;
  }

  undo() {
    if (this.readOnly) return null;
    return this.history.undo();
  }

  redo() {
    if (this.readOnly) return null;
    return this.history.redo();
  }

  deleteMasks(labels) {
    if (!this.canEdit()) return false;
    const done = this.execute(deleteMasks(this.model, labels));
    if (done) this.model.setSelection([]);
    return done;
  }

  deleteSelected() {
    if (!this.model.selection.size) {
      this.say("Select masks to delete first (click one, or drag a box with the select tool).");
      return false;
    }
    return this.deleteMasks(this.model.selection);
  }

  /** Merge `other` into `keep`; the merged mask stays selected. */
  merge(keep, other) {
    if (!this.canEdit()) return false;
    const done = this.execute(mergeMasks(this.model, keep, other), "Pick two different masks to merge.");
    if (done) this.model.setSelection([keep]);
    return done;
  }

  /** Fill the Z planes the selected mask skips with interpolated shapes (stacks). */
  interpolateSelected() {
    const selected = [...this.model.selection];
    if (selected.length !== 1) {
      this.say("Select one mask drawn on planes with gaps between them, then interpolate.");
      return false;
    }
    if (!this.canEdit()) return false;
    return this.execute(
      interpolateMask(this.model, selected[0], { overwrite: this.settings.overwrite }),
      "The selected mask has no skipped planes to fill: draw it on two planes with planes between them.",
    );
  }

  destroy() {
    this._unsubscribe();
  }
}
