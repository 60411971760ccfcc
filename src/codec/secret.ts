/**
 * @module codec/secret
 *
 * Secret paths: places in a provider's state whose values are never written
 * to an image (API keys, passwords, tokens). A provider declares them as
 * strings (`'apiKey'`, `'db.password'`, `'tokens.*'`); {@link parseSecretPaths}
 * checks them once, at `register()`, and {@link resolveSecrets} finds them in
 * each state returned by `snapshot()`. The encoder then writes `undefined`
 * in their place, so the values never reach the value stream, a blob, a
 * segment or an incremental reference.
 *
 * Path syntax: segments separated by `.`, walked from the state's root.
 * - A segment names an own enumerable property of a plain object, a
 *   null-prototype object or a registered class instance; the entry with
 *   that string key of a Map; or, on an array, the element at that index
 *   (`items.0.token`; decimal, no leading zeros).
 * - `*` as a whole segment matches every member at that level: every
 *   property, every Map entry (whatever its key) or every element present.
 * - `\.`, `\*` and `\\` stand for a literal `.`, `*` and `\` in a key.
 * - A path that leads nowhere in a given state (a missing key, a parent that
 *   is missing or not a container) matches nothing: nothing is left out.
 *
 * Nothing of the live state is modified: an object holding a secret member
 * is written from a shallow copy with that member `undefined`, and the
 * encoder writes the copy wherever the original appears (so identity mode
 * keeps shared references shared). An object or binary value found at a
 * secret path is left out wherever else it appears in the same state too.
 */
import { CkptError, ErrorCodes } from '../errors.js';

/** One parsed secret path. */
export interface SecretPath {
  /** The path as the provider declared it. */
  readonly text: string;
  /** Keys from the state's root; `null` stands for `*` (every member). */
  readonly segments: readonly (string | null)[];
}

/** Paths a provider may declare at most. */
export const MAX_SECRET_PATHS = 1024;
/** Characters one path may have at most. */
export const MAX_SECRET_PATH_CHARS = 4096;

function invalid(id: string, message: string): CkptError {
  return new CkptError(ErrorCodes.INVALID_ARGUMENT, `provider ${JSON.stringify(id)}: ${message}`, { provider: id });
}

/** Parse one path; throws `CKPT_ERR_INVALID_ARGUMENT` naming `id` when it is malformed. */
export function parseSecretPath(text: unknown, id: string): SecretPath {
  if (typeof text !== 'string') {
    throw invalid(id, `secret paths must be strings such as 'apiKey' or 'db.password', got ${text === null ? 'null' : typeof text}`);
  }
  const bad = (why: string): CkptError =>
    invalid(id, `secret path ${JSON.stringify(text)} is malformed: ${why}; write keys separated by '.', e.g. 'db.password' or 'tokens.*' (escape a literal '.', '*' or '\\' in a key with '\\')`);
  if (text.length === 0) throw bad('it is empty');
  if (text.length > MAX_SECRET_PATH_CHARS) throw bad(`it is longer than ${String(MAX_SECRET_PATH_CHARS)} characters`);
  const segments: (string | null)[] = [];
  let cur = '';
  let escaped = false; // the current segment has an escaped character (so '\*' is a key, not the wildcard)
  let stars = 0; // unescaped '*' in the current segment
  const end = (): void => {
    if (cur.length === 0 && stars === 0) throw bad(segments.length === 0 && text.startsWith('.') ? 'it starts with "."' : 'it has an empty segment (".." or a "." at the end)');
    if (stars > 0) {
      if (stars > 1 || cur.length > 0 || escaped) throw bad("'*' must be a whole segment (patterns such as 'tok*' or '**' are not supported)");
      segments.push(null);
    } else {
      segments.push(cur);
    }
    cur = '';
    escaped = false;
    stars = 0;
  };
  for (let i = 0; i < text.length; i++) {
    const c = text[i]!;
    if (c === '\\') {
      const next = text[i + 1];
      if (next !== '.' && next !== '*' && next !== '\\') throw bad(next === undefined ? "it ends with a lone '\\'" : `'\\${next}' is not an escape (only '\\.', '\\*' and '\\\\' are)`);
      cur += next;
      escaped = true;
      i++;
    } else if (c === '.') {
      end();
    } else if (c === '*') {
      stars++;
    } else {
      cur += c;
    }
  }
  end();
  return { text, segments };
}

