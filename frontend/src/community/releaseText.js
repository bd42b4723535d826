/** What the dashboard asks before a release or a roll back, and says after: both models named. */

/** @param {{name: string, version: number}|null|undefined} model */
export function modelName(model) {
  return model ? `${model.name} v${model.version}` : "no model";
}

/**
 * @param {{name: string, version: number}} target the version to release
 * @param {{name: string, version: number}|null} current the current model
 */
export function releaseQuestion(target, current) {
  return `Release ${modelName(target)}? Every segmentation that uses the community model switches from ` +
    `${modelName(current)} to ${modelName(target)}.`;
}

/**
 * @param {{name: string, version: number, rollback_to?: {name: string, version: number}|null}} current
 * @returns {string|null} null when there is nothing to roll back to
 */
export function rollbackQuestion(current) {
  if (!current.rollback_to) return null;
  return `Roll back ${modelName(current)}? Every segmentation that uses the community model switches from ` +
    `${modelName(current)} back to ${modelName(current.rollback_to)}.`;
}

/** After a release or roll back: what is current now, and what was. */
export function changedText(now, before) {
  return `${modelName(now)} is now the current community model (before: ${modelName(before)}).`;
}
