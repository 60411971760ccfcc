/**
 * @module codec/encode
 *
 * {@link encodeState}: one provider's state → one msgpack value stream plus a
 * list of raw binary blobs (ckpt value encoding v1, specified byte by byte in
 * `docs/value-encoding.md`). This is the hot path of every checkpoint — it runs
 * while the application is paused at its safepoint — so it is written as one
 * monomorphic class that appends into a growable `Buffer`, with no per-value
 * closures, no intermediate trees and no path strings on the happy path.
 *
 * What is preserved and what is refused is decided here; see the spec for the
 * full table. In identity mode (`tree: false`) every object gets an id in
 * pre-order and later occurrences are written as back-references, so shared
 * references and cycles survive. In tree mode nothing is tracked (faster);
 * shared references come back as copies and cycles are refused.
 */

import { isStackOverflow } from './stack-overflow.js';
import { CkptError, ErrorCodes, describeError, type ErrorCode } from '../errors.js';
import {
  SHARED_MEMORY_REASON,
  SHARED_VIEW_REASON,
  assertLittleEndianHost,
  binaryKindOfProto,
  bytesOf,
  describeBinarySubclass,
  type BinaryValue,
} from './binary-kinds.js';
import { bufferText } from './buffer-text.js';
import {
  EncoderMemory,
  INITIAL_CAPACITY,
  LEASE_MIN,
  WEAK_MAX_KEYS,
  allocate,
  freshIdTable,
  newSlot,
  type FastBuffer,
  type IdTable,
} from './encode-memory.js';
import { writerFor } from './encode-shapes.js';
import { findValuePath, renderPath, type PathSegment } from './path.js';
import { resolveSecrets, secretSpanAt, type Redaction } from './secret.js';
import {
  BinaryKind,
  DEFAULT_MAX_BIGINT_BYTES,
  Ext,
  type Blob,
  type BinaryKindCode,
  type ClassLookup,
  type EncodeOptions,
  type EncodedState,
} from './types.js';

/** Largest payload an ext32 can declare. */
const MAX_EXT32 = 0xffffffff;
/**
 * Containers at this depth and deeper are encoded by the explicit-stack
 * encoder ({@link Encoder.deep}): the recursive one is faster but takes about
 * three JS frames per level, so it is kept to depths any stack can afford.
 */
export const DEEP_FROM = 64;
/** Hole runs at least this long are one fixext4 HOLE with a count; shorter ones stay one fixext1 per hole. */
export const HOLE_RUN_MIN = 8;
/**
 * A gap this long in an array makes the encoder stop reading elements by
 * index and list the array's keys instead (cost by elements present, not by
 * length). Shorter gaps are read through: a mostly dense array with a few
 * holes costs no key listing.
 */
const SCAN_GAP = 32;
/** At most this many unserializable values are described in `CkptError.errors`; the rest are counted. */
export const MAX_REPORTED = 20;

const OBJECT_PROTO: object = Object.prototype;
const ARRAY_PROTO: object = Array.prototype;
const MAP_PROTO: object = Map.prototype;
const SET_PROTO: object = Set.prototype;
const DATE_PROTO: object = Date.prototype;
const REGEXP_PROTO: object = RegExp.prototype;

/** `String.prototype.isWellFormed` (ES2024; Node ≥ 20) — the project's lib is ES2023. */
interface WellFormedString {
  isWellFormed(): boolean;
}

/** A growable SharedArrayBuffer (ES2024; Node ≥ 20) — the project's lib is ES2023. */
interface GrowableShared {
  readonly growable: boolean;
  readonly maxByteLength: number;
  grow(byteLength: number): void;
}

// ---------------------------------------------------------------------------
// Errors with lazily built paths
// ---------------------------------------------------------------------------

/** Builds the final message from the rendered path and the root (for second paths). */
type Describe = (subject: string, path: string, root: unknown, segments: readonly PathSegment[]) => string;

/**
 * Internal error thrown at a failing leaf. Each container frame it passes
 * through appends the segment it was working on (innermost first); only
 * {@link toCkptError} renders text. This is what keeps path tracking free on
 * the happy path: the only cost is one try/catch per container frame.
 */
class PathError extends Error {
  readonly segments: PathSegment[] = [];
  constructor(
    readonly code: ErrorCode,
    readonly describe: Describe,
    readonly original: unknown = undefined,
  ) {
    super('ckpt internal path error');
  }
}

/** The intrinsic iterators: what a Map or Set holds, whatever its own `Symbol.iterator` says. */
const mapEntries = (m: Map<unknown, unknown>): MapIterator<[unknown, unknown]> => Map.prototype.entries.call(m);
const setValues = (s: Set<unknown>): SetIterator<unknown> => Set.prototype.values.call(s);

const BAD_LENGTH_REASON = 'is an array whose length is not a valid array length (a Proxy?) — make snapshot() return plain data';

/** An array's length, checked: a Proxy can report anything, and the header must match what is written. */
function arrayLength(arr: unknown[]): number {
  const n = arr.length;
  if (n >>> 0 !== n) throw leaf(BAD_LENGTH_REASON);
  return n;
}

/** The path segment of a property a compiled writer ({@link writerFor}) failed on. */
function propError(err: unknown, key: string): Error {
  return withSegment(err, { kind: 'prop', key });
}

function leaf(reason: string): PathError {
  return new PathError(ErrorCodes.UNSERIALIZABLE, (subject) => `${subject} ${reason}`);
}

const STACK_OVERFLOW_REASON =
  'is nested too deeply to encode (the call stack overflowed) — flatten the state or lower maxDepth';

const MODIFIED_REASON =
  'changed while it was being saved (a getter modified it) — make snapshot() return data that nothing modifies while it is read';

/** Add the segment of the frame an error passes through; wrap foreign errors. */
function withSegment(err: unknown, segment: PathSegment): Error {
  if (err instanceof PathError) {
    err.segments.push(segment);
    return err;
  }
  if (err instanceof CkptError) return err;
  const wrapped = foreignError(err);
  wrapped.segments.push(segment);
  return wrapped;
}

function foreignError(err: unknown): PathError {
  // Classified only when the message is built (in toCkptError, with the stack
  // unwound): this runs in the frame that overflowed, where even a regular
  // expression can overflow again.
  return new PathError(
    ErrorCodes.UNSERIALIZABLE,
    (subject) =>
      isStackOverflow(err)
        ? `${subject} ${STACK_OVERFLOW_REASON}`
        : // A getter or proxy trap threw while we read the state.
          `${subject} could not be read: ${describeError(err)} — make snapshot() return plain data`,
    err,
  );
}

function toCkptError(err: unknown, root: unknown): CkptError {
  if (err instanceof CkptError) return err;
  const pathError = err instanceof PathError ? err : foreignError(err);
  const segments = pathError.segments.slice().reverse();
  const path = renderPath(segments);
  const subject = path === '' ? 'the state' : path;
  const cause = pathError.original;
  return new CkptError(pathError.code, pathError.describe(subject, path, root, segments), {
    where: path === '' ? '(root)' : path,
    ...(cause === undefined ? {} : { cause }),
  });
}

/** Render the path of `target` within `root`, for the second half of a conflict message. */
function otherPath(root: unknown, target: object): string {
  const segments = findValuePath(root, target);
  if (segments === undefined) return 'another value';
  const path = renderPath(segments);
  return path === '' ? 'the state' : path;
}

