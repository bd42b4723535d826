/**
 * The header's note that this tab is behind: "Version 3 was saved elsewhere; this tab
 * shows version 2" with a button to load it (or, with unsaved edits, that saving will
 * offer to merge them). Renders NewerVersionWatch's state.
 */
export class NewerVersionNote {
  /**
   * @param {HTMLElement} root with [data-role=newer-message] and [data-action=load-newer]
   * @param {{watch: import("../controller/newerVersion.js").NewerVersionWatch, onLoad: () => Promise<void>}} deps
   */
  constructor(root, { watch, onLoad }) {
    this.root = root;
    this.message = root.querySelector("[data-role=newer-message]");
    /** @type {HTMLButtonElement} */
    this.button = root.querySelector("[data-action=load-newer]");
    this.button.addEventListener("click", () => onLoad());
    watch.subscribe((reason, state) => reason === "newer" && this.render(state));
    this.render(watch.state);
  }

  render(state) {
    this.root.hidden = !state;
    this.root.dataset.version = state ? String(state.version) : "";
    if (!state) return;
    this.message.textContent = state.dirty
      ? `Version ${state.version} was saved elsewhere; saving your edits will offer to merge them with it.`
      : `Version ${state.version} was saved elsewhere; this tab shows version ${state.ours || "none"}.`;
    this.button.hidden = state.dirty;
    this.button.textContent = `Load version ${state.version}`;
  }
}
