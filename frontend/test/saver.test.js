import { test } from "node:test";
import assert from "node:assert/strict";

import { ApiError } from "../src/api.js";
import { drawMask } from "../src/commands/maskEdits.js";
import { EditBackup } from "../src/controller/backup.js";
import { MemoryStore } from "../src/controller/idbStore.js";
import { AnnotationSaver } from "../src/controller/saver.js";
import { Editor } from "../src/editor.js";
import { ViewerModel } from "../src/model.js";

/** Timers run by hand: advance(ms) fires what is due. */
function fakeTimers() {
  let now = 0;
  let id = 0;
  const pending = new Map();
  return {
    setTimeout(fn, ms) {
      pending.set(++id, { fn, at: now + ms });
      return id;
    },
    clearTimeout(handle) {
      pending.delete(handle);
    },
    async advance(ms) {
      now += ms;
      for (;;) {
        const due = [...pending].filter(([, t]) => t.at <= now).sort((a, b) => a[1].at - b[1].at)[0];
        if (!due) break;
        pending.delete(due[0]);
        due[1].fn();
        await flush();
      }
      await flush();
    },
    get pending() {
      return pending.size;
    },
    now: () => now,
  };
}

const flush = () => new Promise((resolve) => setImmediate(resolve));

function fakeApi() {
  const api = {
    saves: [],
    version: 1,
    fail: null, // a function returning the error to throw, or null
    async saveAnnotation(id, body) {
      api.saves.push({ id, ...body });
      const error = api.fail?.(body);
      if (error) throw error;
      api.version = Math.max(api.version, body.version) + 1;
      return { version: api.version, n_masks: 1 };
    },
  };
  return api;
}

function setup({ backup = true } = {}) {
  const model = new ViewerModel();
  model.setImage({ id: 7, name: "t", width: 6, height: 4, depth: 1, channels: 1 });
  model.setMasks({ labels: new Int32Array(24), shape: [4, 6], version: 1 });
  const timers = fakeTimers();
  const api = fakeApi();
  const store = new MemoryStore();
  const keep = backup ? new EditBackup({ store, imageId: 7, tab: "tab-a", locks: null, timers, now: timers.now }) : null;
  const saver = new AnnotationSaver({
    model, api, imageId: 7, backup: keep, timers, delay: 3000, retryDelays: [2000, 5000],
    encode: async (labels, shape) => ({ shape, data: Array.from(labels).join(",") }),
  });
  saver.reset(1);
  const editor = new Editor(model);
  const statuses = [];
  saver.subscribe((reason, detail) => reason === "status" && statuses.push(detail.status));
  let n = 0;
  const draw = () => {
    n++;
    editor.execute(drawMask(model, [{ x: n - 1, y: 0 }, { x: n, y: 0 }, { x: n, y: 1 }, { x: n - 1, y: 1 }]));
  };
  return { model, timers, api, store, saver, editor, statuses, draw, backup: keep };
}

test("an edit is saved a few seconds after the last one, based on the loaded version", async () => {
  const { timers, api, saver, draw, statuses, model } = setup();
  draw();
  await timers.advance(2000);
  draw();
  await timers.advance(2999);
  assert.equal(api.saves.length, 0, "each edit restarts the wait");
  await timers.advance(1);
  assert.equal(api.saves.length, 1);
  assert.equal(api.saves[0].version, 1);
  assert.deepEqual(api.saves[0].origins, ["manual", "manual"]);
  assert.equal(saver.state.status, "saved");
  assert.equal(saver.version, 2);
  assert.equal(saver.dirty, false);
  assert.deepEqual(statuses.slice(-2), ["saving", "saved"]);
  assert.equal(model.masks.count, 2);
});

test("Ctrl+S saves at once, and nothing is sent when nothing changed", async () => {
  const { timers, api, saver, draw } = setup();
  assert.equal(await saver.saveNow(), null);
  draw();
  const response = await saver.saveNow();
  assert.equal(response.version, 2);
  await timers.advance(10000);
  assert.equal(api.saves.length, 1);
});

