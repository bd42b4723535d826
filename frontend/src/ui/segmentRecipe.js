/**
 * Putting a result's recipe (how its masks were made: GET .../annotation/ "recipe",
 * inference/recipe.py) back into the segmentation options form, so the page shows
 * what made the masks on screen and a new run starts from there.
 */

/**
 * The form values that ask for what `recipe` did (strings and booleans, as the form holds them).
 * An estimated diameter leaves "Automatic" ticked and is returned as `estimated_diameter`.
 * @param {{model_version?: number, channels?: number[], diameter?: number|null,
 *          diameter_source?: string, cellprob_threshold?: number, flow_threshold?: number,
 *          augment?: boolean, tile_overlap?: number, min_size?: number, do_3d?: boolean|null,
 *          anisotropy?: number|null, stitch_threshold?: number|null}} recipe
 * @returns {Record<string, string|boolean|null>}
 */
export function recipeFormValues(recipe) {
  const [chan1, chan2] = recipe.channels ?? [0, 0];
  const given = recipe.diameter_source === "given" && recipe.diameter > 0;
  /** @type {Record<string, string|boolean|null>} */
  const values = {
    chan1: String(chan1),
    chan2: String(chan1 === 0 ? 0 : chan2),
    diameter_auto: !given,
    estimated_diameter: !given && recipe.diameter > 0 ? String(Math.round(recipe.diameter * 10) / 10) : null,
  };
  if (recipe.model_version !== undefined && recipe.model_version !== null) values.model_version = String(recipe.model_version);
  if (given) values.diameter = String(recipe.diameter);
  for (const name of ["cellprob_threshold", "flow_threshold", "tile_overlap", "min_size", "anisotropy", "stitch_threshold"]) {
    if (recipe[name] !== undefined && recipe[name] !== null) values[name] = String(recipe[name]);
  }
  if (typeof recipe.augment === "boolean") values.augment = recipe.augment;
  if (typeof recipe.do_3d === "boolean") values.do_3d = recipe.do_3d;
  return values;
}

/**
 * Set the form's fields to `values` (recipeFormValues) and tell the bound listeners
 * (bindDiameterFields, bindVolumeFields) with "change" events. A model the drop-down
 * does not list yet is chosen when fillModelChoices adds it.
 * @param {HTMLFormElement} form
 * @param {Record<string, string|boolean|null>} values
 */
export function applyFormValues(form, values) {
  const diameter = /** @type {HTMLInputElement} */ (form.elements.namedItem("diameter"));
  if (diameter) {
    if (values.estimated_diameter) diameter.dataset.estimated = String(values.estimated_diameter);
    else delete diameter.dataset.estimated;
  }
  for (const [name, value] of Object.entries(values)) {
    const element = form.elements.namedItem(name);
    if (!(element instanceof HTMLInputElement || element instanceof HTMLSelectElement) || value === null) continue;
    if (element instanceof HTMLInputElement && element.type === "checkbox") element.checked = Boolean(value);
    else if (element instanceof HTMLSelectElement) {
      element.dataset.wanted = String(value);
      if ([...element.options].some((option) => option.value === String(value))) element.value = String(value);
    } else element.value = String(value);
  }
  announceChanges(form);
}

/** Tell the fields' listeners (bindDiameterFields, bindVolumeFields) that values were set. */
export function announceChanges(form) {
  for (const name of ["do_3d", "diameter_auto"]) {
    const element = form.elements.namedItem(name);
    if (element instanceof HTMLInputElement) element.dispatchEvent(new Event("change"));
  }
}
