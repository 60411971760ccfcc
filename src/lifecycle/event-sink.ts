/**
 * @module lifecycle/event-sink
 *
 * Where a Checkpointer's events go: `checkpoint`, `restore`, `warning` and
 * `error` listeners. Nothing is lost silently: a warning nobody listens to is
 * printed as a process warning (with its code), and a failure no caller
 * awaits (a background checkpoint) goes to `error` listeners or, with none,
 * is kept for the next `checkpoint()`/`close()` to throw.
 */
import { EventEmitter } from 'node:events';
import { asError, CkptError, ErrorCodes, isCkptError } from '../errors.js';
import { WarningCodes, type CheckpointerEvents, type CkptWarning } from '../events.js';

/** The listeners of one Checkpointer and its failures nobody has seen yet. */
export class EventSink {
  /** The listeners (`on`, `once`, `off` go straight to it). */
  readonly emitter = new EventEmitter();
  #pendingError: CkptError | undefined;

  /** Emit `event`; a throwing listener becomes a `CKPT_WARN_LISTENER_THREW` warning. */
  emit<E extends keyof CheckpointerEvents>(event: E, payload: CheckpointerEvents[E]): void {
    // An unhandled 'error' event would crash the app: emit it only when someone listens.
    if (event === 'error' && this.emitter.listenerCount('error') === 0) return;
    try {
      this.emitter.emit(event, payload);
    } catch (err) {
      // A throwing listener must not break a checkpoint that already committed.
      if (event !== 'warning') this.warn({ code: WarningCodes.LISTENER_THREW, message: `a '${event}' listener threw: ${asError(err).message}`, error: asError(err) });
    }
  }

  /** A warning: to `warning` listeners, else printed as a process warning. */
  warn(w: CkptWarning): void {
    // Nobody listens: Node's convention for library warnings (stderr, with the
    // code; silenced by --no-warnings), so a fallback is never silent.
    if (this.emitter.listenerCount('warning') === 0) {
      process.emitWarning(w.message, { type: 'CkptWarning', code: w.code });
      return;
    }
    this.emit('warning', w);
  }

  /** A failure no caller awaits: to `error` listeners, else kept for {@link EventSink.throwPending} and printed as a process warning. */
  reportBackground(err: unknown): void {
    const e = isCkptError(err) ? err : new CkptError(ErrorCodes.SNAPSHOT_FAILED, `background checkpoint failed: ${asError(err).message}`, { cause: err });
    if (this.emitter.listenerCount('error') > 0) {
      this.emit('error', e);
      return;
    }
    this.#pendingError ??= e;
    process.emitWarning(e.message, { code: e.code });
  }

  /** Throw (once) the background failure nobody has seen yet, if any. */
  throwPending(): void {
    const e = this.#pendingError;
    if (e === undefined) return;
    this.#pendingError = undefined;
    throw e;
  }
}
