/**
 * @module image/reader
 *
 * Random-access reading of one image: the header and trailer are checked, the
 * index is loaded and validated, and from then on any single provider can be
 * read (its segments fetched, checksummed, decompressed into buffers of the
 * size the index promised, and decoded) without touching the others. `inspect`
 * needs only the metadata and never reads a segment. `verify()` checks all of
 * it and collects every problem instead of stopping at the first.
 */
import { constants as bufferConstants } from 'node:buffer';
import { crc32 } from 'node:zlib';
import { decodeState } from '../codec/decode.js';
import type { ClassLookup } from '../codec/types.js';
import { CkptError, ErrorCodes, isCkptError } from '../errors.js';
import type { ImageSource } from '../store/store.js';
import {
  DEFAULT_MAX_DEPTH,
  DEFAULT_MAX_IMAGE_BYTES,
  DEFAULT_MAX_INDEX_BYTES,
  DEFAULT_MAX_SEGMENTS,
  DEFAULT_MAX_SEGMENT_BYTES,
  DEFAULT_MAX_STATE_BYTES,
  HEADER_SIZE,
  MAX_XOR_CHAIN,
  RequiredFlag,
  SegmentCodec,
  TRAILER_SIZE,
} from './constants.js';
import { decodeHeader, decodeTrailer, type ImageHeader, type ImageTrailer } from './header.js';
import type { FormatList } from './format-list.js';
import { FORMATS } from './format-registry.js';
import { SegmentFlag, type ImageIndex, type ImageRef, type Manifest, type ProviderEntry, type SegmentEntry, type SegmentRun } from './index-model.js';
import { segmentHash } from './incremental-plan.js';
import { prepassIndex } from './index-prepass.js';
import type { RunBuffer, ZstdPool } from './pool.js';
import type { SegmentOpen } from './pool-worker.js';
import { SegmentPipeline, openSegment, ownKeys, type FrameFailure, type SegmentSeal } from './segment-pipeline.js';
import { frameError } from './zstd.js';
import { decodeCryptoBlock, MAX_CRYPTO_BLOCK, type CryptoBlock } from '../crypto/block.js';
import { openImageSeal, openIndex, type ImageSeal } from '../crypto/image-seal.js';
import type { KeySource } from '../crypto/keys.js';

/** One level of an XOR chain: segment `n` (row `seg`) of the image `r` reads. */
interface ChainStep {
  readonly r: ImageReader;
  readonly n: number;
  readonly seg: SegmentEntry;
}

/** Memory for stored segments, reused within one read call (grown on demand). */
interface Scratch {
  bytes: Uint8Array | undefined;
  /** Encrypted images: the decrypted (still compressed) bytes. */
  plain?: Uint8Array | undefined;
}

function plainOf(s: Scratch, bytes: number): Uint8Array {
  if (s.plain === undefined || s.plain.length < bytes) s.plain = new Uint8Array(Math.max(1, bytes));
  return s.plain;
}

function scratchOf(s: Scratch, bytes: number): Uint8Array {
  if (s.bytes === undefined || s.bytes.length < bytes) s.bytes = new Uint8Array(bytes);
  return s.bytes;
}

/** Sets a reader's pool (its private field); assigned by ImageReader's static block. */
let setReaderPool: (reader: ImageReader, pool: ZstdPool | undefined) => void;

/**
 * Let `reader` decompress runs of at least the pool's `minBytes` on
 * `pool` (in parallel, segments in flight bounded by the pool's slots).
 * Without it a reader decompresses on the calling thread. Internal.
 */
export function useReaderPool(reader: ImageReader, pool: ZstdPool | undefined): void {
  setReaderPool(reader, pool);
}

/**
 * Opens the images an incremental image refers to (its holders): each holder
 * once, its uuid checked against the reference. `image/open-store` builds
 * one over a store. Internal.
 */
export interface HolderResolver {
  /**
   * The reader of the holder `ref` names, opened (and attached to this same
   * resolver, so its own references resolve too). Fails with
   * `CKPT_ERR_MISSING_REFERENCE` when it is missing or its uuid differs;
   * `from` is the id of the image that refers to it (for the message).
   */
  holder(ref: ImageRef, from: string): Promise<ImageReader>;
  /** Close every holder opened. */
  close(): Promise<void>;
}

/** Sets a reader's holder resolver; assigned by ImageReader's static block. */
let setReaderHolders: (reader: ImageReader, holders: HolderResolver, owned: boolean) => void;

/**
 * Let `reader` read the segments it holds by reference or as XOR deltas
 * through `holders`; with `owned`, `reader.close()` closes the resolver
 * (and so every holder). Internal: `openStoreImage` does this.
 */
export function attachHolders(reader: ImageReader, holders: HolderResolver, owned: boolean): void {
  setReaderHolders(reader, holders, owned);
}

/**
 * Limits a reader enforces before allocating. Every one fails with
 * `CKPT_ERR_LIMIT` naming it; `docs/reliability.md` lists them.
 */
export interface ReadLimits {
  /** Largest raw segment accepted (default 64 MiB). */
  readonly maxSegmentBytes?: number;
  /** Largest index accepted (default 8 MiB). */
  readonly maxIndexBytes?: number;
  /** Most segments an index may list (default 65 536). */
  readonly maxSegments?: number;
  /** Largest state of one provider accepted, stream + blobs (default 2 GiB). */
  readonly maxStateBytes?: number;
  /** Largest decoded size of all providers of one image together (default 4 GiB). */
  readonly maxImageBytes?: number;
  /** Deepest nesting accepted when decoding (default 2000). */
  readonly maxDepth?: number;
  /**
   * Largest BigInt magnitude in bytes accepted by the value decoder
   * (default 1 MiB); a larger one fails with `CKPT_ERR_LIMIT`.
   */
  readonly maxBigIntBytes?: number;
}

/** How images are read: the limits, and the keys of encrypted images. */
export interface ReadOptions extends ReadLimits {
  /**
   * The keys to open encrypted images with (format 4; see
   * docs/encryption.md). Without them an encrypted image fails to open with
   * `CKPT_ERR_KEY`; with them a plaintext image fails with
   * `CKPT_ERR_NOT_ENCRYPTED` unless the source allows plaintext.
   */
  readonly keys?: KeySource | undefined;
}

/** The limits a reader applies, every one set. */
type FullLimits = Required<Omit<ReadLimits, 'maxBigIntBytes'>> & Pick<ReadLimits, 'maxBigIntBytes'>;

/** Largest single buffer this process can allocate (Node's typed-array maximum). */
const MAX_BUFFER_BYTES: number = bufferConstants.MAX_LENGTH;

/** What one provider occupies in an image (no data decoded). */
export interface ProviderSummary {
  /** Provider id. */
  readonly id: string;
  /** Schema version of the saved state. */
  readonly version: number;
  /** Whether the state was written in tree mode. */
  readonly tree: boolean;
  /** Raw (uncompressed) bytes: value stream + blobs. */
  readonly rawBytes: number;
  /** Stored bytes in the image. */
  readonly storedBytes: number;
  /** Number of segments. */
  readonly segments: number;
  /** Number of blobs (large binary values stored outside the value stream). */
  readonly blobs: number;
}

/** One problem found by {@link ImageReader.verify}. */
export interface VerifyProblem {
  /** A `CKPT_ERR_*` code. */
  readonly code: string;
  /** Where: `header`, `trailer`, `index.segments[3]`, `segment 7`, `provider "grid"`. */
  readonly where: string;
  /** What is wrong. */
  readonly message: string;
}

