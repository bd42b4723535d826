/**
 * The editing operations, as functions from (model, what the person did) to a
 * LabelEdit command (or null when the gesture changes nothing). They read the model
 * and compute diffs with the geometry modules; only the command's do() writes.
 *
 * Drawing, brush, eraser, split and outline edits work on the current Z plane;
 * delete and merge act on whole masks (every plane), as in the Cellpose GUI.
 * Unless `overwrite` is set, pixels of other masks are never taken: new pixels go
 * to background only (the Cellpose GUI's behaviour).
 *
 * Origins: a new mask is "manual"; a model mask whose pixels change becomes "edited"
 * (model-then-edited); the pieces of a split mask keep the mask's origin, a model
 * mask's pieces being "edited".
 */
import { ORIGIN, ORIGIN_NAMES } from "../labelImage.js";
import { interpolateShapes } from "../geometry/interpolate.js";
import { fillPolygon } from "../geometry/polygon.js";
import { dominantLabel, seamBetween, splitPieces } from "../geometry/regions.js";
import { polylinePixels, strokePixels } from "../geometry/strokes.js";
import { LabelEdit } from "./labelEdit.js";

function planeOffset(model) {
  return model.view.z * model.masks.planeSize;
}

/** @typedef {[number, number]} OriginChange [label, its new origin] (labelImage.ORIGIN values) */

/**
 * [label, origin] for a mask whose pixels change: model masks become "edited".
 * @returns {OriginChange[]}
 */
function touched(model, labels) {
  /** @type {OriginChange[]} */
  const out = [];
  for (const label of labels) {
    if (label > 0 && model.masks.origin(label) === ORIGIN.MODEL) out.push([label, ORIGIN.EDITED]);
  }
  return out;
}

/**
 * Set plane pixels to `target` where allowed: background always, pixels of `target`
 * never (unchanged), other masks' pixels only with overwrite.
 * @returns {{indices: number[], taken: Set<number>}} voxel indices and the masks losing pixels
 */
function claim(model, planeIndices, target, overwrite) {
  const { labels } = model.masks;
  const offset = planeOffset(model);
  const indices = [];
  const taken = new Set();
  for (const p of planeIndices) {
    const i = offset + p;
    const current = labels[i];
    if (current === target || (current !== 0 && !overwrite)) continue;
    if (current !== 0) taken.add(current);
    indices.push(i);
  }
  return { indices, taken };
}

/**
 * A new mask from a closed outline (or pixels added to mask `label`).
 * @param {import("../model.js").ViewerModel} model
 * @param {Array<{x: number, y: number}>} polygon image coordinates
 * @param {{overwrite?: boolean, label?: number|null}} [options]
 */
export function drawMask(model, polygon, { overwrite = false, label = null } = {}) {
  const { width, height } = model.masks;
  const target = label ?? model.masks.nextLabel();
  const { indices, taken } = claim(model, fillPolygon(polygon, width, height), target, overwrite);
  if (!indices.length) return null;
  /** @type {OriginChange[]} */
  const origins = label === null ? [[target, ORIGIN.MANUAL]] : touched(model, [target]);
  return LabelEdit.build(model, label === null ? "Draw a mask" : "Add to a mask", indices, target, {
    origins: [...origins, ...touched(model, taken)],
  });
}

/** Every voxel of the given masks set to background. */
export function deleteMasks(model, labelsToDelete) {
  const doomed = [...labelsToDelete].filter((l) => l > 0);
  if (!doomed.length) return null;
  const { labels, ceiling } = model.masks;
  const lookup = new Uint8Array(ceiling + 1);
  for (const l of doomed) if (l <= ceiling) lookup[l] = 1;
  const indices = [];
  for (let i = 0; i < labels.length; i++) if (lookup[labels[i]]) indices.push(i);
  const name = doomed.length === 1 ? "Delete a mask" : `Delete ${doomed.length} masks`;
  return LabelEdit.build(model, name, indices, 0);
}

/**
 * Merge mask `other` into mask `keep` (every plane), filling the background seam
 * between them on each plane where both lie.
 */
export function mergeMasks(model, keep, other) {
  if (!(keep > 0 && other > 0) || keep === other) return null;
  const { labels, planeSize, width, height, depth } = model.masks;
  const indices = [];
  for (let z = 0; z < depth; z++) {
    const plane = labels.subarray(z * planeSize, (z + 1) * planeSize);
    let hasKeep = false;
    let hasOther = false;
    for (let p = 0; p < planeSize; p++) {
      const l = plane[p];
      if (l === other) {
        hasOther = true;
        indices.push(z * planeSize + p);
      } else if (l === keep) hasKeep = true;
    }
    if (hasKeep && hasOther) for (const p of seamBetween(plane, width, height, keep, other)) indices.push(z * planeSize + p);
  }
  if (!indices.length) return null;
  return LabelEdit.build(model, "Merge masks", indices, keep, { origins: touched(model, [keep]) });
}

/**
 * Split the mask a line crosses into its pieces on the current plane: the largest
 * keeps the label, each other piece becomes a new mask.
 * @param {Array<{x: number, y: number}>} line the cutting polyline, image coordinates
 * @returns {LabelEdit|null} null when the line does not cut a mask in two
 */