function describeUnsupported(value: object, proto: object | null): string {
  let tag = '';
  let ctorName = '';
  try {
    tag = Object.prototype.toString.call(value);
    const ctor: unknown = proto === null ? undefined : (proto as { constructor?: unknown }).constructor;
    if (typeof ctor === 'function') ctorName = ctor.name;
  } catch {
    // A hostile proxy: fall through to the generic message.
  }
  const name = ctorName === '' ? 'an anonymous class' : ctorName;
  switch (tag) {
    case '[object Promise]':
      return 'is a Promise; promises cannot be checkpointed — await it in prepare() or snapshot() and store its result';
    case '[object WeakMap]':
    case '[object WeakSet]':
    case '[object WeakRef]':
      return `is a ${tag.slice(8, -1)}; weak collections and references cannot be checkpointed — use a Map or Set, or rebuild it in restore()`;
    case '[object SharedArrayBuffer]':
      return SHARED_MEMORY_REASON;
    case '[object Error]':
      return `is an Error (${name}); errors cannot be checkpointed — store its message (and code) instead`;
    case '[object Number]':
    case '[object String]':
    case '[object Boolean]':
    case '[object BigInt]':
    case '[object Symbol]': {
      const boxed = tag.slice(8, -1);
      return `is a boxed ${boxed} object (Object(${boxed.toLowerCase()}) or new ${boxed}()); store the primitive value instead`;
    }
    default:
      break;
  }
  if (Array.isArray(value) && ctorName === 'Array') {
    return 'is an array from another realm (a vm context); its prototype is not this realm\'s Array.prototype — copy it with Array.from() in snapshot()';
  }
  if (ctorName === 'Object') {
    return 'is an object from another realm (a vm context); its prototype is not this realm\'s Object.prototype — copy it with { ...value } in snapshot()';
  }
  const binaryBase = describeBinarySubclass(value);
  if (binaryBase !== undefined) {
    return `is an instance of ${name}, a subclass of ${binaryBase}; only the built-in class is saved — copy it into a plain ${binaryBase} in snapshot()`;
  }
  for (const builtin of [Array, Map, Set, Date, RegExp] as const) {
    if (value instanceof builtin) {
      return `is an instance of ${name}, a subclass of ${builtin.name}; only the built-in class is saved — convert it to a plain ${builtin.name} in snapshot()`;
    }
  }
  if (ctorName === '') {
    return 'is an object with an unsupported prototype; only plain objects, built-ins and registered classes can be checkpointed — convert it to a plain object in snapshot()';
  }
  return `is an instance of class ${ctorName}, which is not registered — register it with ckpt.registerClass(${ctorName}) or convert it to a plain object in snapshot()`;
}

// ---------------------------------------------------------------------------
// Binary views: overlap tracking (identity mode)
// ---------------------------------------------------------------------------

/** A non-empty byte range of one ArrayBuffer already written, and who wrote it. */
interface Span {
  readonly start: number;
  readonly end: number;
  readonly value: object;
}

/** What was written from one ArrayBuffer so far. */
interface BufferUse {
  /** The ArrayBuffer itself, when it was written as a value. */
  whole: object | undefined;
  /** Non-empty view ranges, sorted by start, pairwise disjoint. */
  readonly spans: Span[];
  /** Any view over it (even empty), to detect "ArrayBuffer + view over it". */
  anyView: object | undefined;
}

// ---------------------------------------------------------------------------
// Containers and the explicit-stack encoder's frames
// ---------------------------------------------------------------------------

/** Not a container: written whole (a REF, Date, RegExp or binary value). */
const K_LEAF = 0;
/** A plain object: a msgpack map of its own enumerable properties. */
const K_PROPS = 1;
/** An array. */
const K_ARRAY = 2;
/** A Map (ext MAP around a msgpack array). */
const K_MAP = 3;
/** A Set (ext SET around a msgpack array). */
const K_SET = 4;
/** A null-prototype object or a registered class instance: an ext around a msgpack map. */
const K_EXT_PROPS = 5;

/** What {@link Encoder.openObject} found an object to be. */
type ContainerKind = typeof K_LEAF | typeof K_PROPS | typeof K_ARRAY | typeof K_MAP | typeof K_SET | typeof K_EXT_PROPS;

/** An empty key list (see the explicit-stack encoder's switch to a sparse array). */
const NO_KEYS: readonly string[] = Object.freeze([]);

/** One container being written by the explicit-stack encoder. */
class Frame {
  /** Index of the member being written (−1 before the first). */
  cur = -1;
  /** Array in sparse mode: the next of `keys` to look at. */
  ki = 0;
  /** Array, read by index: holes counted since the last element. */
  gap = 0;
  /** Map: the key of entry `cur`. */
  key: unknown = undefined;
  /** Map: the value of entry `cur`, while its key is written. */
  val: unknown = undefined;
  /** Map: the key (not the value) of entry `cur` is being written. */
  inKey = false;
  /** Array: its own property names are being listed (an error there is about the array, not a member). */
  listing = false;

  constructor(
    /** The container's kind (never {@link K_LEAF}). */
    readonly kind: ContainerKind,
    /** The container. */
    readonly obj: object,
    /** Containers enclosing it. */
    readonly depth: number,
    /** Payload start of its ext container, −1 for a plain object or an array. */
    readonly start: number,
    /** Number of members: keys, length or size. */
    readonly n: number,
    /** Object: its keys; array: null until the first hole, then its own property names. */
    public keys: readonly string[] | null,
    /** Map or Set: its iterator. */
    readonly it: Iterator<unknown> | null,
  ) {}
}

/** The path segment of the member a frame is writing. */
function segmentOf(f: Frame): PathSegment {
  switch (f.kind) {
    case K_ARRAY:
      return { kind: 'index', index: f.cur };
    case K_MAP:
      return f.inKey ? { kind: 'mapKey', index: f.cur } : { kind: 'mapValue', key: f.key, index: f.cur };
    case K_SET:
      return { kind: 'setItem', index: f.cur };
    default:
      return { kind: 'prop', key: f.keys![f.cur]! };
  }
}

/**
 * The array index a property name stands for, or `n` when it is not an
 * index below `n` (`length`, other names; they come after the indices).
 */
function keyIndex(key: string, n: number): number {
  const x = +key;
  return x >>> 0 === x && x < n && String(x) === key ? x : n;
}

/** Tree mode: the container being entered is its own ancestor at depth `d`. */
function cycleError(d: number): PathError {
  return new PathError(ErrorCodes.UNSERIALIZABLE, (_subject, path, _root, segments) => {
    // The ancestor's path is the first d segments of this one.
    const ancestor = renderPath(segments.slice(0, d));
    return (
      `cycle at ${path === '' ? 'the state' : path}: it refers back to ${ancestor === '' ? 'the state itself' : ancestor}, ` +
      'and tree mode cannot save cycles — use identity mode (tree: false) or remove the cycle from the state returned by snapshot()'
    );
  });
}

/** Unserializable values met by a collecting walk: the first {@link MAX_REPORTED} described, all counted. */
class Collector {
  readonly errors: CkptError[] = [];
  total = 0;
  constructor(readonly root: unknown) {}

  add(err: unknown): void {
    this.total++;
    if (this.errors.length < MAX_REPORTED) this.errors.push(toCkptError(err, this.root));
  }
}

// ---------------------------------------------------------------------------
// The encoder
// ---------------------------------------------------------------------------

class Encoder {
  buf: FastBuffer;
  /** The output as a DataView (float64 writes compile to plain stores); renewed with `buf`. */
  view: DataView;
  pos = 0;
  readonly tree: boolean;
  readonly classes: ClassLookup;
  readonly blobThreshold: number;
  readonly maxDepth: number;
  readonly maxBigIntBytes: number;
  readonly blobs: Blob[] = [];
  /** Identity mode: the object ids of this encoding (see {@link IdTable}). */
  readonly ids: IdTable | null;
  nextId = 0;
  /** Identity mode: byte ranges written per ArrayBuffer. */
  readonly buffers: Map<ArrayBufferLike, BufferUse> | null;
  /** Tree mode: the containers being encoded, `ancestors[d]` at depth d. */
  readonly ancestors: object[] = [];
  /** Streaming hook (see EncodeOptions.onSealed), or undefined. */
  readonly onSealed: ((buffer: Uint8Array, end: number, final: boolean) => void) | undefined;
  readonly sealStep: number;
  /** Position at which {@link seal} is tried next (Infinity: never). */
  sealAt = Infinity;
  /** Header positions of the ext32 containers still open (their lengths are back-patched). */
  readonly open: number[] = [];
  /** Payload start of the ext container {@link openObject} began last. */
  openedAt = 0;

