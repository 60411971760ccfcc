/**
 * @module cli/values
 *
 * Classifying decoded provider state for the tools that show, compare and
 * export it: what kind each value is, the class name of registered-class
 * instances (decoded without app code they are null-prototype placeholders
 * tagged with the class name), paths in the library's style
 * (`particles[3].onHit`), and typed-array summaries.
 */

/** The kinds of values a decoded state holds. */
export type ValueKind =
  | 'undefined'
  | 'null'
  | 'boolean'
  | 'number'
  | 'bigint'
  | 'string'
  | 'array'
  | 'object'
  | 'class'
  | 'map'
  | 'set'
  | 'date'
  | 'regexp'
  | 'typedarray'
  | 'buffer'
  | 'arraybuffer'
  | 'dataview'
  | 'other';

/** Any typed array (numeric or bigint elements). */
export type AnyTypedArray =
  | Int8Array
  | Uint8Array
  | Uint8ClampedArray
  | Int16Array
  | Uint16Array
  | Int32Array
  | Uint32Array
  | Float32Array
  | Float64Array
  | BigInt64Array
  | BigUint64Array;

/** The kind of `v`. */
export function kindOf(v: unknown): ValueKind {
  switch (typeof v) {
    case 'undefined':
      return 'undefined';
    case 'boolean':
      return 'boolean';
    case 'number':
      return 'number';
    case 'bigint':
      return 'bigint';
    case 'string':
      return 'string';
    case 'object':
      break;
    default:
      return 'other';
  }
  if (v === null) return 'null';
  if (Array.isArray(v)) return 'array';
  if (v instanceof Map) return 'map';
  if (v instanceof Set) return 'set';
  if (v instanceof Date) return 'date';
  if (v instanceof RegExp) return 'regexp';
  if (v instanceof ArrayBuffer) return 'arraybuffer';
  if (v instanceof DataView) return 'dataview';
  if (ArrayBuffer.isView(v)) return Buffer.isBuffer(v) ? 'buffer' : 'typedarray';
  const proto: unknown = Object.getPrototypeOf(v);
  if (proto === null || proto === Object.prototype) return 'object';
  return 'class';
}

/** True for an object with a null prototype (not a class placeholder). */
export function isNullProto(v: object): boolean {
  return Object.getPrototypeOf(v) === null;
}

/** Class name of a class instance: the placeholder's tag, or the constructor's name. */
export function classNameOf(v: object): string {
  const proto = Object.getPrototypeOf(v) as Record<PropertyKey, unknown> | null;
  if (proto === null) return 'Object';
  const tag = proto[Symbol.toStringTag];
  if (typeof tag === 'string') return tag;
  const ctor = proto['constructor'];
  if (typeof ctor === 'function' && ctor.name !== '') return ctor.name;
  return '(anonymous class)';
}

/** The element type name of a typed array (`Float64Array`). */
export function typedName(v: ArrayBufferView): string {
  if (Buffer.isBuffer(v)) return 'Buffer';
  const tag = (v as unknown as Record<PropertyKey, unknown>)[Symbol.toStringTag];
  return typeof tag === 'string' ? tag : 'TypedArray';
}

const IDENT = /^[A-Za-z_$][A-Za-z0-9_$]*$/;

/** The path of property `key` under `parent` (`''` is the root): `a.b`, `a["x y"]`, `a[3]`. */
export function childPath(parent: string, key: string | number): string {
  if (typeof key === 'number') return `${parent}[${key}]`;
  if (IDENT.test(key) && key !== '__proto__') return parent === '' ? key : `${parent}.${key}`;
  return `${parent}[${JSON.stringify(key)}]`;
}

/** The path shown for the root. */
export function showPath(path: string): string {
  return path === '' ? '(root)' : path;
}

/** A number as text, keeping `-0`. */
export function numberText(n: number): string {
  return Object.is(n, -0) ? '-0' : String(n);
}

/** What a typed-array summary says. */
export interface TypedSummary {
  /** Element type (`Float64Array`). */
  readonly type: string;
  /** Element count. */
  readonly length: number;
  /** Smallest element (NaN skipped), or null when empty / all NaN. */
  readonly min: number | bigint | null;
  /** Largest element (NaN skipped), or null. */
  readonly max: number | bigint | null;
  /** Number of NaN elements (float arrays). */
  readonly nan: number;
  /** The first elements. */
  readonly first: readonly (number | bigint)[];
}

