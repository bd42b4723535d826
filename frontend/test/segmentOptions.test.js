import { test } from "node:test";
import assert from "node:assert/strict";

import { buildSegmentOptions } from "../src/ui/segmentOptions.js";

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
