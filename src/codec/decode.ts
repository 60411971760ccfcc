/**
 * @module codec/decode
 *
 * {@link decodeState}: a ckpt value stream (plus its blobs) → the provider's
 * state. The inverse of `codec/encode`; the byte layout is in
 * `docs/value-encoding.md`.
 *
 * The input may be corrupt or hostile (a damaged file, a forged image), so
 * this decoder is written defensively: every read is bounds-checked against
 * the end of the innermost enclosing container, declared counts and lengths
 * are checked against the bytes that remain *before* anything is allocated,
 * nesting is limited, and every failure — whatever its cause — surfaces as
 * `CkptError` `CKPT_ERR_CORRUPT` with the byte offset in `where` (or
 * `CKPT_ERR_UNKNOWN_CLASS` for a class that is not registered). It never
 * throws anything else, never loops without consuming input, and never
 * modifies a prototype.
 */

import { isStackOverflow } from './stack-overflow.js';
import { isUtf8 } from 'node:buffer';

import { CkptError, ErrorCodes, describeError } from '../errors.js';
import {
  assertLittleEndianHost,
  binaryFromArrayBuffer,
  binaryKindName,
  elementSize,
  isBinaryKind,
  type BinaryValue,
} from './binary-kinds.js';
import { bufferText } from './buffer-text.js';
import { DEEP_THRESHOLD, PRESIZE_MAX, decodeDeep, type DeepDecoder } from './decode-deep.js';
import { defineOwn, setProp } from './decode-props.js';
import { DEFAULT_MAX_BIGINT_BYTES, Ext, type BinaryKindCode, type ClassLookup, type DecodeOptions } from './types.js';

/** The input buffer type (the text conversions live in codec/buffer-text). */
type FastBuffer = Buffer<ArrayBufferLike>;

const TWO_32 = 0x100000000;

/** Largest BIGINT magnitude accepted, in bytes (V8's BigInt limit is 2^30 bits). */
const MAX_BIGINT_BYTES = 1 << 27;

/** Number of slots of the map-key cache (a power of two). */
const KEY_CACHE_SIZE = 4096;

/** Longest key (in bytes) the key cache holds. */
const KEY_CACHE_MAX_LEN = 24;

/**
 * Recently decoded short ASCII map keys, by a hash of their bytes. Records
 * repeat the same few keys millions of times; returning the same string
 * avoids allocating it again and lets V8 reuse the internalized key when
 * storing the property. Strings are immutable, so sharing them across calls
 * is safe.
 */
const keyCache: (string | undefined)[] = new Array<string | undefined>(KEY_CACHE_SIZE).fill(undefined);

/** Number of slots of the short-string cache (a power of two). */
const VALUE_CACHE_SIZE = 4096;

/** Recently decoded short ASCII strings (values), like {@link keyCache}. */
const valueCache: (string | undefined)[] = new Array<string | undefined>(VALUE_CACHE_SIZE).fill(undefined);

/** Strings shorter than this get an ASCII check in JS and then a latin1 slice (cheaper than UTF-8 decoding). */
const SHORT_STRING = 16;

// ---------------------------------------------------------------------------
// Fast paths: containers built as one literal
// ---------------------------------------------------------------------------
//
// Why: restoring an object graph is mostly allocation. An object grown key by
// key (`obj[k] = v`) goes through a map transition per key, and every object
// the decoder makes survives, so the young-generation GC copies it twice. A
// literal `{ id: v0, name: v1, … }` or `[v0, v1, v2]` is allocated at its
// final shape in one step, from an allocation site V8 learns to place
// directly in the old generation. The values are decoded first, so in
// identity mode the container's id is reserved (PENDING) before its children
// are read (ids stay in pre-order); a back-reference to a container still
// PENDING — a cycle through a fast path — restarts the whole decoding on the
// generic path (Restart), which builds containers before their children.

/** Learn (or count) the key sequence of a generically decoded plain object. */
function learnShape(k0: string, n: number, obj: object, slot: (Shape | undefined)[] | undefined, shape: Shape | undefined): void {
  if (shape !== undefined) {
    if (shape.read !== undefined || shape.misses >= SHAPE_MAX_MISSES) return;
    const keys = Object.keys(obj);
    let same = keys.length === n;
    for (let i = 0; same && i < n; i++) same = keys[i] === shape.keys[i];
    if (!same) {
      shape.misses++;
      return;
    }
    if (++shape.hits >= SHAPE_COMPILE_AFTER) {
      shape.read = compileShape(shape);
      if (shape.read === undefined) shape.misses = SHAPE_MAX_MISSES;
    }
    return;
  }
  if (shapeCount >= MAX_SHAPES) return;
  const keys = Object.keys(obj);
  const ok = keys.length === n && keys[0] === k0 && keys.every(plainKey);
  const encoded = ok ? keys.map((k) => Uint8Array.from([0xa0 | k.length, ...Array.from(k, (c) => c.charCodeAt(0))])) : [];
  const entry: Shape = { keys, encoded, hits: 1, misses: ok ? 0 : SHAPE_MAX_MISSES, read: undefined };
  let byCount = slot;
  if (byCount === undefined) {
    byCount = [];
    shapesByFirstKey.set(k0, byCount);
  }
  byCount[n] = entry;
  shapeCount++;
}

/** Marks the id of a container still being read on a fast path (identity mode). */
const PENDING: unknown = Symbol('ckpt.pending');
/** Returned by {@link Decoder.elem} for a HOLE. */
const HOLE_MARK: unknown = Symbol('ckpt.hole');

