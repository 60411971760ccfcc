/**
 * @module image/zstd
 *
 * Compression and bounded decompression of one segment with zstd-napi's
 * low-level binding. The high-level `decompress()` of zstd-napi allocates
 * whatever a frame header claims; here the caller states the exact raw size
 * (from the checked index) and the frame must agree before anything is
 * allocated, and the decompressor can never write past that buffer.
 *
 * One frame check ({@link checkFrame}) serves the main thread and the worker
 * pool (whose threads run `image/segment-pipeline` too); a failed check is a
 * {@link FrameFailure}, turned into the same `CkptError` by {@link frameError}.
 */
import { createRequire } from 'node:module';
import { CkptError, ErrorCodes } from '../errors.js';

interface ZstdBinding {
  CCtx: new () => {
    setParameter(param: number, value: number): void;
    compress2(dst: Uint8Array, src: Uint8Array): number;
  };
  DCtx: new () => { decompress(dst: Uint8Array, src: Uint8Array): number };
  CParameter: { compressionLevel: number; checksumFlag: number; contentSizeFlag: number };
  compressBound(size: number): number;
  getFrameContentSize(frame: Uint8Array): number | null;
  findFrameCompressedSize(frame: Uint8Array): number;
}

// zstd-napi's package has no `exports` map for its binding; load it the CommonJS way.
const require = createRequire(import.meta.url);
const binding = require('zstd-napi/binding') as ZstdBinding;

/** Largest compressed size of `size` raw bytes (zstd's `ZSTD_compressBound`). */
export function compressBound(size: number): number {
  return binding.compressBound(size);
}

/** A reusable zstd compressor for one level (contexts are costly to create). */
export class SegmentCompressor {
  readonly #cctx = new binding.CCtx();

  /** @param level - zstd level, 1..19 */
  constructor(level: number) {
    this.#cctx.setParameter(binding.CParameter.compressionLevel, level);
    this.#cctx.setParameter(binding.CParameter.checksumFlag, 1);
    this.#cctx.setParameter(binding.CParameter.contentSizeFlag, 1);
  }

  /** Compress `src` into one zstd frame in `dst` (at least {@link compressBound} bytes); returns the frame size. */
  compressInto(src: Uint8Array, dst: Uint8Array): number {
    return this.#cctx.compress2(dst, src);
  }

  /** Compress `src` into one zstd frame (a fresh buffer of exactly the frame size). */
  compress(src: Uint8Array): Buffer {
    const dst = Buffer.allocUnsafe(binding.compressBound(src.length));
    const n = this.#cctx.compress2(dst, src);
    return Buffer.from(dst.subarray(0, n));
  }
}

/**
 * Why a stored segment was refused: `crc` (checksum mismatch), `frame` (not
 * a zstd frame), `declared` (its content size differs from the index),
 * `limit` (its frame, agreeing with the index, declares more raw bytes than
 * the reader's limit `limit`), `trailing` (bytes after the frame), `zstd` (decompression failed),
 * `size` (decompressed to another size). `value` carries the declared or
 * produced size, `message` zstd's own message, `cause` zstd's error (on the
 * thread that caught it; a structured clone elsewhere).
 */
export interface FrameFailure {
  readonly kind: 'crc' | 'frame' | 'declared' | 'limit' | 'trailing' | 'zstd' | 'size' | 'auth';
  readonly value?: number | null;
  readonly limit?: number;
  readonly message?: string;
  readonly cause?: unknown;
}

