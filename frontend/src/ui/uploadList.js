/**
 * The list of uploads: one row per file with its progress bar and, if rejected, the server's
 * message; for a file whose axes the server could not tell, a button per reading it offers.
 */
import { describeAxes, formatBytes } from "./format.js";

const STATUS_TEXT = {
  queued: "Waiting",
  hashing: "Reading",
  uploading: "Uploading",
  processing: "Checking…",
  ingesting: "Building tiles",
  done: "Uploaded",
  failed: "Rejected",
  "needs-axes": "Which axes?",
  cancelled: "Cancelled",
};

export class UploadListView {
  /**
   * @param {HTMLElement} section shown once there is an upload
   * @param {HTMLUListElement} list
   * @param {HTMLTemplateElement} template one row (see image_list.html)
   * @param {import("../controller/uploads.js").UploadQueue} queue
   */
  constructor(section, list, template, queue) {
    this.section = section;
    this.list = list;
    this.template = template;
    this.queue = queue;
    this.rows = new Map();
    queue.subscribe((reason, item) => {
      if (reason === "item") this.renderItem(item);
      if (reason === "cleared") this.renderAll();
    });
  }

  renderAll() {
    const ids = new Set(this.queue.items.map((item) => item.id));
    for (const [id, row] of this.rows) {
      if (!ids.has(id)) {
        row.remove();
        this.rows.delete(id);
      }
    }
    this.section.hidden = this.rows.size === 0;
  }

  renderItem(item) {
    let row = this.rows.get(item.id);
    if (!row) {
      row = this.template.content.firstElementChild.cloneNode(true);
      row.querySelector("[data-field=name]").textContent = item.name;
      row.querySelector("[data-field=size]").textContent = formatBytes(item.size);
      row.querySelector("[data-action=cancel-upload]").addEventListener("click", () => this.queue.cancel(item));
      this.rows.set(item.id, row);
      this.list.append(row);
      this.section.hidden = false;
    }
    row.dataset.status = item.status;
    const bar = row.querySelector("progress");
    bar.value = item.progress;
    bar.hidden = item.status === "failed" || item.status === "cancelled";
    const pct = ["uploading", "hashing", "ingesting"].includes(item.status) ? ` ${Math.round(item.progress * 100)} %` : "";
    row.querySelector("[data-field=status]").textContent = `${STATUS_TEXT[item.status]}${pct}`;
    const error = row.querySelector("[data-field=error]");
    error.hidden = !item.error;
    error.textContent = item.error ?? "";
    row.querySelector("[data-action=cancel-upload]").hidden = !["queued", "hashing", "uploading", "ingesting", "needs-axes"].includes(item.status);
    this.renderAxesPicker(row, item);
  }

  renderAxesPicker(row, item) {
    const picker = row.querySelector("[data-role=axes-picker]");
    const choices = picker.querySelector("[data-role=axes-choices]");
    picker.hidden = item.status !== "needs-axes";
    if (picker.hidden) {
      choices.replaceChildren();
      return;
    }
    if (choices.childElementCount) return;
    choices.replaceChildren(...item.axesChoices.map((axes) => {
      const button = document.createElement("button");
      button.type = "button";
      button.className = "btn small";
      button.dataset.axes = axes;
      button.textContent = describeAxes(axes, item.shape);
      button.addEventListener("click", () => this.queue.sendWithAxes(item, axes));
      return button;
    }));
  }
}