/** Summarise a typed array: type, length, min/max, NaN count and the first `n` elements. */
export function summarizeTyped(arr: AnyTypedArray, n = 8): TypedSummary {
  let min: number | bigint | null = null;
  let max: number | bigint | null = null;
  let nan = 0;
  if (arr instanceof BigInt64Array || arr instanceof BigUint64Array) {
    for (const x of arr) {
      if (min === null || x < min) min = x;
      if (max === null || x > max) max = x;
    }
  } else {
    let lo = Infinity;
    let hi = -Infinity;
    let any = false;
    for (let i = 0; i < arr.length; i++) {
      const x = arr[i]!;
      if (x !== x) {
        nan++;
        continue;
      }
      any = true;
      if (x < lo || (x === 0 && lo === 0 && Object.is(x, -0))) lo = x;
      if (x > hi || (x === 0 && hi === 0 && Object.is(hi, -0))) hi = x;
    }
    if (any) {
      min = lo;
      max = hi;
    }
  }
  const first: (number | bigint)[] = [];
  for (let i = 0; i < Math.min(n, arr.length); i++) first.push(arr[i]!);
  return { type: typedName(arr), length: arr.length, min, max, nan, first };
}

/** The bytes of a binary value (typed array, Buffer, DataView, ArrayBuffer), without a copy. */
export function bytesOf(v: ArrayBufferView | ArrayBuffer): Uint8Array {
  if (v instanceof ArrayBuffer) return new Uint8Array(v);
  return new Uint8Array(v.buffer, v.byteOffset, v.byteLength);
}

/** Hex of the first `max` bytes, `01 02 03`, with `…` when cut. */
export function hexText(bytes: Uint8Array, max: number): string {
  const n = Math.min(bytes.length, max);
  const parts: string[] = [];
  for (let i = 0; i < n; i++) parts.push(bytes[i]!.toString(16).padStart(2, '0'));
  return parts.join(' ') + (bytes.length > n ? ' …' : '');
}

/**
 * BigInts wider than this many bits are never converted to decimal by the
 * CLI (decimal conversion is superlinear: a few-KB image holding a huge
 * BigInt would hang `export`, `inspect` and `diff`). They are shown as
 * truncated hexadecimal and exported as `{"$type":"bigint","hex":"…"}`.
 */
export const BIGINT_DECIMAL_MAX_BITS = 4096;

/** Hex digits of a huge BigInt shown in human output before `…`. */
const BIGINT_HEX_SHOWN = 16;

/** The bit length of `|b|` (linear time: hex conversion is linear). */
export function bigintBits(b: bigint): number {
  const abs = b < 0n ? -b : b;
  return abs === 0n ? 0 : hexDigitsBits(abs.toString(16));
}

/** The bit length of a magnitude given as hex digits without leading zeros (`'0'` has 0 bits). */
function hexDigitsBits(digits: string): number {
  if (digits === '0') return 0;
  return (digits.length - 1) * 4 + parseInt(digits[0]!, 16).toString(2).length;
}

/** True when `b` is too wide for decimal text (over {@link BIGINT_DECIMAL_MAX_BITS} bits). */
export function isHugeBigint(b: bigint): boolean {
  // Cheap pre-check: anything within ±2^4096 is small.
  return b >= HUGE_LIMIT || b <= -HUGE_LIMIT;
}

const HUGE_LIMIT = 1n << BigInt(BIGINT_DECIMAL_MAX_BITS);

/** `b` as signed hexadecimal without prefix (`-1f`); linear time. */
export function bigintHex(b: bigint): string {
  return b < 0n ? `-${(-b).toString(16)}` : b.toString(16);
}

/**
 * Human text of a BigInt: `123n`, or for one wider than
 * {@link BIGINT_DECIMAL_MAX_BITS} bits the first hex digits and its width:
 * `0x1fffffffffffffff…n (8193 bits)`.
 */
export function bigintText(b: bigint): string {
  if (!isHugeBigint(b)) return `${b.toString()}n`;
  // One hex conversion gives both the digits shown and the width.
  const neg = b < 0n;
  const digits = (neg ? -b : b).toString(16);
  return `${neg ? '-' : ''}0x${digits.slice(0, BIGINT_HEX_SHOWN)}…n (${hexDigitsBits(digits)} bits)`;
}
