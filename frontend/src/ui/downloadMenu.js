/**
 * The download menu (a <details> with links rendered by the template). It hides
 * the formats that hold 2D masks only (PNG, outlines txt, COCO) for stacks, says
 * when there is nothing to download yet, and closes on Escape or a click outside.
 */
export class DownloadMenu {
  /**
   * @param {HTMLDetailsElement} root
   * @param {import("../model.js").ViewerModel} model
   */
  constructor(root, model) {
    this.root = root;
    this.model = model;
    this._unsubscribe = model.subscribe((reason) => {
      if (reason === "image" || reason === "masks") this.render();
    });
    document.addEventListener("click", (event) => {
      if (root.open && !(event.target instanceof Node && root.contains(event.target))) root.open = false;
    });
    root.addEventListener("keydown", (event) => {
      if (event.key === "Escape") root.open = false;
    });
    root.addEventListener("click", (event) => {
      if (event.target instanceof Element && event.target.closest("a[download]")) root.open = false;
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
    for (const link of this.root.querySelectorAll("a[download]")) link.closest("li").classList.toggle("is-unavailable", empty);
  }

  destroy() {
    this._unsubscribe();
  }
}
