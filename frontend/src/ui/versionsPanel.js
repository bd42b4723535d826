/**
 * The versions panel: every saved version of the masks, newest first, with who
 * saved it, when, and what changed; each older one can be shown (read-only) or
 * restored (as a new version). It is refreshed after each save.
 */
import { describeChanges, formatTime } from "./format.js";

const SOURCES = { model: "segmentation", manual: "edit", restored: "restore", imported: "import" };

export class VersionsPanel {
  /**
   * @param {HTMLElement} root with [data-role=versions] (an <ol>) and [data-role=versions-note]
   * @param {{api: import("../api.js").ApiClient, imageId: number|string,
   *          onShow: (version: number) => void, onRestore: (version: number) => void,
   *          canChange: () => string|null}} deps canChange: why showing/restoring is not possible now
   */
  constructor(root, { api, imageId, onShow, onRestore, canChange }) {
    this.root = root;
    this.api = api;
    this.imageId = imageId;
    this.onShow = onShow;
    this.onRestore = onRestore;
    this.canChange = canChange;
    this.list = root.querySelector("[data-role=versions]");
    this.note = root.querySelector("[data-role=versions-note]");
    this.versions = [];
    this.shown = null;
    this.list.addEventListener("click", (event) => {
      const button = event.target instanceof Element ? event.target.closest("button[data-version]") : null;
      if (!(button instanceof HTMLButtonElement)) return;
      const why = this.canChange();
      if (why) {
        this.note.textContent = why;
        return;
      }
      const version = Number(button.dataset.version);
      if (button.dataset.action === "show-version") this.onShow(version);
      else this.onRestore(version);
    });
  }

  async refresh() {
    try {
      const body = await this.api.listVersions(this.imageId);
      this.versions = body.results ?? [];
      this.note.textContent = body.count > this.versions.length ? `The ${this.versions.length} newest of ${body.count} versions.` : "";
    } catch (error) {
      this.note.textContent = `Could not list the versions: ${error.message}`;
    }
    this.render();
  }

  /** @param {number|null} version the version on show read-only (null: the current one) */
  setShown(version) {
    this.shown = version;
    this.render();
  }

  render() {
    this.list.replaceChildren();
    const latest = this.versions[0]?.version;
    for (const v of this.versions) {
      const item = document.createElement("li");
      item.dataset.version = String(v.version);
      item.classList.toggle("is-shown", v.version === this.shown || (this.shown === null && v.version === latest));
      const head = document.createElement("div");
      head.className = "version-head";
      const origin = v.source === "restored" ? `restore of v${v.restored_from}` : SOURCES[v.source] ?? v.source;
      head.textContent = `v${v.version} · ${origin} · ${v.created_by ?? "unknown"} · ${formatTime(v.created_at)}`;
      const detail = document.createElement("div");
      detail.className = "version-changes";
      detail.textContent = `${v.n_masks} cells · ${v.base_version ? describeChanges(v.changes) : `${v.n_masks} added`}`;
      item.append(head, detail);
      if (v.version !== latest) {
        const actions = document.createElement("div");
        actions.className = "version-actions";
        for (const [action, label] of [["show-version", "Show"], ["restore-version", "Restore"]]) {
          const button = document.createElement("button");
          button.type = "button";
          button.className = "btn small ghost";
          button.dataset.action = action;
          button.dataset.version = String(v.version);
          button.textContent = label;
          actions.append(button);
        }
        item.append(actions);
      }
      this.list.append(item);
    }
  }
}
