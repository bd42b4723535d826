/**
 * The annotation editor on the image page: wiring only. It registers the editing
 * tools, binds the keys, and connects saving (autosave, Ctrl+S, conflicts merged
 * three ways), the browser copy of unsaved edits (recovery after a reload or a
 * crash) and the versions panel (show and restore older versions).
 */
import { replaceLabels } from "../commands/maskEdits.js";
import { EditBackup, tabId } from "../controller/backup.js";
import { bindEditorKeys, TOOLS } from "../controller/editorKeys.js";
import { IdbStore } from "../controller/idbStore.js";
import { Editor } from "../editor.js";
import { NewerVersionWatch } from "../controller/newerVersion.js";
import { AnnotationSaver } from "../controller/saver.js";
import { BrushTool } from "../tools/brush.js";
import { DrawTool } from "../tools/draw.js";
import { OutlineTool } from "../tools/outline.js";
import { PanZoomTool } from "../tools/panZoom.js";
import { MaskClicks } from "../tools/maskClicks.js";
import { PointerRouter } from "../tools/pointer.js";
import { ToolRegistry } from "../tools/registry.js";
import { SelectTool } from "../tools/select.js";
import { SplitTool } from "../tools/split.js";
import { MergeDialog } from "../merge/mergeDialog.js";
import { RecoveryDialog, SaveStatus } from "../ui/saveStatus.js";
import { NewerVersionNote } from "../ui/newerVersionNote.js";
import { EditorHint, Toolbar } from "../ui/toolbar.js";
import { VersionsPanel } from "../ui/versionsPanel.js";

const FACTORIES = {
  pan: (context) => new PanZoomTool(context),
  select: (context) => new SelectTool(context),
  draw: (context) => new DrawTool(context),
  brush: (context) => new BrushTool(context),
  eraser: (context) => new BrushTool(context, { erase: true }),
  split: (context) => new SplitTool(context),
  outline: (context) => new OutlineTool(context),
};

/**
 * The editor on `canvas`: its history, every tool of the toolbar (controller/editorKeys.js TOOLS)
 * with pan active, and the pointer routing (left button: the active tool, clicks on masks;
 * right button: draw, in any mode, as in the Cellpose GUI).
 * @param {import("../model.js").ViewerModel} model
 * @param {HTMLCanvasElement} canvas
 * @returns {{editor: Editor, tools: ToolRegistry}}
 */
export function editorOn(model, canvas) {
  const editor = new Editor(model);
  const tools = new ToolRegistry({ model, editor });
  for (const { name, key, label } of TOOLS) tools.register(name, FACTORIES[name], { label, key });
  tools.activate("pan");
  new PointerRouter(canvas, {
    model, tools, navigator: new PanZoomTool({ model }), clicks: new MaskClicks({ model, editor }),
    rightButton: new DrawTool({ model, editor }, { traceOnly: true }),
  });
  return { editor, tools };
}

/**
 * @param {{root: HTMLElement, model: import("../model.js").ViewerModel, editor: import("../editor.js").Editor,
 *          tools: import("../tools/registry.js").ToolRegistry, api: import("../api.js").ApiClient,
 *          imageId: string, notice: import("../ui/notice.js").Notice,
 *          loadMasks: (version?: number) => Promise<object|null>}} deps
 *   loadMasks: puts the current annotation (or a version) in the model and returns it
 */
