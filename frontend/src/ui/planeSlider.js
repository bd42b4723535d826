/** The Z-slider of stacks (hidden for 2D images). */
export class PlaneSlider {
  /**
   * @param {HTMLElement} root contains input[type=range][name="z"] and an <output>
   * @param {import("../model.js").ViewerModel} model
   */
  constructor(root, model) {
    this.root = root;
    this.model = model;
    /** @type {HTMLInputElement} */
    this.input = root.querySelector('[name="z"]');
    this.output = root.querySelector("output");
    this.input.addEventListener("input", () => model.setPlane(Number(this.input.value)));
    this._unsubscribe = model.subscribe((reason) => {
      if (reason === "image" || reason === "plane") this.render();
    });
    this.render();
  }

  render() {
    const depth = this.model.image?.depth ?? 1;
    this.root.hidden = depth < 2;
    this.input.max = String(depth - 1);
    this.input.value = String(this.model.view.z);
    this.output.textContent = `${this.model.view.z + 1} / ${depth}`;
  }

  destroy() {
    this._unsubscribe();
  }
}
