/**
 * @module image/zstd
 *
 * Compression and bounded decompression of one segment with zstd-napi's
 * low-level binding. The high-level `decompress()` of zstd-napi allocates
 * whatever a frame header claims; here the caller states the exact raw size
 * (from the checked index) and the frame must agree before anything is
 * allocated, and the decompressor can never write past that buffer.
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
const binding = createRequire(import.meta.url)('zstd-napi/binding') as ZstdBinding;

/** A reusable zstd compressor for one level (contexts are costly to create). */
export class SegmentCompressor {
  readonly #cctx = new binding.CCtx();

  /** @param level - zstd level, 1..19 */
  constructor(level: number) {
    this.#cctx.setParameter(binding.CParameter.compressionLevel, level);
    this.#cctx.setParameter(binding.CParameter.checksumFlag, 1);
    this.#cctx.setParameter(binding.CParameter.contentSizeFlag, 1);
  }

  /** Compress `src` into one zstd frame (a fresh buffer of exactly the frame size). */
  compress(src: Uint8Array): Buffer {
    const dst = Buffer.allocUnsafe(binding.compressBound(src.length));
    const n = this.#cctx.compress2(dst, src);
    return Buffer.from(dst.subarray(0, n));
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
      throw new CkptError(ErrorCodes.CORRUPT, `${where}: not a valid zstd frame; the image is damaged`, { where, cause });
    }
    if (declared !== dst.length) {
      throw new CkptError(ErrorCodes.CORRUPT, `${where}: zstd frame declares ${String(declared)} bytes but the index says ${dst.length}; the image is damaged`, { where });
    }
    if (frameSize !== src.length) {
      throw new CkptError(ErrorCodes.CORRUPT, `${where}: segment holds trailing bytes after its zstd frame; the image is damaged`, { where });
    }
    let n: number;
    try {
      n = this.#dctx.decompress(dst, src);
    } catch (cause) {
      throw new CkptError(ErrorCodes.CORRUPT, `${where}: zstd decompression failed (${(cause as Error).message}); the image is damaged`, { where, cause });
    }
    if (n !== dst.length) {
      throw new CkptError(ErrorCodes.CORRUPT, `${where}: decompressed to ${n} bytes, expected ${dst.length}; the image is damaged`, { where });
    }
  }
}
