import { test } from "node:test";
import assert from "node:assert/strict";

import { JobMonitor } from "../src/controller/jobs.js";

class FakeSocket {
  constructor(url) {
    this.url = url;
    this.readyState = 0;
    this.closed = false;
  }
  open() { this.readyState = 1; this.onopen?.(); }
  push(message) { this.onmessage?.({ data: JSON.stringify(message) }); }
  fail() { this.readyState = 3; this.onerror?.(); this.onclose?.(); }
  close() { this.closed = true; this.readyState = 3; }
}

function fakeApi(states) {
  const api = {
    gets: 0,
    jobSocketUrl: (id) => `ws://test/ws/jobs/${id}/`,
    async getJob() {
      api.gets += 1;
      const next = states.length > 1 ? states.shift() : states[0];
      if (next instanceof Error) throw next;
      return next;
    },
  };
  return api;
}

function fakeTimers() {
  const timers = [];
  return {
    timers,
    setTimer: (fn, ms) => { timers.push({ fn, ms }); return timers.length; },
    clearTimer: () => {},
    async tick() { const t = timers.shift(); await t.fn(); },
  };
}

const flush = () => new Promise((resolve) => setImmediate(resolve));

test("progress pushed over the websocket reaches the page until the job ends", async () => {
  let socket;
  const api = fakeApi([{ id: 5, status: "queued", progress: 0, stage: "", error: "" }]);
  const monitor = new JobMonitor({ id: 5, status: "queued", progress: 0, stage: "", error: "" }, { api, openSocket: (url) => (socket = new FakeSocket(url)) });
  const seen = [];
  monitor.subscribe((reason, job) => reason === "progress" && seen.push(`${job.status}:${job.stage}:${job.progress}`));
  monitor.start();
  assert.equal(socket.url, "ws://test/ws/jobs/5/");
  socket.open();
  await flush();
  socket.push({ type: "job.progress", job: 5, status: "running", stage: "network", progress: 0.4, error: "" });
  socket.push({ type: "other.event", status: "failed" });
  socket.push({ type: "job.progress", job: 5, status: "succeeded", stage: "done", progress: 1, error: "" });
  const final = await monitor.done;
  assert.equal(final.status, "succeeded");
  assert.deepEqual(seen, ["running:network:0.4", "succeeded:done:1"]);
  assert.equal(socket.closed, true);
  assert.equal(monitor.mode, "stopped");
});

test("a job that ended before the socket subscribed is caught by the sync on open", async () => {
  let socket;
  const api = fakeApi([{ id: 1, status: "failed", progress: 0.2, stage: "network", error: "out of memory" }]);
  const monitor = new JobMonitor({ id: 1, status: "queued" }, { api, openSocket: (url) => (socket = new FakeSocket(url)) });
  monitor.start();
  socket.open();
  const final = await monitor.done;
  assert.equal(final.status, "failed");
  assert.equal(final.error, "out of memory");
});

test("when the socket fails it polls every second until the job ends", async () => {
  let socket;
  const clock = fakeTimers();
  const api = fakeApi([
    { status: "running", progress: 0.5, stage: "masks", error: "" },
    { status: "running", progress: 0.9, stage: "masks", error: "" },
    { status: "cancelled", progress: 0.9, stage: "masks", error: "" },
  ]);
  const monitor = new JobMonitor({ id: 2, status: "queued" }, { api, openSocket: (url) => (socket = new FakeSocket(url)), ...clock });
  const modes = [];
  monitor.subscribe((reason, detail) => reason === "connection" && modes.push(detail.mode));
  monitor.start();
  socket.fail();
  await flush();
  assert.equal(monitor.mode, "polling");
  assert.equal(monitor.job.progress, 0.5);
  assert.equal(clock.timers[0].ms, 1000);
  await clock.tick();
  assert.equal(monitor.job.progress, 0.9);
  await clock.tick();
  assert.equal((await monitor.done).status, "cancelled");
  assert.deepEqual(modes, ["socket", "polling"]);
  assert.equal(clock.timers.length, 0);
});

test("without websockets it polls from the start and keeps trying through network errors", async () => {
  const clock = fakeTimers();
  const offline = Object.assign(new Error("The server could not be reached."), { status: 0 });
  const api = fakeApi([offline, offline, offline, { status: "succeeded", progress: 1, stage: "", error: "" }]);
  const monitor = new JobMonitor({ id: 3, status: "running" }, {
    api, openSocket: () => { throw new Error("WebSocket is not supported"); }, ...clock,
  });
  const errors = [];
  monitor.subscribe((reason, detail) => reason === "connection" && detail.error && errors.push(detail.error.message));
  monitor.start();
  await flush();
  await clock.tick();
  await clock.tick();
  assert.deepEqual(errors, ["The server could not be reached."]); // said once, after 3 failures
  assert.equal(monitor.mode, "polling");
  await clock.tick();
  assert.equal((await monitor.done).status, "succeeded");
});

test("a job that is already finished ends at once", async () => {
  const monitor = new JobMonitor({ id: 4, status: "succeeded" }, { api: fakeApi([]), openSocket: () => assert.fail("no socket") });
  monitor.start();
  assert.equal((await monitor.done).status, "succeeded");
});
