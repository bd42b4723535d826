/**
 * A job's progress as a person sees it: a progress bar, the stage and percent,
 * the failure reason, and a cancel button while it can still be cancelled.
 *
 * The root holds: <progress>, [data-role="job-text"], [data-role="job-error"],
 * [data-action="cancel-job"] and, for batches, a [data-role="job-download"] link to
 * the zip of the masks (the job's download_url), shown once the job succeeded, with a
 * [data-role="job-download-format"] select of the export format of the files in the zip.
 */
const STATUS_TEXT = {
  queued: "Queued",
  running: "Running",
  succeeded: "Done",
  failed: "Failed",
  cancelled: "Cancelled",
};

export function jobText(job) {
  const status = STATUS_TEXT[job.status] ?? job.status;
  if (job.status === "running" || job.status === "queued") {
    const pct = `${Math.round((job.progress ?? 0) * 100)} %`;
    return job.stage ? `${status}: ${job.stage} · ${pct}` : `${status} · ${pct}`;
  }
  return status;
}

/**
 * The zip's address for an export `format` ("" or "png": the server's default, PNG labels, TIFF
 * for stacks). Formats that have no 3D form fall back to TIFF for stacks on the server.
 */
export function zipUrl(downloadUrl, format) {
  if (!format) return downloadUrl;
  const url = new URL(downloadUrl, "http://site.invalid");
  url.searchParams.set("format", format);
  return downloadUrl.startsWith("/") ? `${url.pathname}${url.search}` : url.toString();
}

export class JobStatusView {
  constructor(root) {
    this.root = root;
    this.bar = root.querySelector("progress");
    this.text = root.querySelector('[data-role="job-text"]');
    this.error = root.querySelector('[data-role="job-error"]');
    this.cancel = root.querySelector('[data-action="cancel-job"]');
    this.download = root.querySelector('[data-role="job-download"]');
    /** @type {HTMLSelectElement|null} */
    this.format = root.querySelector('[data-role="job-download-format"]');
    this.downloadUrl = null;
    this.format?.addEventListener("change", () => this.updateDownload());
  }

  updateDownload() {
    if (this.download && this.downloadUrl) this.download.href = zipUrl(this.downloadUrl, this.format?.value ?? "");
  }

  /** @param {object|null} job the job (null hides the view) */
  render(job, { note = "" } = {}) {
    this.root.hidden = !job;
    if (!job) return;
    this.root.dataset.status = job.status;
    const active = job.status === "queued" || job.status === "running";
    this.bar.value = job.status === "succeeded" ? 1 : job.progress ?? 0;
    this.bar.hidden = !active && job.status !== "succeeded";
    this.text.textContent = note ? `${jobText(job)} (${note})` : jobText(job);
    this.error.hidden = !(job.status === "failed" && job.error);
    this.error.textContent = job.status === "failed" ? job.error || "" : "";
    this.cancel.hidden = !active;
    this.cancel.disabled = false;
    if (this.download) {
      this.download.hidden = !(job.status === "succeeded" && job.download_url);
      if (this.format) this.format.hidden = this.download.hidden;
      this.downloadUrl = job.download_url || null;
      this.updateDownload();
    }
  }
}
