/**
 * The conflict dialog as a three-way merge. When a save is refused because someone saved
 * a newer version, it fetches the version both edited from (the base) and theirs, plans
 * the merge (merge/threeWay.js) and says what saving will do before it does it: how many
 * of my changes and of theirs it applies, and each conflict (the same masks changed on
 * both sides) with a choice, keep mine or keep theirs. A choice that brings back a mask
 * the other side deleted says so. "Save the merge" puts the merged masks on screen as one
 * undoable step and saves them as the version after theirs; "Load theirs" drops my edits.
 *
 * Elements (inside root): [data-role=conflict-message], [data-role=merge-summary],
 * [data-role=merge-conflicts] (a list), [data-action=merge], [data-action=all-mine],
 * [data-action=all-theirs], [data-action=load-theirs].
 */
import { decodeMasks } from "../codec.js";
import { replaceLabels } from "../commands/maskEdits.js";
import { applyMerge, mergeOrigins, planMerge, restoredBy } from "./threeWay.js";

const plural = (n, one, many = `${one}s`) => `${n} ${n === 1 ? one : many}`;

/** "mask 3" / "masks 3, 5" (at most a few listed). */
function masksText(labels) {
  if (!labels.length) return "";
  const shown = labels.slice(0, 6).join(", ");
  return `${labels.length === 1 ? "mask" : "masks"} ${shown}${labels.length > 6 ? ", …" : ""}`;
}

/** What one side did to a change's masks, in words. */
export function describeEdits(edits) {
  const parts = [];
  if (edits.added.length) parts.push(`added ${masksText(edits.added)}`);
  if (edits.changed.length) parts.push(`changed ${masksText(edits.changed)}`);
  if (edits.deleted.length) parts.push(`deleted ${masksText(edits.deleted)}`);
  return parts.join(", ") || "left them as they were";
}

/**
 * What saving the merge will do, in words, for the dialog.
 * @param {import("./threeWay.js").MergePlan} plan
 * @param {Map<number, "mine"|"theirs">} choices
 */
export function mergeSummary(plan, choices) {
  const { mine, theirs, same, conflicts } = plan.counts;
  const lines = [
    `Saving the merge applies ${plural(mine, "change")} of mine and ${plural(theirs, "change")} of theirs` +
      (same ? ` (${plural(same, "change")} both made alike)` : "") +
      (conflicts ? `; ${plural(conflicts, "conflict")}: the same masks changed on both sides.` : "; nothing conflicts."),
  ];
  const open = plan.changes.filter((c) => c.side === "conflict" && !choices.has(c.id)).length;
  if (open) lines.push(`Choose mine or theirs for ${plural(open, "conflict")} before saving.`);
  const restored = [];
  const dropped = [];
  for (const change of plan.changes) {
    if (change.side !== "conflict" || !choices.has(change.id)) continue;
    const take = choices.get(change.id);
    (take === "mine" ? restored : dropped).push(...restoredBy(change, take));
  }
  if (restored.length) lines.push(`Keeping mine brings back ${masksText(restored)}, which they deleted.`);
  if (dropped.length) lines.push(`Keeping theirs brings back ${masksText(dropped)}, which I deleted.`);
  return lines;
}

export class MergeDialog {
  /**
   * @param {HTMLElement} root
   * @param {{saver: import("../controller/saver.js").AnnotationSaver, model: import("../model.js").ViewerModel,
   *          editor: import("../editor.js").Editor, api: import("../api.js").ApiClient, imageId: number|string,
   *          onLoadTheirs: () => Promise<void>, decode?: typeof decodeMasks}} deps
   */
  constructor(root, { saver, model, editor, api, imageId, onLoadTheirs, decode = decodeMasks }) {
    this.root = root;
    this.saver = saver;
    this.model = model;
    this.editor = editor;
    this.api = api;
    this.imageId = imageId;
    this.decode = decode;
    this.message = root.querySelector("[data-role=conflict-message]");
    this.summary = root.querySelector("[data-role=merge-summary]");
    this.list = root.querySelector("[data-role=merge-conflicts]");
    /** @type {HTMLButtonElement} */
    this.mergeButton = root.querySelector("[data-action=merge]");
    /** @type {import("./threeWay.js").MergePlan|null} */
    this.plan = null;
    /** @type {Map<number, "mine"|"theirs">} */
    this.choices = new Map();
    this._theirs = null; // their annotation (origins, version)
    this._revision = -1; // the masks' revision the plan was made from
    this._loading = null;
    this.mergeButton.addEventListener("click", () => this.merge());
    root.querySelector("[data-action=all-mine]").addEventListener("click", () => this.chooseAll("mine"));
    root.querySelector("[data-action=all-theirs]").addEventListener("click", () => this.chooseAll("theirs"));
    root.querySelector("[data-action=load-theirs]").addEventListener("click", () => onLoadTheirs());
    saver.subscribe((reason) => reason === "status" && this._statusChanged());
    this._statusChanged();
  }