  /** Tree mode, containers deeper than {@link DEEP_FROM}: ancestor → its depth (the linear scan would be quadratic). */
  readonly deepAncestors: Map<object, number> | null;
  /** Set while unserializable values are collected rather than thrown (see {@link collectUnserializable}). */
  collector: Collector | null = null;
  /** What the provider's secret paths leave out of this state (see codec/secret), or null. */
  readonly redaction: Redaction | null;

  constructor(buf: FastBuffer, options: EncodeOptions, ids: IdTable | null, redaction: Redaction | null = null) {
    this.redaction = redaction;
    this.buf = buf;
    this.view = new DataView(buf.buffer, buf.byteOffset, buf.byteLength);
    this.tree = options.tree;
    this.classes = options.classes;
    this.blobThreshold = options.blobThreshold;
    this.maxDepth = options.maxDepth;
    this.maxBigIntBytes = options.maxBigIntBytes ?? DEFAULT_MAX_BIGINT_BYTES;
    this.ids = ids;
    this.buffers = options.tree ? null : new Map();
    this.deepAncestors = options.tree ? new Map() : null;
    this.sealStep = options.sealStep ?? 0;
    this.onSealed = this.sealStep > 0 ? options.onSealed : undefined;
    if (this.onSealed !== undefined) this.sealAt = this.sealStep;
  }

  /** Report the final prefix of the stream to the streaming hook (see EncodeOptions.onSealed). */
  seal(): void {
    const step = this.sealStep;
    const end = this.open.length > 0 ? Math.min(this.pos, this.open[0]!) : this.pos;
    // Only past LEASE_MIN: the stream is then certainly lent in this very
    // buffer (never copied out and the buffer reused while the hook's
    // readers still read it).
    if (end >= this.sealAt && this.pos > LEASE_MIN && this.buf.buffer instanceof SharedArrayBuffer) {
      this.onSealed!(this.buf, end, false);
      this.sealAt = (Math.floor(end / step) + 1) * step;
    } else {
      // Held back by an open container, or not yet in shared memory: look again later.
      this.sealAt = this.pos + step;
    }
  }

  // --- output buffer ------------------------------------------------------

  ensure(n: number): void {
    if (this.pos >= this.sealAt) this.seal();
    if (this.pos + n > this.buf.length) this.grow(n);
  }

  grow(n: number): void {
    const needed = this.pos + n;
    const shared = this.buf.buffer as unknown as Partial<GrowableShared>;
    if (shared.growable === true && needed <= shared.maxByteLength!) {
      // Large buffers grow in place (no copy, no second buffer), so steps can
      // be small: slack stays under a quarter of the stream.
      const size = Math.min(shared.maxByteLength!, Math.max(needed + (needed >>> 3), Math.floor(this.buf.length * 1.25)));
      try {
        shared.grow!(size);
      } catch (err) {
        throw new CkptError(
          ErrorCodes.LIMIT,
          `the encoded state needs more than ${String(this.buf.length)} bytes and the buffer cannot grow — keep large data in typed arrays (saved as blobs) or split the state across providers`,
          { cause: err },
        );
      }
      this.buf = Buffer.from(this.buf.buffer, 0, size);
      this.view = new DataView(this.buf.buffer, 0, size);
      return;
    }
    // Small buffers double (each is a copy). From LEASE_MIN on the buffer is
    // a growable one: it starts at what is needed plus an eighth and then
    // grows in place (above).
    let size = this.buf.length * 2;
    while (size < needed) size *= 2;
    if (size >= LEASE_MIN) size = Math.max(LEASE_MIN, needed + (needed >>> 3));
    let next: FastBuffer;
    try {
      next = allocate(size);
    } catch (err) {
      throw new CkptError(
        ErrorCodes.LIMIT,
        `the encoded state needs more than ${String(this.buf.length)} bytes and no larger buffer can be allocated — keep large data in typed arrays (saved as blobs) or split the state across providers`,
        { cause: err },
      );
    }
    this.buf.copy(next, 0, 0, this.pos);
    this.buf = next;
    this.view = new DataView(next.buffer, next.byteOffset, next.byteLength);
  }

  byte(b: number): void {
    this.ensure(1);
    this.buf[this.pos++] = b;
  }

  u32be(p: number, v: number): void {
    const buf = this.buf;
    buf[p] = v >>> 24;
    buf[p + 1] = v >>> 16;
    buf[p + 2] = v >>> 8;
    buf[p + 3] = v;
  }

  u32le(p: number, v: number): void {
    const buf = this.buf;
    buf[p] = v;
    buf[p + 1] = v >>> 8;
    buf[p + 2] = v >>> 16;
    buf[p + 3] = v >>> 24;
  }

  arrayHeader(n: number): void {
    this.ensure(5);
    const buf = this.buf;
    if (n < 16) {
      buf[this.pos++] = 0x90 | n;
    } else if (n < 0x10000) {
      buf[this.pos] = 0xdc;
      buf[this.pos + 1] = n >>> 8;
      buf[this.pos + 2] = n;
      this.pos += 3;
    } else {
      buf[this.pos] = 0xdd;
      this.u32be(this.pos + 1, n);
      this.pos += 5;
    }
  }

  mapHeader(n: number): void {
    this.ensure(5);
    const buf = this.buf;
    if (n < 16) {
      buf[this.pos++] = 0x80 | n;
    } else if (n < 0x10000) {
      buf[this.pos] = 0xde;
      buf[this.pos + 1] = n >>> 8;
      buf[this.pos + 2] = n;
      this.pos += 3;
    } else {
      buf[this.pos] = 0xdf;
      this.u32be(this.pos + 1, n);
      this.pos += 5;
    }
  }

  /** fixext1 with data byte 0 (UNDEFINED, HOLE). */
  marker(type: number): void {
    this.ensure(3);
    const buf = this.buf;
    buf[this.pos] = 0xd4;
    buf[this.pos + 1] = type;
    buf[this.pos + 2] = 0;
    this.pos += 3;
  }

  /** Smallest of ext8/ext16/ext32 for a variable-length payload (never fixext). */
  extHeader(type: number, len: number): void {
    this.ensure(6);
    const buf = this.buf;
    if (len < 0x100) {
      buf[this.pos] = 0xc7;
      buf[this.pos + 1] = len;
      buf[this.pos + 2] = type;
      this.pos += 3;
    } else if (len < 0x10000) {
      buf[this.pos] = 0xc8;
      buf[this.pos + 1] = len >>> 8;
      buf[this.pos + 2] = len;
      buf[this.pos + 3] = type;
      this.pos += 4;
    } else {
      buf[this.pos] = 0xc9;
      this.u32be(this.pos + 1, len);
      buf[this.pos + 5] = type;
      this.pos += 6;
    }
  }

  /**
   * Start an ext32 container whose length is not known yet; returns the
   * payload start. Why always ext32: the payload size is only known after its
   * members are written, and a fixed 4-byte length field can be backpatched
   * in place, so the stream stays one valid msgpack value without a second
   * pass or a move.
   */
  beginContainer(type: number): number {
    this.ensure(6);
    if (this.onSealed !== undefined) this.open.push(this.pos);
    this.buf[this.pos] = 0xc9;
    this.buf[this.pos + 5] = type;
    this.pos += 6;
    return this.pos;
  }

  endContainer(start: number): void {
    const len = this.pos - start;
    if (len > MAX_EXT32) {
      throw new CkptError(
        ErrorCodes.LIMIT,
        'a Map, Set, class instance or null-prototype object encodes to more than 4 GiB — split it, or keep large data in typed arrays',
      );
    }
    this.u32be(start - 5, len);
    if (this.onSealed !== undefined) this.open.pop();
  }

