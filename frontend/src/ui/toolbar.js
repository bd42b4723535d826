/**
 * The editing toolbar over the canvas: the tools (from the registry), undo / redo,
 * the brush size, the overwrite switch and Save. It renders the editor's state and
 * turns clicks into the same calls the keys make.
 *
 * Found inside root: [data-role=tool-buttons] (filled here), [data-action=undo|redo|save],
 * [data-action=interpolate] (stacks only), input[name=brush_size] with an <output>,
 * input[name=overwrite].
 */
export class Toolbar {
  /**
   * @param {HTMLElement} root
   * @param {{tools: import("../tools/registry.js").ToolRegistry, editor: import("../editor.js").Editor,
   *          saver: import("../controller/saver.js").AnnotationSaver,
   *          entries: Array<{name: string, key: string, label: string, description: string}>}} deps
   */
  constructor(root, { tools, editor, saver, entries }) {
    this.root = root;
    this.tools = tools;
    this.editor = editor;
    const $ = (selector) => root.querySelector(selector);
    const group = $("[data-role=tool-buttons]");
    this.buttons = entries.map(({ name, key, label, description }) => {
      const button = document.createElement("button");
      button.type = "button";
      button.className = "tool-btn";
      button.dataset.tool = name;
      button.title = `${description} (${key})`;
      button.innerHTML = `<span class="tool-key">${key}</span> `;
      button.append(label);
      button.addEventListener("click", () => tools.activate(name));
      group.append(button);
      return button;
    });
    this.undo = $("[data-action=undo]");
    this.redo = $("[data-action=redo]");
    this.size = $("input[name=brush_size]");
    this.sizeOutput = this.size.parentElement.querySelector("output");
    this.overwrite = $("input[name=overwrite]");
    this.undo.addEventListener("click", () => editor.undo());
    this.redo.addEventListener("click", () => editor.redo());
    $("[data-action=save]").addEventListener("click", () => saver.saveNow());
    this.interpolate = $("[data-action=interpolate]");
    this.interpolate.addEventListener("click", () => editor.interpolateSelected());
    editor.model.subscribe((reason) => (reason === "image" || reason === "selection") && this.render());
    this.size.addEventListener("input", () => editor.setBrushSize(this.size.value));
    this.overwrite.addEventListener("change", () => editor.setOverwrite(this.overwrite.checked));
    tools.onChange(() => this.render());
    editor.history.subscribe(() => this.render());
    editor.subscribe((reason) => reason !== "message" && this.render());
    this.render();
  }

  render() {
    const { history, settings, readOnly } = this.editor;
    for (const button of this.buttons) button.setAttribute("aria-pressed", String(button.dataset.tool === this.tools.activeName));
    this.undo.disabled = !history.canUndo || Boolean(readOnly);
    this.redo.disabled = !history.canRedo || Boolean(readOnly);
    this.undo.title = history.canUndo ? `Undo: ${history.undoName} (Ctrl+Z)` : "Nothing to undo (Ctrl+Z)";
    this.redo.title = history.canRedo ? `Redo: ${history.redoName} (Ctrl+Shift+Z)` : "Nothing to redo (Ctrl+Shift+Z)";
    this.size.value = String(settings.brushSize);
    this.sizeOutput.textContent = `${settings.brushSize} px`;
    this.overwrite.checked = settings.overwrite;
    this.root.classList.toggle("is-read-only", Boolean(readOnly));
    const { model } = this.editor;
    this.interpolate.hidden = (model.image?.depth ?? 1) < 2;
    this.interpolate.disabled = model.selection.size !== 1 || Boolean(readOnly);
  }
}

/** A short-lived hint under the toolbar: why a gesture did nothing. */
export class EditorHint {
  constructor(element, editor, { timers = globalThis, duration = 4000 } = {}) {
    this.element = element;
    this._timer = null;
    editor.subscribe((reason, message) => {
      if (reason !== "message") return;
      element.textContent = message;
      element.hidden = false;
      timers.clearTimeout(this._timer);
      this._timer = timers.setTimeout(() => (element.hidden = true), duration);
    });
  }
}