export function splitMask(model, line) {
  const { width, height } = model.masks;
  const plane = model.planeLabels();
  const cut = polylinePixels(line, width, height);
  const label = dominantLabel(plane, cut);
  if (!label) return null;
  const pieces = splitPieces(plane, width, height, label, cut);
  if (pieces.length < 2) return null;
  const offset = planeOffset(model);
  const origin = model.masks.origin(label) === ORIGIN.MANUAL ? ORIGIN.MANUAL : ORIGIN.EDITED;
  const indices = [];
  const after = [];
  /** @type {OriginChange[]} */
  const origins = [[label, origin]];
  let next = model.masks.nextLabel();
  for (const piece of pieces) {
    const value = piece === pieces[0] ? label : next++;
    if (value !== label) origins.push([value, origin]);
    for (const p of piece) {
      indices.push(offset + p);
      after.push(value);
    }
  }
  return LabelEdit.build(model, "Split a mask", indices, Int32Array.from(after), { origins });
}

/**
 * Paint with the brush: the stroke's pixels join mask `label` (a new mask when null).
 * @param {Array<{x: number, y: number}>} points the pointer's path
 */
export function paintStroke(model, points, diameter, { label = null, overwrite = false } = {}) {
  const { width, height } = model.masks;
  const target = label ?? model.masks.nextLabel();
  const { indices, taken } = claim(model, strokePixels(points, diameter, width, height), target, overwrite);
  if (!indices.length) return null;
  /** @type {OriginChange[]} */
  const origins = label === null ? [[target, ORIGIN.MANUAL]] : touched(model, [target]);
  return LabelEdit.build(model, "Brush", indices, target, { origins: [...origins, ...touched(model, taken)] });
}

/** Erase along a stroke: pixels of mask `label` (of any mask when null) become background. */
export function eraseStroke(model, points, diameter, { label = null } = {}) {
  const { width, height, labels } = model.masks;
  const offset = planeOffset(model);
  const indices = [];
  const hit = new Set();
  for (const p of strokePixels(points, diameter, width, height)) {
    const current = labels[offset + p];
    if (current === 0 || (label !== null && current !== label)) continue;
    hit.add(current);
    indices.push(offset + p);
  }
  if (!indices.length) return null;
  return LabelEdit.build(model, "Erase", indices, 0, { origins: touched(model, hit) });
}

/**
 * A mask part reshaped to a new outline: pixels inside the polygon join the mask
 * (background only, unless overwrite), pixels of the part outside it are cleared.
 * @param {number} label the mask
 * @param {Uint32Array} part plane indices of the part being edited (outline.traceOutline)
 * @param {Array<{x: number, y: number}>} polygon the edited outline
 */
export function reshapeMask(model, label, part, polygon, { overwrite = false } = {}) {
  const { width, height, labels } = model.masks;
  const offset = planeOffset(model);
  const inside = fillPolygon(polygon, width, height);
  const within = new Set(inside);
  const { indices, taken } = claim(model, inside, label, overwrite);
  const after = indices.map(() => label);
  for (const p of part) {
    if (!within.has(p) && labels[offset + p] === label) {
      indices.push(offset + p);
      after.push(0);
    }
  }
  if (!indices.length) return null;
  return LabelEdit.build(model, "Edit an outline", indices, Int32Array.from(after), {
    origins: touched(model, [label, ...taken]),
  });
}

/**
 * Every voxel set to the given labels (edits recovered from the browser's storage),
 * as one undoable step.
 * @param {Int32Array} labels the whole volume
 * @param {Array<string|null>} origins the API's names, entry k - 1 for label k
 */
export function replaceLabels(model, labels, origins = [], name = "Recover unsaved edits") {
  const current = model.masks.labels;
  if (labels.length !== current.length) throw new Error(`${labels.length} labels cannot replace ${current.length}`);
  const indices = [];
  for (let i = 0; i < labels.length; i++) if (labels[i] !== current[i]) indices.push(i);
  const after = Int32Array.from(indices, (i) => labels[i]);
  const named = [];
  origins.forEach((origin, k) => {
    const value = ORIGIN_NAMES.indexOf(origin);
    if (value >= 0) named.push([k + 1, value]);
  });
  return LabelEdit.build(model, name, indices, after, { origins: named });
}

/**
 * Fill the planes a mask skips (a stack's Z gaps between planes where it was drawn) with
 * shapes interpolated between its outlines on the planes around each gap.
 * @returns {LabelEdit|null} null when the mask has no gap between two planes
 */
export function interpolateMask(model, label, { overwrite = false } = {}) {
  const { depth, planeSize, width, height, labels } = model.masks;
  const planes = [];
  for (let z = 0; z < depth; z++) {
    const plane = labels.subarray(z * planeSize, (z + 1) * planeSize);
    if (plane.includes(label)) planes.push(z);
  }
  const indices = [];
  const taken = new Set();
  for (let k = 1; k < planes.length; k++) {
    const [z0, z1] = [planes[k - 1], planes[k]];
    if (z1 - z0 < 2) continue;
    const plane = (z) => labels.subarray(z * planeSize, (z + 1) * planeSize);
    interpolateShapes(plane(z0), plane(z1), width, height, label, z1 - z0).forEach((shape, i) => {
      const offset = (z0 + 1 + i) * planeSize;
      for (const p of shape) {
        const current = labels[offset + p];
        if (current === label || (current !== 0 && !overwrite)) continue;
        if (current !== 0) taken.add(current);
        indices.push(offset + p);
      }
    });
  }
  if (!indices.length) return null;
  return LabelEdit.build(model, "Interpolate between planes", indices, label, { origins: touched(model, [label, ...taken]) });
}
