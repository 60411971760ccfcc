/**
 * @module image/incremental-plan
 *
 * What an incremental image writes for each segment, and how it is encoded.
 *
 * - {@link segmentHash}: xxh3-64 of a segment's raw bytes (recorded in every
 *   format-3 segment row). The streaming class of `@node-rs/xxhash` is used
 *   on a whole segment: its one-shot functions return the same value ten
 *   times slower (docs/incremental.md, "How it works").
 * - {@link encodeSegment}: one segment, on whichever thread holds its bytes
 *   (the main thread, or a pool thread for bytes in shared memory): hash it,
 *   compare with the parent's hash (equal: nothing to write), else encode it
 *   as a XOR delta of the previous raw bytes or in full, and keep the new raw
 *   bytes as the next delta's base.
 * - {@link IncrementalPlan}: per image, the parent's segment at the same place
 *   (same provider, same run, same ordinal, same raw length), the decision to
 *   refer to it (flattened: the row names the image that physically holds the
 *   bytes) or to XOR against it (chain depth ≤ {@link MAX_XOR_CHAIN}), the
 *   image's `refs` (≤ `MAX_REFS`, format 3) and the bytes referenced.
 * - {@link XorBases}: the raw bytes of the last image written, per run,
 *   kept in shared memory for `delta: 'xor'`.
 */
import { randomBytes } from 'node:crypto';
import { crc32 } from 'node:zlib';
import { xxh3 } from '@node-rs/xxhash';
import { MAX_XOR_CHAIN, SegmentCodec, type SegmentCodecId } from './constants.js';
import { MAX_REFS } from './index-v3.js';
import { SegmentFlag, type ImageIndex, type ImageRef, type ProviderEntry, type SegmentEntry, type SegmentRef } from './index-model.js';
import { sealSegment, type SegmentPipeline } from './segment-pipeline.js';
import type { SegmentOpen } from './pool-worker.js';
import { SegmentCompressor } from './zstd.js';
import { xorBytes } from './xor.js';


/** xxh3-64 (seed 0) of `bytes`. */
export function segmentHash(bytes: Uint8Array): bigint {
  return xxh3.Xxh3.withSeed(0n).update(bytes).digest();
}

/** A new image uuid: 32 lowercase hex digits. */
export function newImageUuid(): string {
  return randomBytes(16).toString('hex');
}

/** One segment to encode (see {@link encodeSegment}). */
export interface SegmentTask {
  /** The raw bytes. */
  readonly src: Uint8Array;
  /** Output memory: at least `SegmentPipeline.outputBytes(src.length)`. */
  readonly dst: Uint8Array;
  /** zstd level. */
  readonly level: number;
  /** The hash of `src` when already known. */
  readonly hash?: bigint | undefined;
  /** The parent's hash of this segment: equal → nothing is encoded (`same`). */
  readonly expect?: bigint | undefined;
  /** The parent's raw bytes of this segment: encode a XOR delta against them when that is small. */
  readonly base?: Uint8Array | undefined;
  /** Where to copy `src` once encoded (the next image's XOR base); with `keepSame`, also when `same`. */
  readonly keep?: Uint8Array | undefined;
  /** Copy into `keep` even when the segment is unchanged (a base being filled for the first time). */
  readonly keepSame?: boolean | undefined;
  /**
   * An encrypted image (format 5): seal the encoded segment into `dst`
   * (its key, image uuid and index, as `image/pool-worker`'s `SegmentOpen`):
   * the outcome is then `sealed`, `n` bytes of `dst`.
   */
  readonly open?: SegmentOpen | undefined;
}

