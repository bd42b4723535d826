import { test } from "node:test";
import assert from "node:assert/strict";

import { buildSegmentOptions } from "../src/ui/segmentOptions.js";
import { recipeFormValues } from "../src/ui/segmentRecipe.js";

test("an untouched form asks for the server's defaults with an automatic diameter", () => {
  assert.deepEqual(buildSegmentOptions({ diameter_auto: true }), {
    channels: [0, 0], diameter: null, augment: true, tile_overlap: 0.5,
    cellprob_threshold: 0, flow_threshold: 0.4, min_size: 15,
  });
});

test("form strings become numbers and booleans", () => {
  const options = buildSegmentOptions({
    model_version: "3", chan1: "2", chan2: "3", diameter_auto: false, diameter: "23.5",
    augment: false, tile_overlap: "0.25", cellprob_threshold: "-1.5", flow_threshold: "0.8", min_size: "0",
  });
  assert.deepEqual(options, {
    model_version: 3, channels: [2, 3], diameter: 23.5, augment: false, tile_overlap: 0.25,
    cellprob_threshold: -1.5, flow_threshold: 0.8, min_size: 0,
  });
});

test("a grayscale cytoplasm channel has no nucleus channel", () => {
  assert.deepEqual(buildSegmentOptions({ chan1: "0", chan2: "2", diameter_auto: true }).channels, [0, 0]);
});

test("3D and anisotropy are sent only when the form has the 3D field", () => {
  assert.equal("do_3d" in buildSegmentOptions({ diameter_auto: true }), false);
  const stack = buildSegmentOptions({ diameter_auto: true, do_3d: true, anisotropy: "2.5" });
  assert.equal(stack.do_3d, true);
  assert.equal(stack.anisotropy, 2.5);
  const planes = buildSegmentOptions({ diameter_auto: true, do_3d: false, anisotropy: "2.5" });
  assert.equal(planes.do_3d, false);
  assert.equal("anisotropy" in planes, false);
  assert.equal(planes.stitch_threshold, 0.25);
  assert.equal("stitch_threshold" in stack, false);
});

test("a stack segmented plane by plane sends its plane-to-plane overlap, which must lie in (0, 1]", () => {
  const planes = buildSegmentOptions({ diameter_auto: true, do_3d: false, stitch_threshold: "0.4" });
  assert.equal(planes.stitch_threshold, 0.4);
  assert.throws(() => buildSegmentOptions({ diameter_auto: true, do_3d: false, stitch_threshold: "0" }), /overlap/);
  assert.throws(() => buildSegmentOptions({ diameter_auto: true, do_3d: false, stitch_threshold: "2" }), /overlap/);
});

test("a manual diameter must be a positive number", () => {
  assert.throws(() => buildSegmentOptions({ diameter_auto: false, diameter: "" }), /enter a cell diameter/);
  assert.throws(() => buildSegmentOptions({ diameter_auto: false, diameter: "0" }), /more than 0/);
  assert.throws(() => buildSegmentOptions({ diameter_auto: false, diameter: "abc" }), /diameter must be a number/);
  assert.throws(() => buildSegmentOptions({ diameter_auto: true, chan1: "5" }), /channels must be/);
});

test("a recipe with an estimated diameter keeps Automatic and offers the estimate", () => {
  const values = recipeFormValues({
    model_version: 4, channels: [2, 0], diameter: 24.137, diameter_source: "estimated",
    cellprob_threshold: -1, flow_threshold: 3, augment: false, tile_overlap: 0.5, min_size: 15, do_3d: null,
  });
  assert.equal(values.diameter_auto, true);
  assert.equal(values.estimated_diameter, "24.1");
  assert.equal("diameter" in values, false, "the typed diameter is left alone");
  assert.deepEqual([values.model_version, values.chan1, values.chan2], ["4", "2", "0"]);
  assert.deepEqual([values.cellprob_threshold, values.flow_threshold, values.augment], ["-1", "3", false]);
  assert.equal("do_3d" in values, false);
  const options = buildSegmentOptions(values);
  assert.deepEqual([options.channels, options.diameter, options.cellprob_threshold], [[2, 0], null, -1]);
});

test("a recipe with a given diameter asks for that diameter again", () => {
  const values = recipeFormValues({ channels: [0, 3], diameter: 17.5, diameter_source: "given" });
  assert.deepEqual([values.diameter_auto, values.diameter, values.estimated_diameter], [false, "17.5", null]);
  assert.equal(values.chan2, "0", "a grayscale segment channel has no nucleus channel");
  assert.equal(buildSegmentOptions(values).diameter, 17.5);
});
