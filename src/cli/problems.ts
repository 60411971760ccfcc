/**
 * @module cli/problems
 *
 * A thrown error as a verify problem `{ code, where, message }`: what every
 * CLI check (an image's own, its group's parts) collects instead of stopping
 * at the first failure.
 */
import { ErrorCodes, isCkptError } from '../index.js';
import type { VerifyProblem } from '../format/index.js';

/** A problem from an error thrown while opening or reading (its own `where` wins over the one given). */
export function problemOf(err: unknown, where: string): VerifyProblem {
  if (isCkptError(err)) return { code: err.code, where: err.where ?? where, message: err.message };
  return { code: ErrorCodes.STORE_IO, where, message: err instanceof Error ? err.message : String(err) };
}
