/**
 * The save indicator in the page header, and the question whether to recover edits
 * kept in this browser (the conflict dialog is merge/mergeDialog.js). They render the
 * saver's state; buttons call back into the page.
 */
import { formatTime } from "./format.js";

const LABELS = {
  saved: (s) => (s.version ? `All changes saved · version ${s.version}` : "No changes"),
  unsaved: () => "Unsaved changes…",
  saving: () => "Saving…",
  offline: (s) => `Not saved: ${s.message} Your edits are kept in this browser; retrying in ${Math.round(s.retryIn / 1000)} s.`,
  error: (s) => `Not saved: ${s.message}`,
  conflict: () => "Not saved: someone else saved a newer version",
};

export class SaveStatus {
  /**
   * @param {HTMLElement} element
   * @param {import("../controller/saver.js").AnnotationSaver} saver
   * @param {import("../controller/backup.js").EditBackup|null} backup
   */
  constructor(element, saver, backup) {
    this.element = element;
    this.saver = saver;
    this.kept = null; // when the edits were last kept in the browser
    saver.subscribe((reason) => reason === "status" && this.render());
    backup?.subscribe((reason, detail) => {
      if (reason !== "backup") return;
      this.kept = detail.state === "kept" ? detail.at : null;
      this.element.dataset.backup = detail.state;
      this.element.dataset.backupRevision = detail.state === "kept" ? String(detail.revision) : "";
      if (detail.state === "failed") this.element.title = `Could not keep a copy in this browser: ${detail.error?.message ?? detail.error}`;
    });
    this.render();
  }

  render() {
    const state = this.saver.state;
    this.element.dataset.status = state.status;
    this.element.dataset.version = String(state.version ?? 0);
    this.element.textContent = LABELS[state.status](state);
  }
}

/** "Unsaved edits from <time> were found in this browser": recover or discard. */
export class RecoveryDialog {
  /** @param {HTMLElement} root with [data-role=recovery-message], [data-action=recover], [data-action=discard-recovery] */
  constructor(root) {
    this.root = root;
    this.message = root.querySelector("[data-role=recovery-message]");
    /** @type {HTMLButtonElement} */
    this.recover = root.querySelector("[data-action=recover]");
    /** @type {HTMLButtonElement} */
    this.discard = root.querySelector("[data-action=discard-recovery]");
  }

  /**
   * @param {{savedAt: number, baseVersion: number}} record
   * @param {{onRecover: Function, onDiscard: Function}} actions
   */
  offer(record, { onRecover, onDiscard }) {
    this.message.textContent =
      `This browser kept edits of these masks that were never saved (from ${formatTime(record.savedAt)}, ` +
      `made on version ${record.baseVersion || "none"}). Recover them?`;
    this.root.hidden = false;
    const close = (action) => async () => {
      this.root.hidden = true;
      this.recover.onclick = this.discard.onclick = null;
      await action();
    };
    this.recover.onclick = close(onRecover);
    this.discard.onclick = close(onDiscard);
  }
}
