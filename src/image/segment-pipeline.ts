/**
 * @module image/segment-pipeline
 *
 * The one place where a segment's raw bytes become the bytes stored in an
 * image, and back. A {@link SegmentStage} is one reversible step; the
 * {@link SegmentPipeline} runs its stages in order on write (raw → stored)
 * and in reverse order on read (stored → raw). Today the stages are
 * `compress` (zstd, kept raw when that is not smaller), `encrypt`
 * (AES-256-GCM of the compressed bytes, only for a segment given a
 * {@link SegmentSeal}: format 4 encrypted images) and `checksum` (CRC-32 of
 * the stored bytes — over the ciphertext, so damage is found without the
 * key). On read, the checksum is checked first, then the tag, and only
 * authenticated bytes are decompressed.
 *
 * The same module runs on the main thread and in the worker pool's threads
 * (`image/pool-worker` imports it), so the bytes written and the checks made
 * on read are the same wherever a segment is processed. A pipeline owns its
 * zstd contexts and reuses them; it is not shared between threads.
 */
import { crc32 } from 'node:zlib';
import { NONCE_DOMAIN_SEGMENT, TAG_BYTES, nonceOf, openInto, sealInto, segmentAad } from '../crypto/seal.js';
import { SegmentCodec, type SegmentCodecId } from './constants.js';
import { SegmentFlag } from './index-model.js';
import { compressBound, SegmentCompressor, SegmentDecompressor, type FrameFailure } from './zstd.js';
import { xorBytes } from './xor.js';

export type { FrameFailure } from './zstd.js';

/** Names of the stages, in write order. */
export type SegmentStageName = 'compress' | 'encrypt' | 'checksum';

/**
 * How one segment of an encrypted image is sealed or opened: the image's
 * segment subkey and uuid, the segment's index (its nonce counter and part of
 * its associated data), and memory for the other side's bytes — on write the
 * ciphertext (at least the compressed length + 16), on read the plaintext
 * (at least the stored length − 16).
 */
export interface SegmentSeal {
  /** The image's segment subkey (32 bytes). */
  readonly key: Uint8Array;
  /** The image's uuid (16 bytes). */
  readonly uuid: Uint8Array;
  /** The segment's index in the image. */
  readonly index: number;
  /** Memory the stage writes into. */
  readonly memory: Uint8Array;
}

/**
 * Copies of an image's segment subkey and uuid, each over memory of its own,
 * for the `open` of a pool thread's job (image/pool-worker): a message to a
 * thread copies the whole buffer under a view, and a small Buffer is a view
 * into Node's shared 8 KiB pool, which may hold other secrets.
 */
export function ownKeys(key: Uint8Array, uuid: Uint8Array): { readonly key: Uint8Array; readonly uuid: Uint8Array } {
  return { key: Uint8Array.from(key), uuid: Uint8Array.from(uuid) };
}

/** What the index records of a stored segment besides its place: how to turn it back into raw bytes. */
export interface StoredSegment {
  /** The bytes to store (a view over the raw bytes or over the output memory given to {@link SegmentPipeline.encode}). */
  readonly stored: Uint8Array;
  /** How `stored` holds the raw bytes. */
  readonly codec: SegmentCodecId;
  /** CRC-32 of `stored`. */
  readonly crc: number;
}

/** A segment on its way from raw to stored bytes; each stage reads and replaces `bytes`. */
export interface EncodingSegment {
  /** The raw bytes. */
  readonly raw: Uint8Array;
  /** Their length (what the index records; sealing binds it). */
  readonly rawLength: number;
  /** Memory a stage may write into (at least {@link compressBound} of the raw length). */
  readonly output: Uint8Array;
  /** zstd level (1..19). */
  readonly level: number;
  /** The bytes so far (the raw bytes before the first stage). */
  bytes: Uint8Array;
  /** How `bytes` holds the raw bytes so far. */
  codec: SegmentCodecId;
  /** CRC-32 of the stored bytes (set by the `checksum` stage). */
  crc: number;
  /** Encrypt (format 4): the sealing context; absent for a plaintext segment. */
  readonly seal?: SegmentSeal | undefined;
}

