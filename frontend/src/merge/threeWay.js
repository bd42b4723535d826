/**
 * Three-way merge of label images: my edits and theirs, both made on a common base.
 *
 * Labels: every image is an Int32Array of the same length (a (Lz, Ly, Lx) volume in C
 * order), 0 = background. A label is no identity across versions: the server renumbers
 * masks 1..N when it saves them, and a tab keeps its own labels after a save. So the
 * masks of both sides are first matched to the base's by overlap: a mask and a base mask
 * match when each is the other's largest overlap (annotations/changes.py does the same
 * on the server) and then take the base's label; an unmatched mask is new and takes a
 * label no other mask uses (mine first, then theirs). The merge works in this label
 * space, and its result replaces the labels on screen.
 *
 * Then every pixel that either side changed joins the masks it involves (its base, mine
 * and theirs labels) into one group (union-find). A group is a **change**: mine alone
 * changed its pixels, theirs alone did, both did the same, or both did differently (a
 * **conflict**: the same mask edited in both, or the same pixels given different masks).
 * Changes of one side are applied as they are; a conflict takes mine or theirs on all its
 * pixels, as the person chooses.
 */

/**
 * @typedef {object} Change
 * @property {number} id index in the plan's changes
 * @property {"mine"|"theirs"|"same"|"conflict"} side who changed these pixels
 * @property {number[]} labels the masks involved, in the merged label space
 * @property {Uint32Array} pixels indices of the pixels changed by either side
 * @property {{added: number[], deleted: number[], changed: number[]}} mine my changes to these masks
 * @property {{added: number[], deleted: number[], changed: number[]}} theirs their changes
 * @property {{x: number, y: number, z: number}} at a pixel of the change (to show it)
 */

/**
 * @typedef {object} MergePlan
 * @property {Int32Array} mine my labels, relabelled into the base's label space
 * @property {Int32Array} theirs their labels, relabelled into the base's label space
 * @property {Int32Array} mineMap mineMap[my label] = my label in the merged label space
 * @property {Change[]} changes
 * @property {{mine: number, theirs: number, same: number, conflicts: number}} counts
 * @property {Int32Array} theirMap theirMap[their saved label] = their label in the merged label space
 */

function topLabel(labels) {
  let top = 0;
  for (let i = 0; i < labels.length; i++) if (labels[i] > top) top = labels[i];
  return top;
}

/**
 * For each label of `other`, the label of `base` it matches (mutual largest overlap), or 0.
 * @param {Int32Array} base
 * @param {Int32Array} other
 * @returns {Int32Array} indexed by the label of `other`
 */
export function matchLabels(base, other) {
  const topOther = topLabel(other);
  const topBase = topLabel(base);
  const pairs = new Map(); // baseLabel * (topOther + 1) + otherLabel -> pixels
  const stride = topOther + 1;
  for (let i = 0; i < base.length; i++) {
    const b = base[i];
    const o = other[i];
    if (b === 0 || o === 0) continue;
    const key = b * stride + o;
    pairs.set(key, (pairs.get(key) ?? 0) + 1);
  }
  const bestBase = new Int32Array(topOther + 1);
  const bestBaseCount = new Float64Array(topOther + 1);
  const bestOther = new Int32Array(topBase + 1);
  const bestOtherCount = new Float64Array(topBase + 1);
  for (const [key, count] of pairs) {
    const b = Math.floor(key / stride);
    const o = key - b * stride;
    if (count > bestBaseCount[o] || (count === bestBaseCount[o] && b < bestBase[o])) {
      bestBase[o] = b;
      bestBaseCount[o] = count;
    }
    if (count > bestOtherCount[b] || (count === bestOtherCount[b] && o < bestOther[b])) {
      bestOther[b] = o;
      bestOtherCount[b] = count;
    }
  }
  const match = new Int32Array(topOther + 1);
  for (let o = 1; o <= topOther; o++) {
    const b = bestBase[o];
    if (b > 0 && bestOther[b] === o) match[o] = b;
  }
  return match;
}

/**
 * A side's labels in the base's label space: matched masks take the base label, new masks
 * take labels from `next` on.
 * @param {Int32Array} base
 * @param {Int32Array} side
 * @param {number} next the first label free for new masks
 * @returns {{labels: Int32Array, map: Int32Array, next: number}} map[side label] = merged-space
 *   label; next: the first label still free
 */
