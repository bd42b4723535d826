/**
 * The pointer router: turns DOM pointer, wheel and double-click events on the
 * canvas into ToolEvents and hands them to the active tool, except navigation:
 * the wheel always zooms, and the middle button or Space+drag always pans, so
 * every tool can be navigated the same way; and the modifier clicks (Ctrl+click
 * deletes, Alt+click merges: tools/maskClicks.js), which work with every tool too.
 * It also reports the pixel under the pointer to the model (hover shows the label
 * there), and keeps the browser's context menu off the canvas: a right-button drag
 * traces a new mask in every tool (deps.rightButton, a DrawTool; the Cellpose GUI's
 * gesture), unless the active tool takes the right button itself.
 *
 * @typedef {object} ToolEvent
 * @property {number} sx         canvas CSS pixels from the canvas's top-left corner (sx, sy)
 * @property {number} sy
 * @property {number} x          image coordinates, floats (x, y)
 * @property {number} y
 * @property {number} px         the integer image pixel under the pointer (px, py)
 * @property {number} py
 * @property {number} button     DOM button of a press/release
 * @property {number} buttons    the buttons held
 * @property {boolean} shiftKey
 * @property {boolean} ctrlKey
 * @property {boolean} altKey
 * @property {boolean} metaKey
 * @property {number} [deltaY]   wheel only (with deltaMode)
 * @property {number} [deltaMode]
 */
import { screenToImage, pixelAt } from "../transform.js";

/** Owns a press that a modifier click already handled: its moves and release do nothing. */
const CONSUMED = Object.freeze({ cursor: "default" });

function isTyping(target) {
  return target instanceof Element && target.closest("input, textarea, select, [contenteditable='true']") !== null;
}

export class PointerRouter {
  /**
   * @param {HTMLElement} element the canvas (or the element stacked over it)
   * @param {{model: import("../model.js").ViewerModel, tools: import("./registry.js").ToolRegistry,
   *          navigator: {pointerDown: Function, pointerMove: Function, pointerUp: Function,
   *                      wheel: Function, doubleClick: Function, cursor: string},
   *          clicks?: {pointerDown: (e: ToolEvent) => boolean},
   *          rightButton?: {pointerDown: Function, pointerMove: Function, pointerUp: Function}|null}} deps
   *   clicks: offered every press with a modifier first; returning true consumes the press
   *   rightButton: takes right-button presses whatever tool is active (one whose drawsWithRightButton
   *   is true keeps them)
   */
  constructor(element, { model, tools, navigator, clicks = null, rightButton = null }) {
    this.element = element;
    this.model = model;
    this.tools = tools;
    this.navigator = navigator;
    this.clicks = clicks;
    this.rightButton = rightButton;
    this.captured = null; // the handler that owns the current press
    this.spaceHeld = false;
    const on = (target, type, fn, options) => {
      target.addEventListener(type, fn, options);
      return () => target.removeEventListener(type, fn, options);
    };
    this._off = [
      on(element, "pointerdown", (e) => this._down(e)),
      on(element, "pointermove", (e) => this._move(e)),
      on(element, "pointerup", (e) => this._up(e)),
      on(element, "pointercancel", (e) => this._up(e)),
      on(element, "pointerleave", () => {
        this.model.setCursor(null);
        if (!this.captured) this.tools.active?.pointerLeave?.();
      }),
      on(element, "wheel", (e) => this._wheel(e), { passive: false }),
      on(element, "dblclick", (e) => this._doubleClick(e)),
      on(element, "contextmenu", (e) => e.preventDefault()),
      on(window, "keydown", (e) => this._key(e, true)),
      on(window, "keyup", (e) => this._key(e, false)),
      on(window, "blur", () => this._setSpace(false)),
    ];
    this._offTools = tools.onChange(() => this._updateCursor());
    this._updateCursor();
  }

  /** @returns {ToolEvent} */
  toolEvent(e) {
    const rect = this.element.getBoundingClientRect();
    const sx = e.clientX - rect.left;
    const sy = e.clientY - rect.top;
    const { x, y } = screenToImage(this.model.transform, sx, sy);
    return {
      sx, sy, x, y,
      px: Math.floor(x),
      py: Math.floor(y),
      button: e.button,
      buttons: e.buttons,
      shiftKey: e.shiftKey,
      ctrlKey: e.ctrlKey,
      altKey: e.altKey,
      metaKey: e.metaKey,
      deltaY: e.deltaY,
      deltaMode: e.deltaMode,
    };
  }

  _down(e) {
    const navigate = e.button === 1 || (e.button === 0 && this.spaceHeld);
    if (!navigate && (e.ctrlKey || e.metaKey || e.altKey) && this.clicks?.pointerDown(this.toolEvent(e))) {
      e.preventDefault();
      this.captured = CONSUMED;
      return;
    }
    const right = e.button === 2 && this.rightButton && !this.tools.active?.drawsWithRightButton;
    const handler = navigate ? this.navigator : right ? this.rightButton : this.tools.active;
    if (!handler) return;
    if (e.button === 1) e.preventDefault(); // no autoscroll
    this.captured = handler;
    this.element.setPointerCapture?.(e.pointerId);
    handler.pointerDown?.(this.toolEvent(e));
    this._updateCursor();
  }

  _move(e) {
    const te = this.toolEvent(e);
    const image = this.model.image;
    this.model.setCursor(image ? pixelAt(this.model.transform, te.sx, te.sy, image.width, image.height) : null);
    const handler = this.captured ?? this.tools.active;
    handler?.pointerMove?.(te);
  }

  _up(e) {
    const handler = this.captured;
    this.captured = null;
    if (this.element.hasPointerCapture?.(e.pointerId)) this.element.releasePointerCapture(e.pointerId);
    handler?.pointerUp?.(this.toolEvent(e));
    this._updateCursor();
  }

  _wheel(e) {
    e.preventDefault();
    this.navigator.wheel(this.toolEvent(e));
  }

  _doubleClick(e) {
    const tool = this.tools.active;
    (tool?.doubleClick ? tool : this.navigator).doubleClick(this.toolEvent(e));
  }

  _key(e, down) {
    if (e.code !== "Space" || isTyping(e.target)) return;
    e.preventDefault(); // no page scroll
    this._setSpace(down);
  }

  _setSpace(held) {
    if (this.spaceHeld === held) return;
    this.spaceHeld = held;
    this._updateCursor();
  }

  _updateCursor() {
    const handler = this.captured ?? (this.spaceHeld ? this.navigator : this.tools.active);
    this.element.style.cursor = handler?.cursor ?? "default";
  }

  destroy() {
    for (const off of this._off) off();
    this._offTools();
  }
}