/** The result of verifying an image. */
export interface VerifyReport {
  /** True when no problem was found. */
  readonly ok: boolean;
  /** Every problem found. */
  readonly problems: readonly VerifyProblem[];
  /** Segments checked. */
  readonly segmentsChecked: number;
  /** Providers fully decoded. */
  readonly providersDecoded: number;
}

/** Options for {@link ImageReader.readProvider}. */
export interface ReadProviderOptions {
  /** Classes to revive instances with. Without it, registered-class instances decode as null-prototype objects tagged with their class name. */
  readonly classes?: ClassLookup;
}

/** Options of {@link ImageReader.verify}. */
export interface VerifyOptions extends ReadProviderOptions {
  /**
   * Called with each provider's state as soon as it is decoded (in index
   * order), so a caller that checks more of a state does not read it again;
   * what it throws is reported as a problem of that provider.
   */
  readonly decoded?: (id: string, state: unknown) => void;
}

/**
 * A lookup that accepts every class name: instances come back with a
 * null-prototype placeholder. Used by tools and verify, which have no app code.
 */
export function placeholderClassLookup(): ClassLookup {
  const protos = new Map<string, object>();
  return {
    nameOf: () => undefined,
    protoOf(name: string): object {
      let p = protos.get(name);
      if (p === undefined) {
        p = Object.create(null, { [Symbol.toStringTag]: { value: name } }) as object;
        protos.set(name, p);
      }
      return p;
    },
  };
}

/** A provider's raw bytes, checked: its value stream and its blobs. */
export interface RawProviderData {
  /** The msgpack value stream. */
  readonly stream: Uint8Array;
  /** Blob bytes, each in its own 8-byte-aligned buffer. */
  readonly blobs: readonly Uint8Array[];
}

/** A reader over one image. Create with {@link ImageReader.open}. */
export class ImageReader {
  /** The image header. */
  readonly header: ImageHeader;
  /** The validated index. */
  readonly index: ImageIndex;
  /** Total size in bytes. */
  readonly size: number;
  readonly #source: ImageSource;
  readonly #limits: FullLimits;
  /** Segments read on this thread go through it. */
  readonly #pipeline = new SegmentPipeline();
  /** Worker pool to decompress large runs on (see {@link useReaderPool}); internal, not on the public class. */
  #pool: ZstdPool | undefined;
  /** Opens holders (see {@link attachHolders}); undefined: this image is read on its own. */
  #holders: HolderResolver | undefined;
  #ownsHolders = false;
  /** Holders opened so far, by position in `index.refs`. */
  readonly #holderReaders = new Map<number, ImageReader>();
  #closed = false;
  /** Encrypted images: the image's keys. */
  readonly #seal: ImageSeal | undefined;
  /** Its segment subkey and uuid as sent to pool threads (see {@link ownKeys}). */
  #openKeys: { readonly key: Uint8Array; readonly uuid: Uint8Array } | undefined;
  /** Encrypted images: the clear crypto block (key id, public manifest). */
  readonly crypto: CryptoBlock | undefined;

  static {
    setReaderPool = (reader, pool): void => {
      reader.#pool = pool;
    };
    setReaderHolders = (reader, holders, owned): void => {
      reader.#holders = holders;
      reader.#ownsHolders = owned;
    };
  }

  private constructor(source: ImageSource, header: ImageHeader, index: ImageIndex, limits: FullLimits, seal?: { seal: ImageSeal; block: CryptoBlock }) {
    this.#seal = seal?.seal;
    this.crypto = seal?.block;
    this.#source = source;
    this.header = header;
    this.index = index;
    this.size = source.size;
    this.#limits = limits;
  }

  /**
   * Open an image: reads and checks header, trailer and index only.
   * Fails with CORRUPT, FORMAT_NEWER or UNSUPPORTED_FEATURE. Does not close
   * `source` on failure (the caller owns it).
   */
  static open(source: ImageSource, limits: ReadOptions = {}): Promise<ImageReader> {
    return ImageReader.openWith(FORMATS, source, limits);
  }

  /**
   * {@link ImageReader.open} reading the format versions of `formats`
   * (tests of a new format version pass their own list).
   * @internal
   */
  static async openWith(formats: FormatList, source: ImageSource, limits: ReadOptions = {}): Promise<ImageReader> {
    const full: FullLimits = {
      maxSegmentBytes: limits.maxSegmentBytes ?? DEFAULT_MAX_SEGMENT_BYTES,
      maxIndexBytes: limits.maxIndexBytes ?? DEFAULT_MAX_INDEX_BYTES,
      maxSegments: limits.maxSegments ?? DEFAULT_MAX_SEGMENTS,
      maxStateBytes: limits.maxStateBytes ?? DEFAULT_MAX_STATE_BYTES,
      maxImageBytes: limits.maxImageBytes ?? DEFAULT_MAX_IMAGE_BYTES,
      maxDepth: limits.maxDepth ?? DEFAULT_MAX_DEPTH,
      ...(limits.maxBigIntBytes === undefined ? {} : { maxBigIntBytes: limits.maxBigIntBytes }),
    };
    const name = `image ${source.id}`;
    if (source.size < HEADER_SIZE + TRAILER_SIZE) {
      const head = await source.read(0, Math.min(source.size, HEADER_SIZE));
      decodeHeader(head, source.id, formats.newest); // reports "not an image" vs "truncated" precisely
      throw new CkptError(ErrorCodes.CORRUPT, `${name} is truncated (${source.size} bytes)`, { where: 'trailer', image: source.id });
    }
    const header = decodeHeader(await source.read(0, HEADER_SIZE), source.id, formats.newest);
    const trailer = decodeTrailer(await source.read(source.size - TRAILER_SIZE, TRAILER_SIZE), source.size, source.id);
    if (trailer.indexLength > full.maxIndexBytes) {
      throw new CkptError(ErrorCodes.LIMIT, `${name}: index of ${trailer.indexLength} bytes is above this reader's limit of ${full.maxIndexBytes} (limits.maxIndexBytes); raise the limit if the image is trusted, or it is damaged`, { where: 'trailer', image: source.id });
    }
    let indexBytes = await source.read(trailer.indexOffset, trailer.indexLength);
    if (crc32(indexBytes) !== trailer.indexCrc) {
      throw new CkptError(ErrorCodes.CORRUPT, `${name}: index checksum mismatch; the image is damaged`, { where: 'index', image: source.id });
    }
    const encrypted = (header.requiredFlags & RequiredFlag.ENCRYPTED_SEGMENTS) !== 0;
    let segmentsEnd = trailer.indexOffset;
    let sealed: { seal: ImageSeal; block: CryptoBlock } | undefined;
    if (encrypted) {
      const { block, bytes } = await readCryptoBlock(source, trailer);
      segmentsEnd = trailer.cryptoOffset!;
      const keys = limits.keys;
      if (keys === undefined) {
        throw new CkptError(ErrorCodes.KEY, `${name} is encrypted with key id ${JSON.stringify(block.key.keyId)} (${block.key.kek}) and no key was given; configure encryption (CLI: --key-file, CKPT_KEY_FILE or CKPT_PASSPHRASE)`, { image: source.id });
      }
      const seal = await openImageSeal(keys, block, source.id);
      indexBytes = openIndex(seal, Buffer.concat([await source.read(0, HEADER_SIZE), bytes]), indexBytes, source.id);
      sealed = { seal, block };
    } else {
      if (trailer.cryptoOffset !== undefined) throw new CkptError(ErrorCodes.CORRUPT, `${name}: trailer bytes 20..27 are set in an image that is not encrypted; the image is damaged`, { where: 'trailer', image: source.id });
      if (limits.keys !== undefined && !limits.keys.allowPlaintext) {
        throw new CkptError(ErrorCodes.NOT_ENCRYPTED, `${name} is not encrypted, and encryption is configured; pass encryption.allowPlaintext: true to read plaintext images while migrating a store`, { image: source.id });
      }
    }
    let index: ImageIndex;
    try {
      // Bound what unpacking the index would build before building it.
      prepassIndex(indexBytes, full.maxSegments, name);
      index = formats.decodeIndex(header.formatVersion, indexBytes, segmentsEnd, full, name);
    } catch (err) {
      throw withImageId(err, name, source.id);
    }
    checkRequiredFlags(header, index, name, source.id);
    if (sealed !== undefined && index.manifest.uuid !== Buffer.from(sealed.block.uuid).toString('hex')) {
      throw new CkptError(ErrorCodes.CORRUPT, `${name}: the index's uuid is not the crypto block's; the image is damaged`, { where: 'index', image: source.id });
    }
    return new ImageReader(source, header, index, full, sealed);
  }

