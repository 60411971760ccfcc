/**
 * @module retention/policy
 *
 * Retention as small composable policies. Each policy names the images it
 * wants to keep; an image survives if any policy keeps it (union), and the
 * newest image is always kept. Policies run only after a successful commit.
 */
import { CkptError, ErrorCodes } from '../errors.js';
import type { ImageInfo } from '../info.js';

/** A retention policy: given committed images (newest first), the ids it keeps. */
export interface RetentionPolicy {
  /** Name for messages and docs (`keepLast(3)`). */
  readonly name: string;
  /** Ids to keep among `images` (newest first). */
  keep(images: readonly ImageInfo[]): Iterable<string>;
}

/** Shorthand options; each set field adds one policy. */
export interface RetentionOptions {
  /** Keep the newest N images. */
  readonly keepLast?: number;
  /** Keep one image per N steps (the newest whose step is a multiple boundary). */
  readonly keepEverySteps?: number;
  /** Keep one image per T seconds of wall time (by createdAt). */
  readonly keepEverySeconds?: number;
  /** Keep every image that has a label. */
  readonly keepLabelled?: boolean;
}

function positiveInt(n: unknown, what: string): number {
  if (typeof n !== 'number' || !Number.isSafeInteger(n) || n < 1) {
    throw new CkptError(ErrorCodes.INVALID_ARGUMENT, `retention.${what} must be a positive integer, got ${String(n)}`);
  }
  return n;
}

/** Keep the newest `n` images. */
export function keepLast(n: number): RetentionPolicy {
  const count = positiveInt(n, 'keepLast');
  return { name: `keepLast(${count})`, keep: (images) => images.slice(0, count).map((i) => i.id) };
}

/** The newest image of each bucket (images come newest first); `undefined` bucket = not kept. */
function newestPerBucket(images: readonly ImageInfo[], bucketOf: (i: ImageInfo) => number | undefined): string[] {
  const seen = new Set<number>();
  const out: string[] = [];
  for (const i of images) {
    const bucket = bucketOf(i);
    if (bucket === undefined || seen.has(bucket)) continue;
    seen.add(bucket);
    out.push(i.id);
  }
  return out;
}

/** Keep, for every block of `n` steps, the newest image in it. Images without a step are not kept by this policy. */
export function keepEverySteps(n: number): RetentionPolicy {
  const every = positiveInt(n, 'keepEverySteps');
  return {
    name: `keepEverySteps(${every})`,
    keep: (images) => newestPerBucket(images, (i) => (i.step === null ? undefined : Math.floor(i.step / every))),
  };
}

/** Keep, for every `seconds`-long window of wall time, the newest image in it. */
export function keepEverySeconds(seconds: number): RetentionPolicy {
  const s = positiveInt(seconds, 'keepEverySeconds');
  return {
    name: `keepEverySeconds(${s})`,
    keep: (images) => newestPerBucket(images, (i) => Math.floor(i.createdAt.getTime() / (s * 1000))),
  };
}

/** Keep every labelled image. */
export function keepLabelled(): RetentionPolicy {
  return { name: 'keepLabelled()', keep: (images) => images.filter((i) => i.label !== null).map((i) => i.id) };
}

/** Turn options (or a list of policies) into a list of policies. Empty means keep everything. */
export function toPolicies(input: RetentionOptions | readonly RetentionPolicy[] | undefined): RetentionPolicy[] {
  if (input === undefined) return [];
  if (Array.isArray(input)) {
    for (const p of input as readonly RetentionPolicy[]) {
      if (typeof p !== 'object' || p === null || typeof p.keep !== 'function') {
        throw new CkptError(ErrorCodes.INVALID_ARGUMENT, 'retention must be an options object or an array of policies like keepLast(3)');
      }
    }
    return [...(input as readonly RetentionPolicy[])];
  }
  if (typeof input !== 'object' || input === null) throw new CkptError(ErrorCodes.INVALID_ARGUMENT, 'retention must be an object like { keepLast: 3 }');
  const o = input as RetentionOptions;
  const known = new Set(['keepLast', 'keepEverySteps', 'keepEverySeconds', 'keepLabelled']);
  for (const k of Object.keys(o)) if (!known.has(k)) throw new CkptError(ErrorCodes.INVALID_ARGUMENT, `retention: unknown option ${JSON.stringify(k)}; known: ${[...known].join(', ')}`);
  const out: RetentionPolicy[] = [];
  if (o.keepLast !== undefined) out.push(keepLast(o.keepLast));
  if (o.keepEverySteps !== undefined) out.push(keepEverySteps(o.keepEverySteps));
  if (o.keepEverySeconds !== undefined) out.push(keepEverySeconds(o.keepEverySeconds));
  // A non-boolean (e.g. the string "false") must not be silently ignored or read as true.
  if (o.keepLabelled !== undefined && typeof o.keepLabelled !== 'boolean') {
    throw new CkptError(ErrorCodes.INVALID_ARGUMENT, `retention.keepLabelled must be a boolean, got ${String(o.keepLabelled)}`);
  }
  if (o.keepLabelled === true) out.push(keepLabelled());
  return out;
}

/**
 * Ids to delete: images no policy keeps. With no policies nothing is deleted;
 * the newest image is never deleted.
 */
export function selectForDeletion(images: readonly ImageInfo[], policies: readonly RetentionPolicy[]): string[] {
  if (policies.length === 0 || images.length === 0) return [];
  const keep = new Set<string>([images[0]!.id]);
  for (const p of policies) for (const id of p.keep(images)) keep.add(id);
  return images.filter((i) => !keep.has(i.id)).map((i) => i.id);
}
