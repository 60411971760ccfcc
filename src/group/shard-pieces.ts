/**
 * @module group/shard-pieces
 *
 * A sharded provider's state cut into pieces at capture and put back
 * together at restore, in the part. A range shard is cut into contiguous
 * element ranges (at most {@link RANGE_PIECES} of them) and a keyed shard
 * into one piece per key group, so a restore into another number of parts
 * sends each part the pieces it needs rather than whole parts — but only
 * where nothing can be lost: a typed array has no identity inside, and a
 * `tree: true` provider keeps none; an Array or collection saved with
 * identity (shared references, cycles between its elements) stays one
 * piece, so those references survive.
 */
import { CkptError, ErrorCodes } from '../errors.js';
import type { RangeShard, ShardRestoreInfo, ShardSpec } from './shard.js';
import { DEFAULT_KEY_GROUPS, keyGroupOf, keyGroupRange, shardRange } from './shard.js';
import { RANGE_TYPES, type SavedKeyedPiece, type SavedRangePiece, type SavedShard } from './protocol.js';

/** At most this many pieces per range shard and part. */
export const RANGE_PIECES = 64;
/** A typed-array piece holds at least this many bytes (small arrays stay one piece). */
const MIN_TYPED_PIECE_BYTES = 64 * 1024;
/** An Array piece holds at least this many elements. */
const MIN_ARRAY_PIECE = 1024;

/** What a range shard's typed arrays share (element access through `set` and `subarray` only). */
interface TypedArray {
  readonly length: number;
  readonly BYTES_PER_ELEMENT: number;
  subarray(begin?: number, end?: number): TypedArray;
  set(array: TypedArray, offset?: number): void;
}
type RangeType = (typeof RANGE_TYPES)[number];

/** A value to encode as one saved entry, and which piece it is. */
export interface Piece {
  readonly value: unknown;
  readonly shard: SavedShard;
}

function snapshotError(id: string, message: string): CkptError {
  return new CkptError(ErrorCodes.SNAPSHOT_FAILED, `provider ${JSON.stringify(id)}: ${message}`, { provider: id });
}

function corrupt(id: string, message: string): CkptError {
  return new CkptError(ErrorCodes.CORRUPT, `provider ${JSON.stringify(id)}: ${message}`, { provider: id });
}

function describe(value: unknown): string {
  if (value === null) return 'null';
  if (typeof value !== 'object') return typeof value;
  return (value as { constructor?: { name?: unknown } }).constructor?.name === undefined ? 'an object' : `a ${String((value as { constructor: { name: unknown } }).constructor.name)}`;
}

/** The range type of a value (`Array` or its typed array's name), or undefined. */
function rangeType(value: unknown): RangeType | undefined {
  if (Array.isArray(value)) return 'Array';
  if (!ArrayBuffer.isView(value) || value instanceof DataView) return undefined;
  const name = Object.getPrototypeOf(Object.getPrototypeOf(value) as object) === Object.getPrototypeOf(Uint8Array.prototype) ? (value.constructor as { name: string }).name : '';
  return (RANGE_TYPES as readonly string[]).includes(name) && name !== 'Array' ? (name as RangeType) : undefined;
}

function isPlainObject(value: unknown): value is Record<string, unknown> {
  if (typeof value !== 'object' || value === null) return false;
  const proto = Object.getPrototypeOf(value) as unknown;
  return proto === Object.prototype || proto === null;
}

function rangePieces(id: string, spec: RangeShard, value: unknown, tree: boolean, cut: boolean): Piece[] {
  const type = rangeType(value);
  if (type === undefined) throw snapshotError(id, `a range shard's snapshot() must return an Array or a typed array, got ${describe(value)}`);
  const arr = value as unknown[] | TypedArray;
  const total = arr.length;
  if (spec.length !== undefined) {
    const said = spec.length();
    if (said !== total) throw snapshotError(id, `shard.length() says ${String(said)} elements but snapshot() returned ${String(total)}`);
  }
  let per: number;
  if (!cut) per = Math.max(total, 1);
  else if (type !== 'Array') per = Math.max(Math.ceil(total / RANGE_PIECES), Math.ceil(MIN_TYPED_PIECE_BYTES / (arr as TypedArray).BYTES_PER_ELEMENT));
  else per = tree ? Math.max(Math.ceil(total / RANGE_PIECES), MIN_ARRAY_PIECE) : Math.max(total, 1);
  const pieces: Piece[] = [];
  for (let offset = 0; offset < total || pieces.length === 0; offset += per) {
    const end = Math.min(total, offset + per);
    const part = type === 'Array' ? (per >= total ? arr : (arr as unknown[]).slice(offset, end)) : (arr as TypedArray).subarray(offset, end);
    pieces.push({ value: part, shard: { kind: 'range', type, offset, length: end - offset, total } });
  }
  return pieces;
}

