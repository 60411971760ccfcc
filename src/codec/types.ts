/**
 * @module codec/types
 *
 * The contract of ckpt's value codec: how one provider's state becomes a byte
 * stream (standard msgpack plus ckpt extension types) and a list of raw binary
 * blobs (large typed arrays / buffers kept out of the msgpack stream), and back.
 * The wire layout is specified in `docs/FORMAT.md`, section "Value encoding".
 */

import type { SecretPath } from './secret.js';

/** msgpack extension type codes used by the ckpt value encoding v1. Never renumber. */
export const Ext = {
  /** `undefined` (fixext1, data byte 0). */
  UNDEFINED: 0x01,
  /**
   * Holes in a sparse array, only valid as an array element: one hole
   * (fixext1, data byte 0), or a run of k ≥ 1 consecutive holes (fixext4,
   * u32 LE k) — written for gaps of 8 or more, read by ckpt after 0.1.0.
   */
  HOLE: 0x02,
  /** Back-reference to an earlier object by id (fixext4, u32 LE id). Identity mode only. */
  REF: 0x03,
  /** BigInt: sign byte (0 = +, 1 = -) then magnitude, little-endian bytes (ext8/16/32). */
  BIGINT: 0x04,
  /** Date: float64 LE milliseconds since epoch, NaN for an invalid date (fixext8). */
  DATE: 0x05,
  /** A string that is not well-formed UTF-16 (lone surrogates): raw UTF-16LE code units. */
  WTF16: 0x06,
  /** Map: ext32 whose payload is one msgpack array [k1, v1, k2, v2, …]. */
  MAP: 0x10,
  /** Set: ext32 whose payload is one msgpack array [v1, v2, …]. */
  SET: 0x11,
  /** RegExp: ext32 whose payload is one msgpack array [source, flags]. */
  REGEXP: 0x12,
  /** Instance of a registered class: ext32 whose payload is [name, { own enumerable props }]. */
  CLASS: 0x13,
  /** Typed array / ArrayBuffer / DataView / Buffer stored inline: ext32, payload = kind byte + bytes (LE). */
  BYTES: 0x14,
  /** Same, stored as a raw blob outside the stream: ext8, payload = kind byte + u32 LE blob index. */
  BLOB: 0x15,
  /** A plain object whose prototype is null: ext32 whose payload is one msgpack map. */
  NULL_PROTO: 0x16,
} as const;

/**
 * Binary kinds (the first payload byte of {@link Ext.BYTES} / {@link Ext.BLOB}).
 * Element size is implied by the kind. Never renumber.
 */
export const BinaryKind = {
  ArrayBuffer: 0,
  Buffer: 1,
  DataView: 2,
  Int8Array: 3,
  Uint8Array: 4,
  Uint8ClampedArray: 5,
  Int16Array: 6,
  Uint16Array: 7,
  Int32Array: 8,
  Uint32Array: 9,
  Float32Array: 10,
  Float64Array: 11,
  BigInt64Array: 12,
  BigUint64Array: 13,
} as const satisfies Record<string, BinaryKindCode>;

/** A numeric binary kind. */
export type BinaryKindCode = 0 | 1 | 2 | 3 | 4 | 5 | 6 | 7 | 8 | 9 | 10 | 11 | 12 | 13;

/** Options for encoding one provider's state. */
export interface EncodeOptions {
  /**
   * The state is declared a tree: no object appears twice. Identity is not
   * tracked (faster); a cycle still fails with `CKPT_ERR_UNSERIALIZABLE`.
   */
  readonly tree: boolean;
  /** Registered classes that may appear in state. */
  readonly classes: ClassLookup;
  /** Binary values of at least this many bytes go to blobs instead of inline. */
  readonly blobThreshold: number;
  /**
   * Maximum nesting depth; deeper state fails with `CKPT_ERR_UNSERIALIZABLE`.
   * Any depth up to it is written whatever the size of the call stack.
   */
  readonly maxDepth: number;
  /**
   * Largest BigInt magnitude written, in bytes (default {@link DEFAULT_MAX_BIGINT_BYTES});
   * a larger BigInt fails with `CKPT_ERR_UNSERIALIZABLE`.
   */
  readonly maxBigIntBytes?: number;
  /**
   * Streaming hook, for compressing a large stream while the rest of it is
   * still being encoded: called whenever at least {@link sealStep} more bytes
   * at the start of the stream are final (no later back-patch can change
   * them), with the output buffer and the end of those bytes — only while the
   * buffer is shared memory (a SharedArrayBuffer that grows in place, so the
   * bytes stay where they are). Called once more at the end with `final`
   * true when the stream is lent in that buffer. The hook must not throw.
   */
  readonly onSealed?: (buffer: Uint8Array, end: number, final: boolean) => void;
  /** Granularity of {@link onSealed} (the segment size), in bytes. */
  readonly sealStep?: number;
  /**
   * The provider's secret paths (see `codec/secret`): the values found there
   * are written as `undefined`, and never reach the stream or a blob.
   */
  readonly secret?: readonly SecretPath[];
}

/** A large binary value kept out of the msgpack stream. */
export interface Blob {
  /** The kind recorded in the stream. */
  readonly kind: BinaryKindCode;
  /**
   * The bytes, as a view on the live memory (not copied). The caller copies or
   * persists them before the application may change them.
   */
  readonly bytes: Uint8Array;
}

/** One provider's state, encoded. */
export interface EncodedState {
  /** The msgpack value stream (exactly one value). Owns its memory. */
  readonly stream: Uint8Array;
  /** Blobs in the order the stream references them (index = blob index). */
  readonly blobs: readonly Blob[];
  /**
   * Present when `stream` (or, after an async capture, the blobs) lie in
   * memory lent by ckpt for reuse: call once after the last use of them, and
   * the next checkpoint reuses that memory instead of faulting in new pages.
   * Never calling it is safe (the memory is then simply garbage-collected).
   */
  readonly release?: () => void;
}

/** Options for decoding one provider's state. */
export interface DecodeOptions {
  /** Whether the stream was written in tree mode (REF is then invalid). */
  readonly tree: boolean;
  /** Registered classes, by name. */
  readonly classes: ClassLookup;
  /** Blob bytes by index; each is exactly the blob's bytes, freshly allocated and 8-byte aligned. */
  readonly blobs: readonly Uint8Array[];
  /** Maximum nesting depth accepted. */
  readonly maxDepth: number;
  /**
   * Largest BigInt magnitude accepted, in bytes (default {@link DEFAULT_MAX_BIGINT_BYTES});
   * a larger one fails with `CKPT_ERR_LIMIT` before anything is allocated for it.
   */
  readonly maxBigIntBytes?: number;
  /** Binary kind of each blob as its image index records it; a stream that says otherwise is CORRUPT. */
  readonly blobKinds?: readonly BinaryKindCode[];
}

/** Default of `maxBigIntBytes` (encode and decode): 1 MiB, a number of 8 million bits. */
export const DEFAULT_MAX_BIGINT_BYTES = 1024 * 1024;

/** Read-only view of the class registry used by the codec. */
export interface ClassLookup {
  /** Registered name of an object's exact prototype, or undefined. */
  nameOf(proto: object): string | undefined;
  /** Prototype registered under `name`, or undefined. */
  protoOf(name: string): object | undefined;
}