  /** The image id (as the store names it). */
  get id(): string {
    return this.#source.id;
  }

  /** The manifest. */
  get manifest(): Manifest {
    return this.index.manifest;
  }

  /**
   * Ids of the images this one refers to (its holders: format 3 incremental
   * images), in index order; empty for an image that stands alone.
   */
  get refs(): readonly string[] {
    return (this.index.refs ?? []).map((r) => r.imageId);
  }

  /** Whether reading this image needs other images (segments by reference or XOR deltas). */
  get incremental(): boolean {
    return (this.index.refs?.length ?? 0) > 0 || this.index.segments.some((s) => s.codec === SegmentCodec.XOR_ZSTD);
  }

  /** Providers in the image, in the order they were written. */
  get providers(): ProviderSummary[] {
    return this.index.providers.map((p) => {
      let stored = 0;
      let segments = 0;
      for (const r of [p.stream, ...p.blobs]) {
        segments += r.count;
        for (let s = r.first; s < r.first + r.count; s++) stored += this.index.segments[s]!.storedLength;
      }
      return {
        id: p.id,
        version: p.version,
        tree: p.tree,
        rawBytes: p.blobs.reduce((n, b) => n + b.rawLength, p.stream.rawLength),
        storedBytes: stored,
        segments,
        blobs: p.blobs.length,
      };
    });
  }

  /** The index entry of provider `id`, or undefined. */
  provider(id: string): ProviderEntry | undefined {
    return this.index.providers.find((p) => p.id === id);
  }

  #check(): void {
    if (this.#closed) throw new CkptError(ErrorCodes.CLOSED, `image ${this.id}: reader is closed`);
  }

  /**
   * The stored bytes of segment `n` (compressed or raw, as in the file),
   * checked against their CRC-32. Used to copy segments without recompressing.
   */
  async readStoredSegment(n: number): Promise<Uint8Array> {
    this.#check();
    const seg = this.index.segments[n];
    if (seg === undefined) throw new CkptError(ErrorCodes.NOT_FOUND, `image ${this.id} has no segment ${n}`, { image: this.id });
    return this.#readStored(n, seg);
  }

