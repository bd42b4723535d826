import assert from "node:assert/strict";
import { test } from "node:test";

import { browserStorage, readSetting, writeSetting } from "../src/controller/localSettings.js";

function memoryStorage() {
  const values = new Map();
  return {
    getItem: (key) => (values.has(key) ? values.get(key) : null),
    setItem: (key, value) => values.set(key, String(value)),
  };
}

test("a written setting reads back", () => {
  const storage = memoryStorage();
  assert.equal(writeSetting(storage, "k", "1"), true);
  assert.equal(readSetting(storage, "k"), "1");
});

test("an unset key reads as null", () => {
  assert.equal(readSetting(memoryStorage(), "missing"), null);
});

test("a scope whose localStorage throws on access gives no storage instead of an error", () => {
  const scope = {
    get localStorage() {
      throw new Error("SecurityError: storage is disabled");
    },
  };
  assert.equal(browserStorage(scope), null);
});

test("without storage, reads are null and writes report that nothing was kept", () => {
  assert.equal(readSetting(null, "k"), null);
  assert.equal(writeSetting(null, "k", "1"), false);
});

test("a full storage refuses the write without throwing", () => {
  const full = { getItem: () => null, setItem: () => { throw new Error("QuotaExceededError"); } };
  assert.equal(writeSetting(full, "k", "1"), false);
});

test("a storage that throws on read gives null", () => {
  const broken = { getItem: () => { throw new Error("boom"); }, setItem: () => {} };
  assert.equal(readSetting(broken, "k"), null);
});