/** Thrown when a back-reference meets a PENDING container; decodeState starts over without fast paths. */
class Restart extends Error {}

/** Reads `n` values as array elements (HOLEs as {@link HOLE_MARK}) into one literal. */
type ArrayReader = (d: Decoder, depth: number) => unknown[];

/** Array fast paths by length (1..8); longer arrays take the generic path. */
const ARRAY_READERS: readonly (ArrayReader | undefined)[] = [
  undefined,
  (d, depth) => [d.elem(depth)],
  (d, depth) => [d.elem(depth), d.elem(depth)],
  (d, depth) => [d.elem(depth), d.elem(depth), d.elem(depth)],
  (d, depth) => [d.elem(depth), d.elem(depth), d.elem(depth), d.elem(depth)],
  (d, depth) => [d.elem(depth), d.elem(depth), d.elem(depth), d.elem(depth), d.elem(depth)],
  (d, depth) => [d.elem(depth), d.elem(depth), d.elem(depth), d.elem(depth), d.elem(depth), d.elem(depth)],
  (d, depth) => [d.elem(depth), d.elem(depth), d.elem(depth), d.elem(depth), d.elem(depth), d.elem(depth), d.elem(depth)],
  (d, depth) => [d.elem(depth), d.elem(depth), d.elem(depth), d.elem(depth), d.elem(depth), d.elem(depth), d.elem(depth), d.elem(depth)],
];

/** Turn HOLE marks back into holes (rare: sparse arrays). */
function punchHoles(arr: unknown[]): void {
  for (let i = 0; i < arr.length; i++) if (arr[i] === HOLE_MARK) Reflect.deleteProperty(arr, i);
}

/** Builds one object of a known shape; the first key has been read. Returns the object. */
type ShapeReader = (d: Decoder, depth: number, id: number) => object;

/**
 * A key sequence seen in plain objects: learned on the generic path, and
 * once seen {@link SHAPE_COMPILE_AFTER} times compiled into a reader that
 * checks each further key byte for byte (falling back to the generic path
 * at the first difference) and builds the object as one literal.
 */
interface Shape {
  readonly keys: readonly string[];
  /** Encoded bytes of each key (fixstr header + ASCII bytes). */
  readonly encoded: readonly Uint8Array[];
  hits: number;
  /** Objects with this first key and count but other keys; many of them and the slot is given up. */
  misses: number;
  read: ShapeReader | undefined;
}

/** A slot of this many misses stops learning (its objects vary too much). */
const SHAPE_MAX_MISSES = 64;

/** Objects of more keys than this are never compiled. */
const SHAPE_MAX_KEYS = 24;
/** A shape is compiled after this many objects had it. */
const SHAPE_COMPILE_AFTER = 8;
/** Shapes learned per process at most (compiled readers are small, but unbounded input must not make unbounded code). */
const MAX_SHAPES = 512;
/** Shapes by first key, then by key count. */
const shapesByFirstKey = new Map<string, (Shape | undefined)[]>();
let shapeCount = 0;
/** False when this process cannot compile code (`--disallow-code-generation-from-strings`). */
let canCompile = true;

/** A key the compiled readers handle: short ASCII, not `__proto__`, not an array index (those order differently). */
function plainKey(k: string): boolean {
  if (k.length === 0 || k.length >= 32 || k === '__proto__') return false;
  for (let i = 0; i < k.length; i++) if (k.charCodeAt(i) >= 0x80) return false;
  return !/^(0|[1-9][0-9]*)$/.test(k);
}

function compileShape(shape: Shape): ShapeReader | undefined {
  if (!canCompile) return undefined;
  const keys = shape.keys;
  const n = keys.length;
  let body = 'const v0 = d.value(depth);\n';
  for (let i = 1; i < n; i++) {
    body += `if (!d.matchKey(s, ${i})) return d.shapeMiss(s, ${i}, [${Array.from({ length: i }, (_, j) => `v${j}`).join(', ')}], depth, id);\n`;
    body += `const v${i} = d.value(depth);\n`;
  }
  body += `return { ${keys.map((k, i) => `${JSON.stringify(k)}: v${i}`).join(', ')} };`;
  try {
    // Keys are embedded with JSON.stringify: a valid JS string literal whatever they hold.
    // eslint-disable-next-line @typescript-eslint/no-implied-eval -- the point: one literal per shape (see above)
    const make = new Function('s', `return function read(d, depth, id) {\n${body}\n};`) as (s: Shape) => ShapeReader;
    return make(shape);
  } catch {
    canCompile = false;
    return undefined;
  }
}

class Decoder implements DeepDecoder {
  readonly buf: FastBuffer;
  /** The same bytes as a DataView: its float reads compile to plain loads. */
  readonly view: DataView;
  pos = 0;
  /**
   * End of the innermost ext container being decoded (initially the end of
   * the stream). Reads never go past it, so a forged inner length cannot make
   * the decoder read (or size allocations from) bytes outside its container.
   */
  end: number;
  readonly classes: ClassLookup;
  readonly blobs: readonly Uint8Array[];
  readonly blobUsed: Uint8Array;
  readonly blobKinds: readonly BinaryKindCode[] | undefined;
  readonly maxDepth: number;
  /** Largest BIGINT magnitude accepted, in bytes. */
  readonly maxBigIntBytes: number;
  /** Identity mode: every object decoded so far, by id. `null` in tree mode. */
  readonly objects: unknown[] | null;
  /** Whether the literal fast paths are used (off after a {@link Restart}). */
  readonly fast: boolean;
  /** Containers entered at this depth or deeper are decoded by the iterative decoder (codec/decode-deep). */
  readonly deepAt: number;
  /**
   * Holes still to be returned by {@link elem} from a run of holes met in an
   * array read by a fast-path reader (the reader's next calls take them);
   * {@link runK} and {@link runAt} describe that run for the overrun error.
   */
  runSkip = 0;
  runK = 0;
  runAt = 0;

