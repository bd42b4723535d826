/** The background run of a contribution's automatic checks (``checks_run`` in the API, community.scoring):
 * what to show while it is queued, running or failed, and polling until it has finished. No DOM. */

/** True while a contribution's automatic checks are queued or running (community.scoring). */
export function checksPending(contribution) {
  const status = contribution.checks_run?.status;
  return status === "queued" || status === "running";
}

/** What a person reads about the background run of the checks: "checks running (stage, 40 %)",
 * or why they failed; null once they have run (the checks themselves say the rest). */
export function checksRunText(contribution) {
  const run = contribution.checks_run;
  if (!run || run.status === "succeeded") return null;
  if (run.status === "failed" || run.status === "cancelled") return `Checks failed: ${run.error || run.status}`;
  if (run.status === "queued") return "checks running (waiting for a worker)";
  return `checks running (${run.stage}, ${Math.round(100 * run.progress)} %)`;
}

/** Call ``reload`` every ``ms`` while ``pending()`` says something is still running. Returns a
 * function that stops it; once stopped (even from inside ``reload``, as a page that starts a fresh
 * poll after each load does) it schedules nothing more, so only one poll is ever alive. */
export function pollWhile(pending, reload, ms = 2000, timers = globalThis) {
  let handle = null;
  let stopped = false;
  const tick = async () => {
    handle = null;
    await reload();
    if (!stopped && pending()) handle = timers.setTimeout(tick, ms);
  };
  if (pending()) handle = timers.setTimeout(tick, ms);
  return () => {
    stopped = true;
    if (handle !== null) timers.clearTimeout(handle);
    handle = null;
  };
}
