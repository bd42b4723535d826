/**
 * The model card of a model version (`metrics.card`, written by the training recipe) as plain
 * sections for the models page: training data with licences and counts, AP per image kind on the
 * validation split, the recipe, known weaknesses. Pure data, no DOM (tested under node).
 */

/** @typedef {{ title: string, head?: string[], rows?: string[][], items?: string[] }} CardSection */

const fmt = (value, digits = 3) =>
  typeof value === "number" && Number.isFinite(value) ? value.toFixed(digits) : "–";

/** @param {Record<string, number> | undefined} kinds */
const kindList = (kinds) => Object.entries(kinds ?? {}).map(([kind, n]) => `${kind} ${n}`).join(", ");

/**
 * @param {any} card the `card` object of a model version's metrics, or undefined
 * @returns {CardSection[]} empty when the model has no card
 */
export function cardSections(card) {
  if (!card || typeof card !== "object") return [];
  /** @type {CardSection[]} */
  const sections = [];
  if (Array.isArray(card.training_data) && card.training_data.length) {
    sections.push({
      title: "Training data",
      head: ["Source", "Share of samples", "Images", "Cells", "Kinds", "Licence"],
      rows: card.training_data.map((s) => [String(s.source), fmt(s.weight, 2), String(s.n_images ?? "–"),
        String(s.n_cells ?? "–"), kindList(s.kinds), String(s.licence ?? "–")]),
    });
  }
  if (card.accuracy && typeof card.accuracy === "object") {
    sections.push({
      title: "Accuracy (automatic diameter; validation images never seen in training)",
      head: ["Images", "n", "AP@0.5", "AP@0.75", "AP@0.9", "Diameter error"],
      rows: Object.entries(card.accuracy).map(([group, row]) => [group, String(row.n_images ?? "–"),
        fmt(row.ap50), fmt(row.ap75), fmt(row.ap90),
        typeof row.diameter_error === "number" ? `${(100 * row.diameter_error).toFixed(1)} %` : "–"]),
    });
  }
  const stage2 = card.recipe?.stage2;
  if (stage2) {
    sections.push({
      title: "Recipe",
      items: [
        stageOne(card.recipe.stage1),
        `Stage 2: real and synthetic images, ${stage2.n_epochs} epochs, learning rate ${stage2.learning_rate}` +
          ` (real ${stage2.folder_weight}, synthetic ${stage2.synthetic_weight}, 3D slices ${stage2.volume_weight}).`,
      ],
    });
  }
  if (Array.isArray(card.weaknesses)) {
    sections.push({
      title: "Known weaknesses",
      items: card.weaknesses.length ? card.weaknesses.map(String) : ["None measured below the card's thresholds."],
    });
  }
  return sections;
}

/**
 * The recipe's stage 1 in a sentence: trained from synthetic images, or an earlier model given
 * to the recipe (named by its SHA-256, with what its own card says of its stage 2).
 * @param {object|undefined} stage1
 * @returns {string}
 */
function stageOne(stage1) {
  if (!stage1?.model_sha256) return `Stage 1: synthetic images, ${stage1?.n_epochs ?? "?"} epochs.`;
  const earlier = stage1.model_recipe?.stage2;
  const how = earlier ? `, itself trained by stage 2 for ${earlier.n_epochs} epochs on real and synthetic images` : "";
  return `Stage 1: an earlier model (SHA-256 ${String(stage1.model_sha256).slice(0, 12)}…${how}).`;
}