  constructor(buf: FastBuffer, options: DecodeOptions, fast: boolean, deepAt: number) {
    this.fast = fast;
    this.deepAt = deepAt;
    this.view = new DataView(buf.buffer, buf.byteOffset, buf.byteLength);
    this.buf = buf;
    this.end = buf.length;
    this.classes = options.classes;
    this.blobs = options.blobs;
    this.blobUsed = new Uint8Array(options.blobs.length);
    this.blobKinds = options.blobKinds;
    this.maxDepth = options.maxDepth;
    this.maxBigIntBytes = Math.min(options.maxBigIntBytes ?? DEFAULT_MAX_BIGINT_BYTES, MAX_BIGINT_BYTES);
    this.objects = options.tree ? null : [];
  }

  // --- errors and bounded reads -------------------------------------------

  corrupt(what: string, at: number): CkptError {
    return new CkptError(ErrorCodes.CORRUPT, `value stream is corrupt at byte ${String(at)}: ${what}`, {
      where: `byte ${String(at)}`,
    });
  }

  /** Reserve `n` bytes at the current position; returns their start. */
  take(n: number, what: string): number {
    const p = this.pos;
    if (n > this.end - p) {
      throw this.corrupt(`${what} needs ${String(n)} bytes but only ${String(this.end - p)} remain`, p);
    }
    this.pos = p + n;
    return p;
  }

  u8(p: number): number {
    return this.buf[p] as number;
  }

  u16(p: number): number {
    const buf = this.buf;
    return ((buf[p] as number) << 8) | (buf[p + 1] as number);
  }

  u32(p: number): number {
    const buf = this.buf;
    return (buf[p] as number) * 0x1000000 + (((buf[p + 1] as number) << 16) | ((buf[p + 2] as number) << 8) | (buf[p + 3] as number));
  }

  u32le(p: number): number {
    const buf = this.buf;
    return (buf[p + 3] as number) * 0x1000000 + (((buf[p + 2] as number) << 16) | ((buf[p + 1] as number) << 8) | (buf[p] as number));
  }

  /** Refuse a container that is too deep or declares more members than bytes remain. */
  checkContainer(members: number, depth: number, at: number): void {
    this.checkArray(depth, at);
    // Every member takes at least one byte: a larger count is forged, and is
    // refused before anything of that size is allocated.
    if (members > this.end - this.pos) {
      throw this.corrupt(`a container declares ${String(members)} members but only ${String(this.end - this.pos)} bytes remain`, at);
    }
  }

  /**
   * Refuse an array nested deeper than maxDepth. Its length is not checked
   * against the bytes that remain: a run of holes stands for up to 2^32−1
   * elements in 6 bytes. Arrays are never allocated by their length beyond
   * {@link PRESIZE_MAX}, and every element that is not a hole takes at least
   * one byte, each read bounds-checked.
   */
  checkArray(depth: number, at: number): void {
    if (depth >= this.maxDepth) throw this.corrupt(`nesting deeper than maxDepth (${String(this.maxDepth)})`, at);
  }

  /**
   * A HOLE (fixext1) or a run of holes (fixext4 HOLE, u32 LE count ≥ 1) at
   * the current position, as an element of an array with `left` indices
   * still to fill: consumes it and returns how many holes it stands for, or
   * 0 when no hole is there (nothing consumed).
   */
  holes(left: number): number {
    const p = this.pos;
    const buf = this.buf;
    if (buf[p + 1] !== Ext.HOLE) return 0;
    const b = buf[p];
    if (b === 0xd4 && p + 3 <= this.end) {
      if (buf[p + 2] !== 0) throw this.corrupt('HOLE with a non-zero data byte', p);
      this.pos = p + 3;
      return 1;
    }
    if (b === 0xd6 && p + 6 <= this.end) {
      const k = this.u32le(p + 2);
      if (k === 0) throw this.corrupt('a run of 0 holes', p);
      if (k > left) throw this.runOverrun(k, p);
      this.pos = p + 6;
      return k;
    }
    return 0;
  }

  runOverrun(k: number, at: number): CkptError {
    return this.corrupt(`a run of ${String(k)} holes goes past the end of its array`, at);
  }

  // --- values ---------------------------------------------------------------

