/**
 * @module lifecycle/meta
 *
 * Validation of the user metadata given to `checkpoint({ meta })`, with the
 * same limits the image reader enforces, so an image ckpt writes is always
 * one it reads back.
 */
import { CkptError, ErrorCodes } from '../errors.js';
import type { MetaValue } from '../image/index-model.js';
import { MAX_META_KEYS, MAX_META_STRING } from '../image/index-v2.js';

/** Check `meta` and return a plain copy (undefined stays undefined). */
export function checkMeta(meta: unknown): Readonly<Record<string, MetaValue>> | undefined {
  if (meta === undefined) return undefined;
  if (typeof meta !== 'object' || meta === null || Array.isArray(meta) || Object.getPrototypeOf(meta) !== Object.prototype) {
    throw new CkptError(ErrorCodes.INVALID_ARGUMENT, 'checkpoint(): meta must be a plain object like { gitSha: "abc123" }');
  }
  const keys = Object.keys(meta);
  if (keys.length > MAX_META_KEYS) throw new CkptError(ErrorCodes.INVALID_ARGUMENT, `checkpoint(): meta has ${keys.length} keys; at most ${MAX_META_KEYS} are allowed`);
  const out = Object.create(null) as Record<string, MetaValue>;
  for (const k of keys) {
    const v: unknown = (meta as Record<string, unknown>)[k];
    if (k.length > MAX_META_STRING) throw new CkptError(ErrorCodes.INVALID_ARGUMENT, `checkpoint(): meta key of ${k.length} characters is longer than ${MAX_META_STRING}`);
    const ok = v === null || typeof v === 'boolean' || (typeof v === 'number' && Number.isFinite(v)) || (typeof v === 'string' && v.length <= MAX_META_STRING);
    if (!ok) throw new CkptError(ErrorCodes.INVALID_ARGUMENT, `checkpoint(): meta.${k} must be a string of at most ${MAX_META_STRING} characters, a finite number, a boolean or null`);
    out[k] = v;
  }
  return out;
}
