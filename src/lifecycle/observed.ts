/**
 * @module lifecycle/observed
 *
 * A promise that knows whether anyone observed it (`await`, `then`, `catch`,
 * `finally`, `Promise.all` …). `checkpoint()` and `restore()` return one, so a
 * call whose promise nobody awaits — the missing `await` that makes an image
 * hold the state of a later moment — is detected when the call runs.
 */

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
