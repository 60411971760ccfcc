/**
 * @module group/shard
 *
 * How a part of a checkpoint group declares that a provider's state is one
 * shard of a larger whole — `range` (an array or typed array split by index)
 * or `keyed` (a Map or plain object split by key group) — and the two
 * functions that say which part holds what: {@link shardRange} and
 * {@link partOfKey}. A group image whose providers are all sharded restores
 * into any number of parts: every part receives the elements (or the key
 * groups) these functions give it for the new count. The key-group hash is
 * part of the image format: it never changes (docs/groups.md).
 */
import { CkptError, ErrorCodes } from '../errors.js';
import type { ShardRestoreInfo } from '../provider/provider.js';

export type { ShardRestoreInfo };

/** How many key groups a keyed shard splits its keys into unless it says otherwise. */
export const DEFAULT_KEY_GROUPS = 128;

/** The most key groups a keyed shard may declare. */
export const MAX_KEY_GROUPS = 32_768;

/**
 * A provider's state is one part's shard of an array (or typed array): the
 * parts' arrays, in part order, are one array split by index. Restored into
 * another number of parts, part `j` of `m` receives the elements
 * {@link shardRange}(total, j, m) gives it.
 */
export interface RangeShard {
  /** Split by index. */
  readonly kind: 'range';
  /** The number of elements the part holds now; checked against the snapshot's length (optional). */
  readonly length?: () => number;
}

/**
 * A provider's state is one part's shard of a Map or plain object, by key:
 * every key belongs to one of `keyGroups` key groups ({@link partOfKey}), a
 * part holds the keys of its key groups. Restored into another number of
 * parts, part `j` receives exactly the entries whose keys {@link partOfKey}
 * gives to `j`.
 */
export interface KeyedShard {
  /** Split by key group. */
  readonly kind: 'keyed';
  /** How many key groups keys are hashed into (default 128): the most parts the state can ever be split into. Never change it for a store. */
  readonly keyGroups?: number;
}

/** How a group part's provider state is split across the parts. */
export type ShardSpec = RangeShard | KeyedShard;

/** The elements `[start, end)` of a range shard one part holds. */
export interface ShardRange {
  /** The first element (or key group). */
  readonly start: number;
  /** One past the last. */
  readonly end: number;
}

function invalid(message: string): CkptError {
  return new CkptError(ErrorCodes.INVALID_ARGUMENT, message);
}

function checkCount(index: number, parts: number, what: string): void {
  if (!Number.isSafeInteger(parts) || parts < 1) throw invalid(`${what}: parts must be a positive integer, got ${String(parts)}`);
  if (!Number.isSafeInteger(index) || index < 0 || index >= parts) throw invalid(`${what}: index must be an integer in [0, ${String(parts)}), got ${String(index)}`);
}

/**
 * The elements `[start, end)` of an array of `total` elements that part
 * `index` of `parts` holds: an even split, the first parts one element
 * shorter when it does not divide (`start = floor(index·total/parts)`).
 * Use it to split work when a group starts fresh: a restore into another
 * number of parts gives every part exactly this range.
 */
export function shardRange(total: number, index: number, parts: number): ShardRange {
  if (!Number.isSafeInteger(total) || total < 0) throw invalid(`shardRange(): total must be a non-negative integer, got ${String(total)}`);
  checkCount(index, parts, 'shardRange()');
  // BigInt keeps index·total exact beyond 2^53.
  const at = (i: number): number => Number((BigInt(i) * BigInt(total)) / BigInt(parts));
  return { start: at(index), end: at(index + 1) };
}

/** Check a key-group count (a keyed shard's `keyGroups`, or a default). */
export function checkKeyGroups(keyGroups: unknown, what: string): number {
  if (typeof keyGroups !== 'number' || !Number.isSafeInteger(keyGroups) || keyGroups < 1 || keyGroups > MAX_KEY_GROUPS) {
    throw invalid(`${what}: keyGroups must be an integer from 1 to ${String(MAX_KEY_GROUPS)}, got ${String(keyGroups)}`);
  }
  return keyGroups;
}

