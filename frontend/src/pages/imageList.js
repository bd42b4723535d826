/**
 * The image list page (templates/pages/image_list.html): wiring only. Uploads,
 * the grid with search and pages, deletion, and batch segmentation of a selection.
 */
import { ApiClient } from "../api.js";
import { JobMonitor } from "../controller/jobs.js";
import { coalesce } from "../controller/coalesce.js";
import { browserStorage, readSetting, writeSetting } from "../controller/localSettings.js";
import { ResumeStore } from "../controller/chunkedUpload.js";
import { UploadQueue } from "../controller/uploads.js";
import { bindDropzone } from "../ui/dropzone.js";
import { ImageGridView } from "../ui/imageGrid.js";
import { JobStatusView } from "../ui/jobStatus.js";
import { bindDiameterFields, fillModelChoices, readSegmentOptions } from "../ui/segmentOptions.js";
import { UploadListView } from "../ui/uploadList.js";

function debounce(fn, ms) {
  let timer = null;
  return (...args) => {
    clearTimeout(timer);
    timer = setTimeout(() => fn(...args), ms);
  };
}

function plural(n, one, many) {
  return `${n.toLocaleString()} ${n === 1 ? one : many}`;
}

export function startImageList(root) {
  const $ = (selector) => root.querySelector(selector);
  const api = new ApiClient();
  const params = new URLSearchParams(location.search);
  const state = { search: params.get("search") ?? "", owner: params.get("owner") ?? "", page: Math.max(1, Number(params.get("page")) || 1), pageSize: null };
  const pageUrl = (id) => root.dataset.imagePage.replace(/0\/?$/, `${id}/`);
  const listError = $("[data-role=list-error]");
  const showError = (message) => {
    listError.hidden = !message;
    listError.textContent = message || "";
  };

  // ---- the grid, search and pages --------------------------------------------
  const deleteButton = $("[data-action=delete-selected]");
  const segmentButton = $("[data-action=segment-selected]");
  const selectAll = $("[data-role=select-all]");
  const grid = new ImageGridView($("[data-role=grid]"), $("[data-role=card-template]"), {
    pageUrl,
    user: root.dataset.user ?? "",
    thumbnailUrl: (id) => api.thumbnailUrl(id),
    onDelete: (image) => deleteImages([image]),
    onSelectionChange: (ids) => {
      $("[data-role=selection]").textContent = ids.length ? `${plural(ids.length, "image", "images")} selected` : "";
      deleteButton.disabled = segmentButton.disabled = ids.length === 0;
      selectAll.checked = ids.length > 0 && ids.length === grid.images.length;
      selectAll.indeterminate = ids.length > 0 && ids.length < grid.images.length;
    },
  });
  selectAll.addEventListener("change", () => grid.selectAll(selectAll.checked));

  let listRequest = 0;
  async function load() {
    const request = ++listRequest;
    const query = new URLSearchParams();
    if (state.search) query.set("search", state.search);
    if (state.owner) query.set("owner", state.owner);
    if (state.page > 1) query.set("page", String(state.page));
    history.replaceState(null, "", `${location.pathname}${query.size ? `?${query}` : ""}`);
    let body;
    try {
      body = await api.listImages({ search: state.search, owner: state.owner || undefined, page: state.page > 1 ? state.page : undefined });
    } catch (error) {
      if (request !== listRequest) return;
      if (error.status === 404 && state.page > 1) {
        state.page = 1; // the page emptied (deletions): show the first one
        load();
        return;
      }
      showError(`Could not list the images: ${error.message}`);
      return;
    }
    if (request !== listRequest) return;
    showError("");
    grid.render(body.results);
    if (body.next) state.pageSize = body.results.length;
    const pages = state.pageSize ? Math.max(1, Math.ceil(body.count / state.pageSize)) : state.page;
    $("[data-role=total]").textContent = state.search
      ? `${plural(body.count, "image matches", "images match")} “${state.search}”`
      : plural(body.count, "image", "images");
    const empty = $("[data-role=empty]");
    empty.hidden = body.results.length > 0;
    empty.textContent = state.search ? "No image matches your search." : "No images yet. Drop some above to start.";
    $("[data-role=toolbar]").hidden = body.results.length === 0;
    $("[data-role=pagination]").hidden = !body.next && !body.previous;
    $("[data-role=page-label]").textContent = `Page ${state.page} of ${pages}`;
    $("[data-action=previous-page]").disabled = !body.previous;
    $("[data-action=next-page]").disabled = !body.next;
  }

  const searchInput = $("[data-role=search] input[name=search]");
  /** @type {HTMLInputElement|null} */
  const ownerInput = $("[data-role=search] input[name=owner]"); // administrators only
  searchInput.value = state.search;
  if (ownerInput) ownerInput.value = state.owner;
  const searchNow = () => {
    state.search = searchInput.value.trim();
    state.owner = ownerInput?.value.trim() ?? "";
    state.page = 1;
    load();
  };
  searchInput.addEventListener("input", debounce(searchNow, 250));
  ownerInput?.addEventListener("input", debounce(searchNow, 250));
  $("[data-role=search]").addEventListener("submit", (event) => {
    event.preventDefault();
    searchNow();
  });
  $("[data-action=previous-page]").addEventListener("click", () => {
    state.page = Math.max(1, state.page - 1);
    load();
  });
  $("[data-action=next-page]").addEventListener("click", () => {
    state.page += 1;
    load();
  });

  // ---- deletion ------------------------------------------------------------------
  async function deleteImages(images) {
    const what = images.length === 1 ? `“${images[0].name}”` : plural(images.length, "image", "images");
    if (!confirm(`Delete ${what}? Its masks and segmentation results are deleted too.`)) return;
    const failures = [];
    for (const image of images) {
      try {
        await api.deleteImage(image.id);
        grid.select(image.id, false);
      } catch (error) {
        failures.push(`${image.name}: ${error.message}`);
      }
    }
    await load();
    if (failures.length) showError(failures.join(" "));
  }
  deleteButton.addEventListener("click", () => {
    const ids = new Set(grid.selectedIds());
    deleteImages(grid.images.filter((image) => ids.has(image.id)));
  });

  // ---- uploads -------------------------------------------------------------------
  // Files over data-chunk-bytes (the server's chunk size) go in chunks and resume after a reload.
  const storage = browserStorage();
  const queue = new UploadQueue({
    url: api.uploadUrl(), csrfToken: () => api.csrfToken(),
    chunkBytes: () => Number(root.dataset.chunkBytes) || 0,
    chunked: { store: new ResumeStore(storage) },
  });
  new UploadListView($("[data-role=uploads]"), $("[data-role=upload-list]"), $("[data-role=upload-template]"), queue);
  // The first finished upload shows at once; a burst of them costs a few list requests.
  const reloadNow = coalesce(load, 300);
  // "Segment after upload": each stored image gets a job with the server's default options at
  // once, so the masks are on their way while the user opens the image (its page follows the job).
  const segmentOnUpload = /** @type {HTMLInputElement} */ ($("[data-role=segment-on-upload]"));
  const SEGMENT_ON_UPLOAD = "cellposeweb.segmentOnUpload";
  segmentOnUpload.checked = readSetting(storage, SEGMENT_ON_UPLOAD) === "1";
  segmentOnUpload.addEventListener("change", () => writeSetting(storage, SEGMENT_ON_UPLOAD, segmentOnUpload.checked ? "1" : "0"));
  queue.subscribe((reason, item) => {
    if (reason !== "uploaded") return;
    if (segmentOnUpload.checked && item.image) {
      api.segment(item.image.id, {}).then(reloadNow, (error) =>
        showError(`${item.name} was uploaded but could not be segmented: ${error.message}`));
    }
    reloadNow();
  });
  bindDropzone($("[data-role=dropzone]"), $("[data-role=file-input]"), (files) => queue.add(files));
  $("[data-action=clear-uploads]").addEventListener("click", () => queue.clearFinished());

  // ---- batch segmentation ------------------------------------------------------
  const dialog = $("[data-role=batch-dialog]");
  const dialogForm = dialog.querySelector("form");
  const dialogError = dialog.querySelector("[data-role=form-error]");
  const batchView = new JobStatusView($("[data-role=batch-job]"));
  let batchMonitor = null;
  const setDialogError = (message) => {
    dialogError.hidden = !message;
    dialogError.textContent = message || "";
  };
  api.listModels().then(
    (models) => fillModelChoices(dialogForm.elements.namedItem("model_version"), models),
    (error) => setDialogError(`Could not list the models: ${error.message}`),
  );
  bindDiameterFields(dialogForm, () => {});

  segmentButton.addEventListener("click", () => {
    $("[data-role=batch-count]").textContent = plural(grid.selectedIds().length, "image", "images");
    setDialogError("");
    dialog.showModal();
  });
  dialog.querySelector("[data-action=close-dialog]").addEventListener("click", () => dialog.close());
  dialogForm.addEventListener("submit", async (event) => {
    event.preventDefault();
    let options;
    try {
      options = readSegmentOptions(dialogForm);
    } catch (error) {
      setDialogError(error.message);
      return;
    }
    const run = dialogForm.querySelector("button[type=submit]");
    run.disabled = true;
    try {
      const job = await api.segmentMany(grid.selectedIds(), options);
      dialog.close();
      followBatch(job);
    } catch (error) {
      setDialogError(error.message);
    } finally {
      run.disabled = false;
    }
  });

  function followBatch(job) {
    batchMonitor?.stop();
    const monitor = new JobMonitor(job, { api });
    batchMonitor = monitor;
    monitor.subscribe(() => batchView.render(monitor.job));
    batchView.render(monitor.job);
    monitor.start();
    monitor.done.then(() => load());
  }
  batchView.cancel.addEventListener("click", async () => {
    if (!batchMonitor) return;
    batchView.cancel.disabled = true;
    try {
      batchMonitor.update(await api.cancelJob(batchMonitor.job.id));
    } catch (error) {
      batchView.cancel.disabled = false;
      showError(error.message);
    }
  });

  load().then(() => {
    root.dataset.state = "ready";
  });
}

const root = document.querySelector("[data-page=images]");
if (root) startImageList(root);