function mapKey(id: string, key: unknown): string | number {
  if (typeof key === 'string' || (typeof key === 'number' && Number.isFinite(key))) return key;
  throw snapshotError(id, `a keyed shard's keys must be strings or finite numbers, got ${typeof key === 'number' ? String(key) : describe(key)}`);
}

function setOwn(target: Record<string, unknown>, key: string, value: unknown): void {
  // defineProperty: a key named __proto__ is an entry, not the prototype.
  Object.defineProperty(target, key, { value, enumerable: true, writable: true, configurable: true });
}

function keyedPieces(id: string, keyGroups: number, value: unknown, tree: boolean): Piece[] {
  let container: 'map' | 'object';
  let entries: Iterable<[string | number, unknown]>;
  if (value instanceof Map) {
    container = 'map';
    entries = [...(value as Map<unknown, unknown>)].map(([k, v]) => [mapKey(id, k), v]);
  } else if (isPlainObject(value)) {
    container = 'object';
    entries = Object.entries(value);
  } else {
    throw snapshotError(id, `a keyed shard's snapshot() must return a Map or a plain object, got ${describe(value)}`);
  }
  const byGroup = new Map<number, [string | number, unknown][]>();
  for (const entry of entries) {
    const g = keyGroupOf(entry[0], keyGroups);
    let list = byGroup.get(g);
    if (list === undefined) byGroup.set(g, (list = []));
    list.push(entry);
  }
  const groups = [...byGroup.keys()].sort((a, b) => a - b);
  const shard = (gs: number[]): SavedKeyedPiece => ({ kind: 'keyed', container, keyGroups, groups: gs });
  if (!tree || groups.length <= 1) return [{ value, shard: shard(groups) }];
  return groups.map((g) => {
    const list = byGroup.get(g)!;
    let piece: unknown;
    if (container === 'map') piece = new Map(list);
    else {
      const o: Record<string, unknown> = {};
      for (const [k, v] of list) setOwn(o, String(k), v);
      piece = o;
    }
    return { value: piece, shard: shard([g]) };
  });
}

/**
 * Cut a sharded provider's snapshot into the pieces to encode (one piece
 * when it cannot be cut without loss, or when `cut` is false).
 */
export function capturePieces(id: string, spec: ShardSpec, value: unknown, tree: boolean, cut = true): Piece[] {
  return spec.kind === 'range' ? rangePieces(id, spec, value, tree, cut) : keyedPieces(id, spec.keyGroups ?? DEFAULT_KEY_GROUPS, value, tree && cut);
}

/** Where the restoring part stands: its index and the group's count, and the count the image held when resharded. */
export interface PieceTarget {
  readonly index: number;
  readonly parts: number;
  /** Set when the image held another number of parts: keep only what `index` of `parts` holds. */
  readonly resharded: boolean;
  /** In a restore into the same count: where a range provider's elements lie in the whole (the coordinator computed it). */
  readonly place?: (id: string) => { readonly start: number; readonly end: number; readonly total: number } | undefined;
}

/**
 * Put a sharded provider's state back together from its decoded pieces:
 * the elements (range) or entries (keyed) this part holds — all of them in
 * a restore into the same number of parts, the ones its index gives it
 * otherwise. Pieces that do not fit together (gaps, overlaps, mixed types,
 * a key in two pieces) are `CKPT_ERR_CORRUPT`.
 */
export function mergePieces(
  id: string,
  pieces: readonly { readonly value: unknown; readonly shard: SavedShard }[],
  target: PieceTarget,
): { value: unknown; info: ShardRestoreInfo } {
  const first = pieces[0];
  if (first === undefined) throw corrupt(id, 'a sharded provider has no pieces');
  if (pieces.some((p) => p.shard.kind !== first.shard.kind)) throw corrupt(id, 'pieces of a range and a keyed shard are mixed');
  return first.shard.kind === 'range' ? mergeRange(id, pieces as readonly { value: unknown; shard: SavedRangePiece }[], target) : mergeKeyed(id, pieces as readonly { value: unknown; shard: SavedKeyedPiece }[], target);
}

/** A piece sent only to say what an empty shard is (no stream, nothing to decode). */
export function isPlaceholder(stream: Uint8Array): boolean {
  return stream.byteLength === 0;
}

