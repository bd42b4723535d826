/**
 * Waiting for a tiled image's ingest. The server answers the upload of a
 * tiled-size image with 202 and the upload's state ({status: "ingesting",
 * progress, url}) while it builds the image's pyramid in the background;
 * waitForIngest polls that url until the status is "done", then returns the
 * image as GET /api/images/<id>/ gives it, or throws with the server's reason
 * when the ingest failed. Aborting `signal` stops the wait at once (an AbortError);
 * cancelling the ingest itself is the caller's DELETE of the upload.
 */
import { errorMessage } from "../api.js";

export const INGEST_POLL_MS = 1000;

async function getJson(fetchFn, url, signal) {
  const response = await fetchFn(url, { headers: { Accept: "application/json" }, credentials: "same-origin", signal });
  let body = null;
  try {
    body = await response.json();
  } catch {
    // not JSON: errorMessage() says what it can from the status
  }
  if (!response.ok) throw new Error(errorMessage(response.status, body));
  return body;
}

/**
 * @param {{status: string, url: string, progress?: number, image?: number|null, error?: string}} state
 *   the 202's body
 * @param {{fetch?: typeof fetch, interval?: number, onProgress?: (share: number) => void,
 *          signal?: AbortSignal}} [options]
 *   onProgress: the share (0..1) of the pyramid written, at each poll
 * @returns {Promise<object>} the image
 */
export async function waitForIngest(state, { fetch: fetchFn = globalThis.fetch, interval = INGEST_POLL_MS,
  onProgress = () => {}, signal = undefined } = {}) {
  let current = state;
  while (current.status === "ingesting") {
    onProgress(Number(current.progress) || 0);
    await pause(interval, signal);
    current = await getJson(fetchFn, state.url, signal);
  }
  if (current.status !== "done") throw new Error(current.error || "The image could not be stored.");
  return getJson(fetchFn, `/api/images/${current.image}/`, signal);
}

/** Wait `ms`, or less if `signal` aborts (then throw its AbortError). */
function pause(ms, signal) {
  signal?.throwIfAborted();
  return new Promise((resolve, reject) => {
    const timer = setTimeout(done, ms);
    function done() {
      signal?.removeEventListener("abort", stop);
      resolve(undefined);
    }
    function stop() {
      clearTimeout(timer);
      reject(signal.reason);
    }
    signal?.addEventListener("abort", stop, { once: true });
  });
}
