/**
 * @module cli/value-export
 *
 * A decoded provider state in a form other tools can read (`ckpt export`,
 * `ckpt inspect --provider --json`): JSON, streamed in chunks so a large
 * state never becomes one giant string, or plain msgpack. Values JSON cannot
 * express are tagged objects with a `$type` field; the mapping is documented
 * in docs/cli.md ("Export format"):
 *
 * - `undefined` → `{"$type":"undefined"}`, array hole → `{"$type":"hole"}`
 * - NaN, ±Infinity, -0 → `{"$type":"number","value":"NaN"}` (msgpack: NaN and ±Infinity are native floats)
 * - BigInt → `{"$type":"bigint","value":"123"}` (msgpack: a native integer when it fits in 64 bits);
 *   wider than 4096 bits → `{"$type":"bigint","hex":"-1f…"}` (decimal conversion is superlinear)
 * - Date → `{"$type":"Date","value":"2026-01-01T00:00:00.000Z"}` (`null` for an invalid date)
 * - RegExp → `{"$type":"RegExp","source":"a+","flags":"g"}`
 * - Map → `{"$type":"Map","entries":[[k, v], …]}`, Set → `{"$type":"Set","values":[…]}`
 * - typed array → `{"$type":"Float64Array","values":[…]}` (BigInt elements as strings);
 *   msgpack: `{"$type":"Float64Array","length":n,"bytes":<bin, little-endian>}`
 * - Buffer, ArrayBuffer, DataView → `{"$type":"Buffer","base64":"…"}` (msgpack: `"bytes":<bin>`)
 * - registered-class instance → `{"$type":"class","class":"Particle","fields":{…}}`
 * - an object seen before (shared reference or cycle) → `{"$ref":"$.path.to.first"}`
 * - a plain object that has a `$type` or `$ref` key → `{"$type":"Object","value":{…}}`
 *   (a null-prototype object: `{"$type":"Object","nullPrototype":true,"value":{…}}`)
 */
import { Packr } from 'msgpackr';
import { bigintHex, bytesOf, classNameOf, isHugeBigint, isNullProto, kindOf, summarizeTyped, typedName, type AnyTypedArray } from './values.js';
import { descend, runWalk, type WalkStep } from './walk.js';

/** Options of {@link jsonChunks}. */
export interface JsonExportOptions {
  /** Spaces per indent level; 0 for compact output (default 0). */
  readonly indent?: number;
  /** Summarise typed arrays (length, min, max, first values) instead of listing every element. */
  readonly summary?: boolean;
  /** Indent level the value starts at (when it is embedded in a larger pretty document). */
  readonly depth?: number;
}

const IDENT = /^[A-Za-z_$][A-Za-z0-9_$]*$/;

/** JSON path of a property below `parent` (`$`, `$.a`, `$["x y"]`, `$[3]`). */
function jpath(parent: string, key: string | number): string {
  if (typeof key === 'number') return `${parent}[${key}]`;
  return IDENT.test(key) ? `${parent}.${key}` : `${parent}[${JSON.stringify(key)}]`;
}

function specialNumber(n: number): string | undefined {
  if (Number.isNaN(n)) return 'NaN';
  if (n === Infinity) return 'Infinity';
  if (n === -Infinity) return '-Infinity';
  if (Object.is(n, -0)) return '-0';
  return undefined;
}

function jsonNumber(n: number): string {
  const s = specialNumber(n);
  return s === undefined ? String(n) : `{"$type":"number","value":"${s}"}`;
}

const CHUNK = 64 * 1024;

/**
 * The whole JSON text of `value`, as chunks of about 64 KiB (so a large
 * state never becomes one giant string). Built completely before anything
 * is written, so a failure never leaves partial JSON behind; the walk is
 * iterative (depth costs heap, not stack).
 */
