/**
 * @module codec/encode-shapes
 *
 * Compiled property writers for the encoder: for a key list that many plain
 * objects share (records), a function that writes the keys' bytes and reads
 * each property by name — `o["id"]`, `o["name"]`, … — instead of by a key
 * variable (`o[key]`).
 *
 * Why: a read by a key variable over objects of many keys is a megamorphic
 * keyed load, a lookup per property; a read by a constant name is an inline
 * cache that knows the objects' layout. Measured on 200,000 objects of 24
 * fields, the property reads took about a third of the time. The bytes are
 * exactly those of the generic path: the same key strings as fixstrs, the
 * same values in `Object.keys` order, each read once, getters included.
 *
 * Key lists are learned per process (bounded, like the decoder's shapes):
 * looked up by first key and key count, compared key by key, compiled after
 * {@link COMPILE_AFTER} objects had them.
 */

/** What a compiled writer needs from the encoder. */
export interface PropsSink {
  /** Make room for `n` more bytes. */
  ensure(n: number): void;
  /** The output (renewed by {@link ensure}). */
  buf: Uint8Array;
  /** Write position. */
  pos: number;
  /** Encode any value lying `depth` containers deep. */
  value(v: unknown, depth: number): void;
}

/**
 * Writes every key and value of an object whose `Object.keys` are the
 * writer's keys (the map header is already written). An error thrown while
 * a value is written is passed to `onError` with the key, and what that
 * returns is thrown.
 */
export type PropsWriter = (sink: PropsSink, obj: object, childDepth: number, onError: (err: unknown, key: string) => Error) => void;

/** A key list seen in plain objects. */
interface KeyList {
  readonly keys: readonly string[];
  hits: number;
  /** Objects with this first key and count but other keys; many of them and the slot is given up. */
  misses: number;
  write: PropsWriter | undefined;
}

/** Objects of more keys than this are never compiled. */
const MAX_KEYS = 32;
/** A key list is compiled after this many objects had it. */
export const COMPILE_AFTER = 8;
/** A slot of this many misses stops learning. */
const MAX_MISSES = 64;
/** Key lists learned per process at most. */
const MAX_LISTS = 512;

const byFirstKey = new Map<string, (KeyList | undefined)[]>();
let listCount = 0;
/** False when this process cannot compile code (`--disallow-code-generation-from-strings`). */
let canCompile = true;

/** A key the compiled writers handle: ASCII shorter than 32 (a fixstr), not `__proto__`, not an array index. */
function plainKey(k: string): boolean {
  if (k.length === 0 || k.length >= 32 || k === '__proto__') return false;
  for (let i = 0; i < k.length; i++) if (k.charCodeAt(i) >= 0x80) return false;
  return !/^(0|[1-9][0-9]*)$/.test(k);
}

function compile(keys: readonly string[]): PropsWriter | undefined {
  if (!canCompile || !keys.every(plainKey)) return undefined;
  let body = 'let i = 0;\ntry {\n';
  keys.forEach((k, i) => {
    const len = k.length + 1;
    body += `s.ensure(${String(len)}); b = s.buf; p = s.pos; b[p] = ${String(0xa0 | k.length)};`;
    for (let j = 0; j < k.length; j++) body += ` b[p + ${String(j + 1)}] = ${String(k.charCodeAt(j))};`;
    body += ` s.pos = p + ${String(len)};\n`;
    body += `i = ${String(i)}; s.value(o[${JSON.stringify(k)}], d);\n`;
  });
  body += '} catch (err) {\nthrow onError(err, keys[i]);\n}';
  try {
    // Keys are embedded with JSON.stringify: a valid JS string literal whatever they hold.
    // eslint-disable-next-line @typescript-eslint/no-implied-eval -- the point: property reads by constant name (see above)
    const make = new Function('keys', `return function write(s, o, d, onError) {\nlet b, p;\n${body}\n};`) as (keys: readonly string[]) => PropsWriter;
    return make(keys);
  } catch {
    canCompile = false;
    return undefined;
  }
}

/**
 * The compiled writer for objects whose `Object.keys` are `keys`, or
 * undefined (not seen often enough yet, too many keys, keys it does not
 * handle). Counts `keys` towards compiling.
 */
export function writerFor(keys: readonly string[]): PropsWriter | undefined {
  const n = keys.length;
  if (n === 0 || n > MAX_KEYS) return undefined;
  const k0 = keys[0]!;
  let slot = byFirstKey.get(k0);
  const list = slot?.[n];
  if (list === undefined) {
    if (listCount >= MAX_LISTS) return undefined;
    if (slot === undefined) {
      slot = [];
      byFirstKey.set(k0, slot);
    }
    slot[n] = { keys: keys.slice(), hits: 1, misses: 0, write: undefined };
    listCount++;
    return undefined;
  }
  const known = list.keys;
  for (let i = 1; i < n; i++) {
    if (keys[i] !== known[i]) {
      list.misses++;
      return undefined;
    }
  }
  if (list.write !== undefined) return list.write;
  if (list.misses >= MAX_MISSES) return undefined;
  if (++list.hits >= COMPILE_AFTER) {
    list.write = compile(known);
    if (list.write === undefined) list.misses = MAX_MISSES;
  }
  return list.write;
}