  // --- scalars ------------------------------------------------------------

  number(n: number): void {
    this.ensure(9);
    const buf = this.buf;
    const p = this.pos;
    // `(n | 0) === n` holds for int32 values and also for -0, which must stay a float.
    if ((n | 0) === n && (n !== 0 || 1 / n > 0)) {
      if (n >= 0) {
        if (n < 0x80) {
          buf[p] = n;
          this.pos = p + 1;
        } else if (n < 0x100) {
          buf[p] = 0xcc;
          buf[p + 1] = n;
          this.pos = p + 2;
        } else if (n < 0x10000) {
          buf[p] = 0xcd;
          buf[p + 1] = n >>> 8;
          buf[p + 2] = n;
          this.pos = p + 3;
        } else {
          buf[p] = 0xce;
          this.u32be(p + 1, n);
          this.pos = p + 5;
        }
      } else if (n >= -32) {
        buf[p] = n & 0xff; // negative fixint 0xe0..0xff
        this.pos = p + 1;
      } else if (n >= -0x80) {
        buf[p] = 0xd0;
        buf[p + 1] = n & 0xff;
        this.pos = p + 2;
      } else if (n >= -0x8000) {
        buf[p] = 0xd1;
        buf[p + 1] = (n >> 8) & 0xff;
        buf[p + 2] = n & 0xff;
        this.pos = p + 3;
      } else {
        buf[p] = 0xd2;
        this.u32be(p + 1, n);
        this.pos = p + 5;
      }
    } else if (n !== 0 && Number.isSafeInteger(n)) {
      // |n| ≥ 2^31 here (everything smaller took the int32 branch).
      if (n > 0 && n <= 0xffffffff) {
        buf[p] = 0xce;
        this.u32be(p + 1, n);
        this.pos = p + 5;
      } else {
        // Two's complement split without BigInt: hi is floor(n / 2^32), lo the rest.
        const hi = Math.floor(n / 0x100000000);
        const lo = n - hi * 0x100000000;
        buf[p] = n > 0 ? 0xcf : 0xd3;
        this.u32be(p + 1, hi);
        this.u32be(p + 5, lo);
        this.pos = p + 9;
      }
    } else {
      // Fractions, -0, NaN, ±Infinity, unsafe integers: always float64, never float32.
      buf[p] = 0xcb;
      this.view.setFloat64(p + 1, n);
      this.pos = p + 9;
    }
  }

  string(s: string): void {
    const len = s.length;
    if (len < 32) {
      // Short ASCII fast path: written straight into a fixstr.
      this.ensure(1 + len);
      const buf = this.buf;
      const start = this.pos + 1;
      let i = 0;
      for (; i < len; i++) {
        const c = s.charCodeAt(i);
        if (c >= 0x80) break;
        buf[start + i] = c;
      }
      if (i === len) {
        buf[this.pos] = 0xa0 | len;
        this.pos = start + len;
        return;
      }
    }
    this.slowString(s);
  }

  slowString(s: string): void {
    if (!(s as unknown as WellFormedString).isWellFormed()) {
      this.wtf16(s);
      return;
    }
    const len = s.length;
    // Reserve the worst case (3 bytes per UTF-16 unit); for long strings ask for
    // the exact size instead, so a 100 MB string does not reserve 300 MB.
    const max = len > 0x10000 ? Buffer.byteLength(s, 'utf8') : len * 3;
    const hdr = max < 32 ? 1 : max < 0x100 ? 2 : max < 0x10000 ? 3 : 5;
    this.ensure(hdr + max);
    const start = this.pos + hdr;
    const n = bufferText.utf8Write(this.buf, s, start, max);
    const need = n < 32 ? 1 : n < 0x100 ? 2 : n < 0x10000 ? 3 : 5;
    // Headers are always minimal (deterministic, canonical bytes): shift the
    // bytes left when the worst-case estimate chose a longer header.
    if (need < hdr) this.buf.copyWithin(this.pos + need, start, start + n);
    const buf = this.buf;
    const p = this.pos;
    if (need === 1) {
      buf[p] = 0xa0 | n;
    } else if (need === 2) {
      buf[p] = 0xd9;
      buf[p + 1] = n;
    } else if (need === 3) {
      buf[p] = 0xda;
      buf[p + 1] = n >>> 8;
      buf[p + 2] = n;
    } else {
      buf[p] = 0xdb;
      this.u32be(p + 1, n);
    }
    this.pos = p + need + n;
  }

  /** A string with lone surrogates: raw UTF-16LE code units, so it round-trips exactly. */
  wtf16(s: string): void {
    const len = s.length * 2;
    this.extHeader(Ext.WTF16, len);
    this.ensure(len);
    this.buf.write(s, this.pos, len, 'utf16le');
    this.pos += len;
  }

  bigint(v: bigint): void {
    const negative = v < 0n;
    const magnitude = negative ? -v : v;
    // Checked before the hex string is built: asUintN keeps a value that fits unchanged.
    const maxBits = this.maxBigIntBytes * 8;
    if (BigInt.asUintN(maxBits, magnitude) !== magnitude) {
      throw leaf(
        `is a BigInt of more than maxBigIntBytes (${String(this.maxBigIntBytes)}) bytes — store it as a string or in a typed array, or raise maxBigIntBytes (readers need the same limit)`,
      );
    }
    let hex = magnitude === 0n ? '' : magnitude.toString(16);
    if ((hex.length & 1) === 1) hex = `0${hex}`;
    const n = hex.length >>> 1;
    this.extHeader(Ext.BIGINT, 1 + n);
    this.ensure(1 + n);
    const buf = this.buf;
    buf[this.pos] = negative ? 1 : 0;
    // Big-endian hex → bytes, then reversed in place: little-endian magnitude.
    const written = buf.write(hex, this.pos + 1, n, 'hex');
    buf.subarray(this.pos + 1, this.pos + 1 + written).reverse();
    this.pos += 1 + n;
  }

  ref(id: number): void {
    this.ensure(6);
    const buf = this.buf;
    buf[this.pos] = 0xd6;
    buf[this.pos + 1] = Ext.REF;
    this.u32le(this.pos + 2, id);
    this.pos += 6;
  }

  // --- values ---------------------------------------------------------------

  /** Encode any value. `depth` = number of containers enclosing it. */
  value(v: unknown, depth: number): void {
    switch (typeof v) {
      case 'string':
        this.string(v);
        return;
      case 'number':
        this.number(v);
        return;
      case 'boolean':
        this.byte(v ? 0xc3 : 0xc2);
        return;
      case 'undefined':
        this.marker(Ext.UNDEFINED);
        return;
      case 'object':
        if (v === null) this.byte(0xc0);
        else this.object(v, depth);
        return;
      case 'bigint':
        this.bigint(v);
        return;
      case 'function':
        throw leaf(
          'is a function; functions cannot be checkpointed — remove it from the state returned by snapshot() or rebuild it in restore()',
        );
      case 'symbol':
        throw leaf(
          'is a symbol; symbols cannot be checkpointed — store a string instead, or rebuild it in restore()',
        );
    }
  }

