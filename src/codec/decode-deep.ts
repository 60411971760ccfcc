/**
 * @module codec/decode-deep
 *
 * The iterative half of the value decoder: {@link decodeDeep} decodes one
 * value — and everything nested in it — with a work stack on the heap
 * instead of the JS call stack. The recursive decoder (`codec/decode`) hands
 * it every container it would enter at a depth of
 * {@link DEEP_THRESHOLD} or more, so decoding needs the same small amount of
 * call stack whatever the nesting (up to `maxDepth`): whatever the encoder
 * accepted under `maxDepth`, a process with a default (or smaller) stack
 * decodes.
 *
 * Only container recursion is replaced. Every scalar and leaf extension
 * (strings, numbers, BIGINT, DATE, BYTES, BLOB, REGEXP, REF, …), every header
 * check and every limit is the recursive decoder's own code, called through
 * {@link DeepDecoder}; containers are built before their members and
 * registered in the same (pre-)order, so identity ids, results and error
 * messages are the same as the recursive decoder's.
 */

import type { CkptError } from '../errors.js';
import { setProp } from './decode-props.js';
import { Ext } from './types.js';

/**
 * Containers entered at this depth (number of enclosing containers) or
 * deeper are decoded by {@link decodeDeep}. Below it the faster recursive
 * decoder runs; it then needs at most this many container levels of stack.
 */
export const DEEP_THRESHOLD = 64;

/** Arrays up to this many elements are allocated at their declared size up front (both decoders). */
export const PRESIZE_MAX = 64;

/**
 * The parts of the recursive decoder the iterative one uses: bounded reads,
 * header checks, leaf values. Implemented by `codec/decode`'s decoder.
 */
export interface DeepDecoder {
  readonly buf: Buffer<ArrayBufferLike>;
  pos: number;
  end: number;
  readonly objects: unknown[] | null;
  corrupt(what: string, at: number): CkptError;
  take(n: number, what: string): number;
  u8(p: number): number;
  u16(p: number): number;
  u32(p: number): number;
  /** A value that is not a container (a container would recurse). */
  value(depth: number): unknown;
  key(): string;
  mapHeader(): number;
  /** Refuse a container too deep or declaring more members than bytes remain. */
  checkContainer(members: number, depth: number, at: number): void;
  /** Refuse an array nested too deep. */
  checkArray(depth: number, at: number): void;
  /** A HOLE or a run of holes at the current position: how many holes it stands for (0: none there); consumed. */
  holes(left: number): number;
  /** The item count of a MAP payload (checked). */
  mapItems(depth: number, at: number): number;
  /** The item count of a SET payload (checked). */
  setItems(depth: number, at: number): number;
  /** The registered prototype named by a CLASS payload. */
  classProto(at: number): object;
  /** The property count of a CLASS or NULL_PROTO payload (checked). */
  objectItems(depth: number, at: number): number;
  /** End an ext container: its content must be exactly `len` bytes from `start`; restores `end`. */
  extEnd(start: number, len: number, at: number, outerEnd: number): void;
}

const ARRAY = 0;
const OBJECT = 1;
const MAP = 2;
const SET = 3;

/** One container being filled. */
interface Frame {
  kind: number;
  container: unknown;
  /** Members: array length (holes included), property count, MAP items (keys and values), SET items. */
  n: number;
  /** Members done. */
  i: number;
  /** The key read for the member being decoded (objects: a string; Maps: any value). */
  key: unknown;
  /** Class instance: keys the prototype chain has become own data properties. */
  viaProto: boolean;
  /** Array allocated at its length (members are stored by index, not pushed). */
  presize: boolean;
  /** Number of containers enclosing this one. */
  depth: number;
  /** Ext containers: payload start, length (-1: not an ext), header position, enclosing end. */
  extStart: number;
  extLen: number;
  extAt: number;
  outerEnd: number;
}

/** Returned by {@link open} when it pushed a frame instead of returning a value. */
const OPENED: unknown = Symbol('ckpt.opened');

