/**
 * The canvas's box (the "stage"): the model's viewport follows the box's size, the picture is
 * fitted the first time the box has a size and there is something to fit, and the zoom buttons
 * (data-action zoom-in, zoom-out, fit under `root`) zoom the model.
 */

/**
 * @param {HTMLElement} stage the box the canvas fills
 * @param {{setViewport: (w: number, h: number) => void, fit: () => void, zoomBy: (f: number) => void}} model
 * @param {{root?: ParentNode, ready?: () => boolean}} [options]
 *   root: where the zoom buttons are (the document); ready: whether there is a picture to fit yet
 * @returns {() => void} resize: call it once the picture has arrived, to fit it
 */
export function bindStage(stage, model, { root = document, ready = () => true } = {}) {
  let fitted = false;
  const resize = () => {
    model.setViewport(stage.clientWidth, stage.clientHeight);
    if (!fitted && ready() && stage.clientWidth > 0) {
      model.fit();
      fitted = true;
    }
  };
  new ResizeObserver(resize).observe(stage);
  const button = (action) => root.querySelector(`[data-action=${action}]`);
  button("zoom-in").addEventListener("click", () => model.zoomBy(1.25));
  button("zoom-out").addEventListener("click", () => model.zoomBy(1 / 1.25));
  button("fit").addEventListener("click", () => model.fit());
  return resize;
}
