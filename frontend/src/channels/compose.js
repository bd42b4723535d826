/**
 * Compose a plane's channels into RGBA pixels: each channel scaled by its levels, looked
 * up in its colour map, and the channels added (clamped at 255). Pure, so it is tested
 * without a browser; the image layer calls it when a channel setting changes, with no
 * new request to the server.
 */
import { colormapTable, defaultColormaps } from "./colormaps.js";
import { channelRange, DEFAULT_PERCENTILES, levelIndex, sortedChannel } from "./levels.js";

/**
 * @typedef {object} ChannelPlane
 * @property {import("./levels.js").ChannelArray} values shape (channels, height, width), C order: the stored values
 * @property {number} channels
 * @property {number} width
 * @property {number} height
 */

/** @returns {import("./levels.js").ChannelSetting[]} the settings a plane starts with */
export function defaultSettings(channels) {
  return defaultColormaps(channels).map((colormap) => ({ mode: "percentile", ...DEFAULT_PERCENTILES, colormap }));
}

const sortedCache = new WeakMap(); // ChannelPlane -> Map(channel -> sorted values)

function sortedOf(plane, channel) {
  let perPlane = sortedCache.get(plane);
  if (!perPlane) sortedCache.set(plane, (perPlane = new Map()));
  if (!perPlane.has(channel)) perPlane.set(channel, sortedChannel(plane.values, channel, plane.width * plane.height));
  return perPlane.get(channel);
}

/**
 * The value range each channel's setting maps to 0..1 on this plane.
 * @param {ChannelPlane} plane
 * @param {import("./levels.js").ChannelSetting[]} settings one per channel
 * @returns {{lo: number, hi: number}[]}
 */
export function channelRanges(plane, settings) {
  return settings.map((setting, c) => channelRange(setting, () => sortedOf(plane, c)));
}

/**
 * @param {ChannelPlane} plane
 * @param {import("./levels.js").ChannelSetting[]} settings one per channel
 * @param {Uint8ClampedArray} dst RGBA pixels, length 4 * width * height
 * @returns {Uint8ClampedArray} dst
 */
export function composeChannels(plane, settings, dst) {
  const { values, channels, width, height } = plane;
  const n = width * height;
  if (settings.length !== channels) throw new Error(`${settings.length} channel settings for ${channels} channels`);
  if (dst.length !== 4 * n) throw new Error(`${dst.length} RGBA values for ${n} pixels`);
  const ranges = channelRanges(plane, settings);
  dst.fill(0);
  for (let c = 0; c < channels; c++) {
    if (settings[c].colormap === "none") continue;
    const table = colormapTable(settings[c].colormap);
    const { lo, hi } = ranges[c];
    const offset = c * n;
    for (let i = 0; i < n; i++) {
      const k = levelIndex(values[offset + i], lo, hi) * 3;
      const p = i * 4;
      dst[p] += table[k];
      dst[p + 1] += table[k + 1];
      dst[p + 2] += table[k + 2];
    }
  }
  for (let p = 3; p < dst.length; p += 4) dst[p] = 255;
  return dst;
}
