/**
 * The image page (templates/pages/image_detail.html): wiring only. It builds the
 * model, the canvas renderer and its layers, the tools, and the side panels, and
 * connects them to the API.
 */
import { ApiClient, ApiError, describeImage } from "../api.js";
import { CellsPanel } from "../cells/cellsPanel.js";
import { ChannelLoader } from "../channels/channelLoader.js";
import { ChannelPanel } from "../channels/channelPanel.js";
import { bindChannelSettings } from "../channels/channelSettings.js";
import { IntensityReadout } from "../channels/intensityReadout.js";
import { decodeMasks } from "../codec.js";
import { EDITOR_GESTURES, EDITOR_SHORTCUTS } from "../controller/editorKeys.js";
import { browserStorage } from "../controller/localSettings.js";
import { bindShortcuts, GESTURES, SHORTCUTS } from "../controller/keyboard.js";
import { RasterLoader } from "../controller/rasters.js";
import { ViewerModel } from "../model.js";
import { DisplayPanel } from "../ui/displayPanel.js";
import { ContributeLink } from "../ui/contributeLink.js";
import { DownloadMenu } from "../ui/downloadMenu.js";
import { ImportMasks } from "../ui/importMasks.js";
import { Notice } from "../ui/notice.js";
import { PlaneSlider } from "../ui/planeSlider.js";
import { SegmentPanel } from "../ui/segmentPanel.js";
import { renderShortcuts } from "../ui/shortcuts.js";
import { bindStage } from "../ui/stage.js";
import { StatusBar } from "../ui/statusBar.js";
import { ThresholdPanel } from "../ui/thresholdPanel.js";
import { SelectionLayer, SketchLayer } from "../view/editLayers.js";
import { ImageLayer, MaskOverlayLayer, RasterLayer, ScaleDiskLayer } from "../view/layers.js";
import { Renderer } from "../view/renderer.js";
import { editorOn, startEditing } from "./imageEditor.js";

const RESULT_RASTERS = ["flows", "cellprob"];

export async function startImagePage(root) {
  const $ = (selector) => root.querySelector(selector);
  const imageId = root.dataset.imageId;
  const api = new ApiClient();
  const model = new ViewerModel();
  const notice = new Notice($("[data-role=viewer-notice]"));
  // Large images are tiled and have their own viewer (pages/slide.js); asked alongside the image.
  /** @type {Promise<{pyramid?: any, error?: Error}>} */
  const tiling = api.getPyramid(imageId).then((pyramid) => ({ pyramid }), (error) => ({ error }));

  // View: the canvas layers, bottom to top.
  const canvas = $("canvas");
  const renderer = new Renderer(canvas, model, [
    new ImageLayer(),
    new RasterLayer("flows"),
    new RasterLayer("cellprob"),
    new MaskOverlayLayer(),
    new SelectionLayer(),
    new ScaleDiskLayer(),
    new SketchLayer(),
  ]);

  // Tools: navigation and the annotation editor's; edits go through the editor's history.
  const { editor, tools } = editorOn(model, canvas);
  bindShortcuts(model);

  // The canvas fills its box; fit the image the first time the box has a size.
  const resize = bindStage($("[data-role=stage]"), model, { ready: () => Boolean(model.image) });

  // Side panels and status line.
  new StatusBar({ count: $("[data-role=cell-count]"), hover: $("[data-role=hover]"), zoom: $("[data-role=zoom]") }, model);
  new DisplayPanel($("[data-panel=display]"), model);
  new ChannelPanel($("[data-role=channel-levels]"), model);
  new IntensityReadout($("[data-role=intensity]"), model);
  new CellsPanel($("[data-panel=cells]"), model);
  bindChannelSettings(model, browserStorage());
  new PlaneSlider($("[data-role=plane]"), model);
  new ContributeLink($("[data-role=contribute]"), model);
  renderShortcuts($("[data-role=shortcuts]"), [...SHORTCUTS, ...EDITOR_SHORTCUTS, ...GESTURES, ...EDITOR_GESTURES]);

  // Debug and test handle (browser tests and benchmarks read it; the page never does).
  window.cellposeViewer = { model, renderer, tools, editor };

  let image;
  try {
    image = describeImage(await api.getImage(imageId));
  } catch (error) {
    const message = error instanceof ApiError && error.status === 404 ? "This image does not exist, or is not yours." : error.message;
    notice.show(message);
    root.dataset.state = "error";
    return;
  }
  const { pyramid, error } = await tiling;
  if (error) {
    notice.show(`Could not load the image: ${error.message}`);
    root.dataset.state = "error";
    return;
  }
  if (pyramid?.tiled) {
    location.replace(root.dataset.slideUrl);
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
  new ChannelLoader(model, api, { onError: (message) => notice.show(message, { kind: "info", source: "channels" }) }).ensure();
  resize();

  const thresholds = new ThresholdPanel($("[data-panel=threshold]"), {
    api,
    imageId,
    guard: () => editing.guard(),
    onResult: async () => editing.replaced(await loadMasks()),
  });

  /** @type {SegmentPanel|null} */
  let segmentPanel = null;

  /** Put the current annotation (or an older version) in the model; returns it (null: none). */
  async function loadMasks(version) {
    const annotation = await api.getAnnotation(imageId, { version });
    if (!annotation) {
      model.setMasks(null);
      thresholds.setEnabled(false);
      return null;
    }
    const { labels, shape } = await decodeMasks(annotation.masks);
    model.setMasks({ labels, shape, version: annotation.version, origins: annotation.origins });
    thresholds.setEnabled(true);
    if (annotation.recipe) thresholds.setValues(annotation.recipe);
    segmentPanel?.restore(annotation.recipe ?? null);
    return annotation;
  }

  const editing = startEditing({ root, model, editor, tools, api, imageId, notice, loadMasks });
  window.cellposeViewer.saver = editing.saver;
  new DownloadMenu($("[data-role=downloads]"), model, { saver: editing.saver, shown: editing.shownVersion });
  new ImportMasks($("[data-role=import]"), {
    api,
    imageId,
    guard: () => editing.guard(),
    onImported: async () => {
      notice.clear();
      editing.replaced(await showMasks());
    },
  });

  segmentPanel = new SegmentPanel($("[data-panel=segment]"), {
    api,
    imageId,
    model,
    guard: () => editing.guard(),
    onSucceeded: async () => {
      notice.clear();
      rasters.reset(...RESULT_RASTERS);
      editing.replaced(await showMasks());
    },
  });

  async function showMasks() {
    try {
      return await loadMasks();
    } catch (error) {
      notice.show(`Could not load the masks: ${error.message}`, { source: "masks" });
      editor.setReadOnly("The masks could not be loaded: reload the page before editing.");
      return null;
    }
  }
  await editing.begin(await showMasks());
  // A job started before the page opened (e.g. "Segment after upload") shows here as it runs.
  await segmentPanel.resume().catch((error) =>
    notice.show(`Could not look for a running segmentation: ${error.message}`, { kind: "info", source: "jobs" }));
  root.dataset.state = "ready";
}

const root = document.querySelector("[data-page=image]");
if (root) startImagePage(root);
