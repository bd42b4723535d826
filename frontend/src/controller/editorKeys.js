/**
 * The editor's keys: undo, redo, save, delete, the tools, the brush size. One table
 * handles them and lists them on the page (with the viewer's keys, keyboard.js);
 * docs/keys.md explains the choices and a unit test checks it names every key.
 *
 * Keys are written as KeyboardEvent.key values, letters in upper case, with
 * "Ctrl+" (Ctrl or Cmd) and "Shift+" prefixes: "Ctrl+Shift+Z".
 */
import { ownedByControl } from "./keyboard.js";

/**
 * @typedef {object} EditorContext
 * @property {import("../editor.js").Editor} editor
 * @property {import("../tools/registry.js").ToolRegistry} tools
 * @property {{saveNow: Function}} saver
 */

/** Tools in toolbar order, with their keys. */
export const TOOLS = [
  { name: "pan", key: "1", label: "Pan", description: "Pan and zoom tool" },
  { name: "select", key: "2", label: "Select", description: "Select tool: click a mask, or drag a box around masks" },
  { name: "draw", key: "3", label: "Draw", description: "Draw tool: trace a new mask's outline (drag, or click its vertices)" },
  { name: "brush", key: "4", label: "Brush", description: "Brush tool: paint pixels into a mask" },
  { name: "eraser", key: "5", label: "Eraser", description: "Eraser tool: clear pixels of masks" },
  { name: "split", key: "6", label: "Split", description: "Split tool: draw a line across a mask to cut it in two" },
  { name: "outline", key: "7", label: "Outline", description: "Outline tool: click a mask, then drag its vertices" },
];

/** @type {Array<{keys: string[], description: string, run: (context: EditorContext) => void}>} */
export const EDITOR_SHORTCUTS = [
  { keys: ["Ctrl+Z"], description: "Undo", run: ({ editor }) => editor.undo() },
  { keys: ["Ctrl+Shift+Z", "Ctrl+Y"], description: "Redo", run: ({ editor }) => editor.redo() },
  { keys: ["Ctrl+S"], description: "Save now (edits are also saved a few seconds after the last one)", run: ({ saver }) => saver.saveNow() },
  { keys: ["Delete", "Backspace"], description: "Delete the selected masks (Backspace: the last vertex while drawing)", run: ({ editor }) => editor.deleteSelected() },
  { keys: ["Escape"], description: "Cancel the outline being drawn; let go of the outline being edited; clear the selection", run: ({ editor }) => editor.model.setSelection([]) },
  { keys: ["Enter"], description: "Close the outline being drawn", run: () => {} },
  { keys: [","], description: "Smaller brush", run: ({ editor }) => editor.stepBrushSize(-1) },
  { keys: ["."], description: "Larger brush", run: ({ editor }) => editor.stepBrushSize(1) },
  ...TOOLS.map(({ name, key, description }) => ({ keys: [key], description, run: ({ tools }) => tools.activate(name) })),
];

/** Mouse gestures of the editor, listed with the keys. */
export const EDITOR_GESTURES = [
  { keys: ["Right-drag"], description: "Trace a new mask's outline (any tool, as in the Cellpose GUI)" },
  { keys: ["Ctrl+click"], description: "Delete the mask (any tool)" },
  { keys: ["Alt+click"], description: "Merge the mask into the selected one (any tool)" },
  { keys: ["Shift+click"], description: "Add a mask to the selection, or take it out (select tool)" },
  { keys: ["Shift+draw"], description: "Add the outline to the selected mask instead of making a new one (draw tool)" },
];

/** The key of an event as the table writes it: "Ctrl+Shift+Z", ",", "Delete". */
export function comboOf(event) {
  const key = event.key.length === 1 ? event.key.toUpperCase() : event.key;
  const ctrl = event.ctrlKey || event.metaKey ? "Ctrl+" : "";
  // Shift counts for letters and named keys; for other characters it is part of the character.
  const letter = key.length === 1 && key.toLowerCase() !== key;
  const shift = event.shiftKey && (letter || key.length > 1) ? "Shift+" : "";
  return `${ctrl}${shift}${key}`;
}

/** Keys the active tool may take first (closing or cancelling what it is drawing). */
const TOOL_KEYS = new Set(["Escape", "Enter", "Backspace"]);

/**
 * Handle one keydown for the editor.
 * @returns {boolean} whether the key was the editor's (and was run)
 */
export function handleEditorKey(event, context, shortcuts = EDITOR_SHORTCUTS) {
  if (event.altKey) return false;
  const combo = comboOf(event);
  if (combo === "Ctrl+S") {
    event.preventDefault?.(); // never the browser's "save page", even from a text field
    context.saver.saveNow();
    return true;
  }
  if (ownedByControl(event.target, event.key) || isTextField(event.target)) return false;
  if (TOOL_KEYS.has(combo) && context.tools.active?.key?.(combo)) {
    event.preventDefault?.();
    return true;
  }
  const shortcut = shortcuts.find((s) => s.keys.includes(combo));
  if (!shortcut) return false;
  event.preventDefault?.();
  shortcut.run(context);
  return true;
}

/** Text fields keep Ctrl+Z and friends for their own text. */
function isTextField(target) {
  if (typeof Element === "undefined" || !(target instanceof Element)) return false;
  return target instanceof HTMLInputElement && !["range", "checkbox", "radio", "button", "submit"].includes(target.type);
}

/** Listen for the editor's keys on a target (window by default); returns a function that stops. */
export function bindEditorKeys(context, { target = window, shortcuts = EDITOR_SHORTCUTS } = {}) {
  const listener = (event) => handleEditorKey(event, context, shortcuts);
  target.addEventListener("keydown", listener);
  return () => target.removeEventListener("keydown", listener);
}