let entries = 0;

/** How many times {@link decodeDeep} was entered in this process (test hook: proves where the switch happens). */
export function deepDecoderEntries(): number {
  return entries;
}

/**
 * Decode one value at `depth` (the number of containers enclosing it) and
 * everything in it, without recursion. `d.pos` is at the value's first byte.
 */
export function decodeDeep(d: DeepDecoder, depth: number): unknown {
  entries++;
  const stack: Frame[] = [];
  const first = open(d, depth, stack, 0);
  if (first !== OPENED) return first;
  let sp = 1;
  for (;;) {
    const f = stack[sp - 1]!;
    let child: unknown;
    if (f.i < f.n) {
      if (f.kind === ARRAY) {
        const k = d.holes(f.n - f.i);
        if (k !== 0) {
          f.i += k;
          // Holes cost no memory: the length moves past them.
          if (!f.presize) (f.container as unknown[]).length = f.i;
          continue;
        }
      } else if (f.kind === OBJECT) {
        f.key = d.key();
      }
      child = open(d, f.depth + 1, stack, sp);
      if (child === OPENED) {
        sp++;
        continue;
      }
    } else {
      if (f.extLen >= 0) d.extEnd(f.extStart, f.extLen, f.extAt, f.outerEnd);
      child = f.container;
      f.container = undefined;
      f.key = undefined;
      if (--sp === 0) return child;
    }
    attach(stack[sp - 1]!, child);
  }
}

/** Store a finished member in the container of `f`. */
function attach(f: Frame, child: unknown): void {
  switch (f.kind) {
    case ARRAY:
      if (f.presize) (f.container as unknown[])[f.i] = child;
      else (f.container as unknown[]).push(child);
      break;
    case OBJECT:
      setProp(f.container as object, f.key as string, child, f.viaProto);
      break;
    case MAP:
      if ((f.i & 1) === 0) f.key = child;
      else (f.container as Map<unknown, unknown>).set(f.key, child);
      break;
    default:
      (f.container as Set<unknown>).add(child);
      break;
  }
  f.i++;
}

/** The frame at `sp`, reused when an earlier container left one there. */
function frameAt(stack: Frame[], sp: number): Frame {
  let f = stack[sp];
  if (f === undefined) {
    f = { kind: 0, container: undefined, n: 0, i: 0, key: undefined, viaProto: false, presize: false, depth: 0, extStart: 0, extLen: -1, extAt: 0, outerEnd: 0 };
    stack.push(f);
  }
  return f;
}

/** Fill and return the frame at `sp` for a container just created. */
function push(stack: Frame[], sp: number, kind: number, container: unknown, n: number, depth: number): Frame {
  const f = frameAt(stack, sp);
  f.kind = kind;
  f.container = container;
  f.n = n;
  f.i = 0;
  f.key = undefined;
  f.viaProto = false;
  f.presize = false;
  f.depth = depth;
  f.extLen = -1;
  return f;
}

/**
 * Read the value at `d.pos`: a container is created, registered and pushed
 * as a frame at `sp` ({@link OPENED} is returned); anything else is decoded
 * by the recursive decoder's own code and returned.
 */
