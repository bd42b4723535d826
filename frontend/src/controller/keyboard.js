/**
 * Keyboard shortcuts: one table, used both to handle keys and to list them on the
 * page (so the list cannot drift from the behaviour). The keys follow the Cellpose
 * GUI wherever it has one for the same thing; docs/keys.md explains each choice.
 */

/**
 * @typedef {object} Shortcut
 * @property {string[]} keys  KeyboardEvent.key values; letters in upper case
 * @property {string} description
 * @property {(model: import("../model.js").ViewerModel) => void} run
 */

/** @type {Shortcut[]} */
export const SHORTCUTS = [
  { keys: ["X"], description: "Filled masks on / off", run: (m) => m.setMasksVisible(!m.view.showMasks) },
  { keys: ["Z"], description: "Outlines on / off", run: (m) => m.setOutlinesVisible(!m.view.showOutlines) },
  { keys: ["I"], description: "Image view (the channels)", run: (m) => m.setBackground("image") },
  { keys: ["L"], description: "Flows view on / off", run: (m) => m.toggleBackground("flows") },
  { keys: ["C"], description: "Cell probability view on / off", run: (m) => m.toggleBackground("cellprob") },
  { keys: ["PageDown"], description: "Next view: image → flows → cell probability", run: (m) => m.cycleBackground(1) },
  { keys: ["PageUp"], description: "Previous view", run: (m) => m.cycleBackground(-1) },
  { keys: ["ArrowDown", "S"], description: "Next colour: RGB → red → green → blue → gray", run: (m) => m.cycleColorMode(1) },
  { keys: ["ArrowUp", "W"], description: "Previous colour", run: (m) => m.cycleColorMode(-1) },
  { keys: ["R"], description: "Red channel alone / back to RGB", run: (m) => m.toggleSingleChannel("red") },
  { keys: ["G"], description: "Green channel alone / back to RGB", run: (m) => m.toggleSingleChannel("green") },
  { keys: ["B"], description: "Blue channel alone / back to RGB", run: (m) => m.toggleSingleChannel("blue") },
  { keys: ["ArrowLeft", "A"], description: "Previous Z plane (stacks)", run: (m) => m.stepPlane(-1) },
  { keys: ["ArrowRight", "D"], description: "Next Z plane (stacks)", run: (m) => m.stepPlane(1) },
  { keys: ["=", "+"], description: "Zoom in", run: (m) => m.zoomBy(1.25) },
  { keys: ["-"], description: "Zoom out", run: (m) => m.zoomBy(1 / 1.25) },
  { keys: ["F"], description: "Fit the image to the window", run: (m) => m.fit() },
];

/** Pointer gestures, listed with the shortcuts. */
export const GESTURES = [
  { keys: ["Wheel"], description: "Zoom around the cursor" },
  { keys: ["Drag"], description: "Pan with the pan tool (Space + drag, or middle-button drag, with any tool)" },
  { keys: ["Double-click"], description: "Fit the image to the window" },
];

const KEY_LABELS = { ArrowLeft: "←", ArrowRight: "→", ArrowUp: "↑", ArrowDown: "↓", PageUp: "PgUp", PageDown: "PgDn" };

export function keyLabel(key) {
  return KEY_LABELS[key] ?? key;
}

function normalise(key) {
  return key.length === 1 ? key.toUpperCase() : key;
}

/** The shortcut for a key, or undefined. */
export function findShortcut(key, shortcuts = SHORTCUTS) {
  const k = normalise(key);
  return shortcuts.find((s) => s.keys.includes(k));
}

const NAVIGATION_KEYS = new Set(["ArrowLeft", "ArrowRight", "ArrowUp", "ArrowDown", "PageUp", "PageDown", "Home", "End"]);

/** Whether a focused form control needs this key itself (typing, or moving a slider). */
export function ownedByControl(target, key) {
  if (typeof Element === "undefined" || !(target instanceof Element)) return false;
  if (target.closest("textarea, select, [contenteditable='true']")) return true;
  if (!(target instanceof HTMLInputElement)) return false;
  const type = target.type;
  if (type === "range" || type === "radio") return NAVIGATION_KEYS.has(key);
  return type !== "checkbox" && type !== "button" && type !== "submit";
}

/**
 * Handle one keydown. Keys with Ctrl, Alt or Meta are left alone (the editor's
 * Ctrl+Z, Ctrl+S), as are keys typed into form fields.
 * @returns {boolean} whether the key was a shortcut (and was run)
 */
export function handleKey(event, model, shortcuts = SHORTCUTS) {
  if (event.ctrlKey || event.altKey || event.metaKey || ownedByControl(event.target, event.key)) return false;
  const shortcut = findShortcut(event.key, shortcuts);
  if (!shortcut) return false;
  event.preventDefault?.();
  shortcut.run(model);
  return true;
}

/** Listen for shortcuts on a target (window by default); returns a function that stops. */
export function bindShortcuts(model, { target = window, shortcuts = SHORTCUTS } = {}) {
  const listener = (event) => handleKey(event, model, shortcuts);
  target.addEventListener("keydown", listener);
  return () => target.removeEventListener("keydown", listener);
}
