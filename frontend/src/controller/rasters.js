/**
 * Loads the rasters the view needs from the API: the display PNG of the current
 * Z plane, and the flows or cellprob picture when that view is chosen. Each
 * (kind, plane) is fetched once; a failure is reported once and not retried
 * until reset() (after a new segmentation, say).
 */
const URLS = {
  image: (api, id, z) => api.planeUrl(id, z),
  flows: (api, id, z) => api.flowsUrl(id, z),
  cellprob: (api, id, z) => api.cellprobUrl(id, z),
};

const NEEDED_ON = new Set(["image", "plane", "layers"]);

export class RasterLoader {
  /**
   * @param {import("../model.js").ViewerModel} model
   * @param {import("../api.js").ApiClient} api
   * @param {{onError: (message: string, kind: string) => void}} callbacks
   */
  constructor(model, api, { onError }) {
    this.model = model;
    this.api = api;
    this.onError = onError;
    this._pending = new Set();
    this._failed = new Set();
    this._generation = 0;
    this._unsubscribe = model.subscribe((reason) => {
      if (NEEDED_ON.has(reason)) this.ensure();
    });
  }

  /** Fetch what the current view shows, if it is not here yet. */
  ensure() {
    const { model } = this;
    if (!model.image) return;
    const z = model.view.z;
    this._load("image", z);
    if (model.view.background !== "image") this._load(model.view.background, z);
  }

  /** Forget the given kinds (new results on the server) and fetch again what is shown. */
  reset(...kinds) {
    this._generation += 1;
    for (const key of [...this._failed]) if (kinds.includes(key.split(":")[0])) this._failed.delete(key);
    this._pending.clear();
    this.model.clearRasters(...kinds);
    this.ensure();
  }

  async _load(kind, z) {
    const key = `${kind}:${z}`;
    const { model, api } = this;
    if (model.hasRaster(kind, z) || this._pending.has(key) || this._failed.has(key)) return;
    this._pending.add(key);
    const generation = this._generation;
    const plane = model.image.depth > 1 ? z : undefined;
    try {
      const bitmap = await api.fetchBitmap(URLS[kind](api, model.image.id, plane));
      if (generation === this._generation) model.setRaster(kind, z, bitmap);
    } catch (error) {
      if (generation !== this._generation) return;
      this._failed.add(key);
      this.onError(error.message, kind);
    } finally {
      if (generation === this._generation) this._pending.delete(key);
    }
  }

  destroy() {
    this._unsubscribe();
  }
}