/** A stored segment on its way back to raw bytes; each stage (in reverse order) reads and may replace `bytes`. */
export interface DecodingSegment {
  /** The bytes so far (the stored bytes before the first stage). */
  bytes: Uint8Array;
  /** The codec the index records. */
  readonly codec: number;
  /** The CRC-32 the index records. */
  readonly crc: number;
  /** Where the raw bytes go: exactly the raw length the index records. */
  readonly dst: Uint8Array;
  /** Largest raw size a frame may declare (the reader's segment limit). */
  readonly maxRawBytes: number;
  /** Decrypt (format 4): the opening context; absent for a plaintext segment. */
  readonly seal?: SegmentSeal | undefined;
}

/**
 * One reversible step between raw and stored bytes. `encode` runs on write
 * in pipeline order; `decode` on read in reverse order and returns the
 * failed check (the read stops there), or undefined.
 */
export interface SegmentStage {
  readonly name: SegmentStageName;
  encode(seg: EncodingSegment): void;
  decode(seg: DecodingSegment): FrameFailure | undefined;
}

/** zstd: a frame when it is smaller than the raw bytes, else the raw bytes as they are. */
class CompressStage implements SegmentStage {
  readonly name = 'compress';
  /** zstd contexts by level (costly to create, reused from one segment and image to the next). */
  readonly #compressors = new Map<number, SegmentCompressor>();
  #decompressor: SegmentDecompressor | undefined;

  encode(seg: EncodingSegment): void {
    if (seg.bytes.length === 0) return;
    const n = this.#compressor(seg.level).compressInto(seg.bytes, seg.output);
    if (n >= seg.bytes.length) return;
    seg.bytes = seg.output.subarray(0, n);
    seg.codec = SegmentCodec.ZSTD;
  }

  decode(seg: DecodingSegment): FrameFailure | undefined {
    if (seg.codec === SegmentCodec.ZSTD) {
      this.#decompressor ??= new SegmentDecompressor();
      const bad = this.#decompressor.decompress(seg.bytes, seg.dst, seg.maxRawBytes);
      if (bad === undefined) seg.bytes = seg.dst;
      return bad;
    }
    // Raw: the index guarantees stored length = raw length; checked again, never trusted.
    if (seg.bytes.length !== seg.dst.length) return { kind: 'size', value: seg.bytes.length };
    if (seg.bytes.buffer !== seg.dst.buffer || seg.bytes.byteOffset !== seg.dst.byteOffset) seg.dst.set(seg.bytes);
    seg.bytes = seg.dst;
    return undefined;
  }

  #compressor(level: number): SegmentCompressor {
    let c = this.#compressors.get(level);
    if (c === undefined) {
      c = new SegmentCompressor(level);
      this.#compressors.set(level, c);
    }
    return c;
  }
}

/**
 * AES-256-GCM of the bytes so far (format 4): ciphertext ‖ tag into the
 * seal's memory, in pieces (crypto/seal). The associated data binds the
 * image uuid, the segment index, the flags, the codec and the raw length.
 * Without a seal the stage does nothing.
 */
class EncryptStage implements SegmentStage {
  readonly name = 'encrypt';

  encode(seg: EncodingSegment): void {
    const s = seg.seal;
    if (s === undefined) return;
    seg.bytes = s.memory.subarray(0, sealSegment(seg.bytes, seg.codec, seg.rawLength, s));
  }

  decode(seg: DecodingSegment): FrameFailure | undefined {
    const s = seg.seal;
    if (s === undefined) return undefined;
    const n = openSegment(seg.bytes, seg.codec, seg.dst.length, s);
    if (n < 0) return { kind: 'auth' };
    seg.bytes = s.memory.subarray(0, n);
    return undefined;
  }
}

