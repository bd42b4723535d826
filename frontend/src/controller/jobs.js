/**
 * Following a segmentation job until it ends: progress pushed over the job's
 * websocket (/ws/jobs/<id>/), with a fall-back to polling GET /api/jobs/<id>/
 * every second when the socket cannot be opened or drops before the job ends.
 *
 * Notifies ("progress", job) on every change, ("finished", job) once when the job
 * ends, and ("connection", {mode, error}) when the transport changes ("socket" or
 * "polling", error null) or when polling has failed three times in a row (error set).
 */
import { Observable } from "../observable.js";

export const TERMINAL_STATUSES = Object.freeze(["succeeded", "failed", "cancelled"]);

export function isFinished(job) {
  return TERMINAL_STATUSES.includes(job?.status);
}

/** What a progress event or a poll can change; the rest (id, download_url, ...) stays as created. */
const JOB_FIELDS = ["status", "stage", "progress", "error"];

export class JobMonitor extends Observable {
  /**
   * @param {object} job the job as the API returned it ({id, status, progress, ...})
   * @param {{api: import("../api.js").ApiClient, openSocket?: ((url: string) => WebSocket)|null,
   *          pollMs?: number, setTimer?: Function, clearTimer?: Function}} deps
   *   openSocket: null to poll only
   */
  constructor(job, { api, openSocket, pollMs = 1000, setTimer, clearTimer }) {
    super();
    this.job = { ...job };
    this.api = api;
    this.openSocket = openSocket === undefined ? (url) => new WebSocket(url) : openSocket;
    this.pollMs = pollMs;
    this.setTimer = setTimer ?? ((fn, ms) => setTimeout(fn, ms));
    this.clearTimer = clearTimer ?? ((id) => clearTimeout(id));
    /** @type {"idle"|"socket"|"polling"|"stopped"} */
    this.mode = "idle";
    this.socket = null;
    this._timer = null;
    this._pollFailures = 0;
    this.done = new Promise((resolve) => {
      this._resolve = resolve;
    });
  }

  start() {
    if (isFinished(this.job)) {
      this._finish();
      return this;
    }
    if (!this.openSocket) {
      this._startPolling();
      return this;
    }
    try {
      this.socket = this.openSocket(this.api.jobSocketUrl(this.job.id));
    } catch {
      this._startPolling(); // no websockets here (old browser, blocked): polling does the same job
      return this;
    }
    this._setMode("socket");
    this.socket.onopen = () => this._sync(); // catch up on anything before the subscription
    this.socket.onmessage = (event) => this._onMessage(event);
    this.socket.onerror = () => this._socketLost();
    this.socket.onclose = () => this._socketLost();
    return this;
  }

  stop() {
    this.mode = "stopped";
    if (this._timer !== null) this.clearTimer(this._timer);
    this._timer = null;
    if (this.socket) {
      const socket = this.socket;
      this.socket = null;
      socket.onclose = socket.onerror = socket.onmessage = socket.onopen = null;
      if (socket.readyState <= 1) socket.close();
    }
  }

  /** Apply a job state (from the socket or the API); ignores fields it does not know. */
  update(state) {
    if (this.mode === "stopped") return;
    const patch = {};
    for (const key of JOB_FIELDS) if (key in state && state[key] !== this.job[key]) patch[key] = state[key];
    if (Object.keys(patch).length === 0) return;
    this.job = { ...this.job, ...patch };
    this.notify("progress", this.job);
    if (isFinished(this.job)) this._finish();
  }

  _finish() {
    this.stop();
    this.notify("finished", this.job);
    this._resolve(this.job);
  }

  _setMode(mode, error = null) {
    this.mode = mode;
    this.notify("connection", { mode, error });
  }

  _onMessage(event) {
    let message;
    try {
      message = JSON.parse(event.data);
    } catch {
      return; // not ours
    }
    if (message.type === undefined || message.type === "job.progress") this.update(message);
  }

  async _sync() {
    try {
      this.update(await this.api.getJob(this.job.id));
    } catch {
      // the socket still carries progress; polling takes over if it drops
    }
  }

  _socketLost() {
    if (this.mode !== "socket") return;
    this.socket = null;
    this._startPolling();
  }

  _startPolling() {
    this._setMode("polling");
    this._poll();
  }

  async _poll() {
    this._timer = null;
    try {
      this.update(await this.api.getJob(this.job.id));
      this._pollFailures = 0;
    } catch (error) {
      this._pollFailures += 1;
      if (error.status === 404 || error.status === 401 || error.status === 403) {
        this.update({ status: "failed", error: error.message });
        return;
      }
      if (this._pollFailures === 3) this.notify("connection", { mode: "polling", error });
    }
    if (this.mode === "polling") this._timer = this.setTimer(() => this._poll(), this.pollMs);
  }
}