export function relabelSide(base, side, next) {
  const match = matchLabels(base, side);
  const present = new Uint8Array(match.length);
  for (let i = 0; i < side.length; i++) present[side[i]] = 1;
  const map = new Int32Array(match.length);
  for (let o = 1; o < match.length; o++) if (present[o]) map[o] = match[o] > 0 ? match[o] : next++;
  const labels = new Int32Array(side.length);
  for (let i = 0; i < side.length; i++) labels[i] = map[side[i]];
  return { labels, map, next };
}

class UnionFind {
  constructor() {
    this.parent = new Map();
  }

  find(a) {
    let root = a;
    while (this.parent.has(root) && this.parent.get(root) !== root) root = this.parent.get(root);
    let node = a;
    while (node !== root) {
      const up = this.parent.get(node);
      this.parent.set(node, root);
      node = up;
    }
    if (!this.parent.has(root)) this.parent.set(root, root);
    return root;
  }

  union(a, b) {
    const ra = this.find(a);
    const rb = this.find(b);
    if (ra !== rb) this.parent.set(rb, ra);
  }
}

/** added / deleted / changed: what one side did to each mask, from its pixel counts. */
function describeSide(labels, baseArea, sideArea, moved) {
  const out = { added: [], deleted: [], changed: [] };
  for (const label of labels) {
    const before = baseArea.get(label) ?? 0;
    const after = sideArea.get(label) ?? 0;
    if (!moved.has(label)) continue;
    if (before === 0 && after > 0) out.added.push(label);
    else if (before > 0 && after === 0) out.deleted.push(label);
    else out.changed.push(label);
  }
  return out;
}

function areas(labels) {
  const map = new Map();
  for (let i = 0; i < labels.length; i++) {
    const l = labels[i];
    if (l) map.set(l, (map.get(l) ?? 0) + 1);
  }
  return map;
}

/**
 * Compare my edits and theirs with the base they both started from.
 * @param {{base: Int32Array|null, mine: Int32Array, theirs: Int32Array, width: number, height: number}} images
 *   base: null when there was no saved version (all background); width, height: of a plane
 * @returns {MergePlan}
 */
export function planMerge({ base, mine, theirs, width, height }) {
  const n = mine.length;
  if (theirs.length !== n || (base && base.length !== n)) {
    throw new Error(`label images must have the same size: mine ${n}, theirs ${theirs.length}, base ${base?.length}`);
  }
  const baseLabels = base ?? new Int32Array(n);
  const { labels: my, map: mineMap, next } = relabelSide(baseLabels, mine, topLabel(baseLabels) + 1);
  const { labels: their, map: theirMap } = relabelSide(baseLabels, theirs, next);
  const groups = new UnionFind();
  const changed = [];
  for (let i = 0; i < n; i++) {
    const b = baseLabels[i];
    const m = my[i];
    const t = their[i];
    if (m === b && t === b) continue;
    changed.push(i);
    let first = 0;
    for (const label of [b, m, t]) {
      if (label === 0) continue;
      if (first === 0) {
        first = label;
        groups.find(label);
      } else groups.union(first, label);
    }
  }
  /** @type {Map<number, {pixels: number[], mine: boolean, theirs: boolean, differ: boolean,
   *    labels: Set<number>, mineMoved: Set<number>, theirsMoved: Set<number>}>} */
  const byRoot = new Map();
  for (const i of changed) {
    const b = baseLabels[i];
    const m = my[i];
    const t = their[i];
    const root = groups.find(b || m || t);
    let group = byRoot.get(root);
    if (!group) {
      group = { pixels: [], mine: false, theirs: false, differ: false, labels: new Set(), mineMoved: new Set(), theirsMoved: new Set() };
      byRoot.set(root, group);
    }
    group.pixels.push(i);
    for (const label of [b, m, t]) if (label) group.labels.add(label);
    if (m !== b) {
      group.mine = true;
      if (b) group.mineMoved.add(b);
      if (m) group.mineMoved.add(m);
    }
    if (t !== b) {
      group.theirs = true;
      if (b) group.theirsMoved.add(b);
      if (t) group.theirsMoved.add(t);
    }
    if (m !== t) group.differ = true;
  }
  const baseArea = areas(baseLabels);
  const mineArea = areas(my);
  const theirArea = areas(their);
  const changes = [];
  const counts = { mine: 0, theirs: 0, same: 0, conflicts: 0 };
  const planeSize = width * height;
  for (const group of byRoot.values()) {
    /** @type {Change["side"]} */
    let side;
    if (group.mine && group.theirs) side = group.differ ? "conflict" : "same";
    else side = group.mine ? "mine" : "theirs";
    counts[side === "conflict" ? "conflicts" : side]++;
    const labels = [...group.labels].sort((a, b) => a - b);
    const first = group.pixels[0];
    const z = Math.floor(first / planeSize);
    const rest = first - z * planeSize;
    changes.push({
      id: changes.length,
      side,
      labels,
      pixels: Uint32Array.from(group.pixels),
      mine: describeSide(labels, baseArea, mineArea, group.mineMoved),
      theirs: describeSide(labels, baseArea, theirArea, group.theirsMoved),
      at: { x: rest % width, y: Math.floor(rest / width), z },
    });
  }
  return { mine: my, theirs: their, mineMap, theirMap, changes, counts };
}