  /**
   * Encode an object: a leaf, a REF, or a container — recursively while it
   * lies less than {@link DEEP_FROM} containers deep, else with the heap work
   * stack of {@link deep}, so no state is too deep for the call stack.
   */
  object(v: object, depth: number): void {
    if (this.redaction !== null) {
      const r = this.redacted(v);
      if (r === undefined) return;
      v = r;
    }
    if (depth >= DEEP_FROM) {
      this.deep(v, depth);
      return;
    }
    const ids = this.ids;
    if (ids !== null && this.identify(v, ids)) return;
    const proto = Object.getPrototypeOf(v) as object | null;
    if (proto === OBJECT_PROTO) {
      this.enter(v, depth);
      this.props(v, depth + 1);
    } else if (proto === ARRAY_PROTO) {
      this.enter(v, depth);
      this.array(v as unknown[], depth + 1);
    } else {
      const kind = this.openOther(v, proto, depth);
      if (kind === K_LEAF) return;
      const start = this.openedAt;
      switch (kind) {
        case K_MAP:
          this.map(v as Map<unknown, unknown>, depth + 1);
          break;
        case K_SET:
          this.set(v as Set<unknown>, depth + 1);
          break;
        default:
          this.props(v, depth + 1);
          break;
      }
      this.endContainer(start);
    }
  }

  /**
   * Secret paths: the object written in place of `v` — a copy without its
   * secret members, or `v` itself — or undefined after writing `undefined`
   * in its place (`v` was found at a secret path). Before identity, so a
   * left-out object takes no id, and the copy stands for `v` everywhere.
   */
  redacted(v: object): object | undefined {
    const redaction = this.redaction!;
    if (redaction.omit.has(v)) {
      this.marker(Ext.UNDEFINED);
      return undefined;
    }
    return redaction.replace.get(v) ?? v;
  }

  /**
   * Everything an object needs before its members, shared by the recursive
   * and the explicit-stack encoder: identity (a REF when it was written
   * before), the class checks, the depth limit, the cycle check and, for an
   * ext container, its ext header (payload start in {@link openedAt}). Writes a
   * leaf (REF, Date, RegExp, binary value) whole and returns {@link K_LEAF};
   * for a container it returns the container's kind and the caller writes
   * the members (from the msgpack array/map header on).
   */
  openObject(v: object, depth: number): ContainerKind {
    const ids = this.ids;
    if (ids !== null && this.identify(v, ids)) return K_LEAF;
    const proto = Object.getPrototypeOf(v) as object | null;
    if (proto === OBJECT_PROTO) {
      this.enter(v, depth);
      return K_PROPS;
    }
    if (proto === ARRAY_PROTO) {
      this.enter(v, depth);
      return K_ARRAY;
    }
    return this.openOther(v, proto, depth);
  }

  /**
   * Identity mode: write a REF and return true when `v` was written before;
   * else give it the next id (pre-order: before its members, which is what
   * lets a member refer back to it) and return false.
   */
  identify(v: object, ids: IdTable): boolean {
    const isArray = Array.isArray(v);
    const maps = isArray ? ids.arrays : ids.objects;
    let slot = maps[0]!.get(v);
    if (slot === undefined) {
      for (let k = 1; k < maps.length; k++) {
        slot = maps[k]!.get(v);
        if (slot !== undefined) break;
      }
    }
    const gen = ids.gen;
    if (slot !== undefined) {
      const gens = ids.gens;
      if (gens[slot] === gen) {
        this.ref(ids.ids[slot]!);
        return true;
      }
      // Met by an earlier encoding: stamped for this one, no WeakMap update.
      gens[slot] = gen;
      ids.ids[slot] = this.nextId++;
      return false;
    }
    // A new key: into the last WeakMap of its kind, or a new one when that is full (see IdTable).
    const keys = isArray ? ids.arrayKeys : ids.objectKeys;
    let last = keys.length - 1;
    if (keys[last]! >= WEAK_MAX_KEYS) {
      maps.push(new WeakMap());
      keys.push(0);
      last++;
    }
    keys[last]!++;
    slot = newSlot(ids);
    ids.gens[slot] = gen;
    ids.ids[slot] = this.nextId++;
    maps[last]!.set(v, slot);
    return false;
  }

  /** {@link openObject} for every prototype but Object's and Array's (the common ones, tested first by the callers). */
  openOther(v: object, proto: object | null, depth: number): ContainerKind {
    if (proto === MAP_PROTO) {
      this.enter(v, depth);
      this.openedAt = this.beginContainer(Ext.MAP);
      return K_MAP;
    }
    if (proto === SET_PROTO) {
      this.enter(v, depth);
      this.openedAt = this.beginContainer(Ext.SET);
      return K_SET;
    }
    if (proto === DATE_PROTO) {
      this.date(v as Date);
      return K_LEAF;
    }
    if (proto === REGEXP_PROTO) {
      this.regexp(v as RegExp);
      return K_LEAF;
    }
    if (proto === null) {
      this.enter(v, depth);
      this.openedAt = this.beginContainer(Ext.NULL_PROTO);
      return K_EXT_PROPS;
    }
    const kind = binaryKindOfProto(proto);
    if (kind !== undefined) {
      this.binary(v as BinaryValue, kind);
      return K_LEAF;
    }
    const name = this.classes.nameOf(proto);
    if (name === undefined) throw leaf(describeUnsupported(v, proto));
    this.enter(v, depth);
    this.openedAt = this.beginContainer(Ext.CLASS);
    this.byte(0x92);
    this.string(name);
    return K_EXT_PROPS;
  }

  /**
   * Depth limit, and in tree mode the cycle check: a linear scan of the
   * (at most {@link DEEP_FROM}) shallow ancestors, a map lookup for deeper ones.
   */
  enter(v: object, depth: number): void {
    if (depth >= this.maxDepth) {
      const max = this.maxDepth;
      throw leaf(`is nested deeper than maxDepth (${String(max)}) — flatten the state or raise maxDepth`);
    }
    if (this.tree) {
      const ancestors = this.ancestors;
      const shallow = depth < DEEP_FROM ? depth : DEEP_FROM;
      for (let d = 0; d < shallow; d++) {
        if (ancestors[d] === v) throw cycleError(d);
      }
      if (depth < DEEP_FROM) {
        ancestors[depth] = v;
      } else {
        const deepAncestors = this.deepAncestors!;
        const d = deepAncestors.get(v);
        if (d !== undefined) throw cycleError(d);
        deepAncestors.set(v, depth);
      }
    }
  }

  /** Own enumerable string-keyed properties as a msgpack map, `Object.keys` order. */
  props(obj: object, childDepth: number): void {
    const keys = Object.keys(obj);
    const n = keys.length;
    this.mapHeader(n);
    const write = writerFor(keys);
    if (write !== undefined) {
      write(this, obj, childDepth, propError);
      return;
    }
    let key = '';
    try {
      for (let i = 0; i < n; i++) {
        key = keys[i] as string;
        this.string(key);
        this.value((obj as Record<string, unknown>)[key], childDepth);
      }
    } catch (err) {
      throw withSegment(err, { kind: 'prop', key });
    }
  }

  /**
   * An array: elements by index, gaps counted and written as holes, until a
   * gap reaches {@link SCAN_GAP}; from that gap on, by {@link sparse}.
   */
  array(arr: unknown[], childDepth: number): void {
    const n = arrayLength(arr);
    this.arrayHeader(n);
    let i = 0;
    let gap = 0;
    try {
      for (; i < n; i++) {
        const el = arr[i];
        // `in` only when the element reads as undefined: holes are rare.
        if (el === undefined && !(i in arr)) {
          if (++gap === SCAN_GAP) break;
          continue;
        }
        if (gap > 0) {
          this.holes(gap);
          gap = 0;
        }
        this.value(el, childDepth);
      }
    } catch (err) {
      throw withSegment(err, { kind: 'index', index: i });
    }
    if (i < n) this.sparse(arr, i - gap + 1, n, childDepth);
    else if (gap > 0) this.holes(gap);
  }

  /**
   * The rest of an array from the hole at `from`, at a cost set by
   * the elements present, not by the length: present elements are found by
   * the array's own index keys (ascending), the gaps between them are
   * written as hole runs ({@link holes}).
   */
  sparse(arr: unknown[], from: number, n: number, childDepth: number): void {
    const keys = Object.getOwnPropertyNames(arr);
    let i = from;
    try {
      for (let k = 0; ; k++) {
        const next = k < keys.length ? keyIndex(keys[k]!, n) : n;
        // Written already (or keys out of order, which only a proxy can do).
        if (next < i) continue;
        if (next > i) this.holes(next - i);
        if (next >= n) return;
        i = next;
        this.value(arr[i], childDepth);
        i++;
      }
    } catch (err) {
      throw withSegment(err, { kind: 'index', index: i });
    }
  }

