/**
 * The Cellpose GUI's modifier clicks, with whatever tool is active:
 * Ctrl (or Cmd) + click deletes the mask under the pointer; Alt + click merges the
 * mask under the pointer into the selected one (or selects it when none is).
 */
export class MaskClicks {
  /** @param {{model: import("../model.js").ViewerModel, editor: import("../editor.js").Editor}} context */
  constructor({ model, editor }) {
    this.model = model;
    this.editor = editor;
  }

  /** @returns {boolean} whether the press was one of these clicks (and was handled) */
  pointerDown(e) {
    if (e.button !== 0 || !(e.ctrlKey || e.metaKey || e.altKey)) return false;
    const { model, editor } = this;
    const label = model.labelAt(e.px, e.py);
    if (e.ctrlKey || e.metaKey) {
      if (label) editor.deleteMasks([label]);
      else editor.say("Ctrl+click a mask to delete it.");
      return true;
    }
    if (!label) return true;
    const selected = [...model.selection];
    if (selected.length === 1 && selected[0] !== label) editor.merge(selected[0], label);
    else model.setSelection([label]);
    return true;
  }
}