/**
 * Encrypt the bytes of segment `seal.index` (`codec`, `rawLength` as the
 * index will record them) into `seal.memory`: ciphertext ‖ tag; returns its
 * length (`bytes.length + 16`). `bytes` may be the start of `seal.memory`
 * itself (sealed in place: each piece is read before its ciphertext is
 * written over it), given 16 bytes of room after it for the tag.
 */
export function sealSegment(bytes: Uint8Array, codec: number, rawLength: number, seal: SegmentSeal): number {
  const aad = segmentAad(seal.uuid, seal.index, SegmentFlag.ENCRYPTED, codec, rawLength);
  return sealInto(seal.key, nonceOf(NONCE_DOMAIN_SEGMENT, seal.index), aad, bytes, seal.memory);
}

/**
 * Authenticate and decrypt the stored bytes of segment `seal.index` (as the
 * index records it: `codec`, `rawLength`) into `seal.memory`. Returns the
 * plaintext length, or -1 when authentication fails (or the bytes are
 * shorter than a tag).
 */
export function openSegment(stored: Uint8Array, codec: number, rawLength: number, seal: SegmentSeal): number {
  if (stored.length < TAG_BYTES) return -1;
  const aad = segmentAad(seal.uuid, seal.index, SegmentFlag.ENCRYPTED, codec, rawLength);
  return openInto(seal.key, nonceOf(NONCE_DOMAIN_SEGMENT, seal.index), aad, stored, seal.memory);
}

/** CRC-32 of the stored bytes, checked before any other stage reads them. */
class ChecksumStage implements SegmentStage {
  readonly name = 'checksum';

  encode(seg: EncodingSegment): void {
    seg.crc = crc32(seg.bytes);
  }

  decode(seg: DecodingSegment): FrameFailure | undefined {
    return crc32(seg.bytes) === seg.crc ? undefined : { kind: 'crc' };
  }
}

/** Turns a segment's raw bytes into stored bytes and back, through its {@link SegmentStage}s. */
export class SegmentPipeline {
  /** The stages in write order (a read runs them backwards). */
  readonly stages: readonly SegmentStage[];
  readonly #checksum = new ChecksumStage();
  readonly #compress = new CompressStage();
  /** Output memory given back by writers, for the next image (fresh memory costs a page fault per 4 KiB). */
  readonly #spare: Uint8Array[] = [];

