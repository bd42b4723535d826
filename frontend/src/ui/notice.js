/**
 * A message over the viewer (an error, or information). Each message has a source
 * so that whoever showed it can take it back without hiding someone else's.
 */
export class Notice {
  constructor(element) {
    this.element = element;
    this.source = null;
  }

  /** @param {string} message @param {{kind?: "error"|"info", source?: string}} [options] */
  show(message, { kind = "error", source = "page" } = {}) {
    this.source = source;
    this.element.textContent = message;
    this.element.dataset.kind = kind;
    this.element.hidden = false;
  }

  /** Hide the message if it came from `source` (any message when omitted). */
  clear(source) {
    if (source !== undefined && source !== this.source) return;
    this.source = null;
    this.element.textContent = "";
    this.element.hidden = true;
  }
}