function mergeRange(id: string, pieces: readonly { value: unknown; shard: SavedRangePiece }[], target: PieceTarget) {
  const { type, total } = pieces[0]!.shard;
  if (pieces.some((p) => p.shard.type !== type || p.shard.total !== total)) throw corrupt(id, 'the pieces of a range shard disagree on its type or length');
  const { start, end } = target.resharded ? shardRange(total, target.index, target.parts) : { start: 0, end: total };
  // Where this part's elements lie in the whole (all parts in order): for the restore() context.
  const place = target.resharded ? { start, end, total } : (target.place?.(id) ?? { start, end, total });
  const info = { kind: 'range' as const, ...place };
  const sorted = pieces.filter((p) => p.value !== undefined).sort((a, b) => a.shard.offset - b.shard.offset);
  // Check first that the pieces tile [start, end) exactly: nothing is allocated for a range the image only claims.
  let at = start;
  const used: { value: unknown[] | TypedArray; shard: SavedRangePiece; a: number; b: number }[] = [];
  for (const { value, shard } of sorted) {
    if (rangeType(value) !== type || (value as unknown[] | TypedArray).length !== shard.length) throw corrupt(id, `a piece of a range shard does not hold ${String(shard.length)} elements of ${type}`);
    const a = Math.max(start, shard.offset);
    const b = Math.min(end, shard.offset + shard.length);
    if (b <= a) continue;
    if (a !== at) throw corrupt(id, `a range shard misses elements [${String(at)}, ${String(a)}) or holds them twice`);
    used.push({ value: value as unknown[] | TypedArray, shard, a, b });
    at = b;
  }
  if (at !== end) throw corrupt(id, `a range shard misses elements [${String(at)}, ${String(end)})`);
  // One piece that is the whole range: hand it over as decoded (an Array keeps its identity).
  const only = used.length === 1 ? used[0]! : undefined;
  if (only !== undefined && only.shard.offset === start && only.shard.length === end - start) return { value: only.value, info };
  if (type === 'Array') {
    const out: unknown[] = [];
    for (const u of used) for (let i = u.a; i < u.b; i++) out.push((u.value as unknown[])[i - u.shard.offset]);
    return { value: out, info };
  }
  const out = new (globalThis[type] as unknown as new (n: number) => TypedArray)(end - start);
  for (const u of used) out.set((u.value as TypedArray).subarray(u.a - u.shard.offset, u.b - u.shard.offset), u.a - start);
  return { value: out, info };
}

function mergeKeyed(id: string, pieces: readonly { value: unknown; shard: SavedKeyedPiece }[], target: PieceTarget) {
  const { container, keyGroups } = pieces[0]!.shard;
  if (pieces.some((p) => p.shard.container !== container || p.shard.keyGroups !== keyGroups)) throw corrupt(id, 'the pieces of a keyed shard disagree on their container or key groups');
  // The key groups this part holds: partOfKey's for its index (in every restore, the same count too).
  const { start, end } = target.parts <= keyGroups ? keyGroupRange(keyGroups, target.index, target.parts) : { start: 0, end: 0 };
  const info = { kind: 'keyed' as const, start, end, total: keyGroups };
  const real = pieces.filter((p) => p.value !== undefined);
  for (const p of real) {
    const ok = container === 'map' ? p.value instanceof Map : isPlainObject(p.value);
    if (!ok) throw corrupt(id, `a piece of a keyed shard is not a ${container === 'map' ? 'Map' : 'plain object'}`);
  }
  if (!target.resharded && real.length === 1) return { value: real[0]!.value, info };
  const keep = (key: string | number, groups: readonly number[]): boolean => {
    if (!target.resharded) return true;
    const g = keyGroupOf(key, keyGroups);
    // A piece was chosen for this part by the groups it declares: a key of another group would be lost elsewhere.
    if (!groups.includes(g)) throw corrupt(id, `a piece of a keyed shard holds a key of key group ${String(g)}, which it does not declare`);
    return g >= start && g < end;
  };
  const twice = (key: unknown): CkptError =>
    new CkptError(ErrorCodes.GROUP_MISMATCH, `provider ${JSON.stringify(id)}: key ${JSON.stringify(key)} of a keyed shard is held by two parts; each key must be held by one part — route keys with partOfKey()`, { provider: id });
  if (container === 'map') {
    const out = new Map<unknown, unknown>();
    for (const p of real) {
      for (const [k, v] of p.value as Map<unknown, unknown>) {
        if (typeof k !== 'string' && (typeof k !== 'number' || !Number.isFinite(k))) throw corrupt(id, 'a keyed shard holds a key that is neither a string nor a finite number');
        if (!keep(k, p.shard.groups)) continue;
        if (out.has(k)) throw twice(k);
        out.set(k, v);
      }
    }
    return { value: out, info };
  }
  const out: Record<string, unknown> = {};
  for (const p of real) {
    for (const [k, v] of Object.entries(p.value as Record<string, unknown>)) {
      if (!keep(k, p.shard.groups)) continue;
      if (Object.hasOwn(out, k)) throw twice(k);
      setOwn(out, k, v);
    }
  }
  return { value: out, info };
}
