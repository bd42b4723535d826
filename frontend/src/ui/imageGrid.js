/**
 * The grid of image cards with selection. Renders one page of GET /api/images/
 * results; selection is kept by id across re-renders of the same page.
 */
import { describeImageMeta } from "./format.js";

export class ImageGridView {
  /**
   * @param {HTMLUListElement} grid
   * @param {HTMLTemplateElement} template one card (see image_list.html)
   * @param {{pageUrl: (id: number) => string, thumbnailUrl: (id: number) => string,
   *          onDelete: (image: object) => void, onSelectionChange: (ids: number[]) => void,
   *          user?: string}} deps user: who is looking (cards of other owners' images name the owner)
   */
  constructor(grid, template, { pageUrl, thumbnailUrl, onDelete, onSelectionChange, user = "" }) {
    this.user = user;
    this.grid = grid;
    this.template = template;
    this.pageUrl = pageUrl;
    this.thumbnailUrl = thumbnailUrl;
    this.onDelete = onDelete;
    this.onSelectionChange = onSelectionChange;
    this.images = [];
    this.selected = new Set();
  }

  /** @param {object[]} images the page's results */
  render(images) {
    this.images = images;
    const ids = new Set(images.map((image) => image.id));
    for (const id of [...this.selected]) if (!ids.has(id)) this.selected.delete(id);
    this.grid.replaceChildren(...images.map((image) => this._card(image)));
    this.onSelectionChange(this.selectedIds());
  }

  _card(image) {
    const card = /** @type {HTMLElement} */ (this.template.content.firstElementChild.cloneNode(true));
    card.dataset.imageId = String(image.id);
    for (const link of card.querySelectorAll("[data-role=link]")) {
      /** @type {HTMLAnchorElement} */ (link).href = this.pageUrl(image.id);
    }
    /** @type {HTMLImageElement} */
    const thumb = card.querySelector("[data-role=thumb]");
    thumb.src = this.thumbnailUrl(image.id);
    thumb.alt = `Thumbnail of ${image.name}`;
    card.querySelector("[data-field=name]").textContent = image.name;
    card.querySelector("[data-field=meta]").textContent = describeImageMeta(image);
    /** @type {HTMLElement} */
    const owner = card.querySelector("[data-field=owner]");
    if (owner) {
      owner.hidden = !image.owner || image.owner === this.user;
      owner.textContent = image.owner ? `Owner: ${image.owner}` : "";
    }
    /** @type {HTMLInputElement} */
    const checkbox = card.querySelector("[data-role=select]");
    checkbox.checked = this.selected.has(image.id);
    card.classList.toggle("is-selected", checkbox.checked);
    checkbox.addEventListener("change", () => this.select(image.id, checkbox.checked));
    card.querySelector("[data-action=delete]").addEventListener("click", () => this.onDelete(image));
    return card;
  }

  select(id, selected) {
    if (selected) this.selected.add(id);
    else this.selected.delete(id);
    const card = this.grid.querySelector(`[data-image-id="${id}"]`);
    if (card) {
      card.classList.toggle("is-selected", selected);
      /** @type {HTMLInputElement} */
      const checkbox = card.querySelector("[data-role=select]");
      checkbox.checked = selected;
    }
    this.onSelectionChange(this.selectedIds());
  }

  selectAll(selected) {
    for (const image of this.images) this.select(image.id, selected);
  }

  selectedIds() {
    return [...this.selected];
  }
}