  /**
   * `k` consecutive holes: one fixext4 HOLE with the count from
   * {@link HOLE_RUN_MIN} on, else one fixext1 HOLE each (the form every
   * reader knows, so arrays with only short gaps encode as they always did).
   */
  holes(k: number): void {
    if (k >= HOLE_RUN_MIN) {
      this.ensure(6);
      this.buf[this.pos] = 0xd6;
      this.buf[this.pos + 1] = Ext.HOLE;
      this.u32le(this.pos + 2, k);
      this.pos += 6;
      return;
    }
    for (let j = 0; j < k; j++) this.marker(Ext.HOLE);
  }

  /** A Map's entries as one msgpack array [k1, v1, …] (the ext header is already written). */
  map(m: Map<unknown, unknown>, childDepth: number): void {
    const size = m.size;
    this.arrayHeader(size * 2);
    let i = 0;
    let inKey = true;
    let key: unknown;
    try {
      for (const [k, v] of mapEntries(m)) {
        if (i === size) {
          i = -1; // grew while being read: reported below, outside the try
          break;
        }
        key = k;
        inKey = true;
        this.value(k, childDepth);
        inKey = false;
        this.value(v, childDepth);
        i++;
      }
    } catch (err) {
      throw withSegment(err, inKey ? { kind: 'mapKey', index: i } : { kind: 'mapValue', key, index: i });
    }
    if (i !== size) throw leaf(MODIFIED_REASON);
  }

  /** A Set's items as one msgpack array (the ext header is already written). */
  set(s: Set<unknown>, childDepth: number): void {
    const size = s.size;
    this.arrayHeader(size);
    let i = 0;
    try {
      for (const v of setValues(s)) {
        if (i === size) {
          i = -1; // grew while being read: reported below, outside the try
          break;
        }
        this.value(v, childDepth);
        i++;
      }
    } catch (err) {
      throw withSegment(err, { kind: 'setItem', index: i });
    }
    if (i !== size) throw leaf(MODIFIED_REASON);
  }

  // --- the explicit-stack encoder --------------------------------------------

  /**
   * Encode `root` (lying `depth` containers deep) and everything inside it
   * with a work stack on the heap instead of the call stack. The bytes, ids,
   * checks, limits and error paths are those of the recursive methods: the
   * leaves, headers and checks are theirs ({@link openObject}, {@link value},
   * {@link holes}); only the walk over members is a loop here.
   *
   * An error is given the path segments of every frame on the work stack
   * (innermost first) and thrown on to the recursive frames above — or, when
   * collecting ({@link collector}), recorded, and the walk goes on with the
   * next member.
   */
  deep(root: unknown, depth: number): void {
    const stack: Frame[] = [];
    let started = false;
    for (;;) {
      try {
        if (!started) {
          started = true;
          if (typeof root === 'object' && root !== null) this.push(stack, root, depth);
          else this.value(root, depth);
        }
        this.run(stack);
        return;
      } catch (err) {
        let e: unknown = err;
        for (let k = stack.length - 1; k >= 0; k--) {
          const f = stack[k]!;
          if (f.listing) f.listing = false; // about the array itself: its path is the enclosing frames'
          else e = withSegment(e, segmentOf(f));
        }
        const collector = this.collector;
        if (collector === null || e instanceof CkptError) throw e;
        collector.add(e);
      }
    }
  }

  /** Start a member that is an object: written whole when a leaf, else a new frame on `stack`. */
  push(stack: Frame[], v: object, depth: number): void {
    if (this.redaction !== null) {
      const r = this.redacted(v);
      if (r === undefined) return;
      v = r;
    }
    const kind = this.openObject(v, depth);
    if (kind === K_LEAF) return;
    try {
      switch (kind) {
        case K_ARRAY: {
          const n = arrayLength(v as unknown[]);
          this.arrayHeader(n);
          stack.push(new Frame(kind, v, depth, -1, n, null, null));
          return;
        }
        case K_MAP: {
          const m = v as Map<unknown, unknown>;
          const size = m.size;
          this.arrayHeader(size * 2);
          stack.push(new Frame(kind, v, depth, this.openedAt, size, null, mapEntries(m)));
          return;
        }
        case K_SET: {
          const s = v as Set<unknown>;
          const size = s.size;
          this.arrayHeader(size);
          stack.push(new Frame(kind, v, depth, this.openedAt, size, null, setValues(s)));
          return;
        }
        default: {
          const start = kind === K_PROPS ? -1 : this.openedAt;
          const keys = Object.keys(v);
          this.mapHeader(keys.length);
          stack.push(new Frame(kind, v, depth, start, keys.length, keys, null));
        }
      }
    } catch (err) {
      // Never opened, so never closed: it is no longer an ancestor.
      if (depth >= DEEP_FROM) this.deepAncestors?.delete(v);
      throw err;
    }
  }

  /** Pop the finished top frame (ending its ext container); `modified` when a Map or Set changed size while read. */
  close(stack: Frame[], modified: boolean): void {
    const f = stack.pop()!;
    if (f.depth >= DEEP_FROM) this.deepAncestors?.delete(f.obj);
    if (modified) throw leaf(MODIFIED_REASON);
    if (f.start >= 0) this.endContainer(f.start);
  }

  /** The walk: take the next member of the top frame and write it, until the stack is empty. */
  run(stack: Frame[]): void {
    while (stack.length > 0) {
      const f = stack[stack.length - 1]!;
      let member: unknown;
      switch (f.kind) {
        case K_ARRAY: {
          const arr = f.obj as unknown[];
          const n = f.n;
          const keys = f.keys;
          if (keys === null) {
            // As array() does: gaps counted, up to SCAN_GAP.
            const i = f.cur + 1;
            if (i >= n) {
              if (f.gap > 0) this.holes(f.gap);
              this.close(stack, false);
              continue;
            }
            // Advanced before the read: a getter that throws (when
            // collecting) must not make the walk read it again.
            f.cur = i;
            member = arr[i];
            if (member === undefined && !(i in arr)) {
              if (++f.gap === SCAN_GAP) {
                // From the gap's start on, as sparse() does. Keys set empty
                // first, so a proxy whose key listing throws cannot loop.
                f.cur = i - f.gap;
                f.gap = 0;
                f.keys = NO_KEYS;
                f.listing = true;
                f.keys = Object.getOwnPropertyNames(arr);
                f.listing = false;
              }
              continue;
            }
            if (f.gap > 0) {
              this.holes(f.gap);
              f.gap = 0;
            }
          } else {
            let next = n;
            while (f.ki < keys.length) {
              const x = keyIndex(keys[f.ki++]!, n);
              if (x > f.cur) {
                next = x;
                break;
              }
            }
            const from = f.cur + 1;
            if (next > from) this.holes(next - from);
            if (next >= n) {
              this.close(stack, false);
              continue;
            }
            f.cur = next;
            member = arr[next];
          }
          break;
        }
        case K_MAP: {
          if (f.inKey) {
            f.inKey = false;
            member = f.val;
            f.val = undefined;
            break;
          }
          const r = f.it!.next();
          if (r.done === true || f.cur + 1 === f.n) {
            this.close(stack, r.done !== true || f.cur + 1 !== f.n);
            continue;
          }
          f.cur++;
          const entry = r.value as [unknown, unknown];
          f.key = entry[0];
          f.val = entry[1];
          f.inKey = true;
          member = f.key;
          break;
        }
        case K_SET: {
          const r = f.it!.next();
          if (r.done === true || f.cur + 1 === f.n) {
            this.close(stack, r.done !== true || f.cur + 1 !== f.n);
            continue;
          }
          f.cur++;
          member = r.value;
          break;
        }
        default: {
          const i = f.cur + 1;
          if (i >= f.n) {
            this.close(stack, false);
            continue;
          }
          f.cur = i;
          const key = f.keys![i]!;
          this.string(key);
          member = (f.obj as Record<string, unknown>)[key];
        }
      }
      if (typeof member === 'object' && member !== null) this.push(stack, member, f.depth + 1);
      else this.value(member, f.depth + 1);
    }
  }

