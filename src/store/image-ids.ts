/**
 * @module store/image-ids
 *
 * Image ids as ckpt's own stores assign them: a 12-digit, zero-padded decimal
 * sequence number (`000000000001`, `000000000002`, …). Fixed width makes the
 * string order equal the numeric order, so "a greater id is newer" holds for a
 * plain string comparison, for `ls` in a shell, and for object-store listings
 * that sort keys lexicographically. The next id is the largest id in use plus
 * one; stores compute it while holding the writer lock, so two writers never
 * pick the same number.
 */

import { CkptError, ErrorCodes } from '../errors.js';

/** Number of decimal digits in an image id. */
export const IMAGE_ID_DIGITS = 12;

/** The largest sequence number an id can hold (`999999999999`). */
export const MAX_IMAGE_SEQUENCE = 10 ** IMAGE_ID_DIGITS - 1;

/** The smallest sequence number an id can hold; the first image of a store gets it. */
export const MIN_IMAGE_SEQUENCE = 1;

const IMAGE_ID_RE = /^\d{12}$/;

/**
 * True when `id` is a well-formed image id: exactly 12 decimal digits and not
 * all zeros (sequence numbers start at 1). Never throws.
 */
export function isImageId(id: unknown): id is string {
  return typeof id === 'string' && IMAGE_ID_RE.test(id) && id !== '000000000000';
}

/**
 * The sequence number of an image id.
 *
 * @param id - an id such as `000000000042`
 * @returns its sequence number (`42`)
 * @throws CkptError `CKPT_ERR_INVALID_ARGUMENT` when `id` is not a well-formed image id
 */
export function parseImageId(id: string): number {
  if (!isImageId(id)) {
    throw new CkptError(
      ErrorCodes.INVALID_ARGUMENT,
      `Invalid image id ${JSON.stringify(id)}: an image id is ${IMAGE_ID_DIGITS} decimal digits ` +
        `such as "000000000001" (as returned by store.list()).`,
    );
  }
  return Number(id);
}

/**
 * The image id of a sequence number.
 *
 * @param sequence - an integer in [{@link MIN_IMAGE_SEQUENCE}, {@link MAX_IMAGE_SEQUENCE}]
 * @returns the zero-padded id (`42` → `000000000042`)
 * @throws CkptError `CKPT_ERR_INVALID_ARGUMENT` when `sequence` is out of range or not an integer
 */
export function formatImageId(sequence: number): string {
  if (!Number.isSafeInteger(sequence) || sequence < MIN_IMAGE_SEQUENCE || sequence > MAX_IMAGE_SEQUENCE) {
    throw new CkptError(
      ErrorCodes.INVALID_ARGUMENT,
      `Invalid image sequence number ${String(sequence)}: it must be an integer from ` +
        `${MIN_IMAGE_SEQUENCE} to ${MAX_IMAGE_SEQUENCE}.`,
    );
  }
  return String(sequence).padStart(IMAGE_ID_DIGITS, '0');
}

/**
 * Compare two image ids, oldest first (usable with `Array.prototype.sort`).
 * Because ids have a fixed width this is a plain string comparison.
 */
export function compareImageIds(a: string, b: string): number {
  return a < b ? -1 : a > b ? 1 : 0;
}

/**
 * The id for the next image: the largest sequence number in use plus one.
 * Callers pass every committed id and every id already handed to an
 * in-progress writer, and must hold the writer lock while they do.
 *
 * @param taken - sequence numbers in use (committed or reserved)
 * @returns the next id (`000000000001` for an empty store)
 * @throws CkptError `CKPT_ERR_LIMIT` when the id space is exhausted
 */
export function nextImageId(taken: Iterable<number>): string {
  let max = 0;
  for (const seq of taken) if (seq > max) max = seq;
  if (max >= MAX_IMAGE_SEQUENCE) {
    throw new CkptError(
      ErrorCodes.LIMIT,
      `No image id left: the store already holds id ${formatImageId(MAX_IMAGE_SEQUENCE)}. ` +
        `Move the images to a new store directory.`,
    );
  }
  return formatImageId(max + 1);
}
