import { test } from "node:test";
import assert from "node:assert/strict";

import { zipUrl } from "../src/ui/jobStatus.js";

test("the batch zip's address names the export format chosen", () => {
  assert.equal(zipUrl("/api/jobs/7/download.zip", "geojson"), "/api/jobs/7/download.zip?format=geojson");
  assert.equal(zipUrl("/api/jobs/7/download.zip", ""), "/api/jobs/7/download.zip");
  assert.equal(zipUrl("/api/jobs/7/download.zip?format=png", "roi"), "/api/jobs/7/download.zip?format=roi");
  assert.equal(zipUrl("https://example.org/api/jobs/7/download.zip", "npy"),
    "https://example.org/api/jobs/7/download.zip?format=npy");
});
