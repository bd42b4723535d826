/**
 * The image page (templates/pages/image_detail.html): wiring only. It builds the
 * model, the canvas renderer and its layers, the tools, and the side panels, and
 * connects them to the API.
 */
import { ApiClient, ApiError, describeImage } from "../api.js";
import { decodeMasks } from "../codec.js";
import { bindShortcuts } from "../controller/keyboard.js";
import { RasterLoader } from "../controller/rasters.js";
import { ViewerModel } from "../model.js";
import { PanZoomTool } from "../tools/panZoom.js";
import { PointerRouter } from "../tools/pointer.js";
import { ToolRegistry } from "../tools/registry.js";
import { DisplayPanel } from "../ui/displayPanel.js";
import { DownloadMenu } from "../ui/downloadMenu.js";
import { Notice } from "../ui/notice.js";
import { PlaneSlider } from "../ui/planeSlider.js";
import { SegmentPanel } from "../ui/segmentPanel.js";
import { renderShortcuts } from "../ui/shortcuts.js";
import { StatusBar } from "../ui/statusBar.js";
import { ThresholdPanel } from "../ui/thresholdPanel.js";
import { ImageLayer, MaskOverlayLayer, RasterLayer, ScaleDiskLayer } from "../view/layers.js";
import { Renderer } from "../view/renderer.js";

const RESULT_RASTERS = ["flows", "cellprob"];

export async function startImagePage(root) {
  const $ = (selector) => root.querySelector(selector);
  const imageId = root.dataset.imageId;
  const api = new ApiClient();
  const model = new ViewerModel();
  const notice = new Notice($("[data-role=viewer-notice]"));

  // View: the canvas layers, bottom to top.
  const canvas = $("canvas");
  const renderer = new Renderer(canvas, model, [
    new ImageLayer(),
    new RasterLayer("flows"),
    new RasterLayer("cellprob"),
    new MaskOverlayLayer(),
    new ScaleDiskLayer(),
  ]);

  // Tools: navigation now; the annotation editor registers its tools here.
  const tools = new ToolRegistry({ model });
  tools.register("pan", (context) => new PanZoomTool(context), { label: "Pan and zoom" });
  tools.activate("pan");
  new PointerRouter(canvas, { model, tools, navigator: new PanZoomTool({ model }) });
  bindShortcuts(model);

  // The canvas fills its box; fit the image the first time the box has a size.
  const stage = $("[data-role=stage]");
  let fitted = false;
  const resize = () => {
    model.setViewport(stage.clientWidth, stage.clientHeight);
    if (!fitted && model.image && stage.clientWidth > 0) {
      model.fit();
      fitted = true;
    }
  };
  new ResizeObserver(resize).observe(stage);
  $("[data-action=zoom-in]").addEventListener("click", () => model.zoomBy(1.25));
  $("[data-action=zoom-out]").addEventListener("click", () => model.zoomBy(1 / 1.25));
  $("[data-action=fit]").addEventListener("click", () => model.fit());

  // Side panels and status line.
  new StatusBar({ count: $("[data-role=cell-count]"), hover: $("[data-role=hover]"), zoom: $("[data-role=zoom]") }, model);
  new DisplayPanel($("[data-panel=display]"), model);
  new PlaneSlider($("[data-role=plane]"), model);
  new DownloadMenu($("[data-role=downloads]"), model);
  renderShortcuts($("[data-role=shortcuts]"));

  // Debug and test handle (browser tests and benchmarks read it; the page never does).
  window.cellposeViewer = { model, renderer, tools };

  let image;
  try {
    image = describeImage(await api.getImage(imageId));
  } catch (error) {
    const message = error instanceof ApiError && error.status === 404 ? "This image does not exist, or is not yours." : error.message;
    notice.show(message);
    root.dataset.state = "error";
    return;
  }
  model.setImage(image);
  model.setPlane(Math.floor(image.depth / 2)); // the server's thumbnails show the middle plane too
  $("[data-role=image-name]").textContent = image.name;
  document.title = `${image.name} · Cellpose Web`;
  const rasters = new RasterLoader(model, api, {
    onError: (message, kind) =>
      notice.show(kind === "image" ? `Could not load the image: ${message}` : message, { source: `raster:${kind}` }),
  });
  // A flows/cellprob message concerns that view only.
  model.subscribe((reason) => {
    if (reason === "layers" && notice.source?.startsWith("raster:") && notice.source !== `raster:${model.view.background}`) {
      notice.clear();
    }
  });
  rasters.ensure();
  resize();

  const thresholds = new ThresholdPanel($("[data-panel=threshold]"), {
    api,
    imageId,
    onResult: () => loadMasks(),
  });

  async function loadMasks() {
    const annotation = await api.getAnnotation(imageId);
    if (!annotation) {
      model.setMasks(null);
      thresholds.setEnabled(false);
      return;
    }
    const { labels, shape } = await decodeMasks(annotation.masks);
    model.setMasks({ labels, shape, count: annotation.n_masks, version: annotation.version });
    thresholds.setEnabled(true);
  }

  new SegmentPanel($("[data-panel=segment]"), {
    api,
    imageId,
    model,
    onSucceeded: (job, options) => {
      notice.clear();
      rasters.reset(...RESULT_RASTERS);
      thresholds.setValues(options);
      showMasks();
    },
  });

  async function showMasks() {
    try {
      await loadMasks();
    } catch (error) {
      notice.show(`Could not load the masks: ${error.message}`, { source: "masks" });
    }
  }
  await showMasks();
  root.dataset.state = "ready";
}

const root = document.querySelector("[data-page=image]");
if (root) startImagePage(root);