const encoder = new TextEncoder();

/**
 * The key group of a key: FNV-1a (32 bits) over the UTF-8 bytes of `s` +
 * the string, or `n` + `String(number)` for a number, mixed by MurmurHash3's
 * finalizer, modulo `keyGroups`. Part of the image format; never changes.
 * Throws `CKPT_ERR_INVALID_ARGUMENT` for a key that is neither a string nor
 * a finite number.
 */
export function keyGroupOf(key: string | number, keyGroups: number = DEFAULT_KEY_GROUPS): number {
  checkKeyGroups(keyGroups, 'keyGroupOf()');
  let tagged: string;
  if (typeof key === 'string') tagged = `s${key}`;
  else if (typeof key === 'number' && Number.isFinite(key)) tagged = `n${String(key)}`;
  else throw invalid(`a keyed shard's keys must be strings or finite numbers, got ${typeof key === 'number' ? String(key) : typeof key}`);
  let h = 0x811c9dc5;
  for (const b of encoder.encode(tagged)) h = Math.imul(h ^ b, 0x01000193);
  h ^= h >>> 16;
  h = Math.imul(h, 0x85ebca6b);
  h ^= h >>> 13;
  h = Math.imul(h, 0xc2b2ae35);
  h ^= h >>> 16;
  return (h >>> 0) % keyGroups;
}

/** The key groups `[start, end)` part `index` of `parts` holds. */
export function keyGroupRange(keyGroups: number, index: number, parts: number): ShardRange {
  return shardRange(keyGroups, index, parts);
}

/**
 * The part (of `parts`) that holds `key` in a keyed shard: the part whose
 * key-group range ({@link shardRange} over the key groups) contains the
 * key's group. Route keys with it when a group starts fresh; a restore into
 * another number of parts moves every entry to the part this gives.
 */
export function partOfKey(key: string | number, parts: number, keyGroups: number = DEFAULT_KEY_GROUPS): number {
  checkCount(0, parts, 'partOfKey()');
  checkKeyGroups(keyGroups, 'partOfKey()');
  if (parts > keyGroups) throw invalid(`partOfKey(): ${String(parts)} parts cannot share ${String(keyGroups)} key groups; use at most as many parts as key groups`);
  const g = keyGroupOf(key, keyGroups);
  // Part j holds groups [floor(j·K/P), floor((j+1)·K/P)): the largest j with floor(j·K/P) ≤ g, i.e. j·K < (g+1)·P.
  return Math.min(parts - 1, Math.ceil(((g + 1) * parts) / keyGroups) - 1);
}

/** Check a provider's `shard` declaration (at registration). */
export function checkShardSpec(spec: unknown, id: string): ShardSpec {
  const what = `provider ${JSON.stringify(id)}: shard`;
  if (typeof spec !== 'object' || spec === null) throw invalid(`${what} must be { kind: 'range' } or { kind: 'keyed' }`);
  const s = spec as { kind?: unknown; length?: unknown; keyGroups?: unknown };
  if (s.kind === 'range') {
    if (s.length !== undefined && typeof s.length !== 'function') throw invalid(`${what}.length must be a function returning the number of elements`);
    if ('keyGroups' in s) throw invalid(`${what}: keyGroups belongs to a keyed shard, not a range shard`);
    return spec as RangeShard;
  }
  if (s.kind === 'keyed') {
    if (s.keyGroups !== undefined) checkKeyGroups(s.keyGroups, what);
    if ('length' in s) throw invalid(`${what}: length belongs to a range shard, not a keyed shard`);
    return spec as KeyedShard;
  }
  throw invalid(`${what}.kind must be 'range' or 'keyed', got ${JSON.stringify(s.kind)}`);
}