export function jsonChunks(value: unknown, options: JsonExportOptions = {}): string[] {
  const indent = options.indent ?? 0;
  const summary = options.summary === true;
  const seen = new Map<object, string>();
  let buf = '';
  const nl = (depth: number): string => (indent > 0 ? `\n${' '.repeat(depth * indent)}` : '');
  const sep = indent > 0 ? ': ' : ':';

  const chunks: string[] = [];
  function flush(): void {
    if (buf.length >= CHUNK) {
      chunks.push(buf);
      buf = '';
    }
  }

  function* entries(list: Iterable<[string, unknown]>, depth: number, pathOf: (k: string) => string): WalkStep<void> {
    let first = true;
    buf += '{';
    for (const [k, v] of list) {
      buf += `${first ? '' : ','}${nl(depth + 1)}${JSON.stringify(k)}${sep}`;
      first = false;
      yield* descend(walk(v, depth + 1, pathOf(k)));
    }
    buf += first ? '}' : `${nl(depth)}}`;
  }

  /** An object whose field values are JSON text (atoms) or nested walks. */
  function* objectWith(depth: number, fields: readonly (readonly [string, string | (() => WalkStep<void>)])[]): WalkStep<void> {
    buf += '{';
    let i = 0;
    for (const [k, v] of fields) {
      buf += `${i++ === 0 ? '' : ','}${nl(depth + 1)}${JSON.stringify(k)}${sep}`;
      if (typeof v === 'string') buf += v;
      else yield* descend(v());
    }
    buf += `${nl(depth)}}`;
  }

  function* array(items: Iterable<unknown>, depth: number, pathOf: (i: number) => string, inline: boolean): WalkStep<void> {
    buf += '[';
    let i = 0;
    for (const v of items) {
      buf += i === 0 ? (inline ? '' : nl(depth + 1)) : inline ? (indent > 0 ? ', ' : ',') : `,${nl(depth + 1)}`;
      yield* descend(walk(v, depth + 1, pathOf(i)));
      i++;
    }
    buf += i === 0 || inline ? ']' : `${nl(depth)}]`;
  }

  function* walk(v: unknown, depth: number, path: string): WalkStep<void> {
    flush();
    if (v === HOLE) {
      buf += '{"$type":"hole"}';
      return;
    }
    const kind = kindOf(v);
    switch (kind) {
      case 'undefined':
        buf += '{"$type":"undefined"}';
        return;
      case 'null':
        buf += 'null';
        return;
      case 'boolean':
        buf += String(v);
        return;
      case 'number':
        buf += jsonNumber(v as number);
        return;
      case 'bigint':
        buf += isHugeBigint(v as bigint) ? `{"$type":"bigint","hex":"${bigintHex(v as bigint)}"}` : `{"$type":"bigint","value":"${(v as bigint).toString()}"}`;
        return;
      case 'string':
        buf += JSON.stringify(v);
        return;
      case 'other':
        buf += `{"$type":"unsupported","value":${JSON.stringify(typeof v)}}`;
        return;
      default:
        break;
    }
    const obj = v as object;
    const first = seen.get(obj);
    if (first !== undefined) {
      buf += `{"$ref":${JSON.stringify(first)}}`;
      return;
    }
    seen.set(obj, path);
    switch (kind) {
      case 'array': {
        const arr = obj as unknown[];
        const items = function* (): Generator<unknown> {
          for (let i = 0; i < arr.length; i++) yield i in arr ? arr[i] : HOLE;
        };
        const inline = arr.every((x) => typeof x !== 'object' || x === null);
        yield* array(items(), depth, (i) => jpath(path, i), inline && indent > 0 && arr.length > 0 && arr.length <= 1_000_000);
        return;
      }
      case 'date': {
        const d = obj as Date;
        buf += `{"$type":"Date","value":${Number.isNaN(d.getTime()) ? 'null' : JSON.stringify(d.toISOString())}}`;
        return;
      }
      case 'regexp': {
        const r = obj as RegExp;
        buf += `{"$type":"RegExp","source":${JSON.stringify(r.source)},"flags":${JSON.stringify(r.flags)}}`;
        return;
      }
      case 'map': {
        const m = obj as Map<unknown, unknown>;
        const pairs = function* (): Generator<unknown> {
          for (const e of m) yield e;
        };
        yield* objectWith(depth, [
          ['$type', '"Map"'],
          ['entries', () => array(pairs(), depth + 1, (i) => jpath(jpath(path, 'entries'), i), false)],
        ]);
        return;
      }
      case 'set': {
        const set = obj as Set<unknown>;
        yield* objectWith(depth, [
          ['$type', '"Set"'],
          ['values', () => array(set.values(), depth + 1, (i) => jpath(jpath(path, 'values'), i), false)],
        ]);
        return;
      }
      case 'typedarray': {
        const arr = obj as AnyTypedArray;
        const name = typedName(arr);
        if (summary) {
          const s = summarizeTyped(arr);
          const el = (x: number | bigint | null): string => (x === null ? 'null' : typeof x === 'bigint' ? `"${x.toString()}"` : jsonNumber(x));
          buf += `{"$type":${JSON.stringify(name)},"length":${s.length},"min":${el(s.min)},"max":${el(s.max)},"nan":${s.nan},"first":[${s.first.map(el).join(',')}],"summary":true}`;
          return;
        }
        buf += `{"$type":${JSON.stringify(name)},"values":[`;
        const big = arr instanceof BigInt64Array || arr instanceof BigUint64Array;
        for (let i = 0; i < arr.length; i += 4096) {
          const parts: string[] = [];
          const end = Math.min(arr.length, i + 4096);
          for (let j = i; j < end; j++) {
            const x = arr[j]!;
            parts.push(big ? `"${x.toString()}"` : jsonNumber(x as number));
          }
          buf += (i === 0 ? '' : ',') + parts.join(',');
          flush();
        }
        buf += ']}';
        return;
      }
      case 'buffer':
      case 'arraybuffer':
      case 'dataview': {
        const name = kind === 'buffer' ? 'Buffer' : kind === 'arraybuffer' ? 'ArrayBuffer' : 'DataView';
        const bytes = bytesOf(obj as ArrayBuffer | ArrayBufferView);
        if (summary && bytes.length > 48) {
          buf += `{"$type":${JSON.stringify(name)},"length":${bytes.length},"first":${JSON.stringify(Buffer.from(bytes.subarray(0, 48)).toString('base64'))},"summary":true}`;
          return;
        }
        buf += `{"$type":${JSON.stringify(name)},"base64":"`;
        for (let i = 0; i < bytes.length; i += 3 * 16384) {
          buf += Buffer.from(bytes.buffer, bytes.byteOffset + i, Math.min(3 * 16384, bytes.length - i)).toString('base64');
          flush();
        }
        buf += '"}';
        return;
      }
      case 'class': {
        const rec = obj as Record<string, unknown>;
        const list = Object.keys(rec).map((k): [string, unknown] => [k, rec[k]]);
        yield* objectWith(depth, [
          ['$type', '"class"'],
          ['class', JSON.stringify(classNameOf(obj))],
          ['fields', () => entries(list, depth + 1, (k) => jpath(jpath(path, 'fields'), k))],
        ]);
        return;
      }
      default: {
        const rec = obj as Record<string, unknown>;
        const keys = Object.keys(rec);
        const list = keys.map((k): [string, unknown] => [k, rec[k]]);
        const nullProto = isNullProto(obj);
        if (nullProto || keys.includes('$type') || keys.includes('$ref')) {
          yield* objectWith(depth, [
            ['$type', '"Object"'],
            ...(nullProto ? [['nullPrototype', 'true'] as const] : []),
            ['value', () => entries(list, depth + 1, (k) => jpath(jpath(path, 'value'), k))],
          ]);
        } else {
          yield* entries(list, depth, (k) => jpath(path, k));
        }
        return;
      }
    }
  }

  runWalk(walk(value, options.depth ?? 0, '$'));
  if (buf.length > 0) chunks.push(buf);
  return chunks;
}

