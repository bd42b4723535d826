/**
 * A minimal observer list: listeners receive (reason, detail, source).
 *
 * The reason is a short string naming what changed ("transform", "masks", ...), so
 * a listener can ignore what it does not draw. Listeners run synchronously in the
 * order they subscribed; one that throws does not stop the others (its error is
 * logged with console.error, so it is never swallowed).
 */
export class Observable {
  #listeners = new Set();

  /**
   * @param {(reason: string, detail: any, source: Observable) => void} listener
   * @returns {() => void} a function that unsubscribes the listener
   */
  subscribe(listener) {
    this.#listeners.add(listener);
    return () => this.#listeners.delete(listener);
  }

  /**
   * @param {string} reason what changed
   * @param {any} [detail] extra information for listeners that want it
   */
  notify(reason, detail) {
    for (const listener of [...this.#listeners]) {
      try {
        listener(reason, detail, this);
      } catch (error) {
        console.error(error);
      }
    }
  }
}