/** What {@link encodeSegment} did. */
export interface SegmentOutcome {
  /** xxh3-64 of the raw bytes. */
  readonly hash: bigint;
  /** Equal to the parent's segment: nothing was encoded. */
  readonly same: boolean;
  /** Stored bytes in `dst` (a frame), or -1 when `src` itself is stored (raw). */
  readonly n: number;
  /** CRC-32 of the stored bytes. */
  readonly crc: number;
  /** How the stored bytes hold the raw bytes. */
  readonly codec: SegmentCodecId;
  /** With the task's `open`: the stored bytes are sealed, `n` bytes of `dst` (ciphertext ‖ tag). */
  readonly sealed?: boolean;
}

/** This thread's zstd contexts for deltas, and scratch memory for the XORed bytes. */
const compressors = new Map<number, SegmentCompressor>();
let scratch = new Uint8Array(0);

function compressorFor(level: number): SegmentCompressor {
  let c = compressors.get(level);
  if (c === undefined) {
    c = new SegmentCompressor(level);
    compressors.set(level, c);
  }
  return c;
}

/**
 * Encode one segment of an incremental image: compare, then XOR delta or
 * full encoding (through `pipeline`, so a full segment is stored exactly as
 * in any image), then keep the raw bytes. A delta is used only when its
 * frame is smaller than half the raw bytes. Runs on the main thread and in
 * the pool's threads alike.
 */
export function encodeSegment(task: SegmentTask, pipeline: SegmentPipeline): SegmentOutcome {
  const { src, dst, level } = task;
  const hash = task.hash ?? segmentHash(src);
  if (task.expect !== undefined && task.expect === hash) {
    if (task.keepSame === true && task.keep !== undefined) task.keep.set(src);
    return { hash, same: true, n: 0, crc: 0, codec: SegmentCodec.RAW };
  }
  let out: SegmentOutcome | undefined;
  if (task.base !== undefined && task.base.length === src.length && src.length > 0) {
    if (scratch.length < src.length) scratch = new Uint8Array(src.length);
    const x = scratch.subarray(0, src.length);
    xorBytes(src, task.base, x);
    const n = compressorFor(level).compressInto(x, dst);
    if (n < src.length / 2) out = { hash, same: false, n, crc: crc32(dst.subarray(0, n)), codec: SegmentCodec.XOR_ZSTD };
  }
  if (out === undefined) {
    const s = pipeline.encode(src, dst, level);
    out = { hash, same: false, n: s.codec === SegmentCodec.RAW ? -1 : s.stored.length, crc: s.crc, codec: s.codec };
  }
  if (task.keep !== undefined) task.keep.set(src);
  if (task.open === undefined) return out;
  // Sealed in place (a frame at the start of dst, room for the tag: dst is a compress bound), or the raw bytes into dst.
  const n = sealSegment(out.n < 0 ? src : dst.subarray(0, out.n), out.codec, src.length, { ...task.open, memory: dst });
  return { ...out, n, crc: crc32(dst.subarray(0, n)), sealed: true };
}

/** Where a run is in a provider: its value stream, or its blob at an index. */
export type RunKey = 'stream' | number;

/**
 * The raw bytes of the runs of the last image written (for XOR deltas), in
 * shared memory so the pool's threads read and update them. Valid for one
 * image: the one they equal.
 */
export class XorBases {
  readonly #runs = new Map<string, Uint8Array>();
  /** The image whose raw bytes these are (undefined: none, or a write changed them and failed). */
  imageId: string | undefined;

