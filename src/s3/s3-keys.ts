/**
 * @module s3/s3-keys
 *
 * Where an `S3Store` keeps things in its bucket: the same layout as a
 * `FsStore` directory, so a store directory copied to a bucket with
 * `aws s3 cp --recursive` (or back) is a store there too.
 *
 * - `<prefix><id>.ckpt` — a committed image (`jobs/sim-42/000000000007.ckpt`);
 *   the only keys `list()` shows;
 * - `<prefix>.ckpt-lock` — the writer lease;
 * - `<prefix>.ckpt-probe-<random>` — the object the first writer uses to
 *   check that the server honours conditional writes (deleted at once;
 *   `cleanup()` removes leftovers).
 *
 * There are no temporary names: an image being written is an incomplete
 * multipart upload under its final key, which S3 never lists or serves.
 */
import { CkptError, ErrorCodes } from '../errors.js';
import { isImageId } from '../store/image-ids.js';

/** Name of the writer lease object under the prefix. */
export const LEASE_NAME = '.ckpt-lock';

/** Prefix of the capability-probe objects under the store prefix. */
export const PROBE_PREFIX = '.ckpt-probe-';

const IMAGE_NAME_RE = /^(\d{12})\.ckpt$/;

/**
 * The key prefix of a store: `''` (the bucket root) or a prefix ending in
 * `/` (one is appended when missing, so `sim-42` and `sim-42/` are the same
 * store).
 *
 * @throws CkptError `CKPT_ERR_INVALID_ARGUMENT` for a prefix that is not a string, starts with `/` or holds `//`
 */
export function normalizePrefix(prefix: unknown): string {
  if (prefix === undefined || prefix === '') return '';
  if (typeof prefix !== 'string') {
    throw new CkptError(ErrorCodes.INVALID_ARGUMENT, `S3Store prefix must be a string such as "jobs/sim-42/"; got ${typeof prefix}.`);
  }
  if (prefix.startsWith('/') || prefix.includes('//')) {
    throw new CkptError(
      ErrorCodes.INVALID_ARGUMENT,
      `S3Store prefix ${JSON.stringify(prefix)} is not a key prefix: it must not start with "/" or contain "//" (e.g. "jobs/sim-42/").`,
    );
  }
  return prefix.endsWith('/') ? prefix : `${prefix}/`;
}

/**
 * Check a bucket name (loosely: S3's own rules differ between providers).
 *
 * @throws CkptError `CKPT_ERR_INVALID_ARGUMENT` for an empty name or one with `/`
 */
export function checkBucket(bucket: unknown): string {
  if (typeof bucket !== 'string' || bucket === '' || bucket.includes('/')) {
    throw new CkptError(
      ErrorCodes.INVALID_ARGUMENT,
      `S3Store needs a bucket name such as "my-jobs" (no "/", no "s3://"); got ${JSON.stringify(bucket)}.`,
    );
  }
  return bucket;
}

/** The key of image `id` under `prefix`. */
export function imageKey(prefix: string, id: string): string {
  return `${prefix}${id}.ckpt`;
}

/** The image id of a listed key under `prefix`, or undefined for any other key. */
export function idOfKey(prefix: string, key: string): string | undefined {
  if (!key.startsWith(prefix)) return undefined;
  const id = IMAGE_NAME_RE.exec(key.slice(prefix.length))?.[1];
  return id !== undefined && isImageId(id) ? id : undefined;
}