  /** Decode one value. `depth` = number of containers enclosing it. */
  value(depth: number): unknown {
    const at = this.pos;
    if (at >= this.end) throw this.corrupt('unexpected end of data', at);
    const b = this.u8(at);
    this.pos = at + 1;
    if (b < 0x80) return b;
    if (b >= 0xe0) return b - 0x100;
    if (b < 0x90) return this.plainObject(b & 0x0f, depth, at);
    if (b < 0xa0) return this.array(b & 0x0f, depth, at);
    if (b < 0xc0) return this.str(b & 0x1f);
    switch (b) {
      case 0xc0:
        return null;
      case 0xc2:
        return false;
      case 0xc3:
        return true;
      case 0xca:
        return this.view.getFloat32(this.take(4, 'a float32'));
      case 0xcb:
        return this.view.getFloat64(this.take(8, 'a float64'));
      case 0xcc:
        return this.u8(this.take(1, 'a uint8'));
      case 0xcd:
        return this.u16(this.take(2, 'a uint16'));
      case 0xce:
        return this.u32(this.take(4, 'a uint32'));
      case 0xcf: {
        const p = this.take(8, 'a uint64');
        const hi = this.u32(p);
        if (hi > 0x1fffff) throw this.corrupt('uint64 beyond the safe integer range (ckpt writes those as float64)', at);
        return hi * TWO_32 + this.u32(p + 4);
      }
      case 0xd0:
        return (this.u8(this.take(1, 'an int8')) << 24) >> 24;
      case 0xd1:
        return (this.u16(this.take(2, 'an int16')) << 16) >> 16;
      case 0xd2:
        return this.u32(this.take(4, 'an int32')) | 0;
      case 0xd3: {
        const p = this.take(8, 'an int64');
        const n = (this.u32(p) | 0) * TWO_32 + this.u32(p + 4);
        if (!Number.isSafeInteger(n)) throw this.corrupt('int64 beyond the safe integer range (ckpt writes those as float64)', at);
        return n;
      }
      case 0xd9:
        return this.str(this.u8(this.take(1, 'a str8 length')));
      case 0xda:
        return this.str(this.u16(this.take(2, 'a str16 length')));
      case 0xdb:
        return this.str(this.u32(this.take(4, 'a str32 length')));
      case 0xdc:
        return this.array(this.u16(this.take(2, 'an array16 length')), depth, at);
      case 0xdd:
        return this.array(this.u32(this.take(4, 'an array32 length')), depth, at);
      case 0xde:
        return this.plainObject(this.u16(this.take(2, 'a map16 length')), depth, at);
      case 0xdf:
        return this.plainObject(this.u32(this.take(4, 'a map32 length')), depth, at);
      case 0xd4:
        return this.ext(1, depth, at);
      case 0xd5:
        return this.ext(2, depth, at);
      case 0xd6:
        return this.ext(4, depth, at);
      case 0xd7:
        return this.ext(8, depth, at);
      case 0xd8:
        return this.ext(16, depth, at);
      case 0xc7:
        return this.ext(this.u8(this.take(1, 'an ext8 length')), depth, at);
      case 0xc8:
        return this.ext(this.u16(this.take(2, 'an ext16 length')), depth, at);
      case 0xc9:
        return this.ext(this.u32(this.take(4, 'an ext32 length')), depth, at);
      case 0xc1:
        throw this.corrupt('reserved msgpack byte 0xc1', at);
      default:
        // 0xc4..0xc6 (bin8/16/32): ckpt writes binary data as BYTES/BLOB exts only.
        throw this.corrupt(`msgpack type 0x${b.toString(16)} is not used by ckpt`, at);
    }
  }

  str(len: number): string {
    const p = this.take(len, 'a string');
    if (len < SHORT_STRING) {
      // Short ASCII (the common case for names, ids, enum-like values): one
      // pass checks and hashes, and a string seen recently is returned again
      // (enum-like values repeat: no new string, less for the GC); else a
      // latin1 slice, which is exact for ASCII bytes.
      const buf = this.buf;
      let h = len;
      let i = 0;
      for (; i < len; i++) {
        const c = buf[p + i] as number;
        if (c >= 0x80) break;
        h = (Math.imul(h, 31) + c) | 0;
      }
      if (i === len) {
        const slot = h & (VALUE_CACHE_SIZE - 1);
        const cached = valueCache[slot];
        if (cached !== undefined && cached.length === len) {
          let j = 0;
          while (j < len && cached.charCodeAt(j) === buf[p + j]) j++;
          if (j === len) return cached;
        }
        const str = bufferText.latin1Slice(buf, p, p + len);
        valueCache[slot] = str;
        return str;
      }
    }
    return this.utf8(p, len);
  }

  utf8(p: number, len: number): string {
    const s = bufferText.utf8Slice(this.buf, p, p + len);
    // Invalid UTF-8 decodes to U+FFFD; only then pay for a validation pass
    // (a genuine U+FFFD in the data is valid and passes it).
    if (s.includes('\ufffd') && !isUtf8(this.buf.subarray(p, p + len))) {
      throw this.corrupt('a string is not valid UTF-8', p);
    }
    return s;
  }

  /** A map key (or other required string): a msgpack str or a WTF16 ext. */
  key(): string {
    const at = this.pos;
    if (at >= this.end) throw this.corrupt('unexpected end of data (expected a string)', at);
    const b = this.u8(at);
    this.pos = at + 1;
    if (b >= 0xa0 && b < 0xc0) {
      const len = b & 0x1f;
      return len <= KEY_CACHE_MAX_LEN ? this.cachedKey(len) : this.str(len);
    }
    switch (b) {
      case 0xd9:
        return this.str(this.u8(this.take(1, 'a str8 length')));
      case 0xda:
        return this.str(this.u16(this.take(2, 'a str16 length')));
      case 0xdb:
        return this.str(this.u32(this.take(4, 'a str32 length')));
      case 0xc7:
        return this.wtf16Key(this.u8(this.take(1, 'an ext8 length')), at);
      case 0xc8:
        return this.wtf16Key(this.u16(this.take(2, 'an ext16 length')), at);
      case 0xc9:
        return this.wtf16Key(this.u32(this.take(4, 'an ext32 length')), at);
      case 0xd5:
        return this.wtf16Key(2, at);
      case 0xd6:
        return this.wtf16Key(4, at);
      case 0xd7:
        return this.wtf16Key(8, at);
      case 0xd8:
        return this.wtf16Key(16, at);
      default:
        break;
    }
    throw this.corrupt('expected a string (map keys and class names must be strings)', at);
  }

