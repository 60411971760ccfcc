/**
 * @module test/helpers/codec
 *
 * Small helpers for codec tests: default options, a round trip that hands
 * the decoder fresh blob copies (as the image layer does), and an assertion
 * helper for CkptError codes.
 */

import { ClassRegistry } from '../../src/codec/class-registry.js';
import { decodeState } from '../../src/codec/decode.js';
import { encodeState } from '../../src/codec/encode.js';
import type { DecodeOptions, EncodeOptions, EncodedState } from '../../src/codec/types.js';
import type { CkptError, ErrorCode } from '../../src/errors.js';
import { expectThrowCode } from './errors.js';

/** Options for a test round trip. */
export interface TestCodecOptions {
  tree?: boolean;
  classes?: ClassRegistry;
  blobThreshold?: number;
  maxDepth?: number;
}

/** Encode options with test defaults (identity mode, blobs from 1 KiB, depth 200). */
export function encOptions(o: TestCodecOptions = {}): EncodeOptions {
  return {
    tree: o.tree ?? false,
    classes: o.classes ?? new ClassRegistry(),
    blobThreshold: o.blobThreshold ?? 1024,
    maxDepth: o.maxDepth ?? 200,
  };
}

/** Decode options matching {@link encOptions}. */
export function decOptions(blobs: readonly Uint8Array[], o: TestCodecOptions = {}): DecodeOptions {
  return {
    tree: o.tree ?? false,
    classes: o.classes ?? new ClassRegistry(),
    blobs,
    maxDepth: o.maxDepth ?? 200,
  };
}

/** Copy blobs into fresh, exactly sized buffers (what the image reader hands the decoder). */
export function copyBlobs(encoded: EncodedState): Uint8Array[] {
  return encoded.blobs.map((b) => new Uint8Array(b.bytes));
}

/** Encode then decode `value`. */
export function roundTrip<T>(value: T, o: TestCodecOptions = {}): T {
  const classes = o.classes ?? new ClassRegistry();
  const encoded = encodeState(value, encOptions({ ...o, classes }));
  return decodeState(encoded.stream, decOptions(copyBlobs(encoded), { ...o, classes })) as T;
}

/** Run `fn`, expect a CkptError with `code`, and return it. */
export function expectCkptError(fn: () => unknown, code: ErrorCode): CkptError {
  return expectThrowCode(fn, code);
}

/** Hex of bytes, for readable byte-level assertions. */
export function hex(bytes: Uint8Array): string {
  return Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength).toString('hex');
}
