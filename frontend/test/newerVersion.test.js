import { test } from "node:test";
import assert from "node:assert/strict";

import { NewerVersionWatch } from "../src/controller/newerVersion.js";
import { Observable } from "../src/observable.js";

class FakeSaver extends Observable {
  constructor(version) {
    super();
    this.version = version;
    this.dirty = false;
    this.state = { status: "saved", version };
  }

  saved(version) {
    this.version = version;
    this.state = { status: "saved", version };
    this.notify("status", this.state);
  }
}

function setup({ latest = 2, ours = 2, shown = null } = {}) {
  const api = { latest, calls: 0, async listVersions() { this.calls++; return { results: this.latest ? [{ version: this.latest }] : [] }; } };
  const events = new Map();
  const win = { addEventListener: (name, fn) => events.set(name, fn), removeEventListener: () => {} };
  const timers = { setInterval: (fn) => ((timers.tick = fn), 1), clearInterval: () => {} };
  const saver = new FakeSaver(ours);
  const watch = new NewerVersionWatch({ api, imageId: 1, saver, shown: () => shown, timers, doc: null, win });
  const seen = [];
  watch.subscribe((reason, detail) => reason === "newer" && seen.push(detail));
  return { api, saver, watch, seen, events, timers };
}

test("a tab behind the server's latest version is told so, and not while it is up to date", async () => {
  const { api, watch, seen } = setup({ latest: 2, ours: 2 });
  await watch.check();
  assert.deepEqual(seen, []);
  api.latest = 3;
  await watch.check();
  assert.deepEqual(seen, [{ version: 3, ours: 2, dirty: false }]);
  await watch.check();
  assert.equal(seen.length, 1, "said once");
});

test("it checks on focus and on its timer, and clears once the tab has caught up", async () => {
  const { api, saver, watch, seen, events, timers } = setup({ latest: 4, ours: 2 });
  events.get("focus")();
  await watch._checking;
  assert.equal(api.calls, 1);
  assert.equal(seen.at(-1).version, 4);
  timers.tick();
  await watch._checking;
  assert.equal(api.calls, 2);
  saver.saved(4);
  assert.equal(seen.at(-1), null);
});

test("no check while an older version is on show", async () => {
  const { api, watch, seen } = setup({ latest: 5, ours: 2, shown: 1 });
  await watch.check();
  assert.equal(api.calls, 0);
  assert.deepEqual(seen, []);
});
