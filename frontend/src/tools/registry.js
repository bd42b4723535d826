/**
 * The tool registry: named tool factories, one active tool at a time.
 *
 * A tool turns pointer events (see pointer.js, ToolEvent) into changes of the
 * model: view changes directly (pan, zoom), edits as command objects pushed to
 * the history (the annotation editor's tools). A tool implements any of:
 *
 *   activate()       / deactivate()
 *   pointerDown(e)   / pointerMove(e) / pointerUp(e) / doubleClick(e) / pointerLeave()
 *   key(name)        Escape, Enter or Backspace; returns true when the tool used it
 *   cursor           CSS cursor shown over the canvas while the tool is active
 *
 * A factory receives the context given to the registry ({model, editor}) and returns
 * a tool (pages/imageEditor.js registers them all).
 */
export class ToolRegistry {
  /** @param {object} context passed to every tool factory, e.g. {model, history} */
  constructor(context) {
    this.context = context;
    this._entries = new Map();
    this.active = null;
    this.activeName = null;
    this._listeners = new Set();
  }

  /**
   * @param {string} name
   * @param {(context: object) => object} factory
   * @param {{label?: string, key?: string}} [meta] shown in toolbars and help
   */
  register(name, factory, meta = {}) {
    if (this._entries.has(name)) throw new Error(`a tool named "${name}" is already registered`);
    this._entries.set(name, { factory, meta: { label: name, ...meta } });
  }

  /** @returns {Array<{name: string, label: string, key?: string}>} */
  list() {
    return [...this._entries].map(([name, { meta }]) => ({ name, ...meta }));
  }

  activate(name) {
    const entry = this._entries.get(name);
    if (!entry) throw new Error(`no tool named "${name}"; registered: ${[...this._entries.keys()].join(", ")}`);
    if (this.activeName === name) return this.active;
    this.active?.deactivate?.();
    this.active = entry.factory(this.context);
    this.activeName = name;
    this.active.activate?.();
    for (const listener of this._listeners) listener(name, this.active);
    return this.active;
  }

  /** @param {(name: string, tool: object) => void} listener called after a tool is activated */
  onChange(listener) {
    this._listeners.add(listener);
    return () => this._listeners.delete(listener);
  }
}
