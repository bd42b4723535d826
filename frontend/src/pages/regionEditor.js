/**
 * The region editor of a large (tiled) image (templates/pages/region_editor.html): wiring only.
 * The slide viewer's "Edit this region" opens it on the rectangle in view. It is the image
 * page's canvas editor as it is (same tools, keys, undo, autosave and Ctrl+S) over one
 * rectangle at full resolution: its picture from GET /api/images/<id>/region.png, its labels
 * from GET .../annotation/region/, and saves to PUT .../annotation/region/, which stores only
 * the chunks that changed. Labels are the image's own ids; the server gives new cells ids above
 * the image-wide largest, so the region is read again after each save.
 */
import { ApiClient, ApiError } from "../api.js";
import { decodeMasks } from "../codec.js";
import { bindEditorKeys, EDITOR_GESTURES, EDITOR_SHORTCUTS, TOOLS } from "../controller/editorKeys.js";
import { bindShortcuts, GESTURES, SHORTCUTS } from "../controller/keyboard.js";
import { AnnotationSaver } from "../controller/saver.js";
import { ViewerModel } from "../model.js";
import { Notice } from "../ui/notice.js";
import { SaveStatus } from "../ui/saveStatus.js";
import { renderShortcuts } from "../ui/shortcuts.js";
import { bindStage } from "../ui/stage.js";
import { EditorHint, Toolbar } from "../ui/toolbar.js";
import { SelectionLayer, SketchLayer } from "../view/editLayers.js";
import { ImageLayer, MaskOverlayLayer } from "../view/layers.js";
import { Renderer } from "../view/renderer.js";
import { regionFromQuery, regionSaveApi } from "../tiles/region.js";
import { editorOn } from "./imageEditor.js";

export async function startRegionEditor(root) {
  const $ = (selector) => root.querySelector(selector);
  const imageId = root.dataset.imageId;
  const api = new ApiClient();
  const notice = new Notice($("[data-role=viewer-notice]"));
  const region = regionFromQuery(location.search);
  const fail = (message) => {
    notice.show(message);
    root.dataset.state = "error";
  };
  if (!region) return fail("Open this editor from the large image's viewer: the region to edit is missing.");

  const model = new ViewerModel();
  const canvas = $("canvas");
  const renderer = new Renderer(canvas, model, [new ImageLayer(), new MaskOverlayLayer(), new SelectionLayer(), new SketchLayer()]);
  const { editor, tools } = editorOn(model, canvas);
  bindShortcuts(model);
  renderShortcuts($("[data-role=shortcuts]"), [...SHORTCUTS, ...EDITOR_SHORTCUTS, ...GESTURES, ...EDITOR_GESTURES]);

  const saver = new AnnotationSaver({ model, api: regionSaveApi(api, region), imageId });
  new SaveStatus($("[data-role=save-status]"), saver, null);
  new Toolbar($("[data-role=toolbar]"), { tools, editor, saver, entries: TOOLS });
  new EditorHint($("[data-role=editor-hint]"), editor);
  bindEditorKeys({ editor, tools, saver });
  window.cellposeRegion = { model, renderer, tools, editor, saver, region };

  let image;
  let pyramid;
  try {
    [image, pyramid] = await Promise.all([api.getImage(imageId), api.getPyramid(imageId)]);
  } catch (error) {
    return fail(error instanceof ApiError && error.status === 404 ? "This image does not exist, or is not yours." : error.message);
  }
  const place = `x ${region.x}–${region.x + region.width}, y ${region.y}–${region.y + region.height}` + (pyramid.depth > 1 ? `, plane ${region.z}` : "");
  $("[data-role=image-name]").textContent = `${image.name} · ${place}`;
  document.title = `${image.name} (region) · Cellpose Web`;
  model.setImage({ id: image.id, name: image.name, width: region.width, height: region.height, depth: 1, channels: Math.min(3, pyramid.channels) });

  /** Read the region's labels of the latest version into the editor (edits are dropped). */
  async function load() {
    const body = await api.getRegion(imageId, region);
    const { labels, shape } = await decodeMasks(body.masks);
    model.setMasks({ labels, shape, version: body.version });
    saver.reset(body.version);
    return body;
  }

  try {
    const [bitmap] = await Promise.all([api.fetchBitmap(api.regionPictureUrl(imageId, region)), load()]);
    model.setRaster("image", 0, bitmap);
  } catch (error) {
    return fail(`Could not open this region: ${error.message}`);
  }
  saver.subscribe(async (reason) => {
    if (reason !== "saved" || saver.dirty) return;
    try {
      await load(); // new cells now carry the ids the server gave them
    } catch (error) {
      notice.show(`Saved, but could not read the region again: ${error.message}`, { source: "reload" });
    }
  });
  $("[data-action=reload]").addEventListener("click", () => load().catch((error) => notice.show(error.message)));

  bindStage($("[data-role=stage]"), model)();
  root.dataset.state = "ready";
}

const root = document.querySelector("[data-page=region]");
if (root) startRegionEditor(root);
