import { test } from "node:test";
import assert from "node:assert/strict";

import { colormapTable, COLORMAPS, defaultColormaps } from "../src/channels/colormaps.js";
import { channelRanges, composeChannels, defaultSettings } from "../src/channels/compose.js";
import { levelIndex, percentile, settingProblem, sortedChannel } from "../src/channels/levels.js";

test("percentiles interpolate between ranks like numpy", () => {
  const sorted = Float32Array.from([0, 10, 20, 30, 40]);
  assert.equal(percentile(sorted, 0), 0);
  assert.equal(percentile(sorted, 100), 40);
  assert.equal(percentile(sorted, 50), 20);
  assert.equal(percentile(sorted, 12.5), 5);
  // numpy.percentile(np.arange(101), 99.8) == 99.8
  const hundred = Float32Array.from({ length: 101 }, (_, i) => i);
  assert.ok(Math.abs(percentile(hundred, 99.8) - 99.8) < 1e-9);
});

test("a channel's values are sorted from its own slice of the plane", () => {
  const values = Float32Array.from([3, 1, 2, 9, 7, 8]); // 2 channels of 3 pixels
  assert.deepEqual([...sortedChannel(values, 1, 3)], [7, 8, 9]);
});

test("levels scale values to 0..255 and clamp outside them", () => {
  assert.equal(levelIndex(10, 10, 20), 0);
  assert.equal(levelIndex(15, 10, 20), 128);
  assert.equal(levelIndex(25, 10, 20), 255);
  assert.equal(levelIndex(5, 10, 20), 0);
  assert.equal(levelIndex(11, 10, 10), 255, "a flat range shows values above it at full colour");
});

test("percentile and min/max settings give their value ranges", () => {
  const plane = { values: Float32Array.from({ length: 101 }, (_, i) => i * 2), channels: 1, width: 101, height: 1 };
  const [percent] = channelRanges(plane, [{ mode: "percentile", low: 1, high: 99, colormap: "grey" }]);
  assert.deepEqual(percent, { lo: 2, hi: 198 });
  const [fixed] = channelRanges(plane, [{ mode: "minmax", low: 50, high: 60, colormap: "grey" }]);
  assert.deepEqual(fixed, { lo: 50, hi: 60 });
});

test("colour maps run from black to their colour, and viridis from purple to yellow", () => {
  for (const name of ["grey", "red", "green", "blue", "magenta", "cyan", "yellow"]) {
    const table = colormapTable(name);
    assert.deepEqual([...table.subarray(0, 3)], [0, 0, 0], name);
  }
  assert.deepEqual([...colormapTable("magenta").subarray(255 * 3)], [255, 0, 255]);
  assert.deepEqual([...colormapTable("cyan").subarray(128 * 3, 129 * 3)], [0, 128, 128]);
  const viridis = colormapTable("viridis");
  assert.deepEqual([...viridis.subarray(0, 3)], [0x44, 0x01, 0x54]);
  assert.deepEqual([...viridis.subarray(255 * 3)], [0xfd, 0xe7, 0x25]);
  // Perceptual: its lightness (a luma proxy) rises monotonically.
  let last = -1;
  for (let v = 0; v < 256; v++) {
    const luma = 0.299 * viridis[v * 3] + 0.587 * viridis[v * 3 + 1] + 0.114 * viridis[v * 3 + 2];
    assert.ok(luma >= last - 1e-9, `viridis lightness falls at ${v}`);
    last = luma;
  }
  assert.ok(COLORMAPS.includes("none"));
  assert.throws(() => colormapTable("plasma"), /unknown colour map/);
});

test("channels start as the server shows them: grey, red/green, or RGB", () => {
  assert.deepEqual(defaultColormaps(1), ["grey"]);
  assert.deepEqual(defaultColormaps(2), ["red", "green"]);
  assert.deepEqual(defaultColormaps(4), ["red", "green", "blue", "none"]);
  assert.deepEqual(defaultSettings(1), [{ mode: "percentile", low: 1, high: 99, colormap: "grey" }]);
});

