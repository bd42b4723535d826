/**
 * The segmentation options form (templates/pages/_segment_options.html): reading
 * it into the JSON body of POST /api/images/{id}/segment/ and POST /api/jobs/.
 */

/** Cellpose's channel convention: 0 = grayscale, 1 = red, 2 = green, 3 = blue. */
export const CHANNELS = Object.freeze([
  { value: 0, label: "Gray" },
  { value: 1, label: "Red" },
  { value: 2, label: "Green" },
  { value: 3, label: "Blue" },
]);

function number(values, name, fallback) {
  const raw = values[name];
  if (raw === undefined || raw === null || raw === "") return fallback;
  const value = Number(raw);
  if (!Number.isFinite(value)) throw new Error(`${name.replaceAll("_", " ")} must be a number`);
  return value;
}

function flag(values, name) {
  const raw = values[name];
  return raw === true || raw === "on" || raw === "true" || raw === "1";
}

/**
 * Build the options from form values (strings as in FormData, or booleans).
 *
 * The defaults equal the server's (inference/options.py), so an untouched form asks for
 * what an empty request would get.
 *
 * @param {Record<string, any>} values fields: model_version, chan1, chan2, diameter_auto,
 *   diameter, augment, tile_overlap, cellprob_threshold, flow_threshold, min_size, do_3d, anisotropy,
 *   stitch_threshold
 * @returns {object} model_version (omitted = the current model), channels [cyto, nucleus],
 *   diameter (null = estimate with the size model), augment, tile_overlap, cellprob_threshold,
 *   flow_threshold, min_size, do_3d (omitted when the form has no 3D field: the server segments
 *   stacks in 3D), anisotropy (only with do_3d), stitch_threshold (only without: the stack is
 *   segmented plane by plane and masks of successive planes overlapping this much are one cell)
 */
export function buildSegmentOptions(values) {
  const chan1 = number(values, "chan1", 0);
  let chan2 = number(values, "chan2", 0);
  if (![0, 1, 2, 3].includes(chan1) || ![0, 1, 2, 3].includes(chan2)) {
    throw new Error("channels must be 0 (gray), 1 (red), 2 (green) or 3 (blue)");
  }
  if (chan1 === 0) chan2 = 0; // a grayscale image has no separate nucleus channel
  let diameter = null;
  if (!flag(values, "diameter_auto")) {
    diameter = number(values, "diameter", null);
    if (diameter === null) throw new Error("enter a cell diameter in pixels, or choose automatic");
    if (diameter <= 0) throw new Error("the cell diameter must be more than 0 pixels");
  }
  const options = {
    channels: [chan1, chan2],
    diameter,
    augment: "augment" in values ? flag(values, "augment") : true,
    tile_overlap: number(values, "tile_overlap", 0.5),
    cellprob_threshold: number(values, "cellprob_threshold", 0),
    flow_threshold: number(values, "flow_threshold", 0.4),
    min_size: number(values, "min_size", 15),
  };
  if ("do_3d" in values) {
    options.do_3d = flag(values, "do_3d");
    if (options.do_3d) options.anisotropy = number(values, "anisotropy", 1);
    else {
      options.stitch_threshold = number(values, "stitch_threshold", 0.25);
      if (!(options.stitch_threshold > 0 && options.stitch_threshold <= 1)) {
        throw new Error("the plane-to-plane overlap must be more than 0 and at most 1");
      }
    }
  }
  if (values.model_version) options.model_version = isNaN(Number(values.model_version)) ? values.model_version : Number(values.model_version);
  return options;
}

/** The form's values as a plain object (checkboxes as booleans). */
export function formValues(form) {
  const values = {};
  for (const element of form.elements) {
    if (!element.name || element.matches(":disabled")) continue;
    if (element.type === "checkbox") values[element.name] = element.checked;
    else if (element.type === "radio") {
      if (element.checked) values[element.name] = element.value;
    } else values[element.name] = element.value;
  }
  return values;
}

export function readSegmentOptions(form) {
  return buildSegmentOptions(formValues(form));
}

/**
 * Fill the model drop-down from GET /api/models/ (keeps the "current" entry first). A model
 * chosen before the list came (segmentRecipe.js applyFormValues: select.dataset.wanted) is selected.
 * @param {HTMLSelectElement} select
 * @param {Array<{id: number, name: string, version: number, is_current?: boolean}>} models
 */
export function fillModelChoices(select, models) {
  for (const model of models) {
    const option = document.createElement("option");
    option.value = String(model.id);
    option.textContent = `${model.name} v${model.version}${model.is_current ? " (current)" : ""}`;
    select.append(option);
  }
  const wanted = select.dataset.wanted;
  if (wanted && [...select.options].some((option) => option.value === wanted)) select.value = wanted;
}

/**
 * Keep the form's diameter fields consistent: the number is disabled while "automatic" is
 * ticked, and then shows the diameter the last segmentation estimated (input.dataset.estimated,
 * set by segmentRecipe.js) with a button to use it; `onDiameter` receives the diameter to show
 * as the disk (null = none).
 */
export function bindDiameterFields(form, onDiameter) {
  const auto = form.elements.namedItem("diameter_auto");
  const input = form.elements.namedItem("diameter");
  /** @type {HTMLButtonElement|null} */
  const useEstimate = form.querySelector("[data-action=use-estimate]");
  /** @type {HTMLElement|null} */
  const note = form.querySelector("[data-role=diameter-note]");
  const sync = () => {
    const estimated = Number(input.dataset.estimated) > 0 ? Number(input.dataset.estimated) : null;
    input.disabled = auto.checked;
    if (auto.checked && estimated) input.value = String(estimated);
    const value = Number(input.value);
    const showEstimate = auto.checked && estimated !== null;
    if (useEstimate) {
      useEstimate.hidden = !showEstimate;
      useEstimate.textContent = `Use ${estimated} px`;
    }
    if (note) {
      note.hidden = !showEstimate;
      note.textContent = showEstimate ? `Estimated ${estimated} px for the masks on show.` : "";
    }
    onDiameter(auto.checked ? estimated : value > 0 ? value : null);
  };
  auto.addEventListener("change", sync);
  input.addEventListener("input", sync);
  useEstimate?.addEventListener("click", () => {
    auto.checked = false;
    sync();
    input.focus();
  });
  sync();
}

/**
 * Show the 3D fields only for stacks (anisotropy with 3D ticked, the plane-to-plane overlap
 * without); for other images they are disabled, so the request leaves do_3d to the server.
 */
export function bindVolumeFields(form, isStack) {
  const fieldset = form.querySelector("[data-volume-only]");
  if (!fieldset) return;
  fieldset.hidden = !isStack;
  fieldset.disabled = !isStack;
  const do3d = form.elements.namedItem("do_3d");
  const anisotropy = form.elements.namedItem("anisotropy");
  const stitch = form.elements.namedItem("stitch_threshold");
  const sync = () => {
    anisotropy.disabled = !do3d.checked;
    if (stitch) stitch.disabled = do3d.checked;
  };
  do3d.checked = isStack;
  do3d.addEventListener("change", sync);
  sync();
}
