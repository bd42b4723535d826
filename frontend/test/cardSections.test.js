import { test } from "node:test";
import assert from "node:assert/strict";

import { cardSections } from "../src/community/cardSections.js";

const card = {
  training_data: [{ source: "dsb2018-train", weight: 0.65, n_images: 541, n_cells: 23000,
    kinds: { fluorescent: 445, stained: 86, brightfield: 10 }, licence: "CC0 1.0" }],
  accuracy: { "dsb2018/fluorescent": { n_images: 50, ap50: 0.9, ap75: 0.7, ap90: 0.2, diameter_error: 0.05 } },
  recipe: { stage1: { n_epochs: 520 }, stage2: { n_epochs: 600, learning_rate: 0.1, folder_weight: 0.65,
    synthetic_weight: 0.25, volume_weight: 0.1 } },
  weaknesses: ["dsb2018/brightfield (3 images): AP@0.5 0.57"],
};

test("a model without a card shows no card", () => {
  assert.deepEqual(cardSections(undefined), []);
  assert.deepEqual(cardSections({}), []);
});

test("the card lists sources with licences and counts, AP per kind, the recipe and weaknesses", () => {
  const sections = cardSections(card);
  assert.deepEqual(sections.map((s) => s.title.split(" (")[0]),
    ["Training data", "Accuracy", "Recipe", "Known weaknesses"]);
  assert.deepEqual(sections[0].rows[0],
    ["dsb2018-train", "0.65", "541", "23000", "fluorescent 445, stained 86, brightfield 10", "CC0 1.0"]);
  assert.deepEqual(sections[1].rows[0], ["dsb2018/fluorescent", "50", "0.900", "0.700", "0.200", "5.0 %"]);
  assert.match(sections[2].items[1], /600 epochs/);
  assert.deepEqual(sections[3].items, ["dsb2018/brightfield (3 images): AP@0.5 0.57"]);
});

test("an empty list of weaknesses says that none were measured", () => {
  assert.deepEqual(cardSections({ weaknesses: [] })[0].items, ["None measured below the card's thresholds."]);
});

test("a recipe that started from an earlier model names it and what trained it", () => {
  const given = { ...card, recipe: { ...card.recipe,
    stage1: { model_sha256: "0123456789abcdef", model_recipe: { stage2: { n_epochs: 420 } } } } };
  const items = cardSections(given).find((s) => s.title === "Recipe").items;
  assert.equal(items[0],
    "Stage 1: an earlier model (SHA-256 0123456789ab…, itself trained by stage 2 for 420 epochs on real and synthetic images).");
  assert.match(cardSections(card).find((s) => s.title === "Recipe").items[0], /synthetic images, 520 epochs/);
});
