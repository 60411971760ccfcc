/**
 * @module test/helpers/async
 *
 * Small promise helpers: a deferred promise (to hold a hook or a write open
 * until the test lets it go), a tick that lets queued work run, and a poll
 * until a condition holds.
 */

/** A promise with its resolve function exposed. */
export interface Deferred<T = void> {
  readonly promise: Promise<T>;
  resolve(value: T): void;
}

/** A {@link Deferred}: `promise` settles when the test calls `resolve`. */
export function deferred<T = void>(): Deferred<T> {
  let resolve!: (value: T) => void;
  const promise = new Promise<T>((r) => {
    resolve = r;
  });
  return { promise, resolve };
}

/** Let queued microtasks and one macrotask run (after `ms` milliseconds). */
export function tick(ms = 0): Promise<void> {
  return new Promise((r) => setTimeout(r, ms));
}

/** Resolve once `check()` is true, checking every `everyMs`; reject after `timeoutMs` naming what was awaited. */
export async function until(check: () => Promise<boolean> | boolean, what = 'the condition', timeoutMs = 30_000, everyMs = 20): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!(await check())) {
    if (Date.now() > deadline) throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}`);
    await tick(everyMs);
  }
}
