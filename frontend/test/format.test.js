import { test } from "node:test";
import assert from "node:assert/strict";

import { describeAxes } from "../src/ui/format.js";

test("each reading of an ambiguous shape says what the image would be", () => {
  assert.equal(describeAxes("ZYX", [5, 64, 48]), "5 planes of 48 × 64 pixels (Z, Y, X)");
  assert.equal(describeAxes("CYX", [5, 64, 48]), "5 channels of 48 × 64 pixels (C, Y, X)");
  assert.equal(describeAxes("YXC", [5, 64, 48]), "48 channels of 64 × 5 pixels (Y, X, C)");
  assert.equal(describeAxes("ZCYX", [3, 1, 8, 8]), "3 planes × 1 channel of 8 × 8 pixels (Z, C, Y, X)");
});