test("edits made while a save is in flight are saved next, on the new version", async () => {
  const { timers, api, saver, draw } = setup();
  draw();
  const first = saver.saveNow();
  draw();
  await first;
  assert.equal(saver.state.status, "unsaved");
  await timers.advance(3000);
  assert.equal(api.saves.length, 2);
  assert.equal(api.saves[1].version, 2);
  assert.equal(saver.state.status, "saved");
});

test("a stale version stops autosave and waits for the person's choice", async () => {
  const { timers, api, saver, draw } = setup();
  api.fail = (body) => (body.version === 1 ? new ApiError("stale", { status: 409, body: { current_version: 4 } }) : null);
  draw();
  await timers.advance(3000);
  assert.equal(saver.state.status, "conflict");
  assert.deepEqual(saver.state.conflict, { current: 4, base: 1 });
  draw();
  await timers.advance(60000);
  assert.equal(api.saves.length, 1, "no save while in conflict");
  await saver.keepMine();
  assert.equal(api.saves.at(-1).version, 4);
  assert.equal(saver.state.status, "saved");
  assert.equal(saver.version, 5);
});

test("when the server cannot be reached it retries, keeps the edits, and recovers", async () => {
  const { timers, api, saver, draw, store } = setup();
  api.fail = () => new ApiError("The server could not be reached.", { status: 0 });
  draw();
  await timers.advance(3000);
  assert.equal(saver.state.status, "offline");
  assert.equal(saver.state.retryIn, 2000);
  assert.equal(store.records.size, 1, "the edit is kept in the browser");
  await timers.advance(2000);
  assert.equal(saver.state.retryIn, 5000);
  await timers.advance(5000);
  assert.equal(saver.state.retryIn, 5000, "the delay stops growing");
  api.fail = null;
  await timers.advance(5000);
  assert.equal(saver.state.status, "saved");
  assert.equal(store.records.size, 0, "the kept copy goes once the server has the edits");
});

test("a refused save is reported and tried again after the next edit", async () => {
  const { timers, api, saver, draw } = setup();
  api.fail = () => new ApiError("masks.shape must be [4, 6]", { status: 400 });
  draw();
  await timers.advance(3000);
  assert.equal(saver.state.status, "error");
  assert.match(saver.state.message, /shape/);
  await timers.advance(60000);
  assert.equal(api.saves.length, 1);
  api.fail = null;
  draw();
  await timers.advance(3000);
  assert.equal(saver.state.status, "saved");
});

test("undoing back to the saved masks still counts as a change to save", async () => {
  const { timers, api, saver, draw, editor } = setup();
  draw();
  await saver.saveNow();
  editor.undo();
  assert.equal(saver.dirty, true);
  await timers.advance(3000);
  assert.equal(api.saves.length, 2);
});

test("the browser copy holds the masks, their origins and the base version", async () => {
  const { timers, draw, store, model } = setup();
  draw();
  await timers.advance(300);
  const [record] = store.records.values();
  assert.equal(record.key, "7:tab-a");
  assert.equal(record.baseVersion, 1);
  assert.deepEqual(record.shape, [4, 6]);
  assert.deepEqual(record.labels, model.masks.labels);
  assert.deepEqual(record.origins, ["manual"]);
});

test("recoverable copies are other tabs' that no live tab holds, newest first", async () => {
  const store = new MemoryStore();
  const write = (tab, savedAt, imageId = "7") => store.put({ key: `${imageId}:${tab}`, imageId, tab, savedAt });
  await write("mine", 5);
  await write("gone-old", 1);
  await write("gone-new", 3);
  await write("alive", 9);
  await write("other-image", 9, "8");
  const locks = { query: async () => ({ held: [{ name: "cellposeweb-editor-tab:alive" }] }) };
  const backup = new EditBackup({ store, imageId: 7, tab: "mine", locks });
  const found = await backup.recoverable();
  assert.deepEqual(found.map((r) => r.tab), ["mine", "gone-new", "gone-old"]);
  await backup.discard(found);
  assert.deepEqual([...store.records.keys()].sort(), ["7:alive", "8:other-image"]);
});

test("a write after which the copy is cleared leaves nothing behind", async () => {
  const store = new MemoryStore();
  const backup = new EditBackup({ store, imageId: 7, tab: "t", locks: null });
  backup.write({ labels: new Int32Array(2) });
  await backup.clear();
  assert.equal(store.records.size, 0);
});