  /** A short fixstr key, through {@link keyCache} when it is ASCII. */
  cachedKey(len: number): string {
    const p = this.take(len, 'a string');
    const buf = this.buf;
    let h = len;
    for (let i = 0; i < len; i++) {
      const c = buf[p + i] as number;
      if (c >= 0x80) {
        this.pos = p;
        return this.str(len);
      }
      h = (Math.imul(h, 31) + c) | 0;
    }
    const slot = h & (KEY_CACHE_SIZE - 1);
    const cached = keyCache[slot];
    if (cached !== undefined && cached.length === len) {
      let j = 0;
      while (j < len && cached.charCodeAt(j) === buf[p + j]) j++;
      if (j === len) return cached;
    }
    const s = bufferText.latin1Slice(buf, p, p + len);
    keyCache[slot] = s;
    return s;
  }

  /** The rest of an ext header that must be a WTF16 string, then the string. */
  wtf16Key(len: number, at: number): string {
    if (this.u8(this.take(1, 'an ext type')) !== Ext.WTF16) {
      throw this.corrupt('expected a string (map keys and class names must be strings)', at);
    }
    return this.wtf16(len);
  }

  wtf16(len: number): string {
    const p = this.take(len, 'a WTF-16 string');
    if ((len & 1) !== 0) throw this.corrupt('a WTF-16 string has an odd byte length', p);
    return bufferText.ucs2Slice(this.buf, p, p + len);
  }

  /** An array element: a value, or {@link HOLE_MARK} for a HOLE. */
  elem(depth: number): unknown {
    if (this.runSkip !== 0) {
      this.runSkip--;
      return HOLE_MARK;
    }
    if (this.buf[this.pos + 1] === Ext.HOLE) {
      // A fast-path reader does not know its index: a run hands its further
      // holes to the reader's next calls, and array() checks the rest.
      const p = this.pos;
      const k = this.holes(Infinity);
      if (k !== 0) {
        this.runSkip = k - 1;
        this.runK = k;
        this.runAt = p;
        return HOLE_MARK;
      }
    }
    return this.value(depth);
  }

  array(n: number, depth: number, at: number): unknown[] {
    if (depth >= this.deepAt) return this.deep(depth, at) as unknown[];
    this.checkArray(depth, at);
    if (this.fast && n <= 8 && n > 0) {
      const objects = this.objects;
      const id = objects === null ? -1 : objects.push(PENDING) - 1;
      const arr = ARRAY_READERS[n]!(this, depth + 1);
      if (this.runSkip !== 0) throw this.runOverrun(this.runK, this.runAt);
      if (objects !== null) objects[id] = arr;
      for (let i = 0; i < n; i++) {
        if (arr[i] === HOLE_MARK) {
          punchHoles(arr);
          break;
        }
      }
      return arr;
    }
    // Small arrays are allocated at their exact size. Large ones grow as
    // elements actually arrive: a forged count (even one that passed the
    // remaining-bytes check) then cannot make nested headers of a few bytes
    // each reserve gigabytes.
    const presize = n <= PRESIZE_MAX;
    const arr: unknown[] = presize ? new Array<unknown>(n) : [];
    // Registered before the elements are decoded, so they can refer to it.
    this.objects?.push(arr);
    const buf = this.buf;
    for (let i = 0; i < n; ) {
      // HOLE (and a run of holes) is only meaningful here, as an array element.
      if (buf[this.pos + 1] === Ext.HOLE) {
        const k = this.holes(n - i);
        if (k !== 0) {
          i += k;
          if (!presize) arr.length = i; // extends the array leaving the indices absent
          continue;
        }
      }
      if (presize) arr[i] = this.value(depth + 1);
      else arr.push(this.value(depth + 1));
      i++;
    }
    return arr;
  }

  plainObject(n: number, depth: number, at: number): Record<string, unknown> {
    if (depth >= this.deepAt) return this.deep(depth, at) as Record<string, unknown>;
    this.checkContainer(n * 2, depth, at);
    if (!this.fast || n === 0 || n > SHAPE_MAX_KEYS) {
      const obj: Record<string, unknown> = {};
      this.objects?.push(obj);
      this.props(obj, n, depth + 1, false);
      return obj;
    }
    const objects = this.objects;
    const id = objects === null ? -1 : objects.push(PENDING) - 1;
    const k0 = this.key();
    const slot = shapesByFirstKey.get(k0);
    const shape = slot?.[n];
    if (shape?.read !== undefined) {
      const obj = shape.read(this, depth + 1, id) as Record<string, unknown>;
      if (objects !== null) objects[id] = obj;
      return obj;
    }
    const obj: Record<string, unknown> = {};
    if (objects !== null) objects[id] = obj;
    const v0 = this.value(depth + 1);
    if (k0 === '__proto__') defineOwn(obj, k0, v0);
    else obj[k0] = v0;
    this.props(obj, n - 1, depth + 1, false);
    learnShape(k0, n, obj, slot, shape);
    return obj;
  }

  /** Whether key `i` of `s` comes next (byte for byte); consumes it if so. */
  matchKey(s: Shape, i: number): boolean {
    const e = s.encoded[i]!;
    const p = this.pos;
    const len = e.length;
    if (len > this.end - p) return false;
    const buf = this.buf;
    for (let j = 0; j < len; j++) if (buf[p + j] !== e[j]) return false;
    this.pos = p + len;
    return true;
  }

