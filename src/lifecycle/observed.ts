/**
 * @module lifecycle/observed
 *
 * A promise that knows whether anyone observed it (`await`, `then`, `catch`,
 * `finally`, `Promise.all` …). `checkpoint()` and `restore()` return one, so a
 * call whose promise nobody awaits — the missing `await` that makes an image
 * hold the state of a later moment — is detected when the call runs.
 */
import { WarningCodes, type CkptWarning } from '../events.js';

/** A promise that records whether `then` was called on it. Derived promises are plain `Promise`s. */
export class ObservedPromise<T> extends Promise<T> {
  #observed = false;

  /** Derived promises (`then`, `catch`, `finally`) are plain promises. */
  static override get [Symbol.species](): PromiseConstructor {
    return Promise;
  }

  /** An observed promise that settles like `inner`. */
  static of<T>(inner: Promise<T>): ObservedPromise<T> {
    return new ObservedPromise<T>((resolve, reject) => {
      inner.then(resolve, reject);
    });
  }

  /** True once `then` (directly or through `await`, `catch`, `finally`, `Promise.all`) was called. */
  get observed(): boolean {
    return this.#observed;
  }

  /** Promise `then`; marks the promise observed. */
  override then<R1 = T, R2 = never>(
    onfulfilled?: ((value: T) => R1 | PromiseLike<R1>) | null,
    onrejected?: ((reason: unknown) => R2 | PromiseLike<R2>) | null,
  ): Promise<R1 | R2> {
    this.#observed = true;
    return super.then(onfulfilled, onrejected);
  }
}

/**
 * Let the microtasks queued by the caller right after the call run: an
 * `await` of the returned promise calls its `then` in a job queued then.
 */
export async function afterCallerTurn(): Promise<void> {
  await Promise.resolve();
  await Promise.resolve();
}

/**
 * Warns (once per method) when a promise a method returned was not awaited:
 * checked after the caller's turn, when the call starts running.
 */
export class NotAwaitedCheck {
  /** Methods already warned about. */
  readonly #warned = new Set<string>();

  /** @param warn - where `CKPT_WARN_NOT_AWAITED` goes */
  constructor(private readonly warn: (w: CkptWarning) => void) {}

  /** After the caller's turn: warn if `p`, returned by `what` (`'restore()'`, `'checkpoint()'`), was not observed. */
  async check(p: ObservedPromise<unknown> | undefined, what: string): Promise<void> {
    if (p === undefined) return;
    await afterCallerTurn();
    if (p.observed || this.#warned.has(what)) return;
    this.#warned.add(what);
    this.warn({
      code: WarningCodes.NOT_AWAITED,
      message:
        `${what} was called without await: it runs only when the caller yields, so ` +
        (what === 'restore()'
          ? 'the restored state overwrites whatever the program did after the call — await ckpt.restore() before using the state'
          : 'its image holds the state at that later moment, not at the call — await each ckpt.checkpoint()'),
    });
  }
}
