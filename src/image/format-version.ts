/**
 * @module image/format-version
 *
 * What one image format version is, as data: its number, how its index is
 * decoded and encoded, and — for every version after the first — the step
 * from the version before it (upgrade, downgrade or why there is none, and
 * what the step changes, in words). Each version lives in one frozen module
 * (`index-v1`, `index-v2`, …) with its own index types; an ordered list of
 * them (`format-list`) is all the generic code (reader, writer, convert)
 * ever switches on.
 *
 * The step N-1 ↔ N is declared by version N, so adding a version never edits
 * the modules of the versions before it.
 */
import { CkptError, ErrorCodes } from '../errors.js';
import type { IndexLimits } from './index-common.js';

/**
 * The step from the previous format version to this one. `upgrade` must
 * never fail (every older image stays readable); `downgrade` either maps an
 * index back (throwing `CKPT_ERR_INVALID_ARGUMENT` when this particular index
 * uses something the older version cannot hold) or is not supported at all.
 */
export interface FormatStep<I, P> {
  /** Map an index of the previous version to this version (reading old images). */
  upgrade(previous: P): I;
  /** Map an index of this version back to the previous one, or why that is never possible. */
  readonly downgrade: FormatDowngrade<I, P>;
  /** What upgrading changes, one line per part of the image (shown by `ckpt convert`). */
  readonly upgradeChanges: readonly string[];
  /** What downgrading changes (empty when the downgrade is not supported). */
  readonly downgradeChanges: readonly string[];
}

/** A downgrade: supported (with its mapping) or not (with the reason shown to the user). */
export type FormatDowngrade<I, P> =
  | { readonly supported: true; map(index: I): P }
  | { readonly supported: false; readonly reason: string };

/**
 * One format version. `I` is the version's own index type (never the live
 * model: a version module is frozen once released, the model is not), `P`
 * the index type of the version before it.
 */
export interface FormatVersion<I = unknown, P = unknown> {
  /** Format version number, as written in the header. */
  readonly version: number;
  /** Decode and validate index bytes of this version; malformed fields fail with `CKPT_ERR_CORRUPT` naming them. */
  decode(bytes: Uint8Array, indexOffset: number, limits: IndexLimits, image: string): I;
  /** Serialize an index of this version (equal inputs give equal bytes). */
  encode(index: I): Buffer;
  /** The step from the previous version; absent only for the oldest version of a list. */
  readonly previous?: FormatStep<I, P>;
}

/**
 * Declare a format version (typed inside, and frozen so a list holding it
 * cannot be changed behind the generic code's back).
 */
export function defineFormatVersion<I, P = never>(spec: FormatVersion<I, P>): FormatVersion<I, P> {
  if (!Number.isSafeInteger(spec.version) || spec.version < 1 || spec.version > 0xffff) {
    throw new CkptError(ErrorCodes.INVALID_ARGUMENT, `a format version must be an integer 1..65535 (it is written in a 16-bit header field), got ${spec.version}`);
  }
  if (spec.previous !== undefined) {
    Object.freeze(spec.previous.upgradeChanges);
    Object.freeze(spec.previous.downgradeChanges);
    Object.freeze(spec.previous.downgrade);
    Object.freeze(spec.previous);
  }
  return Object.freeze(spec);
}