  /** A compiled shape reader met another key at `i`: finish this object on the generic path. */
  shapeMiss(s: Shape, i: number, values: readonly unknown[], depth: number, id: number): object {
    const obj: Record<string, unknown> = {};
    if (id >= 0) this.objects![id] = obj;
    for (let j = 0; j < i; j++) obj[s.keys[j]!] = values[j];
    this.props(obj, s.keys.length - i, depth, false);
    return obj;
  }

  /**
   * Decode `n` key/value pairs into `obj`. `__proto__` (and, for class
   * instances, any key the prototype chain already has — it could be a
   * setter or a read-only property) becomes an own data property through
   * defineProperty; a plain assignment of `__proto__` would replace the
   * object's prototype, which hostile input must never be able to do.
   */
  props(obj: object, n: number, childDepth: number, viaProto: boolean): void {
    for (let i = 0; i < n; i++) {
      const key = this.key();
      setProp(obj, key, this.value(childDepth), viaProto);
    }
  }

  /**
   * Decode the container whose header starts at `at` — and all it holds —
   * with the iterative decoder (codec/decode-deep): it is nested
   * {@link deepAt} containers deep, and recursing further would make the
   * call stack grow with the nesting.
   */
  deep(depth: number, at: number): unknown {
    this.pos = at;
    return decodeDeep(this, depth);
  }

  /** Read a msgpack map header inside an ext payload. */
  mapHeader(): number {
    const at = this.pos;
    const b = at < this.end ? this.u8(at) : -1;
    this.pos = at + 1;
    if (b >= 0x80 && b < 0x90) return b & 0x0f;
    if (b === 0xde) return this.u16(this.take(2, 'a map16 length'));
    if (b === 0xdf) return this.u32(this.take(4, 'a map32 length'));
    throw this.corrupt('expected a msgpack map', at);
  }

  /** Read a msgpack array header inside an ext payload. */
  arrayHeader(): number {
    const at = this.pos;
    const b = at < this.end ? this.u8(at) : -1;
    this.pos = at + 1;
    if (b >= 0x90 && b < 0xa0) return b & 0x0f;
    if (b === 0xdc) return this.u16(this.take(2, 'an array16 length'));
    if (b === 0xdd) return this.u32(this.take(4, 'an array32 length'));
    throw this.corrupt('expected a msgpack array', at);
  }

  // --- extension types --------------------------------------------------------

  /** Decode an ext whose header (up to and including its length) was read. */
  ext(len: number, depth: number, at: number): unknown {
    const tp = this.take(1, 'an ext type');
    const type = this.u8(tp);
    const start = this.take(len, 'an ext payload');
    const stop = start + len;
    switch (type) {
      case Ext.UNDEFINED:
        if (len !== 1 || this.u8(start) !== 0) throw this.corrupt('UNDEFINED must be fixext1 with data 0', at);
        return undefined;
      case Ext.HOLE:
        throw this.corrupt('HOLE outside an array (or not a fixext1 hole / fixext4 run of holes)', at);
      case Ext.REF: {
        const objects = this.objects;
        if (objects === null) throw this.corrupt('back-reference in a tree-mode stream', at);
        if (len !== 4) throw this.corrupt('REF must have a 4-byte payload', at);
        const id = this.u32le(start);
        if (id >= objects.length) throw this.corrupt(`back-reference to object ${String(id)}, which does not exist yet`, at);
        const target = objects[id];
        if (target === PENDING) throw new Restart();
        return target;
      }
      case Ext.BIGINT:
        return this.bigint(start, len, at);
      case Ext.DATE: {
        if (len !== 8) throw this.corrupt('DATE must have an 8-byte payload', at);
        const date = new Date(this.buf.readDoubleLE(start));
        this.objects?.push(date);
        return date;
      }
      case Ext.WTF16:
        this.pos = start;
        return this.wtf16(len);
      case Ext.BYTES:
        return this.bytes(start, len, at);
      case Ext.BLOB:
        return this.blob(start, len, at);
      case Ext.REGEXP:
        break;
      case Ext.MAP:
      case Ext.SET:
      case Ext.CLASS:
      case Ext.NULL_PROTO:
        if (depth >= this.deepAt) return this.deep(depth, at);
        break;
      default:
        throw this.corrupt(`unknown ext type 0x${type.toString(16)}`, at);
    }
    // Containers: decode the payload with the end clamped to it, then demand
    // that exactly the declared length was consumed.
    const outerEnd = this.end;
    this.pos = start;
    this.end = stop;
    let result: unknown;
    switch (type) {
      case Ext.MAP:
        result = this.map(depth, at);
        break;
      case Ext.SET:
        result = this.set(depth, at);
        break;
      case Ext.REGEXP:
        result = this.regexp(at);
        break;
      case Ext.CLASS:
        result = this.classInstance(depth, at);
        break;
      default:
        result = this.nullProto(depth, at);
        break;
    }
    this.extEnd(start, len, at, outerEnd);
    return result;
  }

  extEnd(start: number, len: number, at: number, outerEnd: number): void {
    if (this.pos !== start + len) {
      throw this.corrupt(`an ext container declares ${String(len)} bytes but its content is ${String(this.pos - start)}`, at);
    }
    this.end = outerEnd;
  }

  mapItems(depth: number, at: number): number {
    const n = this.arrayHeader();
    if ((n & 1) !== 0) throw this.corrupt('a MAP payload has an odd number of items', at);
    this.checkContainer(n, depth, at);
    return n;
  }

  setItems(depth: number, at: number): number {
    const n = this.arrayHeader();
    this.checkContainer(n, depth, at);
    return n;
  }

  objectItems(depth: number, at: number): number {
    const n = this.mapHeader();
    this.checkContainer(n * 2, depth, at);
    return n;
  }

