/**
 * The tiled image page (templates/pages/slide.html): wiring only. Large images
 * (GET /api/images/<id>/pyramid/ says tiled) are viewed here from their tiles:
 * pan, zoom, the Z plane of volumes, the masks/outlines overlay from label tiles,
 * and the Segment panel. The image page sends tiled images here; this page sends
 * small ones back there.
 */
import { ApiClient, ApiError } from "../api.js";
import { bindShortcuts, GESTURES, SHORTCUTS } from "../controller/keyboard.js";
import { ViewerModel } from "../model.js";
import { chooseLevel, describePyramid } from "../tiles/grid.js";
import { regionInView } from "../tiles/region.js";
import { TileRenderer } from "../tiles/renderer.js";
import { TileStore } from "../tiles/store.js";
import { PanZoomTool } from "../tools/panZoom.js";
import { PointerRouter } from "../tools/pointer.js";
import { ToolRegistry } from "../tools/registry.js";
import { Notice } from "../ui/notice.js";
import { PlaneSlider } from "../ui/planeSlider.js";
import { SegmentPanel } from "../ui/segmentPanel.js";
import { renderShortcuts } from "../ui/shortcuts.js";
import { OverlayPanel, SlideStatus } from "../ui/slidePanels.js";
import { bindStage } from "../ui/stage.js";

/** The viewer's keys that make sense for tiles: overlays, zoom, fit, Z planes (no flows, no colour modes). */
const SLIDE_KEYS = new Set(["X", "Z", "+", "-", "F", "A", "D"]);
export const SLIDE_SHORTCUTS = SHORTCUTS.filter((s) => s.keys.some((key) => SLIDE_KEYS.has(key)));

export async function startSlidePage(root) {
  const $ = (selector) => root.querySelector(selector);
  const imageId = root.dataset.imageId;
  const api = new ApiClient();
  const notice = new Notice($("[data-role=viewer-notice]"));

  let image;
  let pyramid;
  try {
    [image, pyramid] = await Promise.all([api.getImage(imageId), api.getPyramid(imageId)]);
  } catch (error) {
    const message = error instanceof ApiError && error.status === 404 ? "This image does not exist, or is not yours." : error.message;
    notice.show(message);
    root.dataset.state = "error";
    return;
  }
  if (!pyramid?.tiled) {
    location.replace(root.dataset.imagePageUrl); // a small image: the usual viewer
    return;
  }
  try {
    pyramid = describePyramid(pyramid);
  } catch (error) {
    notice.show(`Could not show this image: ${error.message}`);
    root.dataset.state = "error";
    return;
  }

  const model = new ViewerModel();
  model.setImage({ id: image.id, name: image.name, width: pyramid.width, height: pyramid.height, depth: pyramid.depth, channels: pyramid.channels });
  model.setPlane(Math.floor(pyramid.depth / 2));
  $("[data-role=image-name]").textContent = image.name;
  document.title = `${image.name} · Cellpose Web`;

  const store = new TileStore({
    pyramid,
    imageUrl: (level, z, col, row) => api.tileUrl(imageId, level, z, col, row),
    labelUrl: (key, level, z, col, row) => api.labelTileUrl(imageId, key, level, z, col, row),
  });
  const canvas = $("canvas");
  const renderer = new TileRenderer(canvas, model, store);
  const syncStyle = () => store.setStyle({ showMasks: model.view.showMasks, showOutlines: model.view.showOutlines, opacity: model.view.opacity });
  model.subscribe((reason) => {
    if (reason === "layers") syncStyle();
  });
  syncStyle();
  store.subscribe((reason, detail) => {
    if (reason === "error") {
      const what = detail.kind === "image" ? "image tiles" : "mask tiles";
      notice.show(`Some ${what} could not be loaded: ${detail.error.message}`, { source: `tiles:${detail.kind}` });
    }
  });

  // Navigation only: the wheel zooms around the cursor, a drag pans, double-click fits.
  const tools = new ToolRegistry({ model });
  tools.register("pan", (context) => new PanZoomTool(context), { label: "Pan", key: "H" });
  tools.activate("pan");
  new PointerRouter(canvas, { model, tools, navigator: new PanZoomTool({ model }) });
  bindShortcuts(model, { shortcuts: SLIDE_SHORTCUTS });
  renderShortcuts($("[data-role=shortcuts]"), [...SLIDE_SHORTCUTS, ...GESTURES]);

  bindStage($("[data-role=stage]"), model)();

  new PlaneSlider($("[data-role=plane]"), model);
  new SlideStatus({ hover: $("[data-role=hover]"), zoom: $("[data-role=zoom]") }, model, {
    level: () => chooseLevel(pyramid, model.transform.scale * (globalThis.devicePixelRatio || 1)),
  });
  const overlays = new OverlayPanel($("[data-panel=display]"), model, { onLabels: (key) => store.setLabelKey(key) });
  overlays.setLabelKeys(pyramid.labels, pyramid.latestLabels);

  // "Edit this region": the canvas editor on the rectangle in view (pages/regionEditor.js).
  const editButton = $("[data-action=edit-region]");
  const editNote = $("[data-role=edit-note]");
  const maxSide = Number(root.dataset.editMaxSide) || 2048;
  const editState = () => {
    const { problem } = regionInView(model.transform, model.viewport, pyramid, maxSide);
    const noMasks = !pyramid.latestLabels;
    editButton.disabled = Boolean(problem) || noMasks;
    editNote.textContent = noMasks ? "Segment the image first: then its masks can be edited region by region." : problem ?? "";
    editNote.hidden = !editNote.textContent;
  };
  model.subscribe((reason) => {
    if (reason === "transform" || reason === "viewport") editState();
  });
  editButton.addEventListener("click", () => {
    const { region } = regionInView(model.transform, model.viewport, pyramid, maxSide);
    if (!region) return;
    const query = new URLSearchParams(Object.entries({ ...region, z: model.view.z }).map(([k, v]) => [k, String(v)]));
    location.assign(`${root.dataset.regionPageUrl}?${query}`);
  });

  const segmentPanel = new SegmentPanel($("[data-panel=segment]"), {
    api,
    imageId,
    model,
    onSucceeded: async () => {
      // The job wrote a new label image: list it and show it.
      try {
        const fresh = describePyramid(await api.getPyramid(imageId));
        pyramid.latestLabels = fresh.latestLabels;
        overlays.setLabelKeys(fresh.labels, fresh.latestLabels);
        editState();
        notice.clear("masks");
      } catch (error) {
        notice.show(`Could not load the new masks: ${error.message}`, { source: "masks" });
      }
    },
  });

  // A job started before the page opened (e.g. "Segment after upload") shows here as it runs.
  segmentPanel.resume().catch((error) =>
    notice.show(`Could not look for a running segmentation: ${error.message}`, { kind: "info", source: "jobs" }));

  // Debug and test handle (browser tests and benchmarks read it; the page never does).
  editState();
  window.cellposeSlide = { model, renderer, store };
  root.dataset.state = "ready";
}

const root = document.querySelector("[data-page=slide]");
if (root) startSlidePage(root);