/** The `CKPT_ERR_CORRUPT` (or, for `limit`, `CKPT_ERR_LIMIT`) error for a {@link FrameFailure} of a segment; `where` names it. */
export function frameError(f: FrameFailure, where: string, expected: number, cause: unknown = f.cause): CkptError {
  const c = cause === undefined ? {} : { cause };
  switch (f.kind) {
    case 'crc':
      return new CkptError(ErrorCodes.CORRUPT, `${where} checksum mismatch; the image is damaged`, { where, ...c });
    case 'frame':
      return new CkptError(ErrorCodes.CORRUPT, `${where}: not a valid zstd frame; the image is damaged`, { where, ...c });
    case 'limit':
      return new CkptError(ErrorCodes.LIMIT, `${where}: zstd frame declares ${String(f.value)} bytes, above this reader's limit of ${String(f.limit)} (limits.maxSegmentBytes); raise the limit if the image is trusted, or it is damaged`, { where });
    case 'declared':
      return new CkptError(ErrorCodes.CORRUPT, `${where}: zstd frame declares ${String(f.value)} bytes but the index says ${expected}; the image is damaged`, { where });
    case 'trailing':
      return new CkptError(ErrorCodes.CORRUPT, `${where}: segment holds trailing bytes after its zstd frame; the image is damaged`, { where });
    case 'zstd':
      return new CkptError(ErrorCodes.CORRUPT, `${where}: zstd decompression failed (${f.message ?? 'unknown error'}); the image is damaged`, { where, ...c });
    case 'size':
      return new CkptError(ErrorCodes.CORRUPT, `${where}: decompressed to ${String(f.value)} bytes, expected ${expected}; the image is damaged`, { where });
    case 'auth':
      return new CkptError(ErrorCodes.CORRUPT, `${where}: authentication failed (the encrypted bytes, or their place in the image, were changed); the image is damaged or tampered with`, { where });
  }
}

/**
 * The one check of a zstd frame's header, before anything is decompressed
 * (on the main thread and in the pool's threads alike): `src` must be exactly
 * one frame, declaring exactly `rawLength` raw bytes (what the index says:
 * `declared` otherwise, damage) and at most `maxRawBytes` (a reader's limit:
 * `limit`). Returns the failed check, or undefined.
 */
export function checkFrame(src: Uint8Array, rawLength: number, maxRawBytes = Number.POSITIVE_INFINITY): FrameFailure | undefined {
  let declared: number | null;
  let frameSize: number;
  try {
    declared = binding.getFrameContentSize(src);
    frameSize = binding.findFrameCompressedSize(src);
  } catch (cause) {
    return { kind: 'frame', message: errorMessage(cause), cause };
  }
  // A frame that disagrees with the index is damage whatever its size (a
  // higher limit would not make it readable); one that agrees but is above
  // the limit is refused as such, before anything is decompressed.
  if (declared !== rawLength) return { kind: 'declared', value: declared };
  if (declared > maxRawBytes) return { kind: 'limit', value: declared, limit: maxRawBytes };
  if (frameSize !== src.length) return { kind: 'trailing' };
  return undefined;
}

function errorMessage(err: unknown): string {
  return err instanceof Error ? err.message : String(err);
}

/** A reusable bounded zstd decompressor. */
export class SegmentDecompressor {
  readonly #dctx = new binding.DCtx();

  /**
   * Check `src` with {@link checkFrame}, then decompress it into `dst`, whose
   * length is the raw size the index promised: the decompressor never
   * writes past it. Returns the failed check, or undefined.
   */
  decompress(src: Uint8Array, dst: Uint8Array, maxRawBytes = Number.POSITIVE_INFINITY): FrameFailure | undefined {
    const bad = checkFrame(src, dst.length, maxRawBytes);
    if (bad !== undefined) return bad;
    let n: number;
    try {
      n = this.#dctx.decompress(dst, src);
    } catch (cause) {
      return { kind: 'zstd', message: errorMessage(cause), cause };
    }
    if (n !== dst.length) return { kind: 'size', value: n };
    return undefined;
  }

  /**
   * Decompress exactly one frame `src` into `dst`, whose length is the raw size
   * the index promised. Fails with CORRUPT if the frame disagrees in any way.
   */
  decompressInto(src: Uint8Array, dst: Uint8Array, where: string): void {
    const bad = this.decompress(src, dst);
    if (bad !== undefined) throw frameError(bad, where, dst.length);
  }
}