  /** Bytes held. */
  get bytes(): number {
    let n = 0;
    for (const r of this.#runs.values()) n += r.length;
    return n;
  }

  /** The base of a run of `length` bytes (new, zeroed memory when the length changed); `fresh` when its content is not a base. */
  run(providerId: string, run: RunKey, length: number): { memory: Uint8Array; fresh: boolean } {
    const key = `${providerId}\u0000${String(run)}`;
    const had = this.#runs.get(key);
    if (had !== undefined && had.length === length) return { memory: had, fresh: false };
    const memory = new Uint8Array(new SharedArrayBuffer(Math.max(1, length))).subarray(0, length);
    this.#runs.set(key, memory);
    return { memory, fresh: true };
  }

  /** Forget the content (a write that changed it failed, or another image becomes the parent). */
  invalidate(): void {
    this.imageId = undefined;
  }

  /** Drop the memory. */
  clear(): void {
    this.#runs.clear();
    this.imageId = undefined;
  }
}

/** The image an incremental image is written against. */
export interface ParentImage {
  /** Its id and uuid. */
  readonly ref: ImageRef;
  /** Its index. */
  readonly index: ImageIndex;
  /** XOR chain depth of each of its segments, when known (images written by this process); unknown depths allow no further delta. */
  readonly depths?: readonly number[] | undefined;
}

/** A parent's segment, flattened: where its bytes physically are. */
export interface ParentSegment {
  /** The image holding the bytes. */
  readonly holder: ImageRef;
  /** The segment's index in the holder. */
  readonly segment: number;
  /** The row as the holder stores it (offset, stored length, CRC, codec are the holder's). */
  readonly row: SegmentEntry;
  /** xxh3-64 of the raw bytes (undefined in images of older formats: never matches). */
  readonly hash: bigint | undefined;
  /** XOR chain depth (0: a full segment; Infinity: unknown). */
  readonly depth: number;
}

interface Pending {
  readonly ref?: { readonly holder: ImageRef; readonly segment: number };
  readonly base?: { readonly holder: ImageRef; readonly segment: number };
  /** The referenced segment or the base is itself a delta: reading it needs its chain's holders. */
  readonly chain: boolean;
}

/** The decisions of one incremental image (see the module comment). */
export class IncrementalPlan {
  /** XOR depth of each segment of the image being written. */
  readonly depths: number[] = [];
  /** Stored bytes referred to instead of written. */
  bytesReferenced = 0;
  readonly #parent: ParentImage | undefined;
  readonly #providers = new Map<string, ProviderEntry>();
  /** Holders this image may need (reserved before a decision, so refs stay ≤ MAX_REFS). */
  readonly #reserved = new Map<string, ImageRef>();
  readonly #pending = new Map<number, Pending>();

  /**
   * @param parent - the image written against (undefined: a full image)
   * @param xor - whether changed blob segments may be XOR deltas
   */
  constructor(
    parent: ParentImage | undefined,
    readonly xor: boolean,
  ) {
    this.#parent = parent;
    if (parent !== undefined) for (const p of parent.index.providers) this.#providers.set(p.id, p);
  }

  /** The parent image, if any. */
  get parent(): ParentImage | undefined {
    return this.#parent;
  }

  /**
   * The parent's segment at the same place: same provider, same run (the
   * stream, or the blob at the same index and of the same kind), same
   * ordinal, same raw length; undefined when there is none.
   */
  parentSegment(providerId: string, run: RunKey, kind: number | undefined, ordinal: number, rawLength: number): ParentSegment | undefined {
    const parent = this.#parent;
    const p = this.#providers.get(providerId);
    if (parent === undefined || p === undefined) return undefined;
    const r = run === 'stream' ? p.stream : p.blobs[run];
    if (r === undefined || (run !== 'stream' && p.blobs[run]!.kind !== kind) || ordinal >= r.count) return undefined;
    const j = r.first + ordinal;
    const row = parent.index.segments[j];
    if (row === undefined || row.rawLength !== rawLength) return undefined;
    const xor = row.codec === SegmentCodec.XOR_ZSTD;
    const depth = xor ? (parent.depths?.[j] ?? Infinity) : 0;
    if ((row.flags & SegmentFlag.BY_REFERENCE) !== 0) {
      const holder = row.ref === undefined ? undefined : parent.index.refs?.[row.ref.image];
      if (holder === undefined || row.ref === undefined) return undefined;
      return { holder, segment: row.ref.segment, row, hash: row.hash, depth };
    }
    return { holder: parent.ref, segment: j, row, hash: row.hash, depth };
  }