  map(depth: number, at: number): Map<unknown, unknown> {
    const n = this.mapItems(depth, at);
    const m = new Map<unknown, unknown>();
    this.objects?.push(m);
    for (let i = 0; i < n; i += 2) {
      const k = this.value(depth + 1);
      m.set(k, this.value(depth + 1));
    }
    return m;
  }

  set(depth: number, at: number): Set<unknown> {
    const n = this.setItems(depth, at);
    const s = new Set<unknown>();
    this.objects?.push(s);
    for (let i = 0; i < n; i++) s.add(this.value(depth + 1));
    return s;
  }

  regexp(at: number): RegExp {
    if (this.arrayHeader() !== 2) throw this.corrupt('a REGEXP payload must be [source, flags]', at);
    const source = this.key();
    const flags = this.key();
    let re: RegExp;
    try {
      re = new RegExp(source, flags);
    } catch (err) {
      throw new CkptError(ErrorCodes.CORRUPT, `value stream is corrupt at byte ${String(at)}: invalid RegExp (${describeError(err)})`, {
        where: `byte ${String(at)}`,
        cause: err,
      });
    }
    this.objects?.push(re);
    return re;
  }

  classInstance(depth: number, at: number): object {
    const proto = this.classProto(at);
    const n = this.objectItems(depth, at);
    // The constructor is deliberately not called (see codec/class-registry).
    const obj = Object.create(proto) as object;
    this.objects?.push(obj);
    this.props(obj, n, depth + 1, true);
    return obj;
  }

  classProto(at: number): object {
    if (this.arrayHeader() !== 2) throw this.corrupt('a CLASS payload must be [name, props]', at);
    const name = this.key();
    const proto = this.classes.protoOf(name);
    if (proto === undefined) {
      throw new CkptError(
        ErrorCodes.UNKNOWN_CLASS,
        `the state holds an instance of class "${name}", which is not registered — register class ${name} (registerClass(Class, "${name}")) before restoring`,
        { where: `byte ${String(at)}` },
      );
    }
    return proto;
  }

  nullProto(depth: number, at: number): object {
    const n = this.objectItems(depth, at);
    const obj = Object.create(null) as object;
    this.objects?.push(obj);
    this.props(obj, n, depth + 1, false);
    return obj;
  }

  bigint(start: number, len: number, at: number): bigint {
    if (len < 1) throw this.corrupt('BIGINT needs a sign byte', at);
    const sign = this.u8(start);
    if (sign > 1) throw this.corrupt('BIGINT sign byte must be 0 or 1', at);
    if (len === 1) return 0n;
    // V8 caps BigInts at 2^30 bits; refuse larger magnitudes before building strings.
    if (len - 1 > MAX_BIGINT_BYTES) throw this.corrupt(`BIGINT of ${String(len - 1)} bytes exceeds the largest BigInt`, at);
    // A configured limit, not damage: LIMIT, checked before anything is built.
    if (len - 1 > this.maxBigIntBytes) {
      throw new CkptError(
        ErrorCodes.LIMIT,
        `value stream holds a BigInt of ${String(len - 1)} bytes at byte ${String(at)}, more than maxBigIntBytes (${String(this.maxBigIntBytes)}) — raise maxBigIntBytes when reading if the image is trusted`,
        { where: `byte ${String(at)}` },
      );
    }
    // Little-endian magnitude → big-endian bytes → hex digits (linear, no per-byte strings).
    const be = Buffer.from(this.buf.subarray(start + 1, start + len)).reverse();
    const hex = be.toString('hex');
    const magnitude = BigInt(`0x${hex}`);
    return sign === 1 ? -magnitude : magnitude;
  }

  binaryKind(p: number, n: number, at: number): BinaryKindCode {
    const kind = this.u8(p);
    if (!isBinaryKind(kind)) throw this.corrupt(`unknown binary kind ${String(kind)}`, at);
    if (n % elementSize(kind) !== 0) {
      throw this.corrupt(`${String(n)} bytes is not a whole number of ${binaryKindName(kind)} elements`, at);
    }
    return kind;
  }

  bytes(start: number, len: number, at: number): BinaryValue {
    if (len < 1) throw this.corrupt('BYTES needs a kind byte', at);
    const n = len - 1;
    const kind = this.binaryKind(start, n, at);
    // A fresh ArrayBuffer: correctly aligned for every element type, and not
    // shared with the stream (which the caller may reuse).
    const ab = new ArrayBuffer(n);
    new Uint8Array(ab).set(this.buf.subarray(start + 1, start + 1 + n));
    const value = binaryFromArrayBuffer(kind, ab);
    this.objects?.push(value);
    return value;
  }

  blob(start: number, len: number, at: number): BinaryValue {
    if (len !== 5) throw this.corrupt('BLOB must have a 5-byte payload', at);
    const index = this.u32le(start + 1);
    const bytes = this.blobs[index];
    if (bytes === undefined) throw this.corrupt(`blob ${String(index)} does not exist (${String(this.blobs.length)} given)`, at);
    if (this.blobUsed[index] !== 0) throw this.corrupt(`blob ${String(index)} is referenced twice`, at);
    this.blobUsed[index] = 1;
    const kind = this.binaryKind(start, bytes.byteLength, at);
    const indexed = this.blobKinds?.[index];
    if (indexed !== undefined && indexed !== kind) {
      throw this.corrupt(`blob ${String(index)} is a ${binaryKindName(kind)} in the stream but a ${binaryKindName(indexed)} in the index`, at);
    }
    let ab: ArrayBuffer;
    if (bytes.buffer instanceof ArrayBuffer && bytes.byteOffset === 0 && bytes.byteLength === bytes.buffer.byteLength) {
      ab = bytes.buffer; // the blob owns its whole buffer: build over it, no copy
    } else {
      ab = new ArrayBuffer(bytes.byteLength);
      new Uint8Array(ab).set(bytes);
    }
    const value = binaryFromArrayBuffer(kind, ab);
    this.objects?.push(value);
    return value;
  }
}