/**
 * Check a provider's `secret` option: undefined or an array of at most
 * {@link MAX_SECRET_PATHS} well-formed paths (duplicates are dropped).
 * Throws `CKPT_ERR_INVALID_ARGUMENT` naming the provider otherwise.
 */
export function parseSecretPaths(input: unknown, id: string): readonly SecretPath[] {
  if (input === undefined) return [];
  if (!Array.isArray(input)) throw invalid(id, "secret must be an array of paths, e.g. ['apiKey', 'db.password']");
  if (input.length > MAX_SECRET_PATHS) throw invalid(id, `secret lists ${String(input.length)} paths; at most ${String(MAX_SECRET_PATHS)} are allowed — use '*' to match every member of an object`);
  const seen = new Set<string>();
  const out: SecretPath[] = [];
  for (const text of input as unknown[]) {
    const p = parseSecretPath(text, id);
    if (seen.has(p.text)) continue;
    seen.add(p.text);
    out.push(p);
  }
  return out;
}

/** A byte range of a secret binary value. */
export interface SecretSpan {
  readonly start: number;
  readonly end: number;
  /** The path it was found at (for messages). */
  readonly path: string;
}

/** What the encoder leaves out of one state (see the module comment). */
export interface Redaction {
  /** Objects and binary values found at a secret path: written as `undefined` wherever they appear. */
  readonly omit: ReadonlySet<object>;
  /** Objects holding secret members → the shallow copy written in their place (those members `undefined`). */
  readonly replace: ReadonlyMap<object, object>;
  /** Memory of secret binary values, by buffer: no other binary value may write those bytes. */
  readonly spans: ReadonlyMap<ArrayBufferLike, readonly SecretSpan[]>;
}

const OBJECT_PROTO: object = Object.prototype;
const ARRAY_PROTO: object = Array.prototype;
const MAP_PROTO: object = Map.prototype;
const mapEntries = (m: Map<unknown, unknown>): MapIterator<[unknown, unknown]> => Map.prototype.entries.call(m);
const mapHas = (m: Map<unknown, unknown>, k: unknown): boolean => Map.prototype.has.call(m, k);
const mapGet = (m: Map<unknown, unknown>, k: unknown): unknown => Map.prototype.get.call(m, k);
const isEnumerable = (o: object, k: string): boolean => Object.prototype.propertyIsEnumerable.call(o, k);

/** What a path can step into: arrays, Maps, and objects whose own properties the encoder writes. */
type Shape = 'array' | 'map' | 'props' | 'none';

function shapeOf(v: object): Shape {
  if (ArrayBuffer.isView(v) || v instanceof ArrayBuffer || (typeof SharedArrayBuffer === 'function' && v instanceof SharedArrayBuffer)) return 'none';
  const proto = Object.getPrototypeOf(v) as object | null;
  if (proto === ARRAY_PROTO) return 'array';
  if (proto === MAP_PROTO) return 'map';
  if (v instanceof Set || v instanceof Date || v instanceof RegExp || v instanceof Map || Array.isArray(v)) return 'none';
  return 'props';
}

/** The array index a segment names, or -1. */
function indexOf(key: string): number {
  const x = Number(key);
  return /^(0|[1-9][0-9]*)$/.test(key) && x < 0xffffffff ? x : -1;
}

/** Secret members of one container: the keys (array indices as numbers), or every member. */
type Members = Set<string | number> | 'all';

/**
 * Find `paths` in `root`: the objects to leave out, the containers to write
 * from a copy, and the memory of secret binary values. Undefined when no
 * path matches anything. Reads the state (getters included) but never
 * modifies it.
 */
