/**
 * @module test/helpers/errors
 *
 * The one set of error assertions every test directory uses: a promise that
 * must reject (or a call that must throw) with a CkptError, optionally of a
 * given code; each returns the error for further assertions.
 */
import { expect } from 'vitest';
import { isCkptError, type CkptError } from '../../src/errors.js';

/**
 * A caught CkptError, typed with `errors` present so a test can index the
 * individual failures directly. On an error that has none (`errors` is then
 * undefined) the test's own access fails, so no assertion passes by accident.
 */
export type CaughtCkptError = CkptError & { readonly errors: readonly Error[] };

function describeValue(err: unknown): string {
  return err instanceof Error ? `${err.name}: ${err.message}` : (JSON.stringify(err) ?? String(err));
}

/** Check that `err` is a CkptError (of `code`, when given) and return it. */
export function assertCkptError(err: unknown, code?: string): CaughtCkptError {
  expect(isCkptError(err), `expected CkptError${code === undefined ? '' : ` ${code}`}, got ${describeValue(err)}`).toBe(true);
  if (code !== undefined) expect((err as CkptError).code).toBe(code);
  return err as CaughtCkptError;
}

/** Await a promise that must reject with a CkptError (of `code`, when given); returns the error. */
export async function rejection(promise: Promise<unknown>, code?: string): Promise<CaughtCkptError> {
  const err: unknown = await promise.then(
    (v: unknown) => ({ resolvedWith: v }),
    (e: unknown) => e,
  );
  return assertCkptError(err, code);
}

/** Await a promise that must reject with a CkptError of `code`; returns the error. */
export function expectCode(promise: Promise<unknown>, code: string): Promise<CaughtCkptError> {
  return rejection(promise, code);
}

/** Call `fn`, which must throw a CkptError of `code`; returns the error. */
export function expectThrowCode(fn: () => unknown, code: string): CaughtCkptError {
  let err: unknown = { returnedWithoutThrowing: true };
  try {
    fn();
  } catch (e) {
    err = e;
  }
  return assertCkptError(err, code);
}
