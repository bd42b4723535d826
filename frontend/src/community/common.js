/** Shared helpers of the community pages: the API client, notices, small DOM builders. */
import { ApiClient, ApiError } from "../api.js";

export const api = new ApiClient();

/** document.createElement with properties and children (strings become text nodes). */
export function el(tag, props = {}, ...children) {
  const node = document.createElement(tag);
  for (const [key, value] of Object.entries(props)) {
    if (key === "dataset") Object.assign(node.dataset, value);
    else if (key === "className") node.className = value;
    else if (key.startsWith("on")) node.addEventListener(key.slice(2), value);
    else node.setAttribute(key, value);
  }
  for (const child of children.flat()) {
    if (child !== null && child !== undefined) node.append(child instanceof Node ? child : String(child));
  }
  return node;
}

export function notice(message) {
  const box = document.querySelector("[data-role=notice]");
  if (box) box.textContent = message ?? "";
}

/** Run an async action, showing its error (the server's message) instead of throwing. */
export async function guarded(action) {
  try {
    notice("");
    return await action();
  } catch (error) {
    notice(error instanceof ApiError ? error.message : String(error?.message ?? error));
    return undefined;
  }
}

export function results(body) {
  return Array.isArray(body) ? body : body?.results ?? [];
}

export function fmtAp(value) {
  return typeof value === "number" && Number.isFinite(value) ? value.toFixed(3) : "–";
}

export function checksList(checks) {
  return el("ul", {}, (checks ?? []).map((check) =>
    el("li", { className: check.ok ? "ok" : "fail", dataset: { check: check.name } },
      `${check.ok ? "✓" : "✗"} ${check.reason}`)));
}

export function socketUrl(path, location = globalThis.location) {
  return `${location.protocol === "https:" ? "wss:" : "ws:"}//${location.host}${path}`;
}