export function resolveSecrets(root: unknown, paths: readonly SecretPath[]): Redaction | undefined {
  if (paths.length === 0 || typeof root !== 'object' || root === null) return undefined;
  const slots = new Map<object, Members>();
  const omit = new Set<object>();
  const spans = new Map<ArrayBufferLike, SecretSpan[]>();
  const mark = (container: object, key: string | number | null, value: unknown, path: string): void => {
    const had = slots.get(container);
    if (key === null) slots.set(container, 'all');
    else if (had === undefined) slots.set(container, new Set([key]));
    else if (had !== 'all') had.add(key);
    // The root itself is never left out (that would leave out the whole state):
    // at a secret path it is left out by the copy of its container alone.
    if (typeof value !== 'object' || value === null || value === root) return;
    omit.add(value);
    let buffer: ArrayBufferLike | undefined;
    let start = 0;
    let end = 0;
    if (ArrayBuffer.isView(value)) {
      buffer = value.buffer;
      start = value.byteOffset;
      end = start + value.byteLength;
    } else if (value instanceof ArrayBuffer) {
      buffer = value;
      end = value.byteLength;
    }
    if (buffer !== undefined && end > start) {
      const list = spans.get(buffer) ?? [];
      list.push({ start, end, path });
      spans.set(buffer, list);
    }
  };
  for (const path of paths) {
    let frontier: object[] = [root];
    const last = path.segments.length - 1;
    for (let s = 0; s <= last && frontier.length > 0; s++) {
      const seg = path.segments[s]!;
      // A Set: an object reached several ways (shared, or a cycle) is visited once per level.
      const next = new Set<object>();
      const step = (container: object, key: string | number | null, value: unknown): void => {
        if (s === last) mark(container, key, value, path.text);
        else if (typeof value === 'object' && value !== null) next.add(value);
      };
      for (const node of frontier) {
        switch (shapeOf(node)) {
          case 'array': {
            const arr = node as unknown[];
            if (seg === null) {
              for (let i = 0; i < arr.length; i++) if (i in arr) step(arr, i, arr[i]);
            } else {
              const i = indexOf(seg);
              if (i >= 0 && i < arr.length && i in arr) step(arr, i, arr[i]);
            }
            break;
          }
          case 'map': {
            const m = node as Map<unknown, unknown>;
            if (seg === null) {
              // Wildcard: every value, whatever its key (the key is kept).
              for (const [, v] of mapEntries(m)) {
                if (s === last) mark(m, null, v, path.text);
                else if (typeof v === 'object' && v !== null) next.add(v);
              }
            } else if (mapHas(m, seg)) {
              step(m, seg, mapGet(m, seg));
            }
            break;
          }
          case 'props': {
            if (seg === null) {
              for (const k of Object.keys(node)) {
                const v = (node as Record<string, unknown>)[k];
                if (s === last) mark(node, null, v, path.text);
                else if (typeof v === 'object' && v !== null) next.add(v);
              }
            } else if (isEnumerable(node, seg)) {
              step(node, seg, (node as Record<string, unknown>)[seg]);
            }
            break;
          }
          case 'none':
            break;
        }
      }
      frontier = [...next];
    }
  }
  if (slots.size === 0) return undefined;
  const replace = new Map<object, object>();
  for (const [container, members] of slots) {
    if (!omit.has(container)) replace.set(container, redactedCopy(container, members));
  }
  return { omit, replace, spans };
}

/** A shallow copy of `container` with `members` set to `undefined` (the same prototype, keys in the same order). */
function redactedCopy(container: object, members: Members): object {
  const secret = (k: string | number): boolean => members === 'all' || members.has(k);
  switch (shapeOf(container)) {
    case 'array': {
      const copy = (container as unknown[]).slice(); // holes stay holes
      for (let i = 0; i < copy.length; i++) if (i in copy && secret(i)) copy[i] = undefined;
      return copy;
    }
    case 'map': {
      const copy = new Map<unknown, unknown>();
      for (const [k, v] of mapEntries(container as Map<unknown, unknown>)) copy.set(k, members === 'all' || (typeof k === 'string' && members.has(k)) ? undefined : v);
      return copy;
    }
    default: {
      const proto = Object.getPrototypeOf(container) as object | null;
      const copy: Record<string, unknown> = proto === OBJECT_PROTO ? {} : (Object.create(proto) as Record<string, unknown>);
      for (const k of Object.keys(container)) {
        // defineProperty, not assignment: a key such as "__proto__" or a setter on a class prototype must not run.
        Object.defineProperty(copy, k, { value: secret(k) ? undefined : (container as Record<string, unknown>)[k], enumerable: true, writable: true, configurable: true });
      }
      return copy;
    }
  }
}

/** The secret span that `[start, end)` of `buffer` overlaps, if any. */
export function secretSpanAt(redaction: Redaction, buffer: ArrayBufferLike, start: number, end: number): SecretSpan | undefined {
  const list = redaction.spans.get(buffer);
  if (list === undefined) return undefined;
  for (const s of list) if (s.start < end && start < s.end) return s;
  return undefined;
}