test("composing adds each channel's colour at its level", () => {
  // Two channels of two pixels: channel 0 in magenta (0..10), channel 1 in green (min/max 0..100).
  const plane = { values: Float32Array.from([0, 10, 50, 100]), channels: 2, width: 2, height: 1 };
  const settings = [
    { mode: "minmax", low: 0, high: 10, colormap: "magenta" },
    { mode: "minmax", low: 0, high: 100, colormap: "green" },
  ];
  const out = composeChannels(plane, settings, new Uint8ClampedArray(8));
  assert.deepEqual([...out], [0, 128, 0, 255, 255, 255, 255, 255]);
  settings[1] = { ...settings[1], colormap: "none" };
  assert.deepEqual([...composeChannels(plane, settings, new Uint8ClampedArray(8))], [0, 0, 0, 255, 255, 0, 255, 255]);
  assert.throws(() => composeChannels(plane, settings.slice(0, 1), new Uint8ClampedArray(8)), /1 channel settings for 2/);
});

test("bad level settings are named", () => {
  assert.equal(settingProblem({ mode: "percentile", low: 1, high: 99 }), null);
  assert.match(settingProblem({ mode: "minmax", low: 5, high: 5 }), /below/);
  assert.match(settingProblem({ mode: "percentile", low: -1, high: 99 }), /between 0 and 100/);
  assert.match(settingProblem({ mode: "minmax", low: "x", high: 5 }), /numbers/);
});

test("channel settings are remembered per image and ignored when they no longer fit", async () => {
  const { bindChannelSettings, loadSettings, storageKey } = await import("../src/channels/channelSettings.js");
  const { ViewerModel } = await import("../src/model.js");
  const items = new Map();
  const storage = { getItem: (k) => items.get(k) ?? null, setItem: (k, v) => items.set(k, v) };
  const model = new ViewerModel();
  bindChannelSettings(model, storage);
  model.setImage({ id: 7, name: "a", width: 2, height: 2, depth: 1, channels: 2 });
  assert.deepEqual(model.view.channels.map((s) => s.colormap), ["red", "green"]);
  const mine = [
    { mode: "minmax", low: 5, high: 500, colormap: "magenta" },
    { mode: "percentile", low: 0.5, high: 99.8, colormap: "cyan" },
  ];
  model.setChannelSettings(mine);
  assert.deepEqual(JSON.parse(items.get(storageKey(7))), mine);
  model.setImage({ id: 8, name: "b", width: 2, height: 2, depth: 1, channels: 2 });
  assert.deepEqual(model.view.channels.map((s) => s.colormap), ["red", "green"], "another image starts from the defaults");
  model.setImage({ id: 7, name: "a", width: 2, height: 2, depth: 1, channels: 2 });
  assert.deepEqual(model.view.channels, mine);
  assert.equal(loadSettings(storage, 7, 3), null, "settings for another number of channels are not used");
  items.set(storageKey(9), "{not json");
  assert.equal(loadSettings(storage, 9, 1), null);
});

test("the values under the pointer are read from each channel's slice", async () => {
  const { valuesAt } = await import("../src/channels/intensityReadout.js");
  // 2 channels, 3 x 2 pixels.
  const plane = { values: Float32Array.from([0, 1, 2, 3, 4, 5, 10, 11, 12, 13, 14, 15]), channels: 2, width: 3, height: 2 };
  assert.deepEqual(valuesAt(plane, { x: 2, y: 1 }), [5, 15]);
  assert.deepEqual(valuesAt(plane, { x: 0, y: 0 }), [0, 10]);
  assert.equal(valuesAt(plane, { x: 3, y: 0 }), null);
  assert.equal(valuesAt(null, { x: 0, y: 0 }), null);
  assert.equal(valuesAt(plane, null), null);
});

test("16-bit stored values are measured and composed like float ones", () => {
  const values = Uint16Array.from([0, 1000, 30000, 65535]);
  const plane = { values, channels: 1, width: 4, height: 1 };
  const [range] = channelRanges(plane, [{ mode: "percentile", low: 0, high: 100, colormap: "grey" }]);
  assert.deepEqual(range, { lo: 0, hi: 65535 });
  const out = composeChannels(plane, [{ mode: "minmax", low: 0, high: 60000, colormap: "grey" }], new Uint8ClampedArray(16));
  assert.deepEqual([0, 4, 8, 12].map((i) => out[i]), [0, 4, 128, 255]);
});
