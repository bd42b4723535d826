import { test } from "node:test";
import assert from "node:assert/strict";

import { importedText } from "../src/community/modelImport.js";

test("after an import the dashboard names the file, the new version and that it is not current", () => {
  assert.equal(importedText({ name: "cyto3", version: 2, imported_from: "cyto3.pth" }),
    "Imported cyto3.pth as cyto3 v2. It is not current: release it under Model versions to make it the community model.");
});