  _statusChanged() {
    const { status, conflict } = this.saver.state;
    const open = status === "conflict";
    this.root.hidden = !open;
    if (!open) {
      this.plan = null;
      this._loading = null;
      return;
    }
    this.message.textContent =
      `Version ${conflict.current} of these masks was saved (in another tab, or by someone else) while you edited ` +
      `version ${conflict.base || "none"}. Merge your edits with theirs, or load theirs and drop yours.`;
    if (!this._loading) this._loading = this.prepare();
  }

  /** Fetch the base and their version, and plan the merge with the masks on screen. */
  async prepare() {
    const { conflict } = this.saver.state;
    this.plan = null;
    this.choices = new Map();
    this.mergeButton.disabled = true;
    this.summary.textContent = "Comparing your edits with theirs…";
    this.list.replaceChildren();
    try {
      const [base, theirs] = await Promise.all([
        conflict.base ? this._fetch(conflict.base) : null,
        this._fetch(conflict.current),
      ]);
      this._theirs = theirs;
      this._base = base;
      this._plan();
    } catch (error) {
      this.summary.textContent = `Could not compare the versions: ${error.message}. Load theirs, or reload the page.`;
    }
  }

  async _fetch(version) {
    const annotation = await this.api.getAnnotation(this.imageId, { version });
    const { labels } = await this.decode(annotation.masks);
    return { ...annotation, labels };
  }

  _plan() {
    const masks = this.model.masks;
    this.plan = planMerge({
      base: this._base?.labels ?? null,
      mine: masks.labels.slice(),
      theirs: this._theirs.labels,
      width: masks.width,
      height: masks.height,
    });
    this._revision = masks.revision;
    this.choices = new Map();
    this.render();
  }

  chooseAll(take) {
    if (!this.plan) return;
    for (const change of this.plan.changes) if (change.side === "conflict") this.choices.set(change.id, take);
    this.render();
  }

  choose(id, take) {
    this.choices.set(id, take);
    this.render();
  }

  render() {
    const { plan, choices } = this;
    if (!plan) return;
    this.summary.replaceChildren(...mergeSummary(plan, choices).map((line) => {
      const p = document.createElement("p");
      p.textContent = line;
      return p;
    }));
    const conflicts = plan.changes.filter((c) => c.side === "conflict");
    this.list.replaceChildren(...conflicts.map((change, k) => this._conflictRow(change, k)));
    this.mergeButton.disabled = conflicts.some((c) => !choices.has(c.id));
    this.root.dataset.conflicts = String(conflicts.length);
  }

  _conflictRow(change, k) {
    const li = document.createElement("li");
    li.dataset.conflict = String(change.id);
    const text = document.createElement("span");
    text.textContent = `Conflict ${k + 1} (x ${change.at.x}, y ${change.at.y}` +
      `${this.model.masks.depth > 1 ? `, z ${change.at.z}` : ""}): I ${describeEdits(change.mine)}; ` +
      `they ${describeEdits(change.theirs)}.`;
    const choice = document.createElement("div");
    choice.className = "merge-choice";
    li.append(text, choice);
    for (const take of ["mine", "theirs"]) {
      const label = document.createElement("label");
      const radio = document.createElement("input");
      radio.type = "radio";
      radio.name = `merge-${change.id}`;
      radio.value = take;
      radio.checked = this.choices.get(change.id) === take;
      radio.addEventListener("change", () => radio.checked && this.choose(change.id, take));
      label.append(radio, ` Keep ${take}`);
      choice.append(label);
    }
    return li;
  }

  /** Put the merged masks on screen (one undoable step) and save them after theirs. */
  async merge() {
    const { plan, choices } = this;
    if (!plan || this.mergeButton.disabled) return null;
    if (this.model.masks.revision !== this._revision) {
      this._plan(); // edited meanwhile: plan again, and let the person check it
      this.summary.prepend(Object.assign(document.createElement("p"), { textContent: "Your masks changed meanwhile; the merge was planned again." }));
      return null;
    }
    const merged = applyMerge(plan, choices);
    const origins = mergeOrigins(plan, choices, this.model.masks.originNames(), this._theirs.origins ?? []);
    this.editor.execute(replaceLabels(this.model, merged, origins, `Merge with version ${this._theirs.version}`));
    return this.saver.keepMine();
  }
}
