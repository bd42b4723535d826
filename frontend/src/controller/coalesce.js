/**
 * Rate limiting for refreshes that should happen at once: the first call runs
 * immediately; calls made while the following `ms` window is open fold into
 * one trailing call at the window's end (which opens a new window).
 *
 * A plain trailing debounce would make every single upload wait `ms` before
 * the list shows it; this keeps a burst of uploads to a few list requests
 * without delaying the first one.
 */

/**
 * @param {() => void} fn
 * @param {number} ms
 * @param {{ setTimeout: typeof setTimeout }} [clock] injectable for tests
 * @returns {() => void}
 */
export function coalesce(fn, ms, clock = globalThis) {
  let open = false;
  let pending = false;
  const close = () => {
    if (pending) {
      pending = false;
      fn();
      clock.setTimeout(close, ms);
    } else {
      open = false;
    }
  };
  return () => {
    if (open) {
      pending = true;
      return;
    }
    open = true;
    fn();
    clock.setTimeout(close, ms);
  };
}