/**
 * The merged labels: every change applied, each conflict as chosen.
 * @param {MergePlan} plan
 * @param {Map<number, "mine"|"theirs">|"mine"|"theirs"} choices per conflict id, or one for all
 * @returns {Int32Array}
 */
export function applyMerge(plan, choices) {
  const merged = plan.mine.slice();
  for (const change of plan.changes) {
    if (taken(change, choices) === "theirs") for (const i of change.pixels) merged[i] = plan.theirs[i];
  }
  return merged;
}

/**
 * What a choice does that the person must be told: masks they deleted that keeping mine
 * brings back, and masks I deleted that keeping theirs brings back.
 * @param {Change} change
 * @param {"mine"|"theirs"} take
 * @returns {number[]} labels restored although the other side deleted them
 */
export function restoredBy(change, take) {
  const kept = take === "mine" ? change.mine : change.theirs;
  const other = take === "mine" ? change.theirs : change.mine;
  const keptDeleted = new Set(kept.deleted);
  return other.deleted.filter((label) => !keptDeleted.has(label));
}

/** "mine" or "theirs": what a change takes under these choices. */
function taken(change, choices) {
  if (change.side === "theirs") return "theirs";
  if (change.side !== "conflict") return "mine";
  const take = typeof choices === "string" ? choices : choices.get(change.id);
  if (take !== "mine" && take !== "theirs") throw new Error(`conflict ${change.id} has no choice (mine or theirs)`);
  return take;
}

/**
 * The origins of the merged masks (the API's list: entry k - 1 for label k): masks of a
 * change taken from theirs have their origin, every other mask mine.
 * @param {MergePlan} plan
 * @param {Map<number, "mine"|"theirs">|"mine"|"theirs"} choices as for applyMerge
 * @param {Array<string|null>} mineOrigins my list (entry k - 1 for label k)
 * @param {Array<string|null>} theirOrigins their saved list (their labels, before relabelling)
 * @returns {Array<string|null>} one entry per label up to the largest label of either side
 */
export function mergeOrigins(plan, choices, mineOrigins, theirOrigins) {
  const originsIn = (map, names) => {
    const out = new Map();
    map.forEach((label, own) => {
      if (own > 0 && label > 0) out.set(label, names?.[own - 1] ?? null);
    });
    return out;
  };
  const fromMine = originsIn(plan.mineMap, mineOrigins);
  const fromTheirs = originsIn(plan.theirMap, theirOrigins);
  const theirsWins = new Set();
  for (const change of plan.changes) if (taken(change, choices) === "theirs") for (const l of change.labels) theirsWins.add(l);
  let top = 0;
  for (const label of [...fromMine.keys(), ...fromTheirs.keys()]) if (label > top) top = label;
  const out = new Array(top).fill(null);
  for (let label = 1; label <= top; label++) {
    out[label - 1] = (theirsWins.has(label) ? fromTheirs.get(label) : fromMine.get(label)) ?? null;
  }
  return out;
}
