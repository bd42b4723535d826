/**
 * The header's "Contribute" link: offers the image and its saved masks to the community model
 * (the contributions page opens with this image chosen). Contributions are 2D, so the link is
 * hidden for stacks, and before the image has any masks.
 */
export class ContributeLink {
  /**
   * @param {HTMLAnchorElement} link
   * @param {import("../model.js").ViewerModel} model
   */
  constructor(link, model) {
    this.link = link;
    this.model = model;
    this._unsubscribe = model.subscribe((reason) => {
      if (reason === "image" || reason === "masks") this.render();
    });
    this.render();
  }

  render() {
    const stack = (this.model.image?.depth ?? 1) > 1;
    this.link.hidden = stack || this.model.masks === null;
  }

  destroy() {
    this._unsubscribe();
  }
}
