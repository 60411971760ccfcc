/**
 * @module codec/binary-kinds
 *
 * The binary values ckpt saves as raw bytes (every typed array, `ArrayBuffer`,
 * Node's `Buffer`, `DataView`): the mapping between a value's exact class and
 * its {@link BinaryKind} code, each kind's element size, and how a kind is
 * rebuilt from bytes on restore. Kept apart from the encoder and decoder so
 * both sides use one table and a new kind cannot be added to only one of them.
 */

import { endianness } from 'node:os';

import { CkptError, ErrorCodes } from '../errors.js';
import { BinaryKind, type BinaryKindCode } from './types.js';

/** A binary value ckpt can save: a typed array, `Buffer`, `DataView` or `ArrayBuffer`. */
export type BinaryValue = ArrayBufferView | ArrayBuffer;

/** Constructor of a typed array class (the kinds whose element size may exceed one byte). */
type TypedArrayConstructor =
  | Int8ArrayConstructor
  | Uint8ArrayConstructor
  | Uint8ClampedArrayConstructor
  | Int16ArrayConstructor
  | Uint16ArrayConstructor
  | Int32ArrayConstructor
  | Uint32ArrayConstructor
  | Float32ArrayConstructor
  | Float64ArrayConstructor
  | BigInt64ArrayConstructor
  | BigUint64ArrayConstructor;

/** Typed array constructors by kind code; holes for the three non-typed-array kinds. */
const TYPED_ARRAY_BY_KIND: readonly (TypedArrayConstructor | undefined)[] = [
  undefined, // ArrayBuffer
  undefined, // Buffer
  undefined, // DataView
  Int8Array,
  Uint8Array,
  Uint8ClampedArray,
  Int16Array,
  Uint16Array,
  Int32Array,
  Uint32Array,
  Float32Array,
  Float64Array,
  BigInt64Array,
  BigUint64Array,
];

/** Constructor (class) of each kind, indexed by kind code. */
const CONSTRUCTOR_BY_KIND: readonly (abstract new (...args: never[]) => BinaryValue)[] = [
  ArrayBuffer,
  Buffer,
  DataView,
  Int8Array,
  Uint8Array,
  Uint8ClampedArray,
  Int16Array,
  Uint16Array,
  Int32Array,
  Uint32Array,
  Float32Array,
  Float64Array,
  BigInt64Array,
  BigUint64Array,
];

/** Element size in bytes of each kind, indexed by kind code. */
const ELEMENT_SIZE_BY_KIND: readonly number[] = [1, 1, 1, 1, 1, 1, 2, 2, 4, 4, 4, 8, 8, 8];

/**
 * Kind code by *exact* prototype. Why exact: `Buffer` is a `Uint8Array`
 * subclass, so an `instanceof` chain would have to test `Buffer` first; an
 * exact-prototype table makes that ordering impossible to get wrong and costs
 * one hash lookup on the hot path. Subclasses of these classes (other than
 * `Buffer`) are deliberately absent: they are reported by
 * {@link describeBinarySubclass} instead of being silently restored as their
 * base class.
 */
const KIND_BY_PROTO: ReadonlyMap<object, BinaryKindCode> = new Map<object, BinaryKindCode>(
  CONSTRUCTOR_BY_KIND.map((ctor, code) => [ctor.prototype as object, code as BinaryKindCode]),
);

/** Highest valid kind code. */
export const MAX_BINARY_KIND: BinaryKindCode = BinaryKind.BigUint64Array;

/** True when `code` is a known {@link BinaryKindCode}. */
export function isBinaryKind(code: number): code is BinaryKindCode {
  return Number.isInteger(code) && code >= 0 && code <= MAX_BINARY_KIND;
}

/** Element size in bytes of a binary kind (1 for `ArrayBuffer`, `Buffer`, `DataView`). */
export function elementSize(kind: BinaryKindCode): number {
  return ELEMENT_SIZE_BY_KIND[kind] ?? 1;
}

/** The class of a binary kind (`Buffer` for {@link BinaryKind.Buffer}, …). */
export function binaryConstructor(kind: BinaryKindCode): abstract new (...args: never[]) => BinaryValue {
  const ctor = CONSTRUCTOR_BY_KIND[kind];
  if (ctor === undefined) throw new CkptError(ErrorCodes.INVALID_ARGUMENT, `unknown binary kind ${String(kind)}`);
  return ctor;
}

/** Name of a binary kind (`'Float32Array'`, `'Buffer'`, …), for messages. */
export function binaryKindName(kind: BinaryKindCode): string {
  return CONSTRUCTOR_BY_KIND[kind]?.name ?? `kind ${String(kind)}`;
}

/**
 * Binary kind of an object whose prototype is `proto`, or `undefined` when the
 * object is not one of the binary classes ckpt saves. The encoder calls this
 * with the prototype it already read, so the hot path reads it only once.
 */
