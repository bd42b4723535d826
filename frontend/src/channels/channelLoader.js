/**
 * Loads the stored channel values of the plane on show (GET /api/images/{id}/channels/)
 * into the model as raster kind "channels", once per plane. The cells panel measures
 * from them, the status bar reads the values under the pointer, and the image layer
 * applies the channels' levels and colour maps to them.
 */

const NEEDED_ON = new Set(["image", "plane"]);

export class ChannelLoader {
  /**
   * @param {import("../model.js").ViewerModel} model
   * @param {import("../api.js").ApiClient} api
   * @param {{onError: (message: string) => void}} callbacks
   */
  constructor(model, api, { onError }) {
    this.model = model;
    this.api = api;
    this.onError = onError;
    this._pending = new Set();
    this._failed = new Set();
    this._unsubscribe = model.subscribe((reason) => {
      if (reason === "image") {
        this._pending.clear();
        this._failed.clear();
      }
      if (NEEDED_ON.has(reason)) this.ensure();
    });
  }

  /** Fetch the values of the plane on show, unless they are here, on their way, or failed. */
  async ensure() {
    const { model } = this;
    if (!model.image) return;
    const z = model.view.z;
    const image = model.image;
    if (model.hasRaster("channels", z) || this._pending.has(z) || this._failed.has(z)) return;
    this._pending.add(z);
    try {
      const plane = await this.api.getChannels(image.id, image.depth > 1 ? z : undefined);
      if (model.image !== image) return; // another image meanwhile
      if (plane.width !== image.width || plane.height !== image.height) {
        throw new Error(`the channel values are ${plane.width} x ${plane.height}, the image ${image.width} x ${image.height}`);
      }
      model.setRaster("channels", z, plane);
    } catch (error) {
      if (model.image !== image) return;
      this._failed.add(z);
      this.onError(`Could not load the channel values (cell intensities and display levels need them): ${error.message}`);
    } finally {
      this._pending.delete(z);
    }
  }

  destroy() {
    this._unsubscribe();
  }
}
