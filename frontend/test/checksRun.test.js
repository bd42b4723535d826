import { test } from "node:test";
import assert from "node:assert/strict";

import { checksPending, checksRunText, pollWhile } from "../src/community/checksRun.js";

const run = (status, extra = {}) => ({ checks_run: { status, stage: "", progress: 0, error: "", ...extra } });

test("queued and running checks are pending, finished ones are not", () => {
  assert.deepEqual(["queued", "running", "succeeded", "failed"].map((s) => checksPending(run(s))),
    [true, true, false, false]);
  assert.equal(checksPending({ checks_run: null }), false);
});

test("the text says the checks are running, with their stage and progress, or why they failed", () => {
  assert.equal(checksRunText(run("queued")), "checks running (waiting for a worker)");
  assert.equal(checksRunText(run("running", { stage: "current model: network", progress: 0.42 })),
    "checks running (current model: network, 42 %)");
  assert.equal(checksRunText(run("failed", { error: "The automatic checks could not run: bad model" })),
    "Checks failed: The automatic checks could not run: bad model");
  assert.equal(checksRunText(run("succeeded")), null);
});

/** Timers that run only when the test says so. */
function fakeTimers() {
  const waiting = new Map();
  let next = 1;
  return {
    setTimeout(fn) { waiting.set(next, fn); return next++; },
    clearTimeout(id) { waiting.delete(id); },
    async fire() {
      const [[id, fn]] = waiting;
      waiting.delete(id);
      await fn();
    },
    get size() { return waiting.size; },
  };
}

test("polling reloads while something is pending and stops once nothing is", async () => {
  const timers = fakeTimers();
  let pending = 2;
  let reloads = 0;
  pollWhile(() => pending > 0, async () => { reloads += 1; pending -= 1; }, 2000, timers);
  assert.equal(timers.size, 1);
  await timers.fire();
  assert.equal(timers.size, 1);
  await timers.fire();
  assert.equal(reloads, 2);
  assert.equal(timers.size, 0);
});

test("polling does not start when nothing is pending, and can be stopped", () => {
  const timers = fakeTimers();
  pollWhile(() => false, async () => {}, 2000, timers);
  assert.equal(timers.size, 0);
  const stop = pollWhile(() => true, async () => {}, 2000, timers);
  stop();
  assert.equal(timers.size, 0);
});

test("a page that restarts the poll after each load keeps exactly one poll alive", async () => {
  const timers = fakeTimers();
  let stop = () => {};
  let loads = 0;
  const load = async () => {
    loads += 1;
    stop();
    stop = pollWhile(() => loads < 4, load, 2000, timers);
  };
  await load();
  while (timers.size) {
    assert.equal(timers.size, 1);
    await timers.fire();
  }
  assert.equal(loads, 4);
});
