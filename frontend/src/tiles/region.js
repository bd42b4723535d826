/**
 * The rectangle of a large image in view, as the region editor opens it: full-resolution
 * pixels, clipped to the image, and checked against the largest side the server edits at once;
 * the region named by the editor page's query string; and the saver's API for a region.
 */
import { screenToImage } from "../transform.js";

/**
 * @param {{scale: number, tx: number, ty: number}} transform the view (screen = image * scale + t)
 * @param {{width: number, height: number}} viewport the canvas, in CSS pixels
 * @param {{width: number, height: number}} image the full-resolution size
 * @param {number} maxSide the largest side allowed (TILED_EDIT_MAX_SIDE)
 * @returns {{region: {x: number, y: number, width: number, height: number}|null, problem: string|null}}
 *   problem says why there is no region to edit (nothing in view, or too large)
 */
export function regionInView(transform, viewport, image, maxSide) {
  const a = screenToImage(transform, 0, 0);
  const b = screenToImage(transform, viewport.width, viewport.height);
  const x0 = Math.max(0, Math.floor(Math.min(a.x, b.x)));
  const y0 = Math.max(0, Math.floor(Math.min(a.y, b.y)));
  const x1 = Math.min(image.width, Math.ceil(Math.max(a.x, b.x)));
  const y1 = Math.min(image.height, Math.ceil(Math.max(a.y, b.y)));
  if (x1 <= x0 || y1 <= y0) return { region: null, problem: "No part of the image is in view." };
  const region = { x: x0, y: y0, width: x1 - x0, height: y1 - y0 };
  if (region.width > maxSide || region.height > maxSide) {
    return {
      region: null,
      problem: `The view shows ${region.width} × ${region.height} pixels; zoom in until it shows at most ${maxSide} on each side to edit it.`,
    };
  }
  return { region, problem: null };
}

/** @typedef {{x: number, y: number, width: number, height: number, z: number}} Region */

/**
 * The region named by the page's query string, or null when one of its numbers is missing.
 * @param {string} search
 * @returns {Region|null}
 */
export function regionFromQuery(search) {
  const params = new URLSearchParams(search);
  const region = { x: 0, y: 0, width: 0, height: 0, z: 0 };
  for (const key of ["x", "y", "width", "height"]) {
    const value = Number(params.get(key));
    if (!params.has(key) || !Number.isInteger(value) || value < 0) return null;
    region[key] = value;
  }
  const z = Number(params.get("z") ?? 0);
  region.z = Number.isInteger(z) && z >= 0 ? z : 0;
  return region.width > 0 && region.height > 0 ? region : null;
}

/**
 * The saver's API for a region: it saves what the editor holds as the region's labels.
 * @param {import("../api.js").ApiClient} api
 * @param {{x: number, y: number, width: number, height: number, z: number}} region
 */
export function regionSaveApi(api, region) {
  return {
    saveAnnotation: (id, { version, masks }) => api.saveRegion(id, { ...region, version, masks }),
  };
}
