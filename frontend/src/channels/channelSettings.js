/**
 * The channels' levels and colour maps, remembered per image in the browser's
 * localStorage (key "cellposeweb:channels:<image id>"), and put in the model when the
 * image opens: the remembered settings when they fit the image, else the defaults.
 */
import { readSetting, writeSetting } from "../controller/localSettings.js";
import { COLORMAPS } from "./colormaps.js";
import { defaultSettings } from "./compose.js";
import { settingProblem } from "./levels.js";

export const storageKey = (imageId) => `cellposeweb:channels:${imageId}`;

/**
 * The settings remembered for an image, or null (none, unreadable, or not for this many channels).
 * @param {Storage|null} storage
 * @param {number|string} imageId
 * @param {number} channels
 * @returns {import("./levels.js").ChannelSetting[]|null}
 */
export function loadSettings(storage, imageId, channels) {
  let parsed;
  try {
    parsed = JSON.parse(readSetting(storage, storageKey(imageId)) ?? "null");
  } catch {
    return null; // not JSON
  }
  if (!Array.isArray(parsed) || parsed.length !== channels) return null;
  const ok = parsed.every((s) => s && COLORMAPS.includes(s.colormap) && settingProblem(s) === null);
  return ok ? parsed.map(({ mode, low, high, colormap }) => ({ mode, low: Number(low), high: Number(high), colormap })) : null;
}

/** Remember an image's settings (storage full or off: they last for this page only). */
export function saveSettings(storage, imageId, settings) {
  writeSetting(storage, storageKey(imageId), JSON.stringify(settings));
}

/**
 * Put the remembered (or default) settings in the model for each image it opens, and
 * remember every change.
 * @param {import("../model.js").ViewerModel} model
 * @param {Storage|null} storage
 */
export function bindChannelSettings(model, storage) {
  const apply = () => {
    const { id, channels } = model.image;
    model.setChannelSettings(loadSettings(storage, id, channels) ?? defaultSettings(channels));
  };
  if (model.image) apply();
  return model.subscribe((reason) => {
    if (reason === "image") apply();
    else if (reason === "display" && model.image && model.view.channels) saveSettings(storage, model.image.id, model.view.channels);
  });
}
