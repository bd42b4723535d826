/**
 * Undo and redo: a capped stack of commands (objects with do() and undo()).
 *
 * The history keeps at most `limit` steps and `maxBytes` of diffs, dropping the
 * oldest first. It notifies "history" with {action: "do"|"undo"|"redo"|"clear", command}.
 */
import { Observable } from "../observable.js";

export class History extends Observable {
  /** @param {{limit?: number, maxBytes?: number}} [options] */
  constructor({ limit = 200, maxBytes = 256 * 1024 * 1024 } = {}) {
    super();
    this.limit = limit;
    this.maxBytes = maxBytes;
    this._done = [];
    this._undone = [];
    this._bytes = 0;
  }

  /** Do a command and make it the step to undo next (the redo stack is dropped). */
  execute(command) {
    command.do();
    for (const dropped of this._undone) this._bytes -= dropped.bytes ?? 0;
    this._undone = [];
    this._done.push(command);
    this._bytes += command.bytes ?? 0;
    while (this._done.length > this.limit || (this._bytes > this.maxBytes && this._done.length > 1)) {
      this._bytes -= this._done.shift().bytes ?? 0;
    }
    this.notify("history", { action: "do", command });
    return command;
  }

  undo() {
    const command = this._done.pop();
    if (!command) return null;
    command.undo();
    this._undone.push(command);
    this.notify("history", { action: "undo", command });
    return command;
  }

  redo() {
    const command = this._undone.pop();
    if (!command) return null;
    command.do();
    this._done.push(command);
    this.notify("history", { action: "redo", command });
    return command;
  }

  /** Forget every step (the masks were replaced, so the diffs no longer apply). */
  clear() {
    if (!this._done.length && !this._undone.length) return;
    this._done = [];
    this._undone = [];
    this._bytes = 0;
    this.notify("history", { action: "clear", command: null });
  }

  get canUndo() {
    return this._done.length > 0;
  }

  get canRedo() {
    return this._undone.length > 0;
  }

  /** The name of the step Undo would undo (or null). */
  get undoName() {
    return this._done.at(-1)?.name ?? null;
  }

  get redoName() {
    return this._undone.at(-1)?.name ?? null;
  }

  get length() {
    return this._done.length;
  }

  get bytes() {
    return this._bytes;
  }
}