function checkOptions(options: DecodeOptions): void {
  if (typeof options !== 'object' || options === null || !Array.isArray(options.blobs)) {
    throw new CkptError(ErrorCodes.INVALID_ARGUMENT, 'decodeState() needs options with a blobs array');
  }
  if (typeof options.classes?.protoOf !== 'function') {
    throw new CkptError(ErrorCodes.INVALID_ARGUMENT, 'decodeState() needs options.classes (a ClassLookup)');
  }
  if (!Number.isInteger(options.maxDepth) || options.maxDepth < 1) {
    throw new CkptError(ErrorCodes.INVALID_ARGUMENT, `maxDepth must be an integer ≥ 1, got ${String(options.maxDepth)}`);
  }
  const maxBig = options.maxBigIntBytes;
  if (maxBig !== undefined && (!Number.isInteger(maxBig) || maxBig < 0)) {
    throw new CkptError(ErrorCodes.INVALID_ARGUMENT, `maxBigIntBytes must be an integer ≥ 0, got ${String(maxBig)}`);
  }
}

/**
 * Decode one provider's state from a ckpt value stream and its blobs.
 *
 * - Inline binary values are copied into fresh ArrayBuffers; blob values are
 *   built over `options.blobs[i]` without copying when that array covers its
 *   whole ArrayBuffer (else copied), so the caller must not reuse blob memory.
 * - Registered classes are restored with `Object.create(prototype)`; their
 *   constructors are not called.
 *
 * @param stream - exactly one encoded value; trailing bytes are an error
 * @param options - mode (must match the encoder's), classes, blobs, depth limit
 * @throws CkptError CORRUPT (with `where` = `byte N`) for any malformed,
 *   truncated or forged input — never another error type;
 *   UNKNOWN_CLASS for a class name that is not registered;
 *   INVALID_ARGUMENT for bad options; UNSUPPORTED_FEATURE on a big-endian host.
 */
export function decodeState(stream: Uint8Array, options: DecodeOptions): unknown {
  assertLittleEndianHost();
  checkOptions(options);
  if (!(stream instanceof Uint8Array)) {
    throw new CkptError(ErrorCodes.INVALID_ARGUMENT, 'decodeState() needs the stream as a Uint8Array');
  }
  return decodeWith(stream, options, DEEP_THRESHOLD);
}

/**
 * {@link decodeState} with the depth at which the iterative decoder takes
 * over: 0 decodes everything iteratively, `Infinity` everything recursively
 * (within the call stack). For tests comparing the two decoders.
 *
 * @internal
 */
export function decodeStateAt(stream: Uint8Array, options: DecodeOptions, deepAt: number): unknown {
  assertLittleEndianHost();
  checkOptions(options);
  if (!(stream instanceof Uint8Array)) {
    throw new CkptError(ErrorCodes.INVALID_ARGUMENT, 'decodeState() needs the stream as a Uint8Array');
  }
  return decodeWith(stream, options, deepAt);
}

function decodeWith(stream: Uint8Array, options: DecodeOptions, deepAt: number): unknown {
  const buf = Buffer.from(stream.buffer, stream.byteOffset, stream.byteLength);
  try {
    return decodeAll(new Decoder(buf, options, true, deepAt));
  } catch (err) {
    // A cycle through a literal-built container: start over on the generic path.
    if (err instanceof Restart) return decodeAll(new Decoder(buf, options, false, deepAt));
    throw err;
  }
}

function decodeAll(decoder: Decoder): unknown {
  const buf = decoder.buf;
  try {
    const value = decoder.value(0);
    if (decoder.pos !== buf.length) {
      throw decoder.corrupt(`${String(buf.length - decoder.pos)} bytes follow the value`, decoder.pos);
    }
    const unused = decoder.blobUsed.indexOf(0);
    if (unused !== -1) throw decoder.corrupt(`blob ${String(unused)} is not referenced by the stream`, decoder.pos);
    return value;
  } catch (err) {
    if (err instanceof CkptError || err instanceof Restart) throw err;
    const at = decoder.pos;
    // Running out of stack or memory on a stream that passed every bound is a
    // limit of this process, not proof of damage: LIMIT, with the way to read
    // the intact image.
    if (isStackOverflow(err) || (err instanceof RangeError && /allocation failed/i.test(err.message))) {
      throw new CkptError(
        ErrorCodes.LIMIT,
        `value stream could not be decoded near byte ${String(at)}: ${err.message} — the image is intact but the state is nested too deeply or is too large for this process; restore it in a process with more stack or memory (node --stack-size=8000 --max-old-space-size=<MiB>, or a Worker with resourceLimits.stackSizeMb), and write future images with a lower maxDepth`,
        { where: `byte ${String(at)}`, cause: err },
      );
    }
    // Anything else (e.g. a throwing class lookup) is reported as corrupt input.
    throw new CkptError(ErrorCodes.CORRUPT, `value stream could not be decoded near byte ${String(at)}: ${describeError(err)}`, {
      where: `byte ${String(at)}`,
      cause: err,
    });
  }
}
