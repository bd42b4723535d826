/**
 * Colour maps for one channel: 256 RGB entries from the channel's scaled value (0 = at
 * or below its low level, 255 = at or above its high level). Channels are added up.
 */

/** Pure colours: the scaled value times the colour. */
const PURE = Object.freeze({
  grey: [1, 1, 1],
  red: [1, 0, 0],
  green: [0, 1, 0],
  blue: [0, 0, 1],
  magenta: [1, 0, 1],
  cyan: [0, 1, 1],
  yellow: [1, 1, 0],
});

/**
 * Viridis (perceptually uniform, readable in grey and by most colour-blind people), as a
 * piecewise-linear curve through nine of its published colours at 0, 1/8, ..., 1.
 */
const VIRIDIS_STOPS = Object.freeze([
  [0x44, 0x01, 0x54], [0x47, 0x2c, 0x7a], [0x3b, 0x51, 0x8b], [0x2c, 0x71, 0x8e], [0x21, 0x90, 0x8d],
  [0x27, 0xad, 0x81], [0x5c, 0xc8, 0x63], [0xaa, 0xdc, 0x32], [0xfd, 0xe7, 0x25],
]);

/** Every colour map a channel may use; "none" hides the channel. */
export const COLORMAPS = Object.freeze([...Object.keys(PURE), "viridis", "none"]);

const cache = new Map();

/**
 * @param {string} name one of COLORMAPS
 * @returns {Uint8Array} uint8, shape (256, 3): the RGB colour of each scaled value
 */
export function colormapTable(name) {
  if (cache.has(name)) return cache.get(name);
  const table = new Uint8Array(256 * 3);
  if (PURE[name]) {
    const [r, g, b] = PURE[name];
    for (let v = 0; v < 256; v++) table.set([v * r, v * g, v * b], v * 3);
  } else if (name === "viridis") {
    const segments = VIRIDIS_STOPS.length - 1;
    for (let v = 0; v < 256; v++) {
      const t = (v / 255) * segments;
      const k = Math.min(segments - 1, Math.floor(t));
      const f = t - k;
      for (let c = 0; c < 3; c++) table[v * 3 + c] = Math.round(VIRIDIS_STOPS[k][c] * (1 - f) + VIRIDIS_STOPS[k + 1][c] * f);
    }
  } else if (name !== "none") {
    throw new Error(`unknown colour map ${name}; one of ${COLORMAPS.join(", ")}`);
  }
  cache.set(name, table);
  return table;
}

/**
 * The colour maps channels start with, as the server's pictures show them: one channel in
 * grey, two as red and green, three or more as red, green and blue (the rest hidden).
 * @param {number} channels
 * @returns {string[]}
 */
export function defaultColormaps(channels) {
  if (channels === 1) return ["grey"];
  return Array.from({ length: channels }, (_, c) => ["red", "green", "blue"][c] ?? "none");
}
