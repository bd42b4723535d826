/** Small formatting helpers for what people read on the pages. */

export function formatBytes(bytes) {
  if (!(bytes >= 0)) return "";
  const units = ["B", "KB", "MB", "GB", "TB"];
  let value = bytes;
  let unit = 0;
  while (value >= 1000 && unit < units.length - 1) {
    value /= 1000;
    unit += 1;
  }
  return `${unit === 0 ? value : value.toFixed(value < 10 ? 1 : 0)} ${units[unit]}`;
}

/** "512 × 512 · uint16 · 3 channels · 31 planes · 125 cells" from an API image. */
export function describeImageMeta(image) {
  const sizes = Object.fromEntries([...(image.axes ?? "")].map((axis, i) => [axis, image.shape?.[i]]));
  const parts = [];
  if (sizes.X && sizes.Y) parts.push(`${sizes.X} × ${sizes.Y}`);
  if (image.dtype) parts.push(image.dtype);
  if (image.n_channels > 1) parts.push(`${image.n_channels} channels`);
  if (sizes.Z > 1) parts.push(`${sizes.Z} planes`);
  if (typeof image.n_masks === "number") parts.push(image.n_masks === 1 ? "1 cell" : `${image.n_masks} cells`);
  return parts.join(" · ");
}

/**
 * How an array of `shape` reads with `axes`, for a person choosing between readings:
 * describeAxes("CYX", [5, 64, 64]) is "5 channels of 64 × 64 pixels (C, Y, X)".
 */
export function describeAxes(axes, shape) {
  const sizes = Object.fromEntries([...axes].map((axis, i) => [axis, shape?.[i]]));
  const parts = [];
  if (sizes.Z !== undefined) parts.push(sizes.Z === 1 ? "1 plane" : `${sizes.Z} planes`);
  if (sizes.C !== undefined) parts.push(sizes.C === 1 ? "1 channel" : `${sizes.C} channels`);
  const plane = sizes.X !== undefined && sizes.Y !== undefined ? `${sizes.X} × ${sizes.Y} pixels` : "";
  const what = parts.length ? `${parts.join(" × ")}${plane ? ` of ${plane}` : ""}` : plane;
  return `${what} (${[...axes].join(", ")})`;
}

/** A moment for people: "14:05" today, "3 Mar, 14:05" otherwise (local time). */
export function formatTime(value, now = new Date()) {
  const date = new Date(value);
  if (Number.isNaN(date.getTime())) return "";
  const time = date.toLocaleTimeString([], { hour: "2-digit", minute: "2-digit" });
  if (date.toDateString() === now.toDateString()) return time;
  return `${date.toLocaleDateString([], { day: "numeric", month: "short" })}, ${time}`;
}

/** "+2 added · 1 removed · 3 edited" from a version's changes. */
export function describeChanges(changes = {}) {
  const parts = [];
  if (changes.added) parts.push(`${changes.added} added`);
  if (changes.removed) parts.push(`${changes.removed} removed`);
  if (changes.edited) parts.push(`${changes.edited} edited`);
  return parts.length ? parts.join(" · ") : "no mask changed";
}
