/**
 * What a download holds: what is on screen. A download of the current masks first saves
 * the edits the server does not have yet, then asks for the version just saved; while an
 * older version is on show, it asks for that one. The file name the server gives carries
 * the version (`<image>_v3_masks.png`).
 */

/** How many saves to wait for when edits keep arriving while saving (each save sends them all). */
const MAX_SAVES = 3;

export class DownloadRefused extends Error {
  /** @param {string} message @param {number} savedVersion the version the server has (0: none) */
  constructor(message, savedVersion) {
    super(message);
    this.name = "DownloadRefused";
    this.savedVersion = savedVersion;
  }
}

/**
 * What the download menu should say about the version it serves.
 * @param {{saver: {version: number, dirty: boolean, state: {status: string}}, shown: number|null}} state
 * @returns {{version: number, pending: boolean, text: string}}
 *   version: the version the links serve (0: none yet); pending: edits will be saved first
 */
export function downloadState({ saver, shown }) {
  if (shown) return { version: shown, pending: false, text: `Version ${shown} (on show)` };
  const pending = saver.dirty || saver.state.status === "saving" || saver.state.status === "conflict";
  const version = saver.version;
  if (saver.state.status === "conflict") {
    return { version, pending, text: "Your edits conflict with a newer version: resolve that first." };
  }
  if (pending) return { version, pending, text: "Unsaved edits: they are saved first, as a new version." };
  return { version, pending, text: version ? `Saved version ${version}` : "" };
}

/**
 * The version a download of the current masks must ask for, after saving what is unsaved.
 * @param {{saver: import("./saver.js").AnnotationSaver, shown?: number|null}} deps
 *   shown: an older version on show (read-only), downloaded as it is
 * @returns {Promise<number>}
 * @throws {DownloadRefused} when the edits could not be saved (the file would not hold them)
 */
export async function versionToDownload({ saver, shown = null }) {
  if (shown) return shown;
  if (saver.state.status === "conflict") {
    throw new DownloadRefused(
      "Your edits conflict with a newer version: keep yours or load theirs before downloading.",
      saver.version,
    );
  }
  for (let i = 0; i < MAX_SAVES && (saver.dirty || saver.state.status === "saving"); i++) {
    await saver.saveNow();
  }
  if (saver.dirty) {
    const why = saver.state.message ? `: ${saver.state.message}` : "";
    throw new DownloadRefused(`Your edits could not be saved${why}. The download would not hold them.`, saver.version);
  }
  return saver.version;
}