  /** The holders reading `seg` needs: its holder, and for a delta every holder of its chain (the parent's refs list them). */
  #needs(seg: ParentSegment): ImageRef[] {
    if (seg.row.codec !== SegmentCodec.XOR_ZSTD) return [seg.holder];
    const parent = this.#parent!;
    return [seg.holder, parent.ref, ...(parent.index.refs ?? [])];
  }

  /** Reserve the holders `seg` needs; false when that would exceed {@link MAX_REFS}. */
  reserve(seg: ParentSegment): boolean {
    const needs = this.#needs(seg);
    let extra = 0;
    for (const h of needs) if (!this.#reserved.has(h.imageId)) extra++;
    if (this.#reserved.size + extra > MAX_REFS) return false;
    for (const h of needs) this.#reserved.set(h.imageId, h);
    return true;
  }

  /** Whether a changed segment at `seg` may be a XOR delta of it (within the depth bound; reserves its holders). */
  mayXor(seg: ParentSegment | undefined): seg is ParentSegment {
    return this.xor && seg !== undefined && seg.depth + 1 <= MAX_XOR_CHAIN && this.reserve(seg);
  }

  /** Segment `index` is `seg` by reference (reserved before): its row. */
  refer(index: number, seg: ParentSegment): SegmentEntry {
    this.#pending.set(index, { ref: { holder: seg.holder, segment: seg.segment }, chain: seg.row.codec === SegmentCodec.XOR_ZSTD });
    this.depths[index] = seg.depth;
    this.bytesReferenced += seg.row.storedLength;
    const { offset, storedLength, rawLength, crc, codec } = seg.row;
    // An encrypted holder's row stays encrypted: the bytes are sealed under the holder's key.
    const flags = SegmentFlag.BY_REFERENCE | (seg.row.flags & SegmentFlag.ENCRYPTED);
    return { offset, storedLength, rawLength, crc, codec, flags, ...(seg.hash === undefined ? {} : { hash: seg.hash }) };
  }

  /** Segment `index` was written as a XOR delta of `seg`. */
  delta(index: number, seg: ParentSegment): void {
    this.#pending.set(index, { base: { holder: seg.holder, segment: seg.segment }, chain: seg.row.codec === SegmentCodec.XOR_ZSTD });
    this.depths[index] = seg.depth + 1;
  }

  /** Segment `index` was written in full. */
  full(index: number): void {
    this.depths[index] = 0;
  }

  /**
   * The image's refs and its segment rows with their `ref` and `base`
   * filled in. A delta needs every holder of its chain, which the parent's
   * refs list: those are kept. An image written against a parent lists at
   * least the parent, so `kind` and the header flag say "incremental" even
   * when every segment changed.
   */
  finish(segments: readonly SegmentEntry[]): { segments: SegmentEntry[]; refs: ImageRef[] } {
    const used = new Map<string, ImageRef>();
    const parent = this.#parent;
    for (const p of this.#pending.values()) {
      const h = p.ref ?? p.base!;
      used.set(h.holder.imageId, h.holder);
      if (p.chain && parent !== undefined) {
        used.set(parent.ref.imageId, parent.ref);
        for (const r of parent.index.refs ?? []) used.set(r.imageId, r);
      }
    }
    if (parent !== undefined && used.size === 0) used.set(parent.ref.imageId, parent.ref);
    // Oldest first (ids sort by age).
    const refs = [...used.values()].sort((a, b) => (a.imageId < b.imageId ? -1 : a.imageId > b.imageId ? 1 : 0));
    const at = new Map(refs.map((r, i) => [r.imageId, i]));
    const out = segments.map((seg, i) => {
      const p = this.#pending.get(i);
      if (p === undefined) return seg;
      const sref = (x: { holder: ImageRef; segment: number }): SegmentRef => ({ image: at.get(x.holder.imageId)!, segment: x.segment });
      return p.ref !== undefined ? { ...seg, ref: sref(p.ref) } : { ...seg, base: sref(p.base!) };
    });
    return { segments: out, refs };
  }
}