export function binaryKindOfProto(proto: object | null): BinaryKindCode | undefined {
  return proto === null ? undefined : KIND_BY_PROTO.get(proto);
}

/**
 * Classify a value as a binary kind.
 *
 * - `Buffer` is checked before `Uint8Array` (it is a subclass of it) — by exact
 *   prototype, so the order cannot go wrong.
 * - `SharedArrayBuffer`, and any view over one, is rejected with
 *   `CKPT_ERR_UNSERIALIZABLE`: memory shared with other threads cannot be
 *   frozen by one thread's checkpoint, and restoring it as a private copy
 *   would silently break the sharing.
 *
 * @returns the kind, or `undefined` when the value is not a binary value.
 * @throws CkptError UNSERIALIZABLE for shared memory.
 */
export function classifyBinary(value: unknown): BinaryKindCode | undefined {
  if (typeof value !== 'object' || value === null) return undefined;
  const kind = binaryKindOfProto(Object.getPrototypeOf(value) as object | null);
  if (kind === undefined) {
    if (value instanceof SharedArrayBuffer) {
      throw new CkptError(ErrorCodes.UNSERIALIZABLE, SHARED_MEMORY_REASON);
    }
    return undefined;
  }
  if (kind !== BinaryKind.ArrayBuffer && (value as ArrayBufferView).buffer instanceof SharedArrayBuffer) {
    throw new CkptError(ErrorCodes.UNSERIALIZABLE, SHARED_VIEW_REASON);
  }
  return kind;
}

/** Why a SharedArrayBuffer is refused (the path is prepended by the encoder). */
export const SHARED_MEMORY_REASON =
  'is a SharedArrayBuffer; shared memory cannot be checkpointed — copy it into an ArrayBuffer or typed array in snapshot()';

/** Why a view over a SharedArrayBuffer is refused (the path is prepended by the encoder). */
export const SHARED_VIEW_REASON =
  'is a view over a SharedArrayBuffer; shared memory cannot be checkpointed — copy it (e.g. with .slice()) in snapshot()';

/**
 * When `value` is an instance of a *subclass* of a binary class (other than
 * `Buffer`), the name of that base class; otherwise `undefined`. Used only to
 * word the error message for such values.
 */
export function describeBinarySubclass(value: object): string | undefined {
  for (let kind = MAX_BINARY_KIND as number; kind >= 0; kind--) {
    const ctor = CONSTRUCTOR_BY_KIND[kind];
    if (ctor !== undefined && value instanceof ctor) return ctor.name;
  }
  return undefined;
}

/**
 * The bytes of a binary value, as a `Uint8Array` over the same memory (no copy):
 * exactly the view's own range `byteOffset .. byteOffset + byteLength`, never
 * the rest of the underlying buffer. Why this matters: small `Buffer`s live in
 * Node's shared 8 KiB pool, and saving the whole `.buffer` would leak unrelated
 * memory of the process into images.
 */
export function bytesOf(value: BinaryValue, kind: BinaryKindCode): Uint8Array {
  if (kind === BinaryKind.ArrayBuffer) return new Uint8Array(value as ArrayBuffer);
  const view = value as ArrayBufferView;
  return new Uint8Array(view.buffer, view.byteOffset, view.byteLength);
}

/**
 * Rebuild a binary value of `kind` over `buffer` (whole buffer, no copy). The
 * caller has checked that `buffer.byteLength` is a multiple of the element size.
 */
export function binaryFromArrayBuffer(kind: BinaryKindCode, buffer: ArrayBuffer): BinaryValue {
  switch (kind) {
    case BinaryKind.ArrayBuffer:
      return buffer;
    case BinaryKind.Buffer:
      return Buffer.from(buffer, 0, buffer.byteLength);
    case BinaryKind.DataView:
      return new DataView(buffer);
    default: {
      const ctor = TYPED_ARRAY_BY_KIND[kind];
      if (ctor === undefined) throw new CkptError(ErrorCodes.INVALID_ARGUMENT, `unknown binary kind ${String(kind)}`);
      return new ctor(buffer);
    }
  }
}

/** True when this process stores numbers little-endian (ckpt's on-disk byte order). */
const HOST_IS_LITTLE_ENDIAN = endianness() === 'LE';

/**
 * Throw unless the host is little-endian. Typed arrays are saved as their raw
 * in-memory bytes and ckpt images are little-endian by definition, so a
 * big-endian host would write (and read) byte-swapped numbers; rather than
 * corrupt data silently, ckpt refuses to run its codec there.
 *
 * @throws CkptError UNSUPPORTED_FEATURE on a big-endian host.
 */
export function assertLittleEndianHost(): void {
  if (!HOST_IS_LITTLE_ENDIAN) {
    throw new CkptError(
      ErrorCodes.UNSUPPORTED_FEATURE,
      'this host is big-endian; ckpt images store typed arrays as little-endian bytes and ckpt supports little-endian hosts only',
    );
  }
}