  date(d: Date): void {
    this.ensure(10);
    this.buf[this.pos] = 0xd7;
    this.buf[this.pos + 1] = Ext.DATE;
    // getTime() is NaN for an invalid date; NaN is written as is.
    this.buf.writeDoubleLE(d.getTime(), this.pos + 2);
    this.pos += 10;
  }

  regexp(r: RegExp): void {
    const start = this.beginContainer(Ext.REGEXP);
    this.byte(0x92);
    this.string(r.source);
    this.string(r.flags);
    this.endContainer(start);
  }

  binary(v: BinaryValue, kind: BinaryKindCode): void {
    if (kind !== BinaryKind.ArrayBuffer && (v as ArrayBufferView).buffer instanceof SharedArrayBuffer) {
      throw leaf(SHARED_VIEW_REASON);
    }
    const bytes = bytesOf(v, kind);
    if (this.redaction !== null) this.checkSecretMemory(v, kind);
    if (this.buffers !== null) this.claim(v, kind);
    const n = bytes.byteLength;
    if (n >= this.blobThreshold) {
      const index = this.blobs.length;
      // No copy: the caller persists or copies blobs before the app runs again.
      this.blobs.push({ kind, bytes });
      this.ensure(8);
      const buf = this.buf;
      buf[this.pos] = 0xc7;
      buf[this.pos + 1] = 5;
      buf[this.pos + 2] = Ext.BLOB;
      buf[this.pos + 3] = kind;
      this.u32le(this.pos + 4, index);
      this.pos += 8;
    } else {
      if (n + 1 > MAX_EXT32) {
        throw new CkptError(ErrorCodes.LIMIT, 'a binary value of 4 GiB or more cannot be stored inline — lower blobThreshold');
      }
      this.ensure(7 + n);
      const buf = this.buf;
      buf[this.pos] = 0xc9;
      this.u32be(this.pos + 1, n + 1);
      buf[this.pos + 5] = Ext.BYTES;
      buf[this.pos + 6] = kind;
      buf.set(bytes, this.pos + 7);
      this.pos += 7 + n;
    }
  }

  /**
   * Secret paths: refuse a binary value whose bytes overlap a secret binary
   * value's (another view of the same memory would write the secret bytes).
   */
  checkSecretMemory(v: BinaryValue, kind: BinaryKindCode): void {
    const redaction = this.redaction!;
    const whole = kind === BinaryKind.ArrayBuffer;
    const buffer = whole ? (v as ArrayBuffer) : (v as ArrayBufferView).buffer;
    const start = whole ? 0 : (v as ArrayBufferView).byteOffset;
    const end = start + v.byteLength;
    const span = secretSpanAt(redaction, buffer, start, end);
    if (span === undefined) return;
    throw leaf(
      `shares memory with the secret value at ${JSON.stringify(span.path)}, so saving it would save the secret bytes — ` +
        'give the secret memory of its own (copy it, e.g. with .slice(), where it is created) or mark this path secret too',
    );
  }

  /**
   * Identity mode: record the byte range a binary value covers and refuse a
   * second, *different* value whose bytes overlap it. Why: each binary value
   * is restored over its own fresh memory, so two aliasing views would come
   * back independent — a silent change of program behaviour. Disjoint views
   * of one buffer (e.g. small Buffers from Node's pool) are independent
   * anyway and are fine.
   */
  claim(v: BinaryValue, kind: BinaryKindCode): void {
    const buffers = this.buffers as Map<ArrayBufferLike, BufferUse>;
    if (kind === BinaryKind.ArrayBuffer) {
      const use = buffers.get(v as ArrayBuffer);
      if (use === undefined) {
        buffers.set(v as ArrayBuffer, { whole: v, spans: [], anyView: undefined });
        return;
      }
      // The same ArrayBuffer twice is a REF, so `use.whole` is never set here.
      throw overlapError(use.anyView as object, 'bufferAfterView');
    }
    const view = v as ArrayBufferView;
    const start = view.byteOffset;
    const end = start + view.byteLength;
    let use = buffers.get(view.buffer);
    if (use === undefined) {
      use = { whole: undefined, spans: [], anyView: v };
      buffers.set(view.buffer, use);
    } else if (use.whole !== undefined) {
      throw overlapError(use.whole, 'viewAfterBuffer');
    }
    if (use.anyView === undefined) use.anyView = v;
    if (end === start) return; // an empty view aliases no bytes
    const spans = use.spans;
    // Binary search for the first span starting at or after `start`. Spans are
    // disjoint and sorted, so only that span and its predecessor can overlap.
    let lo = 0;
    let hi = spans.length;
    while (lo < hi) {
      const mid = (lo + hi) >>> 1;
      if ((spans[mid] as Span).start < start) lo = mid + 1;
      else hi = mid;
    }
    const next = spans[lo];
    if (next !== undefined && next.start < end) throw overlapError(next.value, 'views');
    const prev = lo > 0 ? spans[lo - 1] : undefined;
    if (prev !== undefined && prev.end > start) throw overlapError(prev.value, 'views');
    spans.splice(lo, 0, { start, end, value: v });
  }
}

/** How a conflicting binary value relates to the one written earlier. */
type Overlap = 'views' | 'bufferAfterView' | 'viewAfterBuffer';

function overlapError(earlier: object, relation: Overlap): PathError {
  return new PathError(ErrorCodes.UNSERIALIZABLE, (subject, _path, root) => {
    const other = otherPath(root, earlier);
    const what =
      relation === 'bufferAfterView'
        ? `${subject} is an ArrayBuffer and ${other} is a view over it`
        : relation === 'viewAfterBuffer'
          ? `${subject} is a view over the ArrayBuffer ${other}`
          : `${other} and ${subject} are different views over overlapping bytes of one ArrayBuffer`;
    return (
      `${what}; each binary value is restored over its own memory, so the aliasing would silently be lost — ` +
      'save only one of them and derive the other in restore(), or copy one (e.g. with .slice()) in snapshot()'
    );
  });
}

function checkOptions(options: EncodeOptions): void {
  if (typeof options !== 'object' || options === null) {
    throw new CkptError(ErrorCodes.INVALID_ARGUMENT, 'encodeState() needs options');
  }
  if (typeof options.classes?.nameOf !== 'function') {
    throw new CkptError(ErrorCodes.INVALID_ARGUMENT, 'encodeState() needs options.classes (a ClassLookup)');
  }
  if (!(options.blobThreshold >= 0)) {
    throw new CkptError(ErrorCodes.INVALID_ARGUMENT, `blobThreshold must be a number ≥ 0, got ${String(options.blobThreshold)}`);
  }
  if (!Number.isInteger(options.maxDepth) || options.maxDepth < 1) {
    throw new CkptError(ErrorCodes.INVALID_ARGUMENT, `maxDepth must be an integer ≥ 1, got ${String(options.maxDepth)}`);
  }
  const maxBig = options.maxBigIntBytes;
  if (maxBig !== undefined && (!Number.isInteger(maxBig) || maxBig < 0 || maxBig > 2 ** 27)) {
    throw new CkptError(ErrorCodes.INVALID_ARGUMENT, `maxBigIntBytes must be an integer from 0 to 2^27, got ${String(maxBig)}`);
  }
}

