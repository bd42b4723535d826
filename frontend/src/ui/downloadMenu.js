/**
 * The download menu (a <details> with links rendered by the template). It hides
 * the formats that hold 2D masks only (PNG, outlines txt, COCO) for stacks, says
 * when there is nothing to download yet, and closes on Escape or a click outside.
 *
 * Downloads hold what is on screen (controller/downloads.js): the menu says which
 * version its links serve, saves unsaved edits before a download, and refuses,
 * saying why (with a link to the saved version), when they cannot be saved.
 */
import { downloadState, DownloadRefused, versionToDownload } from "../controller/downloads.js";

export class DownloadMenu {
  /**
   * @param {HTMLDetailsElement} root
   * @param {import("../model.js").ViewerModel} model
   * @param {{saver?: import("../controller/saver.js").AnnotationSaver|null, shown?: () => number|null}} [deps]
   *   saver: the editor's (saves before a download); shown: the older version on show, or null
   */
  constructor(root, model, { saver = null, shown = () => null } = {}) {
    this.root = root;
    this.model = model;
    this.saver = saver;
    this.shown = shown;
    /** @type {HTMLElement} */
    this.versionNote = root.querySelector("[data-role=download-version]");
    /** @type {HTMLElement} */
    this.problem = root.querySelector("[data-role=download-problem]");
    this.links = [.../** @type {NodeListOf<HTMLAnchorElement>} */ (root.querySelectorAll("a[download]"))];
    for (const link of this.links) link.dataset.base = link.getAttribute("href");
    this._unsubscribe = model.subscribe((reason) => {
      if (reason === "image" || reason === "masks") this.render();
    });
    this._unsubscribeSaver = saver?.subscribe((reason) => reason === "status" && this.render()) ?? (() => {});
    document.addEventListener("click", (event) => {
      if (root.open && !(event.target instanceof Node && root.contains(event.target))) root.open = false;
    });
    // Rendered as the menu opens (the click on its summary runs before the <details> opens), not
    // only on the later "toggle" event: an older version put on show since the last render
    // (no model or saver event says so) must never be read from a stale note.
    root.querySelector("summary")?.addEventListener("click", () => this.render());
    root.addEventListener("toggle", () => {
      if (root.open) this.render();
    });
    root.addEventListener("keydown", (event) => {
      if (event.key === "Escape") root.open = false;
    });
    root.addEventListener("click", (event) => {
      const link = event.target instanceof Element ? event.target.closest("a[download]") : null;
      if (link instanceof HTMLAnchorElement && this.links.includes(link)) this._download(event, link);
      else if (link) this.root.open = false; // the saved version offered after a refusal
    });
    this.render();
  }

  render() {
    const stack = (this.model.image?.depth ?? 1) > 1;
    for (const link of this.root.querySelectorAll("[data-2d-only]")) link.closest("li").hidden = stack;
    const empty = this.model.masks === null;
    /** @type {HTMLElement} */
    const note = this.root.querySelector("[data-role=no-masks]");
    note.hidden = !empty;
    for (const link of this.links) link.closest("li").classList.toggle("is-unavailable", empty);
    if (!this.saver || !this.versionNote) return;
    const state = downloadState({ saver: this.saver, shown: this.shown() });
    this.versionNote.textContent = empty ? "" : state.text;
    this.versionNote.hidden = empty || !state.text;
    this.versionNote.dataset.pending = String(state.pending);
    this.root.dataset.version = String(state.version);
    for (const link of this.links) link.href = this._href(link, state.version);
  }

  /** A link's address for `version` (0: the current version, the server's default). */
  _href(link, version) {
    if (link.dataset.versioned === "false" || !version) return link.dataset.base;
    const url = new URL(link.dataset.base, window.location.href);
    url.searchParams.set("version", String(version));
    return url.pathname + url.search;
  }

  _showProblem(message, savedVersion, format) {
    if (!this.problem) return;
    this.problem.hidden = !message;
    this.problem.replaceChildren();
    if (!message) return;
    this.problem.append(message);
    const link = this.links.find((candidate) => candidate.dataset.format === format);
    if (savedVersion && link) {
      const saved = document.createElement("a");
      saved.href = this._href(link, savedVersion);
      saved.download = "";
      saved.dataset.role = "download-saved";
      saved.textContent = `Download saved version ${savedVersion} instead`;
      this.problem.append(" ", saved);
    }
  }

  /** A click on a format: straight through when nothing is unsaved, else save first. */
  async _download(event, link) {
    this._showProblem("", 0, "");
    if (!this.saver || link.dataset.versioned === "false") {
      this.root.open = false;
      return;
    }
    const state = downloadState({ saver: this.saver, shown: this.shown() });
    if (!state.pending) {
      link.href = this._href(link, state.version);
      this.root.open = false;
      return;
    }
    event.preventDefault();
    this.root.dataset.busy = "true";
    try {
      const version = await versionToDownload({ saver: this.saver, shown: this.shown() });
      const anchor = document.createElement("a");
      anchor.href = this._href(link, version);
      anchor.download = "";
      document.body.append(anchor);
      anchor.click();
      anchor.remove();
      this.root.open = false;
    } catch (error) {
      const savedVersion = error instanceof DownloadRefused ? error.savedVersion : 0;
      this._showProblem(error.message, savedVersion, link.dataset.format);
    } finally {
      delete this.root.dataset.busy;
      this.render();
    }
  }

  destroy() {
    this._unsubscribe();
    this._unsubscribeSaver();
  }
}