  constructor() {
    this.stages = [this.#compress, new EncryptStage(), this.#checksum];
  }

  /** Output memory {@link encode} needs for `rawLength` raw bytes. */
  static outputBytes(rawLength: number): number {
    return rawLength === 0 ? 0 : compressBound(rawLength);
  }

  /**
   * The stored form of `raw`: compressed into `output` (at least
   * {@link SegmentPipeline.outputBytes}) when that is smaller, else `raw`
   * itself — then, with `seal`, encrypted into the seal's memory; and its
   * checksum. Throws only on a zstd failure (out of memory).
   */
  encode(raw: Uint8Array, output: Uint8Array, level: number, seal?: SegmentSeal): StoredSegment {
    const seg: EncodingSegment = { raw, rawLength: raw.length, output, level, bytes: raw, codec: SegmentCodec.RAW, crc: 0, seal };
    for (const stage of this.stages) stage.encode(seg);
    return { stored: seg.bytes, codec: seg.codec, crc: seg.crc };
  }

  /**
   * The stored form of a segment compressed elsewhere (a pool thread):
   * `bytes` as `codec` holds `rawLength` raw bytes, encrypted with `seal`
   * into its memory (in place when `bytes` starts it: see
   * {@link sealSegment}), and the checksum of the result — what
   * {@link encode} does after it compressed.
   */
  sealCompressed(bytes: Uint8Array, codec: SegmentCodecId, rawLength: number, seal: SegmentSeal): StoredSegment {
    const seg: EncodingSegment = { raw: bytes, rawLength, output: bytes, level: 0, bytes, codec, crc: 0, seal };
    for (const stage of this.stages) if (stage.name !== 'compress') stage.encode(seg);
    return { stored: seg.bytes, codec: seg.codec, crc: seg.crc };
  }

  /**
   * Check the stored bytes of a segment (`codec` and `crc` as the index
   * records them) and put its raw bytes into `dst` (exactly the raw length
   * the index records; nothing is allocated). With `seal` (a segment of an
   * encrypted image) the bytes are authenticated and decrypted into the
   * seal's memory before they are decompressed. Returns the failed check, or
   * undefined; turn it into an error with `frameError` (image/zstd).
   */
  decode(stored: Uint8Array, codec: number, crc: number, dst: Uint8Array, maxRawBytes = Number.POSITIVE_INFINITY, seal?: SegmentSeal): FrameFailure | undefined {
    const seg: DecodingSegment = { bytes: stored, codec, crc, dst, maxRawBytes, seal };
    for (let i = this.stages.length - 1; i >= 0; i--) {
      const bad = this.stages[i]!.decode(seg);
      if (bad !== undefined) return bad;
    }
    return undefined;
  }

  /**
   * Check and apply an XOR-delta segment (codec `XOR_ZSTD`, format 3): its
   * stored bytes are one zstd frame of (raw XOR base raw) — with `seal`
   * (format 5), sealed like any segment of an encrypted image (codec 2 in
   * its associated data), so authenticated and decrypted first. `dst` holds
   * the base segment's raw bytes and becomes this segment's raw bytes; the
   * delta is decompressed into `scratch` (as long as `dst`) first. Returns
   * the failed check (then `dst` is unchanged), or undefined, like
   * {@link decode}.
   */
  decodeXor(stored: Uint8Array, crc: number, dst: Uint8Array, scratch: Uint8Array, maxRawBytes = Number.POSITIVE_INFINITY, seal?: SegmentSeal): FrameFailure | undefined {
    if (scratch.length !== dst.length) return { kind: 'size', value: scratch.length };
    const checked = this.verify(stored, crc, SegmentCodec.XOR_ZSTD, dst.length, seal);
    if (checked !== undefined) return checked;
    // Checked (and opened into the seal's memory): the frame is decompressed as is.
    const frame = seal === undefined ? stored : seal.memory.subarray(0, stored.length - TAG_BYTES);
    const bad = this.#compress.decode({ bytes: frame, codec: SegmentCodec.ZSTD, crc, dst: scratch, maxRawBytes });
    if (bad !== undefined) return bad;
    xorBytes(dst, scratch, dst);
    return undefined;
  }

  /**
   * Output memory of at least `bytes` for {@link encode}: kept memory when
   * some fits, else new. Give it back with {@link giveOutput} once the bytes
   * encoded into it are written.
   */
  takeOutput(bytes: number): Uint8Array {
    const i = this.#spare.findIndex((b) => b.length >= bytes);
    return i === -1 ? new Uint8Array(bytes) : this.#spare.splice(i, 1)[0]!;
  }

  /** Keep `output` for the next {@link takeOutput} (two at most: two images may be written at once). */
  giveOutput(output: Uint8Array): void {
    if (this.#spare.length < 2) this.#spare.push(output);
  }

  /**
   * Check stored bytes without turning them into raw ones (copying segments
   * as they are, or checking one above a limit): the stages after
   * `compress` — today the checksum. Returns the failed check, or undefined.
   */
  check(stored: Uint8Array, crc: number): FrameFailure | undefined {
    return this.#checksum.decode({ bytes: stored, codec: SegmentCodec.RAW, crc, dst: stored, maxRawBytes: stored.length });
  }

  /**
   * Check stored bytes without decompressing them: the checksum, then, with
   * `seal` (a segment of an encrypted image, `codec` and `rawLength` as the
   * index records them), authentication — the plaintext goes to the seal's
   * memory and is forgotten. Returns the failed check, or undefined.
   */
  verify(stored: Uint8Array, crc: number, codec: number, rawLength: number, seal?: SegmentSeal): FrameFailure | undefined {
    const bad = this.check(stored, crc);
    if (bad !== undefined || seal === undefined) return bad;
    return openSegment(stored, codec, rawLength, seal) < 0 ? { kind: 'auth' } : undefined;
  }
}