/**
 * Walk the whole state again after a value was refused, collecting every
 * unserializable value instead of stopping at the first. The walk is the
 * explicit-stack encoder's from the root (so the paths are complete without
 * unwinding), into a buffer of its own that is then dropped; binary values
 * are not copied (every one is counted as a blob). Returns undefined when
 * the walk hits a limit (the first error then stands alone).
 */
function collectUnserializable(value: unknown, options: EncodeOptions, redaction: Redaction | null): Collector | undefined {
  const walkOptions: EncodeOptions = {
    tree: options.tree,
    classes: options.classes,
    blobThreshold: 0,
    maxDepth: options.maxDepth,
    ...(options.maxBigIntBytes === undefined ? {} : { maxBigIntBytes: options.maxBigIntBytes }),
  };
  const encoder = new Encoder(allocate(INITIAL_CAPACITY), walkOptions, options.tree ? null : freshIdTable(), redaction);
  const collector = new Collector(value);
  encoder.collector = collector;
  try {
    encoder.deep(value, 0);
  } catch {
    return undefined;
  }
  return collector;
}

/** Paths named in the summary of further unserializable values. */
const SUMMARY_PATHS = 5;

/**
 * The error for a refused state: `first` alone when it is the only
 * unserializable value (or not about one), else the first one's message
 * with a summary of the others, all of them (up to {@link MAX_REPORTED}) in
 * `errors`.
 */
function refusal(first: CkptError, value: unknown, options: EncodeOptions, redaction: Redaction | null): CkptError {
  if (first.code !== ErrorCodes.UNSERIALIZABLE) return first;
  const found = collectUnserializable(value, options, redaction);
  if (found === undefined) return first;
  // The headline is what the encoding itself met; the second walk (which
  // reads the state again, getters included) adds the others.
  const others = found.errors.filter((e) => e.where !== first.where);
  const total = found.total + (others.length === found.errors.length ? 1 : 0);
  if (total < 2) return first;
  const errors = [first, ...others].slice(0, MAX_REPORTED);
  const more = total - 1;
  const shown = errors.slice(1, 1 + SUMMARY_PATHS).map((e) => e.where ?? '(root)');
  const listed = `${shown.join(', ')}${more > shown.length ? ', …' : ''}`;
  const detail = errors.length === total ? 'each is described in error.errors' : `the first ${String(errors.length)} are described in error.errors`;
  const message = `${first.message}; and ${String(more)} more unserializable value${more === 1 ? '' : 's'} (${listed}) — ${detail}`;
  return new CkptError(ErrorCodes.UNSERIALIZABLE, message, {
    errors,
    ...(first.where === undefined ? {} : { where: first.where }),
    ...(first.cause === undefined ? {} : { cause: first.cause }),
  });
}

/** Encode with `memory`'s kept buffers and id table (see {@link StateEncoder.encode}). */
function encodeWith(memory: EncoderMemory, value: unknown, options: EncodeOptions): EncodedState {
  assertLittleEndianHost();
  checkOptions(options);
  let redaction: Redaction | null = null;
  if (options.secret !== undefined && options.secret.length > 0) {
    try {
      redaction = resolveSecrets(value, options.secret) ?? null;
    } catch (err) {
      throw toCkptError(err, value);
    }
  }
  const initial = memory.takeBuffer();
  const encoder = new Encoder(initial, options, options.tree ? null : memory.takeIdTable(), redaction);
  try {
    encoder.value(value, 0);
  } catch (err) {
    memory.giveBack(encoder.buf);
    // Grown in place, `initial` is a shorter view of the same memory: not a second buffer.
    if (initial.buffer !== encoder.buf.buffer) memory.giveBack(initial);
    memory.giveIdTable(encoder.ids, encoder.nextId);
    throw refusal(toCkptError(err, value), value, options, redaction);
  }
  memory.giveIdTable(encoder.ids, encoder.nextId);
  const buf = encoder.buf;
  const n = encoder.pos;
  if (initial.buffer !== buf.buffer) memory.giveBack(initial);
  if (n <= LEASE_MIN || !(buf.buffer instanceof SharedArrayBuffer)) {
    // Copy into a fresh allocation: the buffer is reused, and Buffer.from()
    // would take small copies from Node's shared pool.
    const stream = Buffer.allocUnsafeSlow(n);
    buf.copy(stream, 0, 0, n);
    memory.giveBack(buf);
    return { stream, blobs: encoder.blobs };
  }
  // Large: lend the buffer itself rather than copying hundreds of megabytes
  // while the app is paused; it comes back for reuse on release().
  encoder.onSealed?.(buf, n, true);
  let released = false;
  return {
    stream: buf.subarray(0, n),
    blobs: encoder.blobs,
    release: () => {
      if (released) return;
      released = true;
      memory.giveBack(buf);
    },
  };
}

/**
 * A value encoder with memory of its own: the output buffers and identity
 * table it keeps between encodings (so repeated checkpoints of one state
 * allocate nothing new) belong to this instance alone. Give each
 * checkpointer — or each encoder of a pool — its own, so none of them sees
 * or holds another's memory.
 */
export class StateEncoder {
  readonly #memory = new EncoderMemory();

  /**
   * Encode one provider's state as a ckpt value stream (exactly one msgpack
   * value) plus the binary blobs it references.
   *
   * - `stream` belongs to the caller. Up to 1 MiB it is a fresh, right-sized
   *   allocation. A longer one lies in this encoder's own buffer (a
   *   SharedArrayBuffer, possibly with slack after the stream) and the result
   *   has a `release()`: calling it after the last use of `stream` lets the
   *   next call reuse that memory; not calling it is safe.
   * - `blobs[i].bytes` are views over the application's live memory (no copy):
   *   copy or persist them before the application may change them.
   *
   * Any nesting up to `maxDepth` is encoded, whatever the size of the call
   * stack (deep parts are walked with a work stack on the heap). Sparse
   * arrays cost by their elements, not their length.
   *
   * @param value - the state returned by a provider's `snapshot()`
   * @param options - mode (identity/tree), registered classes, blob threshold, depth limit
   * @throws CkptError UNSERIALIZABLE naming the path of the offending value
   *   (`particles[3].onHit is a function; …`), for functions, symbols, Promises,
   *   weak collections, shared memory, boxed primitives, Errors, unregistered
   *   classes, overlapping binary views, cycles in tree mode, nesting beyond
   *   `maxDepth`, values a getter changed or that threw while read. When
   *   there are several, the message names the first and counts the others,
   *   and `errors` holds one CkptError per value (the first
   *   {@link MAX_REPORTED}).
   * @throws CkptError LIMIT when the output cannot grow, INVALID_ARGUMENT for
   *   bad options, UNSUPPORTED_FEATURE on a big-endian host.
   */
  encode(value: unknown, options: EncodeOptions): EncodedState {
    return encodeWith(this.#memory, value, options);
  }

  /** Drop the buffers and the identity table kept for later calls. */
  releaseMemory(): void {
    this.#memory.release();
  }
}

/** The encoder behind {@link encodeState}. */
const defaultEncoder = new StateEncoder();

/**
 * {@link StateEncoder.encode} with the module's default encoder (whose kept
 * memory {@link releaseEncoderMemory} drops). Callers that may run
 * side by side should each hold their own {@link StateEncoder}.
 *
 * @param value - the state returned by a provider's `snapshot()`
 * @param options - mode (identity/tree), registered classes, blob threshold, depth limit
 * @throws CkptError as {@link StateEncoder.encode}
 */
export function encodeState(value: unknown, options: EncodeOptions): EncodedState {
  return defaultEncoder.encode(value, options);
}

/**
 * Drop the buffers kept by the default encoder ({@link encodeState}) for
 * later calls (the Checkpointer does this on close, so an app that stops
 * checkpointing does not hold the memory).
 */
export function releaseEncoderMemory(): void {
  defaultEncoder.releaseMemory();
}
