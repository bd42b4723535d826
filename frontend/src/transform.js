/**
 * View-transform math: pure functions over {scale, tx, ty}.
 *
 * A transform maps image pixel coordinates to screen (canvas CSS pixel) coordinates:
 *     screenX = imageX * scale + tx,   screenY = imageY * scale + ty
 * Image coordinates have their origin at the top-left corner of pixel (0, 0); the
 * centre of pixel (x, y) is at (x + 0.5, y + 0.5).
 */

export const MIN_SCALE = 1 / 64;
export const MAX_SCALE = 64;

/** @typedef {{scale: number, tx: number, ty: number}} Transform */

export const IDENTITY = Object.freeze({ scale: 1, tx: 0, ty: 0 });

export function clampScale(scale, min = MIN_SCALE, max = MAX_SCALE) {
  return Math.min(max, Math.max(min, scale));
}

/** Screen point -> image point (floats). */
export function screenToImage(t, sx, sy) {
  return { x: (sx - t.tx) / t.scale, y: (sy - t.ty) / t.scale };
}

/** Image point -> screen point. */
export function imageToScreen(t, x, y) {
  return { x: x * t.scale + t.tx, y: y * t.scale + t.ty };
}

/**
 * The integer pixel under a screen point, or null when the point is outside an
 * image of the given size.
 */
export function pixelAt(t, sx, sy, width, height) {
  const p = screenToImage(t, sx, sy);
  const x = Math.floor(p.x);
  const y = Math.floor(p.y);
  if (x < 0 || y < 0 || x >= width || y >= height) return null;
  return { x, y };
}

/**
 * Zoom by `factor` keeping the image point under the screen point (sx, sy) fixed.
 * The resulting scale is clamped to [min, max]; the fixed point stays fixed even then.
 */
export function zoomAt(t, factor, sx, sy, { min = MIN_SCALE, max = MAX_SCALE } = {}) {
  const scale = clampScale(t.scale * factor, min, max);
  const k = scale / t.scale;
  return { scale, tx: sx - (sx - t.tx) * k, ty: sy - (sy - t.ty) * k };
}

/** Translate by a screen-space delta. */
export function panBy(t, dx, dy) {
  return { scale: t.scale, tx: t.tx + dx, ty: t.ty + dy };
}

/**
 * The transform that shows a whole width x height image centred in a viewport of
 * viewWidth x viewHeight, leaving `margin` CSS pixels free on every side.
 */
export function fitTransform(width, height, viewWidth, viewHeight, { margin = 0 } = {}) {
  if (!(width > 0 && height > 0 && viewWidth > 0 && viewHeight > 0)) return { ...IDENTITY };
  const availW = Math.max(1, viewWidth - 2 * margin);
  const availH = Math.max(1, viewHeight - 2 * margin);
  const scale = clampScale(Math.min(availW / width, availH / height));
  return { scale, tx: (viewWidth - width * scale) / 2, ty: (viewHeight - height * scale) / 2 };
}

/**
 * Zoom factor for one wheel event: smooth for trackpads (small deltas), about
 * 1.2x per notch for mouse wheels. deltaMode 1 = lines, 2 = pages (DOM WheelEvent).
 */
export function wheelZoomFactor(deltaY, deltaMode = 0) {
  const pixels = deltaMode === 1 ? deltaY * 16 : deltaMode === 2 ? deltaY * 400 : deltaY;
  return Math.exp(-pixels * 0.0015);
}

export function transformsEqual(a, b) {
  return a.scale === b.scale && a.tx === b.tx && a.ty === b.ty;
}