export function startEditing({ root, model, editor, tools, api, imageId, notice, loadMasks }) {
  const $ = (selector) => root.querySelector(selector);
  const backup = new EditBackup({ store: new IdbStore(), imageId, tab: tabId() });
  const saver = new AnnotationSaver({ model, api, imageId, backup });
  new SaveStatus($("[data-role=save-status]"), saver, backup);
  new Toolbar($("[data-role=toolbar]"), { tools, editor, saver, entries: TOOLS });
  new EditorHint($("[data-role=editor-hint]"), editor);
  bindEditorKeys({ editor, tools, saver });

  const busyWith = () => {
    if (saver.dirty || saver.state.status === "saving") return "Save (Ctrl+S) or undo your edits first.";
    return null;
  };
  const preview = $("[data-role=preview]");
  const versions = new VersionsPanel($("[data-panel=versions]"), {
    api,
    imageId,
    canChange: busyWith,
    onShow: (version) => show(version),
    onRestore: (version) => restore(version),
  });
  saver.subscribe((reason) => reason === "saved" && versions.refresh());

  /** The current version is on show again (not an older one), and may be edited. */
  function showingCurrent(annotation) {
    saver.reset(annotation?.version ?? 0);
    editor.setReadOnly(null);
    preview.hidden = true;
    versions.setShown(null);
    return versions.refresh();
  }

  /** Load the current version, dropping any edits (the person chose to). */
  async function loadLatest() {
    const annotation = await loadMasks();
    await backup.clear();
    await showingCurrent(annotation);
  }

  async function show(version) {
    try {
      saver.pause();
      await loadMasks(version);
      editor.setReadOnly(`Version ${version} is on show, read-only: go back to the current version to edit.`);
      preview.querySelector("[data-role=preview-message]").textContent = `Showing version ${version} (read-only).`;
      preview.hidden = false;
      versions.setShown(version);
    } catch (error) {
      notice.show(`Could not show version ${version}: ${error.message}`, { source: "versions" });
      await loadLatest();
    }
  }

  async function restore(version) {
    try {
      await api.restoreVersion(imageId, version, { base: saver.version });
      await loadLatest();
      notice.clear("versions");
    } catch (error) {
      notice.show(`Could not restore version ${version}: ${error.message}`, { source: "versions" });
    }
  }

  preview.querySelector("[data-action=back-to-current]").addEventListener("click", () => loadLatest());
  preview.querySelector("[data-action=restore-shown]").addEventListener("click", () => restore(versions.shown));
  new MergeDialog($("[data-role=conflict]"), { saver, model, editor, api, imageId, onLoadTheirs: () => loadLatest() });
  const recovery = new RecoveryDialog($("[data-role=recovery]"));
  const watch = new NewerVersionWatch({ api, imageId, saver, shown: () => versions.shown ?? null });
  new NewerVersionNote($("[data-role=newer-version]"), { watch, onLoad: () => loadLatest() });

  /** Put recovered edits back: on their own version as an undoable step, else on top of it. */
  async function recover(records) {
    const [record] = records;
    await backup.discard(records);
    editor.ensureMasks();
    if (record.labels.length !== model.masks.labels.length) {
      notice.show("The kept edits do not fit this image's masks; they were dropped.", { source: "recovery" });
      return;
    }
    if ((record.baseVersion ?? 0) === saver.version) {
      editor.execute(replaceLabels(model, record.labels, record.origins), "The kept edits match the saved masks.");
    } else {
      model.setMasks({ labels: record.labels, shape: record.shape, origins: record.origins });
      saver.reset(record.baseVersion ?? 0, { dirty: true }); // saving shows the conflict with the newer version
    }
  }

  return {
    saver,
    /** The older version on show (read-only), or null while the current one is. */
    shownVersion: () => versions.shown ?? null,
    /** Why masks must not be replaced now (a segmentation or re-threshold), or null. */
    guard: busyWith,

    /** The page has loaded the current masks: start saving, and offer edits kept in this browser. */
    async begin(annotation) {
      saver.reset(annotation?.version ?? 0);
      versions.refresh();
      try {
        await backup.start();
        const records = await backup.recoverable();
        if (records.length) {
          recovery.offer(records[0], { onRecover: () => recover(records), onDiscard: () => backup.discard(records) });
        }
      } catch (error) {
        notice.show(`Could not look for edits kept in this browser: ${error.message}`, { source: "recovery" });
      }
    },

    /** New masks came from the server (segmentation, re-threshold). */
    replaced(annotation) {
      if (annotation) showingCurrent(annotation);
    },
  };
}
