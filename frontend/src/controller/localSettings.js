/**
 * Settings a page remembers in the browser (localStorage), for every page alike.
 *
 * Where storage is off (private browsing, a policy, a sandboxed frame) even reading
 * `window.localStorage` throws; then `browserStorage()` is null and a setting lasts for the page
 * only. A full storage refuses writes the same way.
 */

/**
 * The browser's localStorage, or null where it is off.
 * @param {{ localStorage?: Storage }} [scope] where to look (the global scope by default)
 * @returns {Storage|null}
 */
export function browserStorage(scope = globalThis) {
  try {
    return scope.localStorage ?? null;
  } catch {
    return null;
  }
}

/**
 * A remembered value; null where storage is off or the key is unset.
 * @param {Storage|null} storage
 * @param {string} key
 * @returns {string|null}
 */
export function readSetting(storage, key) {
  try {
    return storage?.getItem(key) ?? null;
  } catch {
    return null;
  }
}

/**
 * Remember a value; false where storage is off or full (the value then lasts for this page only).
 * @param {Storage|null} storage
 * @param {string} key
 * @param {string} value
 * @returns {boolean}
 */
export function writeSetting(storage, key, value) {
  if (!storage) return false;
  try {
    storage.setItem(key, value);
    return true;
  } catch {
    return false;
  }
}