  async #readStored(n: number, seg: SegmentEntry): Promise<Uint8Array> {
    if (seg.ref !== undefined) await this.#checkedRef(n, seg);
    const stored = await this.#sourceFor(seg).read(seg.offset, seg.storedLength);
    this.#checkCrc(n, seg, stored);
    return stored;
  }

  /**
   * The raw bytes of segment `n`, checked, in a fresh buffer: read from this
   * image, from the holder it refers to, or decoded from an XOR delta and
   * its base chain. Fails with `CKPT_ERR_CORRUPT` (naming the image whose
   * bytes are damaged), `CKPT_ERR_MISSING_REFERENCE` (a holder missing,
   * replaced, or out of reach of how this image was opened) or
   * `CKPT_ERR_LIMIT`.
   */
  async readRawSegment(n: number): Promise<Uint8Array> {
    this.#check();
    if (this.index.segments[n] === undefined) throw new CkptError(ErrorCodes.NOT_FOUND, `image ${this.id} has no segment ${n}`, { image: this.id });
    try {
      return await this.#rawSegment(n, 0, undefined);
    } catch (err) {
      throw readError(err, this.id, undefined);
    }
  }

  /** Segment `n`'s raw bytes; `depth`: XOR deltas followed so far; `from`: who asked (a referring image's segment), for messages. */
  async #rawSegment(n: number, depth: number, from: string | undefined): Promise<Uint8Array> {
    this.#check();
    const seg = this.index.segments[n];
    if (seg === undefined) {
      throw new CkptError(ErrorCodes.CORRUPT, `${from ?? `image ${this.id}`} refers to segment ${n} of image ${this.id}, which has no such segment; the referring image is damaged`, { image: this.id, where: `segment ${n}` });
    }
    const dst = new Uint8Array(seg.rawLength);
    await this.#readAnyInto(n, seg, dst, { bytes: undefined }, depth);
    return dst;
  }

  /**
   * Read, check and decode segment `n` into `dst`, whatever it is: held
   * here, held by another image (one hop: references are flattened), or an
   * XOR delta (its base chain at most {@link MAX_XOR_CHAIN} deep).
   */
  async #readAnyInto(n: number, seg: SegmentEntry, dst: Uint8Array, scratch: Scratch, depth = 0): Promise<void> {
    if (seg.ref !== undefined) {
      const holder = await this.#checkedRef(n, seg);
      // The holder's own row decides (an XOR delta there resolves through its refs).
      if (seg.codec === SegmentCodec.XOR_ZSTD) {
        await holder.#readXorInto(seg.ref.segment, holder.index.segments[seg.ref.segment]!, dst, depth);
        return;
      }
    } else if (seg.codec === SegmentCodec.XOR_ZSTD) {
      await this.#readXorInto(n, seg, dst, depth);
      return;
    }
    await this.#readSegmentInto(n, seg, dst, scratch);
  }

  /**
   * An XOR delta: walk its base chain down to a segment that is not a delta
   * (following references, at most {@link MAX_XOR_CHAIN} deltas), decode
   * that one into `dst`, then XOR each delta of the chain into it — one
   * reused buffer for the deltas, nothing allocated per level.
   */
  #readXorInto(n: number, seg: SegmentEntry, dst: Uint8Array, depth: number): Promise<void> {
    return ImageReader.#readXorChain(this, n, seg, dst, depth);
  }

  /**
   * The levels of the XOR chain of segment `n` of `start` (row `seg`):
   * following references to the image holding each level, down to a
   * segment that is not a delta (the base), at most {@link MAX_XOR_CHAIN}
   * deltas (`depth` followed already). Fails with `CKPT_ERR_CORRUPT` for a
   * longer chain or a base of another length, `CKPT_ERR_MISSING_REFERENCE`
   * for a holder out of reach.
   */
  static async #chainOf(start: ImageReader, n: number, seg: SegmentEntry, depth: number): Promise<{ base: ChainStep; deltas: ChainStep[] }> {
    const deltas: ChainStep[] = [];
    let r = start;
    let cn = n;
    let cs = seg;
    let d = depth;
    for (;;) {
      if (cs.ref !== undefined) {
        const holder = await r.#checkedRef(cn, cs);
        cn = cs.ref.segment;
        cs = holder.index.segments[cn]!;
        r = holder;
        continue;
      }
      if (cs.codec !== SegmentCodec.XOR_ZSTD) break;
      if (d >= MAX_XOR_CHAIN) {
        throw new CkptError(ErrorCodes.CORRUPT, `image ${start.id}: segment ${n} is an XOR delta whose base chain is deeper than ${MAX_XOR_CHAIN}; the image is damaged`, { image: start.id, where: `segment ${n}` });
      }
      deltas.push({ r, n: cn, seg: cs });
      const base = cs.base!;
      const holder = await r.#holderAt(base.image, cn);
      const bs = holder.index.segments[base.segment];
      if (bs === undefined || bs.rawLength !== cs.rawLength) {
        throw new CkptError(
          ErrorCodes.CORRUPT,
          `image ${r.id}: segment ${cn} is an XOR delta of ${cs.rawLength} bytes over segment ${base.segment} of image ${holder.id}, which ${bs === undefined ? 'does not exist' : `holds ${bs.rawLength} bytes`}; the image is damaged`,
          { image: r.id, where: `segment ${cn}` },
        );
      }
      r = holder;
      cn = base.segment;
      cs = bs;
      d++;
    }
    return { base: { r, n: cn, seg: cs }, deltas };
  }

  /** {@link ImageReader.#readXorInto} of segment `n` of `start`, on this thread. */
  static async #readXorChain(start: ImageReader, n: number, seg: SegmentEntry, dst: Uint8Array, depth: number): Promise<void> {
    const { base, deltas } = await ImageReader.#chainOf(start, n, seg, depth);
    await base.r.#readSegmentInto(base.n, base.seg, dst, { bytes: undefined });
    // Checksums cover stored bytes only: a base row naming other (intact) bytes, or a delta over the
    // wrong base, decodes without error to wrong bytes. Each level is compared with the hash its row records.
    base.r.#checkDecodedHash(base.n, base.seg, dst, 'base of an XOR delta');
    const delta = new Uint8Array(seg.rawLength);
    const plain: Scratch = { bytes: undefined };
    for (let i = deltas.length - 1; i >= 0; i--) {
      const x = deltas[i]!;
      const stored = await x.r.#source.read(x.seg.offset, x.seg.storedLength);
      // A delta in an encrypted image (format 5) is sealed under its holder's key, bound to its index there.
      const seal = x.r.#sealOf(x.n, x.seg, () => plainOf(plain, x.seg.storedLength));
      const failed = x.r.#pipeline.decodeXor(stored, x.seg.crc, dst, delta, x.r.#limits.maxSegmentBytes, seal);
      if (failed !== undefined) throw x.r.#segmentError(x.n, x.seg, failed);
      x.r.#checkDecodedHash(x.n, x.seg, dst, 'XOR delta');
    }
  }

  /**
   * Segment `n` (an XOR delta, or a reference to one) decoded on a pool
   * thread: its chain is resolved here, the stored bytes of every level
   * read, and one thread decodes the base, applies each delta and compares
   * the result's hash (level by level only to name a wrong level) — into the
   * run buffer (or `shared`, shared memory).
   * Several chains run at once on the pool's threads.
   */
  async #fillChain(pool: ZstdPool, run: RunBuffer | undefined, offset: number, shared: Uint8Array, n: number, seg: SegmentEntry): Promise<void> {
    const { base, deltas } = await ImageReader.#chainOf(this, n, seg, 0);
    const steps = [base, ...deltas.reverse()];
    // Memory of its own: a message copies the whole buffer under a view (a small Buffer shares Node's pool).
    const stored = new Uint8Array(steps.reduce((t, x) => t + x.seg.storedLength, 0));
    let at = 0;
    for (const x of steps) {
      stored.set(await x.r.#source.read(x.seg.offset, x.seg.storedLength), at);
      at += x.seg.storedLength;
    }
    const levels = steps.map((x) => ({ length: x.seg.storedLength, crc: x.seg.crc, codec: x.seg.codec, hash: x.seg.hash, open: x.r.#openOf(x.n, x.seg) }));
    const failed = await pool.fillChain(run, offset, shared, seg.rawLength, stored, levels, this.#limits.maxSegmentBytes);
    if (failed === undefined) return;
    const x = steps[failed.level]!;
    if (failed.fail !== undefined) throw x.r.#segmentError(x.n, x.seg, failed.fail);
    throw x.r.#hashError(x.n, failed.level === 0 ? 'base of an XOR delta' : 'XOR delta');
  }

  /** Decoded segment `n` of this image (`what`, for the message) against the xxh3-64 its row records, when it records one. */
  #checkDecodedHash(n: number, seg: SegmentEntry, raw: Uint8Array, what: string): void {
    if (seg.hash === undefined || segmentHash(raw) === seg.hash) return;
    throw this.#hashError(n, what);
  }

  /** The error for segment `n` of this image decoding to bytes its recorded hash refuses. */
  #hashError(n: number, what: string): CkptError {
    return new CkptError(
      ErrorCodes.CORRUPT,
      `image ${this.id}: segment ${n} (${what}) decodes to bytes that do not match the hash recorded for it; the image is damaged (its checksums hold, so its index or the base it names is wrong)`,
      { image: this.id, where: `segment ${n}` },
    );
  }

  /**
   * The reader of holder `i` (position in `index.refs`), opened once through
   * the attached resolver. Fails with `CKPT_ERR_MISSING_REFERENCE` when
   * there is none (this image was opened on its own).
   */
  async #holderAt(i: number, n: number | string): Promise<ImageReader> {
    const what = typeof n === 'number' ? `segment ${n}` : n;
    const open = this.#holderReaders.get(i);
    if (open !== undefined) return open;
    const ref = this.index.refs?.[i];
    if (ref === undefined) throw new CkptError(ErrorCodes.INTERNAL, `image ${this.id}: ${what} names holder ${i}, which the checked index does not list`, { image: this.id });
    if (this.#holders === undefined) {
      throw new CkptError(
        ErrorCodes.MISSING_REFERENCE,
        `image ${this.id}: ${what} is held by image ${ref.imageId}, which cannot be reached because image ${this.id} was opened on its own; open it through its store (a Checkpointer, openStoreImage, or the ckpt CLI with the image's store directory next to it), or materialize it with 'ckpt convert --to 2'`,
        { image: ref.imageId, where: what },
      );
    }
    const holder = await this.#holders.holder(ref, this.id);
    this.#holderReaders.set(i, holder);
    return holder;
  }

  /**
   * The holder of by-reference segment `n`, with its row checked: the
   * referring row repeats the holder's offset, lengths, CRC and codec, and
   * the holder holds the bytes itself (references are flattened).
   */
  async #checkedRef(n: number, seg: SegmentEntry): Promise<ImageReader> {
    const ref = seg.ref!;
    const holder = await this.#holderAt(ref.image, n);
    const hs = holder.index.segments[ref.segment];
    const same =
      hs !== undefined &&
      hs.ref === undefined &&
      hs.offset === seg.offset &&
      hs.storedLength === seg.storedLength &&
      hs.rawLength === seg.rawLength &&
      hs.crc === seg.crc &&
      hs.codec === seg.codec &&
      hs.flags === (seg.flags & ~SegmentFlag.BY_REFERENCE);
    if (!same) {
      throw new CkptError(
        ErrorCodes.CORRUPT,
        `image ${this.id}: segment ${n} refers to segment ${ref.segment} of image ${holder.id}, which ${hs === undefined ? 'does not exist' : hs.ref !== undefined ? 'is itself a reference (references must point at the image holding the bytes)' : 'does not match it (offset, lengths, checksum, codec or encryption differ)'}; the image is damaged`,
        { image: this.id, where: `index.segments[${n}]` },
      );
    }
    return holder;
  }

  /** Where segment `seg`'s stored bytes are: this image, or (by reference) its holder, which must be open already. */
  #sourceFor(seg: SegmentEntry): ImageSource {
    return seg.ref === undefined ? this.#source : this.#openHolder(seg.ref.image).#source;
  }

  /** Open and check the holders of every by-reference segment of `runs` before they are read. */
  async #prepareRuns(runs: readonly SegmentRun[]): Promise<void> {
    if (this.index.refs === undefined || this.index.refs.length === 0) return;
    for (const r of runs) {
      for (let s = r.first; s < r.first + r.count; s++) {
        const seg = this.index.segments[s]!;
        if (seg.ref !== undefined) await this.#checkedRef(s, seg);
      }
    }
  }

  /**
   * The image whose file holds segment `n`'s stored bytes and the index they
   * have there: this image, or (by reference) its holder, which must be
   * open already. Encrypted bytes are sealed under that image's key and
   * bound to that index.
   */
  #owner(n: number, seg: SegmentEntry): { readonly reader: ImageReader; readonly index: number } {
    return seg.ref === undefined ? { reader: this, index: n } : { reader: this.#openHolder(seg.ref.image), index: seg.ref.segment };
  }

  /** Holder `i` (position in `index.refs`), which must be open already. */
  #openHolder(i: number): ImageReader {
    const holder = this.#holderReaders.get(i);
    if (holder === undefined) throw new CkptError(ErrorCodes.INTERNAL, `image ${this.id}: holder ${i} read before it was opened`, { image: this.id });
    return holder;
  }

  /** How segment `n` is opened on this thread (its owner's key and index; plaintext into `memory`): undefined unless the image is encrypted. */
  #sealOf(n: number, seg: SegmentEntry, memory: () => Uint8Array): SegmentSeal | undefined {
    const o = this.#owner(n, seg);
    const s = o.reader.#seal;
    return s === undefined ? undefined : { key: s.keys.segments, uuid: s.uuid, index: o.index, memory: memory() };
  }

  /** Encrypted images: authenticate segment `n`'s stored bytes (decrypting into the scratch's plaintext memory, then forgotten): CKPT_ERR_CORRUPT when the tag fails. */
  #authenticate(n: number, seg: SegmentEntry, stored: Uint8Array, scratch: Scratch): void {
    const seal = this.#sealOf(n, seg, () => plainOf(scratch, seg.storedLength));
    if (seal !== undefined && openSegment(stored, seg.codec, seg.rawLength, seal) < 0) throw this.#segmentError(n, seg, { kind: 'auth' });
  }

  /** Segment `n`'s stored bytes against its checksum: CKPT_ERR_CORRUPT when they differ. */
  #checkCrc(n: number, seg: SegmentEntry, stored: Uint8Array): void {
    const failed = this.#pipeline.check(stored, seg.crc);
    if (failed !== undefined) throw this.#segmentError(n, seg, failed);
  }

  /** The error for segment `n`'s failed check (`where` is the segment, `image` this image). */
  #segmentError(n: number, seg: SegmentEntry, failed: FrameFailure): CkptError {
    if (seg.ref !== undefined) {
      // The bytes are the holder's: name it (and its segment) as the damaged image.
      const holder = this.index.refs?.[seg.ref.image]?.imageId ?? '?';
      const where = `segment ${seg.ref.segment}`;
      const err = frameError(failed, `image ${holder}: ${where} (held for image ${this.id} segment ${n})`, seg.rawLength);
      return new CkptError(err.code, err.message, { where, image: holder, ...(err.cause === undefined ? {} : { cause: err.cause }) });
    }
    const where = `segment ${n}`;
    const err = frameError(failed, `image ${this.id}: ${where}`, seg.rawLength);
    return new CkptError(err.code, err.message, { where, image: this.id, ...(err.cause === undefined ? {} : { cause: err.cause }) });
  }

  /**
   * A segment's stored bytes: read into `into` when the source can
   * (`readInto`), else into a fresh buffer. Not checked.
   */
  async #storedBytes(seg: SegmentEntry, into: Uint8Array): Promise<Uint8Array> {
    const source = this.#sourceFor(seg);
    if (source.readInto === undefined) return source.read(seg.offset, seg.storedLength);
    const view = into.subarray(0, seg.storedLength);
    await source.readInto(seg.offset, view);
    return view;
  }

  /**
   * Read, check and decompress segment `n` into `dst`, stored bytes through
   * `scratch` (memory reused from one segment to the next within one call —
   * never shared between calls, which may run concurrently on one reader).
   */
  async #readSegmentInto(n: number, seg: SegmentEntry, dst: Uint8Array, scratch: Scratch): Promise<void> {
    // A raw segment is read straight into place where the source can
    // (readInto; its stored and raw lengths are equal), a compressed one
    // through the scratch; either is checked before it is used.
    const raw = seg.codec === SegmentCodec.RAW && (seg.flags & SegmentFlag.ENCRYPTED) === 0;
    const stored = await this.#storedBytes(seg, raw ? dst : scratchOf(scratch, seg.storedLength));
    const seal = this.#sealOf(n, seg, () => plainOf(scratch, seg.storedLength));
    const failed = this.#pipeline.decode(stored, seg.codec, seg.crc, dst, this.#limits.maxSegmentBytes, seal);
    if (failed !== undefined) throw this.#segmentError(n, seg, failed);
  }

  /**
   * Read runs into fresh ArrayBuffers (one per run: typed arrays are built
   * over them without a copy). Small runs, or without a pool: one segment
   * after another on this thread, decompressed straight into the run. With a
   * pool, each large run is assembled in a buffer a pool thread allocates
   * (its owner) and hands over at the end; stored segments are read ahead
   * and the threads check and decompress them — this thread only reads and
   * copies stored bytes into shared slots. In flight at most the pool's slots.
   */
  async #readRuns(runs: readonly SegmentRun[], transient?: { first: Uint8Array }): Promise<Uint8Array[]> {
    const pool = this.#pool;
    const outs: Uint8Array[] = new Array<Uint8Array>(runs.length);
    await this.#prepareRuns(runs);
    const pooled = pool === undefined ? [] : runs.map((r, i) => (r.rawLength >= pool.minBytes ? i : -1)).filter((i) => i !== -1);
    if (pool !== undefined && pooled.length > 0) await this.#readPooled(pool, runs, pooled, outs, transient);
    const scratch: Scratch = { bytes: undefined };
    for (let i = 0; i < runs.length; i++) {
      if (outs[i] !== undefined) continue;
      const run = runs[i]!;
      const out = new Uint8Array(new ArrayBuffer(run.rawLength));
      let pos = 0;
      for (let s = run.first; s < run.first + run.count; s++) {
        const seg = this.index.segments[s]!;
        await this.#readAnyInto(s, seg, out.subarray(pos, pos + seg.rawLength), scratch);
        pos += seg.rawLength;
      }
      outs[i] = out;
    }
    return outs;
  }

  async #readPooled(pool: ZstdPool, runs: readonly SegmentRun[], which: readonly number[], outs: Uint8Array[], transient?: { first: Uint8Array }): Promise<void> {
    const buffers = new Map<number, RunBuffer>();
    // Run 0 into `transient.first` (shared memory): threads decompress straight into it.
    const intoShared = transient !== undefined && which[0] === 0 ? transient.first.subarray(0, runs[0]!.rawLength) : undefined;
    const tasks: Promise<void>[] = [];
    let failure: { n: number; err: unknown } | undefined;
    const fail = (n: number, err: unknown): void => {
      if (failure === undefined || n < failure.n) failure = { n, err };
    };
    try {
      for (const i of which) if (i !== 0 || intoShared === undefined) buffers.set(i, await pool.openRun(runs[i]!.rawLength));
      // Segments of all runs interleaved, the next one always from a run
      // whose owner thread has the least work queued: every thread fills —
      // and takes the page faults of — its own runs at the same time, even
      // when the runs differ in size.
      const cursors = which.map((i) => ({ i, s: runs[i]!.first, end: runs[i]!.first + runs[i]!.count, pos: 0 }));
      let turn = 0;
      // Slots are taken before the segment is chosen (so the loads are current): sized for any of them.
      let maxStored = 0;
      let maxRaw = 0;
      for (const i of which) {
        for (let s = runs[i]!.first; s < runs[i]!.first + runs[i]!.count; s++) {
          maxStored = Math.max(maxStored, this.index.segments[s]!.storedLength);
          maxRaw = Math.max(maxRaw, this.index.segments[s]!.rawLength);
        }
      }
      while (failure === undefined) {
        // Backpressure: one slot per segment in flight.
        const slot = await pool.acquire(maxStored, maxRaw);
        let c: (typeof cursors)[number] | undefined;
        let best = Infinity;
        for (let k = 0; k < cursors.length; k++) {
          const cand = cursors[(turn + k) % cursors.length]!;
          if (cand.s >= cand.end) continue;
          const buffer = buffers.get(cand.i);
          const load = buffer === undefined ? 0 : pool.ownerLoad(buffer);
          if (load < best) {
            best = load;
            c = cand;
          }
        }
        if (c === undefined || failure !== undefined) {
          slot.release();
          break;
        }
        turn++;
        const s = c.s++;
        const seg = this.index.segments[s]!;
        const offset = c.pos;
        c.pos += seg.rawLength;
        const buffer = buffers.get(c.i);
        // An XOR delta (its row, or the holder's row it repeats): its whole chain on one thread.
        const job =
          seg.codec === SegmentCodec.XOR_ZSTD
            ? this.#fillChain(pool, buffer, offset, buffer === undefined ? intoShared!.subarray(offset, offset + seg.rawLength) : slot.output, s, seg)
            : buffer === undefined
              ? this.#fillShared(pool, intoShared!.subarray(offset, offset + seg.rawLength), s, seg, slot.input)
              : this.#fillSegment(pool, buffer, offset, s, seg, slot.input, slot.output);
        tasks.push(job.catch((err: unknown) => fail(s, err)).finally(() => slot.release()));
      }
      await Promise.all(tasks);
      if (failure !== undefined) throw failure.err;
      if (intoShared !== undefined) outs[0] = intoShared;
      for (const i of which) {
        const buffer = buffers.get(i);
        if (buffer === undefined) continue;
        buffers.delete(i);
        outs[i] = new Uint8Array(await pool.takeRun(buffer));
      }
    } finally {
      await Promise.all(tasks);
      for (const b of buffers.values()) pool.dropRun(b);
    }
  }

  /** How a pool thread opens segment `n` of this image (its owner's key and index): undefined unless the image is encrypted. */
  #openOf(n: number, seg: SegmentEntry): SegmentOpen | undefined {
    const { reader, index } = this.#owner(n, seg);
    const s = reader.#seal;
    if (s === undefined) return undefined;
    reader.#openKeys ??= ownKeys(s.keys.segments, s.uuid);
    return { ...reader.#openKeys, index };
  }

  async #fillShared(pool: ZstdPool, dst: Uint8Array, n: number, seg: SegmentEntry, input: Uint8Array): Promise<void> {
    let failed: FrameFailure | undefined;
    const open = this.#openOf(n, seg);
    if (open === undefined && seg.codec === SegmentCodec.RAW) {
      // Read into place when the source can; checked there.
      const stored = seg.storedLength === dst.length ? await this.#storedBytes(seg, dst) : await this.#sourceFor(seg).read(seg.offset, seg.storedLength);
      failed = this.#pipeline.decode(stored, seg.codec, seg.crc, dst, this.#limits.maxSegmentBytes);
    } else {
      // A zstd frame, or an encrypted segment (raw or zstd): a thread checks, opens and decompresses it into place.
      const stored = await this.#storedBytes(seg, input);
      if (stored.buffer !== input.buffer) input.set(stored);
      failed = await pool.decompress(input.subarray(0, seg.storedLength), dst, seg.crc, this.#limits.maxSegmentBytes, open, seg.codec);
    }
    if (failed !== undefined) throw this.#segmentError(n, seg, failed);
  }

  async #fillSegment(pool: ZstdPool, run: RunBuffer, offset: number, n: number, seg: SegmentEntry, input: Uint8Array, scratch: Uint8Array): Promise<void> {
    const stored = await this.#storedBytes(seg, input);
    if (stored.buffer !== input.buffer) input.set(stored);
    const failed = await pool.fillRun(run, offset, input.subarray(0, seg.storedLength), seg.crc, seg.codec, seg.rawLength, scratch, this.#limits.maxSegmentBytes, this.#openOf(n, seg));
    if (failed !== undefined) throw this.#segmentError(n, seg, failed);
  }

  /** Read and check one provider's raw bytes without decoding them. */
  async readRaw(id: string): Promise<RawProviderData> {
    const p = this.#checkedProvider(id);
    try {
      const [stream, ...blobs] = await this.#readRuns([p.stream, ...p.blobs]);
      return { stream: stream!, blobs };
    } catch (err) {
      throw readError(err, this.id, id);
    }
  }

  /**
   * Check, without decompressing or decoding anything, that the providers
   * `ids` fit this reader's limits and that every segment of the image
   * matches its checksum: stored bytes stream through one reused buffer.
   * Fails like {@link readProvider} would for those causes (`CKPT_ERR_LIMIT`,
   * `CKPT_ERR_CORRUPT`), so a caller can refuse a damaged image before it
   * decodes any state. Resolves with the number of segments checked.
   *
   * `readFirst`: providers the caller reads in full (checksums included)
   * before it acts on anything; their segments are not checked here, so
   * they are not read twice (an image of one provider needs no pass).
   */
  async checkSegments(ids: readonly string[], readFirst: readonly string[] = []): Promise<number> {
    for (const id of ids) this.#checkedProvider(id);
    const skip = new Set<number>();
    for (const id of readFirst) {
      const p = this.#checkedProvider(id);
      for (const r of [p.stream, ...p.blobs]) for (let s = r.first; s < r.first + r.count; s++) skip.add(s);
    }
    const scratch: Scratch = { bytes: undefined };
    let checked = 0;
    try {
      const pool = this.#pool;
      if (pool !== undefined && this.#seal !== undefined) {
        // Encrypted: the threads authenticate the segments, several at once — deltas excepted, decoded
        // whole with their base chains here (a delta is only as good as its chain).
        const which: number[] = [];
        for (let s = 0; s < this.index.segments.length; s++) {
          if (skip.has(s)) continue;
          const seg = this.index.segments[s]!;
          if (seg.codec === SegmentCodec.XOR_ZSTD) await this.#rawSegment(s, 0, undefined);
          else {
            if (seg.ref !== undefined) await this.#checkedRef(s, seg);
            which.push(s);
          }
          checked++;
        }
        await this.#verifyPooled(pool, which);
        return checked;
      }
      for (let s = 0; s < this.index.segments.length; s++) {
        if (skip.has(s)) continue;
        checked++;
        const seg = this.index.segments[s]!;
        if (seg.codec === SegmentCodec.XOR_ZSTD) {
          // A delta is only as good as its base chain: decode it whole.
          await this.#rawSegment(s, 0, undefined);
          continue;
        }
        if (seg.ref !== undefined) await this.#checkedRef(s, seg);
        const stored = await this.#storedBytes(seg, scratchOf(scratch, seg.storedLength));
        this.#checkCrc(s, seg, stored);
        this.#authenticate(s, seg, stored, scratch);
      }
    } catch (err) {
      throw readError(err, this.id, undefined);
    }
    return checked;
  }

  /**
   * Check segments `which` on the pool's threads (checksum, and
   * authentication in an encrypted image): stored bytes are read in order
   * into the pool's slots (at most its slots in flight). Throws the failure
   * of the lowest segment that failed.
   */
  async #verifyPooled(pool: ZstdPool, which: readonly number[]): Promise<void> {
    let maxStored = 0;
    for (const s of which) maxStored = Math.max(maxStored, this.index.segments[s]!.storedLength);
    const tasks: Promise<void>[] = [];
    let failure: { n: number; err: unknown } | undefined;
    const fail = (n: number, err: unknown): void => {
      if (failure === undefined || n < failure.n) failure = { n, err };
    };
    try {
      for (const s of which) {
        if (failure !== undefined) break;
        const slot = await pool.acquire(maxStored, 0);
        const seg = this.index.segments[s]!;
        const job = (async () => {
          const stored = await this.#storedBytes(seg, slot.input);
          if (stored.buffer !== slot.input.buffer) slot.input.set(stored);
          const failed = await pool.verify(slot.input.subarray(0, seg.storedLength), seg.crc, seg.codec, seg.rawLength, this.#openOf(s, seg));
          if (failed !== undefined) throw this.#segmentError(s, seg, failed);
        })();
        tasks.push(job.catch((err: unknown) => fail(s, err)).finally(() => slot.release()));
      }
    } finally {
      await Promise.all(tasks);
    }
    if (failure !== undefined) throw failure.err;
  }

  /** The index entry of provider `id`, checked against the state-size limit. */
  #checkedProvider(id: string): ProviderEntry {
    this.#check();
    const p = this.provider(id);
    if (p === undefined) throw new CkptError(ErrorCodes.NOT_FOUND, `image ${this.id} has no provider ${JSON.stringify(id)}; it holds: ${this.index.providers.map((x) => x.id).join(', ') || 'nothing'}`, { image: this.id, provider: id });
    const total = p.blobs.reduce((n, b) => n + b.rawLength, p.stream.rawLength);
    if (total > this.#limits.maxStateBytes) {
      throw new CkptError(
        ErrorCodes.LIMIT,
        `image ${this.id}: provider ${JSON.stringify(id)} holds ${total} bytes of state, above the limit of ${this.#limits.maxStateBytes} (limits.maxStateBytes); raise it if this size is expected`,
        { image: this.id, provider: id, where: `provider ${JSON.stringify(id)}` },
      );
    }
    // Every run becomes one buffer: it must fit the largest one this process can allocate.
    for (const r of [p.stream, ...p.blobs]) {
      if (r.rawLength > MAX_BUFFER_BYTES) {
        throw new CkptError(
          ErrorCodes.LIMIT,
          `image ${this.id}: provider ${JSON.stringify(id)} holds a run of ${r.rawLength} bytes, above the largest buffer this process can allocate (${MAX_BUFFER_BYTES} bytes); the image is damaged or was written for another runtime`,
          { image: this.id, provider: id, where: `provider ${JSON.stringify(id)}` },
        );
      }
    }
    const image = this.index.providers.reduce((n, q) => q.blobs.reduce((m, b) => m + b.rawLength, n + q.stream.rawLength), 0);
    if (image > this.#limits.maxImageBytes) {
      throw new CkptError(
        ErrorCodes.LIMIT,
        `image ${this.id}: its providers hold ${image} bytes of state together, above the limit of ${this.#limits.maxImageBytes} (limits.maxImageBytes); raise it if this size is expected`,
        { image: this.id, provider: id, where: 'index.providers' },
      );
    }
    return p;
  }

  /** Read, check and decode one provider's state. */
  async readProvider(id: string, options: ReadProviderOptions = {}): Promise<unknown> {
    const p = this.#checkedProvider(id);
    // With a pool, a large value stream is decompressed into the pool's
    // reused scratch memory: it only lives while it is decoded.
    const pool = this.#pool;
    const scratch = pool !== undefined && p.stream.rawLength >= pool.minBytes ? pool.takeScratch(p.stream.rawLength) : undefined;
    try {
      const [stream, ...blobs] = await this.#readRuns([p.stream, ...p.blobs], scratch === undefined ? undefined : { first: scratch.memory });
      return this.#decode(id, p, { stream: stream!, blobs }, options);
    } catch (err) {
      throw readError(err, this.id, id);
    } finally {
      scratch?.release();
    }
  }

  #decode(id: string, p: ProviderEntry, raw: RawProviderData, options: ReadProviderOptions): unknown {
    try {
      return decodeState(raw.stream, {
        tree: p.tree,
        classes: options.classes ?? placeholderClassLookup(),
        blobs: raw.blobs,
        blobKinds: p.blobs.map((b) => b.kind),
        maxDepth: this.#limits.maxDepth,
        ...(this.#limits.maxBigIntBytes === undefined ? {} : { maxBigIntBytes: this.#limits.maxBigIntBytes }),
      });
    } catch (err) {
      if (isCkptError(err)) {
        throw new CkptError(err.code, `image ${this.id}, provider ${JSON.stringify(id)}: ${err.message}`, { image: this.id, provider: id, where: err.where ?? `provider ${JSON.stringify(id)}`, cause: err });
      }
      throw new CkptError(ErrorCodes.CORRUPT, `image ${this.id}, provider ${JSON.stringify(id)}: state could not be decoded (${String(err)})`, { image: this.id, provider: id, cause: err });
    }
  }

  /**
   * Check every segment checksum and decode every provider, collecting all
   * problems. Never throws for a damaged image (only for a closed reader).
   */
  async verify(options: VerifyOptions = {}): Promise<VerifyReport> {
    this.#check();
    const problems: VerifyProblem[] = [];
    let segmentsChecked = 0;
    let providersDecoded = 0;
    const scratch: Scratch = { bytes: undefined };
    // Every holder named: it exists and is the image referred to (uuid); its segments are checked below.
    const refs = this.index.refs ?? [];
    for (let i = 0; i < refs.length; i++) {
      try {
        await this.#holderAt(i, `refs[${i}]`);
      } catch (err) {
        problems.push(toProblem(err, `refs[${i}]`));
      }
    }
    for (const p of this.index.providers) {
      // Within the state-size limit, segments are read straight into the
      // provider's runs and decoded from there (each segment read once);
      // above it, each is still checked on its own, and the limit reported.
      let limitError: unknown;
      try {
        this.#checkedProvider(p.id);
      } catch (err) {
        limitError = err;
      }
      let ok = true;
      const outs: Uint8Array[] = [];
      for (const run of [p.stream, ...p.blobs]) {
        let out: Uint8Array | undefined;
        if (limitError === undefined) {
          try {
            out = new Uint8Array(new ArrayBuffer(run.rawLength));
          } catch (err) {
            limitError = readError(err, this.id, p.id);
          }
        }
        let pos = 0;
        for (let s = run.first; s < run.first + run.count; s++) {
          const seg = this.index.segments[s]!;
          try {
            // Over a limit, only the checksum is checked: nothing is decompressed.
            if (out === undefined) {
              if (seg.ref !== undefined) await this.#checkedRef(s, seg);
              this.#checkCrc(s, seg, await this.#storedBytes(seg, scratchOf(scratch, seg.storedLength)));
            } else await this.#readAnyInto(s, seg, out.subarray(pos, pos + seg.rawLength), scratch);
          } catch (err) {
            ok = false;
            const problem = toProblem(err, `segment ${s}`);
            // A missing holder fails every segment it holds: reported once.
            if (!problems.some((q) => q.code === problem.code && q.message === problem.message)) problems.push(problem);
          }
          pos += seg.rawLength;
          segmentsChecked++;
        }
        if (out !== undefined) outs.push(out);
      }
      if (!ok) continue;
      if (limitError !== undefined) {
        problems.push(toProblem(limitError, `provider ${JSON.stringify(p.id)}`));
        continue;
      }
      let state: unknown;
      try {
        state = this.#decode(p.id, p, { stream: outs[0]!, blobs: outs.slice(1) }, options);
        providersDecoded++;
      } catch (err) {
        problems.push(toProblem(err, `provider ${JSON.stringify(p.id)}`));
        continue;
      }
      try {
        options.decoded?.(p.id, state);
      } catch (err) {
        problems.push(toProblem(err, `provider ${JSON.stringify(p.id)}`));
      }
    }
    return { ok: problems.length === 0, problems, segmentsChecked, providersDecoded };
  }

  /** Close the underlying source. Idempotent. */
  async close(): Promise<void> {
    if (this.#closed) return;
    this.#closed = true;
    try {
      await this.#source.close();
    } finally {
      if (this.#ownsHolders) await this.#holders?.close();
    }
  }
}

/** The crypto block of an encrypted image (between the segments and the index; the trailer has its offset). */
async function readCryptoBlock(source: ImageSource, trailer: ImageTrailer): Promise<{ block: CryptoBlock; bytes: Uint8Array }> {
  const at = trailer.cryptoOffset;
  if (at === undefined || at < HEADER_SIZE || at >= trailer.indexOffset || trailer.indexOffset - at > MAX_CRYPTO_BLOCK + 8) {
    throw new CkptError(ErrorCodes.CORRUPT, `image ${source.id}: encrypted image without a crypto block where the trailer says; the image is damaged`, { where: 'trailer', image: source.id });
  }
  const bytes = await source.read(at, trailer.indexOffset - at);
  return { block: decodeCryptoBlock(bytes, source.id), bytes };
}

/**
 * Read only what an encrypted image shows without its key: header, trailer
 * and crypto block (key id, public manifest), each checked against its CRC.
 * Fails with `CKPT_ERR_CORRUPT` like {@link ImageReader.open}, and with
 * `CKPT_ERR_NOT_ENCRYPTED` for a plaintext image.
 */
export async function readPublicInfo(source: ImageSource): Promise<{ header: ImageHeader; block: CryptoBlock; indexChecked: true }> {
  if (source.size < HEADER_SIZE + TRAILER_SIZE) throw new CkptError(ErrorCodes.CORRUPT, `image ${source.id} is truncated (${source.size} bytes)`, { where: 'trailer', image: source.id });
  const header = decodeHeader(await source.read(0, HEADER_SIZE), source.id);
  if ((header.requiredFlags & RequiredFlag.ENCRYPTED_SEGMENTS) === 0) throw new CkptError(ErrorCodes.NOT_ENCRYPTED, `image ${source.id} is not encrypted`, { image: source.id });
  const trailer = decodeTrailer(await source.read(source.size - TRAILER_SIZE, TRAILER_SIZE), source.size, source.id);
  const indexBytes = await source.read(trailer.indexOffset, trailer.indexLength);
  if (crc32(indexBytes) !== trailer.indexCrc) throw new CkptError(ErrorCodes.CORRUPT, `image ${source.id}: index checksum mismatch; the image is damaged`, { where: 'index', image: source.id });
  const { block } = await readCryptoBlock(source, trailer);
  return { header, block, indexChecked: true };
}

/**
 * The header's required flag `SEGMENTS_BY_REFERENCE` must be set exactly
 * when the index needs other images (it lists holders or has XOR segments),
 * and segment flags other than `BY_REFERENCE` are reserved: a mismatch is
 * damage (`CKPT_ERR_CORRUPT`).
 */
function checkRequiredFlags(header: ImageHeader, index: ImageIndex, name: string, image: string): void {
  // Encrypted images: every segment is encrypted; other images: none.
  const sealed = (header.requiredFlags & RequiredFlag.ENCRYPTED_SEGMENTS) !== 0 ? SegmentFlag.ENCRYPTED : 0;
  const flagged = index.segments.findIndex((s) => (s.flags & ~SegmentFlag.BY_REFERENCE & ~SegmentFlag.ENCRYPTED) !== 0 || (s.flags & SegmentFlag.ENCRYPTED) !== sealed || ((s.flags & SegmentFlag.BY_REFERENCE) !== 0 && s.ref === undefined));
  if (flagged !== -1) {
    throw new CkptError(ErrorCodes.CORRUPT, `${name}: segment ${flagged} has flags 0x${index.segments[flagged]!.flags.toString(16)} without the matching required header flag; the image is damaged`, { where: `index.segments[${flagged}]`, image });
  }
  const needs = (index.refs?.length ?? 0) > 0 || index.segments.some((s) => s.codec === SegmentCodec.XOR_ZSTD);
  const says = (header.requiredFlags & RequiredFlag.SEGMENTS_BY_REFERENCE) !== 0;
  if (needs !== says) {
    throw new CkptError(
      ErrorCodes.CORRUPT,
      needs
        ? `${name}: the index refers to other images but the header's required flag SEGMENTS_BY_REFERENCE is not set; the image is damaged`
        : `${name}: the header's required flag SEGMENTS_BY_REFERENCE is set but the index refers to no other image; the image is damaged`,
      { where: 'header', image },
    );
  }
}

function toProblem(err: unknown, where: string): VerifyProblem {
  if (isCkptError(err)) return { code: err.code, where: err.where ?? where, message: err.message };
  const e = readError(err, undefined, undefined);
  return { code: e.code, where, message: e.message };
}

/**
 * The index checks name the image as messages do (`image <id>`); an error's
 * `image` fact is the id (restore() compares it with the ids of the images it
 * tries, to tell damage of the image itself from damage of one it refers to).
 */
function withImageId(err: unknown, name: string, id: string): unknown {
  if (!isCkptError(err) || err.image !== name) return err;
  return new CkptError(err.code, err.message, {
    image: id,
    ...(err.where === undefined ? {} : { where: err.where }),
    ...(err.provider === undefined ? {} : { provider: err.provider }),
    ...(err.hint === undefined ? {} : { hint: err.hint }),
    ...(err.errors === undefined ? {} : { errors: err.errors }),
    ...(err.cause === undefined ? {} : { cause: err.cause }),
  });
}

/**
 * Any failure while reading a provider as a ckpt error: a CkptError as is;
 * a refused allocation (RangeError from an ArrayBuffer or typed array) as
 * `CKPT_ERR_LIMIT`; anything else as `CKPT_ERR_CORRUPT`, the original as
 * `cause`. Both let restore fall back to an older image.
 */
export function readError(err: unknown, image: string | undefined, provider: string | undefined): CkptError {
  if (isCkptError(err)) return err;
  const what = `${image === undefined ? 'image' : `image ${image}`}${provider === undefined ? '' : `, provider ${JSON.stringify(provider)}`}`;
  const facts = { ...(image === undefined ? {} : { image }), ...(provider === undefined ? {} : { provider }), cause: err };
  const message = err instanceof Error ? `${err.name}: ${err.message}` : String(err);
  if (err instanceof RangeError && /allocat|array buffer length|typed array length|out of memory/i.test(err.message)) {
    return new CkptError(ErrorCodes.LIMIT, `${what}: a buffer the image asks for could not be allocated (${message}); the image is damaged or too large for this process — raise its memory, or restore an older image`, facts);
  }
  return new CkptError(ErrorCodes.CORRUPT, `${what}: reading failed (${message}); the image is damaged`, facts);
}
