/**
 * @module store/read-range
 *
 * The check every `ImageSource.read()` makes before reading: the source is
 * open and the range lies inside the image. One rule, one wording, for every
 * store.
 */
import { CkptError, ErrorCodes } from '../errors.js';

/**
 * The error for a read of `length` bytes at `offset` from image `id` of
 * `size` bytes — CLOSED after `close()`, CORRUPT for a range outside the
 * image (a truncated image or a damaged index) — or undefined when the read
 * may proceed.
 */
export function readRangeError(id: string, size: number, closed: boolean, offset: number, length: number): CkptError | undefined {
  if (closed) return new CkptError(ErrorCodes.CLOSED, `Image ${id} was closed; open it again to read it.`, { image: id });
  if (!Number.isSafeInteger(offset) || !Number.isSafeInteger(length) || offset < 0 || length < 0 || offset + length > size) {
    return new CkptError(
      ErrorCodes.CORRUPT,
      `Image ${id} is truncated or its index is damaged: a read of ${String(length)} bytes at offset ` +
        `${String(offset)} is outside the image (${size} bytes).`,
      { image: id, where: `bytes ${String(offset)}+${String(length)}` },
    );
  }
  return undefined;
}