/** Marker for array holes (replaced by `{"$type":"hole"}`). */
const HOLE: object = Object.freeze({ $type: 'hole' });

const INT64_MIN = -(2n ** 63n);
const UINT64_MAX = 2n ** 64n - 1n;

/**
 * The msgpack tree of `value`: Maps for objects (so keys like `__proto__`
 * stay plain keys), arrays, strings, numbers, booleans, null, byte arrays.
 */
export function toMsgpackTree(value: unknown): unknown {
  const seen = new Map<object, string>();
  const tag = (type: string, fields: [string, unknown][]): Map<string, unknown> => new Map<string, unknown>([['$type', type], ...fields]);
  function* obj(list: [string, unknown][], path: string, wrap: boolean, nullProto: boolean): WalkStep<Map<string, unknown>> {
    const out = new Map<string, unknown>();
    for (const [k, v] of list) out.set(k, yield* descend(walk(v, jpath(wrap ? jpath(path, 'value') : path, k))));
    return wrap ? tag('Object', [...(nullProto ? [['nullPrototype', true] as [string, unknown]] : []), ['value', out]]) : out;
  }
  function* walk(v: unknown, path: string): WalkStep<unknown> {
    if (v === HOLE) return tag('hole', []);
    const kind = kindOf(v);
    switch (kind) {
      case 'undefined':
        return tag('undefined', []);
      case 'null':
      case 'boolean':
      case 'string':
        return v;
      case 'number':
        return Object.is(v, -0) ? tag('number', [['value', '-0']]) : v;
      case 'bigint': {
        const b = v as bigint;
        if (b >= INT64_MIN && b <= UINT64_MAX) return b;
        return isHugeBigint(b) ? tag('bigint', [['hex', bigintHex(b)]]) : tag('bigint', [['value', b.toString()]]);
      }
      case 'other':
        return tag('unsupported', [['value', typeof v]]);
      default:
        break;
    }
    const o = v as object;
    const first = seen.get(o);
    if (first !== undefined) return new Map<string, unknown>([['$ref', first]]);
    seen.set(o, path);
    switch (kind) {
      case 'array': {
        const arr = o as unknown[];
        const out: unknown[] = [];
        for (let i = 0; i < arr.length; i++) out.push(i in arr ? yield* descend(walk(arr[i], jpath(path, i))) : tag('hole', []));
        return out;
      }
      case 'date': {
        const d = o as Date;
        return tag('Date', [['value', Number.isNaN(d.getTime()) ? null : d.toISOString()]]);
      }
      case 'regexp': {
        const r = o as RegExp;
        return tag('RegExp', [
          ['source', r.source],
          ['flags', r.flags],
        ]);
      }
      case 'map': {
        const entries: unknown[] = [];
        let i = 0;
        for (const [k, val] of o as Map<unknown, unknown>) {
          const p = jpath(jpath(path, 'entries'), i++);
          const kk = yield* descend(walk(k, jpath(p, 0)));
          entries.push([kk, yield* descend(walk(val, jpath(p, 1)))]);
        }
        return tag('Map', [['entries', entries]]);
      }
      case 'set': {
        const values: unknown[] = [];
        let i = 0;
        for (const x of o as Set<unknown>) values.push(yield* descend(walk(x, jpath(jpath(path, 'values'), i++))));
        return tag('Set', [['values', values]]);
      }
      case 'typedarray': {
        const arr = o as AnyTypedArray;
        return tag(typedName(arr), [
          ['length', arr.length],
          ['bytes', bytesOf(arr)],
        ]);
      }
      case 'buffer':
      case 'arraybuffer':
      case 'dataview':
        return tag(kind === 'buffer' ? 'Buffer' : kind === 'arraybuffer' ? 'ArrayBuffer' : 'DataView', [['bytes', bytesOf(o as ArrayBuffer | ArrayBufferView)]]);
      case 'class': {
        const rec = o as Record<string, unknown>;
        const fields = new Map<string, unknown>();
        for (const k of Object.keys(rec)) fields.set(k, yield* descend(walk(rec[k], jpath(jpath(path, 'fields'), k))));
        return tag('class', [
          ['class', classNameOf(o)],
          ['fields', fields],
        ]);
      }
      default: {
        const rec = o as Record<string, unknown>;
        const keys = Object.keys(rec);
        const nullProto = isNullProto(o);
        return yield* obj(
          keys.map((k): [string, unknown] => [k, rec[k]]),
          path,
          nullProto || keys.includes('$type') || keys.includes('$ref'),
          nullProto,
        );
      }
    }
  }
  return runWalk(walk(value, '$'));
}

/** Plain msgpack bytes of `value` (see the module comment for the mapping). */
export function packMsgpack(value: unknown): Uint8Array {
  const packr = new Packr({ useRecords: false, moreTypes: false, encodeUndefinedAsNil: false, variableMapSize: true });
  return packr.pack(toMsgpackTree(value));
}