function open(d: DeepDecoder, depth: number, stack: Frame[], sp: number): unknown {
  const at = d.pos;
  if (at >= d.end) return d.value(depth); // reports the truncation
  const buf = d.buf;
  const b = buf[at]!;
  if (b >= 0x80 && b < 0xa0) {
    d.pos = at + 1;
    return b < 0x90 ? openObject(d, b & 0x0f, depth, at, stack, sp) : openArray(d, b & 0x0f, depth, at, stack, sp);
  }
  switch (b) {
    case 0xdc:
      d.pos = at + 1;
      return openArray(d, d.u16(d.take(2, 'an array16 length')), depth, at, stack, sp);
    case 0xdd:
      d.pos = at + 1;
      return openArray(d, d.u32(d.take(4, 'an array32 length')), depth, at, stack, sp);
    case 0xde:
      d.pos = at + 1;
      return openObject(d, d.u16(d.take(2, 'a map16 length')), depth, at, stack, sp);
    case 0xdf:
      d.pos = at + 1;
      return openObject(d, d.u32(d.take(4, 'a map32 length')), depth, at, stack, sp);
    default:
      break;
  }
  // An ext whose payload holds members: peek at its type. Any other value
  // (a scalar, a leaf ext, REGEXP) does not nest, and the recursive code reads it.
  const typeAt = at + extTypeOffset(b);
  if (typeAt === at || typeAt >= d.end) return d.value(depth);
  const type = buf[typeAt];
  if (type !== Ext.MAP && type !== Ext.SET && type !== Ext.CLASS && type !== Ext.NULL_PROTO) return d.value(depth);
  d.pos = at + 1;
  const len = extLength(d, b);
  d.take(1, 'an ext type');
  const start = d.take(len, 'an ext payload');
  const outerEnd = d.end;
  d.pos = start;
  d.end = start + len;
  let f: Frame;
  const objects = d.objects;
  switch (type) {
    case Ext.MAP: {
      const n = d.mapItems(depth, at);
      const m = new Map<unknown, unknown>();
      objects?.push(m);
      f = push(stack, sp, MAP, m, n, depth);
      break;
    }
    case Ext.SET: {
      const n = d.setItems(depth, at);
      const s = new Set<unknown>();
      objects?.push(s);
      f = push(stack, sp, SET, s, n, depth);
      break;
    }
    case Ext.CLASS: {
      const proto = d.classProto(at);
      const n = d.objectItems(depth, at);
      // The constructor is deliberately not called (see codec/class-registry).
      const obj = Object.create(proto) as object;
      objects?.push(obj);
      f = push(stack, sp, OBJECT, obj, n, depth);
      f.viaProto = true;
      break;
    }
    default: {
      const n = d.objectItems(depth, at);
      const obj = Object.create(null) as object;
      objects?.push(obj);
      f = push(stack, sp, OBJECT, obj, n, depth);
      break;
    }
  }
  f.extStart = start;
  f.extLen = len;
  f.extAt = at;
  f.outerEnd = outerEnd;
  return OPENED;
}

function openObject(d: DeepDecoder, n: number, depth: number, at: number, stack: Frame[], sp: number): unknown {
  d.checkContainer(n * 2, depth, at);
  const obj: Record<string, unknown> = {};
  d.objects?.push(obj);
  push(stack, sp, OBJECT, obj, n, depth);
  return OPENED;
}

function openArray(d: DeepDecoder, n: number, depth: number, at: number, stack: Frame[], sp: number): unknown {
  d.checkArray(depth, at);
  // Small arrays at their exact size; large ones grow as members arrive (a
  // forged length then reserves nothing), holes by moving the length.
  const presize = n <= PRESIZE_MAX;
  const arr: unknown[] = presize ? new Array<unknown>(n) : [];
  d.objects?.push(arr);
  push(stack, sp, ARRAY, arr, n, depth).presize = presize;
  return OPENED;
}

/** Offset of the type byte of an ext whose header starts with `b`; 0 when `b` does not start an ext. */
function extTypeOffset(b: number): number {
  if (b >= 0xd4 && b <= 0xd8) return 1;
  if (b === 0xc7) return 2;
  if (b === 0xc8) return 3;
  if (b === 0xc9) return 5;
  return 0;
}

/** The payload length of the ext whose header byte `b` was read (reads the length field if any). */
function extLength(d: DeepDecoder, b: number): number {
  switch (b) {
    case 0xc7:
      return d.u8(d.take(1, 'an ext8 length'));
    case 0xc8:
      return d.u16(d.take(2, 'an ext16 length'));
    case 0xc9:
      return d.u32(d.take(4, 'an ext32 length'));
    default:
      return 1 << (b - 0xd4); // fixext1..16
  }
}
