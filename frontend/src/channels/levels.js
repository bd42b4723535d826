/**
 * Display levels of one channel: which stored values show as black and as full colour.
 * Either percentiles of the plane's values (the server's pictures use the 1st and 99th,
 * like the Cellpose GUI) or fixed minimum and maximum values.
 */

/**
 * A plane's stored values as they come from the server (channels/compose.js ChannelPlane).
 * @typedef {Float32Array|Uint16Array|Int16Array|Uint8Array} ChannelArray
 */

/** Percentile levels every channel starts with: the server's display PNG uses the same. */
export const DEFAULT_PERCENTILES = Object.freeze({ low: 1, high: 99 });

/** Values sorted for percentiles; planes above this many values are sampled evenly. */
export const PERCENTILE_SAMPLE = 1 << 20;

/**
 * The sorted values of one channel (every value, or an even sample of a large plane).
 * @param {ChannelArray} values shape (channels, height, width), C order
 * @param {number} channel
 * @param {number} planeSize height * width
 * @returns {Float32Array}
 */
export function sortedChannel(values, channel, planeSize) {
  const start = channel * planeSize;
  const step = Math.max(1, Math.ceil(planeSize / PERCENTILE_SAMPLE));
  const sample = new Float32Array(Math.ceil(planeSize / step));
  for (let i = 0, k = 0; i < planeSize; i += step, k++) sample[k] = values[start + i];
  return sample.sort();
}

/**
 * The p-th percentile of sorted values, with linear interpolation between ranks (numpy's
 * default, which the engine's normalize99 uses).
 * @param {Float32Array|number[]} sorted ascending
 * @param {number} p 0..100
 */
export function percentile(sorted, p) {
  if (!sorted.length) return 0;
  const rank = (Math.max(0, Math.min(100, p)) / 100) * (sorted.length - 1);
  const below = Math.floor(rank);
  const above = Math.min(sorted.length - 1, below + 1);
  return sorted[below] + (sorted[above] - sorted[below]) * (rank - below);
}

/**
 * @typedef {object} ChannelSetting
 * @property {"percentile"|"minmax"} mode
 * @property {number} low  percentile (mode percentile) or value shown black (mode minmax)
 * @property {number} high percentile (mode percentile) or value shown at full colour (mode minmax)
 * @property {string} colormap a name of channels/colormaps.js COLORMAPS
 */

/**
 * The value range [lo, hi] a setting maps to 0..1.
 * @param {ChannelSetting} setting
 * @param {() => Float32Array} sorted the channel's sorted values (asked for percentiles only)
 * @returns {{lo: number, hi: number}}
 */
export function channelRange(setting, sorted) {
  if (setting.mode === "minmax") return { lo: Number(setting.low), hi: Number(setting.high) };
  const values = sorted();
  return { lo: percentile(values, setting.low), hi: percentile(values, setting.high) };
}

/**
 * A value scaled to a 0..255 colour-map index by a range (clamped; a flat range maps
 * values above it to 255 and the rest to 0).
 */
export function levelIndex(value, lo, hi) {
  if (!(hi > lo)) return value > lo ? 255 : 0;
  const t = (value - lo) / (hi - lo);
  return t <= 0 ? 0 : t >= 1 ? 255 : Math.round(t * 255);
}

/**
 * Whether a setting is complete and sensible; the reason when it is not.
 * @param {ChannelSetting} setting
 * @returns {string|null}
 */
export function settingProblem(setting) {
  const { mode, low, high } = setting;
  if (mode !== "percentile" && mode !== "minmax") return `unknown level mode ${mode}`;
  if (!Number.isFinite(Number(low)) || !Number.isFinite(Number(high))) return "levels must be numbers";
  if (Number(low) >= Number(high)) return "the low level must be below the high level";
  if (mode === "percentile" && (low < 0 || high > 100)) return "percentiles lie between 0 and 100";
  return null;
}
