/**
 * @module image/zstd
 *
 * Compression and bounded decompression of one segment with zstd-napi's
 * low-level binding. The high-level `decompress()` of zstd-napi allocates
 * whatever a frame header claims; here the caller states the exact raw size
 * (from the checked index) and the frame must agree before anything is
 * allocated, and the decompressor can never write past that buffer.
 *
 * The same checks run on the main thread ({@link SegmentDecompressor}) and in
 * the worker pool (`image/pool-worker`); both report a failed check as a
 * {@link FrameFailure}, turned into the same `CKPT_ERR_CORRUPT` message by
 * {@link frameError}.
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
/** Absolute path of zstd-napi's binding, for worker threads (which `require` it themselves). */
export const BINDING_PATH: string = require.resolve('zstd-napi/binding');
const binding = require(BINDING_PATH) as ZstdBinding;

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
 * `trailing` (bytes after the frame), `zstd` (decompression failed), `size`
 * (decompressed to another size). `value` carries the declared or produced
 * size, `message` zstd's own message.
 */
export interface FrameFailure {
  readonly kind: 'crc' | 'frame' | 'declared' | 'trailing' | 'zstd' | 'size';
  readonly value?: number | null;
  readonly message?: string;
}

/** The `CKPT_ERR_CORRUPT` error for a {@link FrameFailure} of a segment; `where` names it. */
export function frameError(f: FrameFailure, where: string, expected: number, cause?: unknown): CkptError {
  const c = cause === undefined ? {} : { cause };
  switch (f.kind) {
    case 'crc':
      return new CkptError(ErrorCodes.CORRUPT, `${where} checksum mismatch; the image is damaged`, { where, ...c });
    case 'frame':
      return new CkptError(ErrorCodes.CORRUPT, `${where}: not a valid zstd frame; the image is damaged`, { where, ...c });
    case 'declared':
      return new CkptError(ErrorCodes.CORRUPT, `${where}: zstd frame declares ${String(f.value)} bytes but the index says ${expected}; the image is damaged`, { where });
    case 'trailing':
      return new CkptError(ErrorCodes.CORRUPT, `${where}: segment holds trailing bytes after its zstd frame; the image is damaged`, { where });
    case 'zstd':
      return new CkptError(ErrorCodes.CORRUPT, `${where}: zstd decompression failed (${f.message ?? 'unknown error'}); the image is damaged`, { where, ...c });
    case 'size':
      return new CkptError(ErrorCodes.CORRUPT, `${where}: decompressed to ${String(f.value)} bytes, expected ${expected}; the image is damaged`, { where });
  }
}

/** A reusable bounded zstd decompressor. */
export class SegmentDecompressor {
  readonly #dctx = new binding.DCtx();

  /**
   * Decompress exactly one frame `src` into `dst`, whose length is the raw size
   * the index promised. Fails with CORRUPT if the frame disagrees in any way.
   */
  decompressInto(src: Uint8Array, dst: Uint8Array, where: string): void {
    let declared: number | null;
    let frameSize: number;
    try {
      declared = binding.getFrameContentSize(src);
      frameSize = binding.findFrameCompressedSize(src);
    } catch (cause) {
      throw frameError({ kind: 'frame' }, where, dst.length, cause);
    }
    if (declared !== dst.length) throw frameError({ kind: 'declared', value: declared }, where, dst.length);
    if (frameSize !== src.length) throw frameError({ kind: 'trailing' }, where, dst.length);
    let n: number;
    try {
      n = this.#dctx.decompress(dst, src);
    } catch (cause) {
      throw frameError({ kind: 'zstd', message: (cause as Error).message }, where, dst.length, cause);
    }
    if (n !== dst.length) throw frameError({ kind: 'size', value: n }, where, dst.length);
  }
}
