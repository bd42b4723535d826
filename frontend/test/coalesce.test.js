import assert from "node:assert/strict";
import { test } from "node:test";

import { coalesce } from "../src/controller/coalesce.js";

function fakeClock() {
  const timers = [];
  return {
    setTimeout: (fn, ms) => timers.push({ fn, ms }),
    runNext() {
      const timer = timers.shift();
      timer.fn();
      return timer.ms;
    },
    get pending() {
      return timers.length;
    },
  };
}

test("the first call runs at once, without waiting for the window", () => {
  const clock = fakeClock();
  let calls = 0;
  const refresh = coalesce(() => calls++, 300, clock);
  refresh();
  assert.equal(calls, 1);
  assert.equal(clock.pending, 1);
});

test("calls inside the window fold into one trailing call at its end", () => {
  const clock = fakeClock();
  let calls = 0;
  const refresh = coalesce(() => calls++, 300, clock);
  refresh();
  refresh();
  refresh();
  refresh();
  assert.equal(calls, 1);
  assert.equal(clock.runNext(), 300);
  assert.equal(calls, 2, "one trailing call for the three folded ones");
  clock.runNext(); // the trailing call's window closes with nothing pending
  assert.equal(calls, 2);
  assert.equal(clock.pending, 0);
});

test("after a quiet window the next call runs at once again", () => {
  const clock = fakeClock();
  let calls = 0;
  const refresh = coalesce(() => calls++, 300, clock);
  refresh();
  clock.runNext();
  refresh();
  assert.equal(calls, 2);
});
