import { test } from "node:test";
import assert from "node:assert/strict";

import { ApiError } from "../src/api.js";
import { drawMask } from "../src/commands/maskEdits.js";
import { downloadState, DownloadRefused, versionToDownload } from "../src/controller/downloads.js";
import { AnnotationSaver } from "../src/controller/saver.js";
import { Editor } from "../src/editor.js";
import { ViewerModel } from "../src/model.js";

const noTimers = { setTimeout: () => 0, clearTimeout: () => {} };

function setup() {
  const model = new ViewerModel();
  model.setImage({ id: 7, name: "t", width: 6, height: 4, depth: 1, channels: 1 });
  model.setMasks({ labels: new Int32Array(24), shape: [4, 6], version: 1 });
  const api = {
    saves: [],
    fail: null,
    async saveAnnotation(id, body) {
      api.saves.push(body);
      const error = api.fail?.(body);
      if (error) throw error;
      return { version: body.version + 1, n_masks: 1 };
    },
  };
  const saver = new AnnotationSaver({
    model, api, imageId: 7, timers: noTimers, retryDelays: [1000],
    encode: async (labels, shape) => ({ shape, data: Array.from(labels).join(",") }),
  });
  saver.reset(1);
  const editor = new Editor(model);
  const draw = () => editor.execute(drawMask(model, [{ x: 0, y: 0 }, { x: 2, y: 0 }, { x: 2, y: 2 }, { x: 0, y: 2 }]));
  return { api, saver, draw };
}

test("with nothing unsaved a download asks for the saved version and saves nothing", async () => {
  const { api, saver } = setup();
  assert.deepEqual(downloadState({ saver, shown: null }), { version: 1, pending: false, text: "Saved version 1" });
  assert.equal(await versionToDownload({ saver }), 1);
  assert.equal(api.saves.length, 0);
});

test("unsaved edits are saved first and the download asks for the version just saved", async () => {
  const { api, saver, draw } = setup();
  draw();
  assert.equal(downloadState({ saver, shown: null }).pending, true);
  assert.equal(await versionToDownload({ saver }), 2);
  assert.equal(api.saves.length, 1);
  assert.equal(saver.dirty, false);
});

test("an older version on show downloads as it is, whatever is unsaved", async () => {
  const { api, saver, draw } = setup();
  draw();
  assert.equal(downloadState({ saver, shown: 3 }).text, "Version 3 (on show)");
  assert.equal(await versionToDownload({ saver, shown: 3 }), 3);
  assert.equal(api.saves.length, 0);
});

test("edits the server refuses stop the download and name the saved version", async () => {
  const { api, saver, draw } = setup();
  api.fail = () => new ApiError("masks: too many labels", { status: 400, body: {} });
  draw();
  await assert.rejects(versionToDownload({ saver }), (error) => {
    assert.ok(error instanceof DownloadRefused);
    assert.match(error.message, /could not be saved: masks: too many labels/);
    assert.equal(error.savedVersion, 1);
    return true;
  });
});

test("a conflict stops the download until the person resolves it", async () => {
  const { api, saver, draw } = setup();
  api.fail = () => new ApiError("stale", { status: 409, body: { current_version: 4 } });
  draw();
  await saver.saveNow();
  assert.match(downloadState({ saver, shown: null }).text, /conflict/);
  await assert.rejects(versionToDownload({ saver }), DownloadRefused);
  assert.equal(api.saves.length, 1, "no second attempt while in conflict");
});
