/** The keyboard help on the page, rendered from the same table that handles the keys. */
import { GESTURES, keyLabel, SHORTCUTS } from "../controller/keyboard.js";

export function renderShortcuts(list, entries = [...SHORTCUTS, ...GESTURES]) {
  list.replaceChildren();
  for (const { keys, description } of entries) {
    const dt = document.createElement("dt");
    keys.forEach((key, i) => {
      if (i > 0) dt.append(" ");
      const kbd = document.createElement("kbd");
      kbd.textContent = keyLabel(key);
      dt.append(kbd);
    });
    const dd = document.createElement("dd");
    dd.textContent = description;
    list.append(dt, dd);
  }
}
