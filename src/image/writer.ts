/**
 * @module image/writer
 *
 * Streams one image into a store sink: header, then every provider's value
 * stream and blobs cut into segments (each compressed on its own, kept raw when
 * compression does not help, and checksummed), then the index and trailer.
 *
 * Two ways to compress, same bytes either way:
 * - pooled (a pool given, and an image of at least its `minBytes`):
 *   segments are handed to the worker pool as they are cut and written in
 *   order as they come back, so compression runs on every core while earlier
 *   segments are written. In flight at most the pool's slot count.
 * - inline (small images, or no pool): compressed on the calling thread into
 *   one reused buffer, written one after another.
 *
 * Memory held here is a few segments whatever the state's size: bytes in
 * app memory are copied segment by segment into the pool's shared slots;
 * bytes already in shared memory (a leased encoder output, async-captured
 * blobs) are compressed where they lie.
 */
import { crc32 } from 'node:zlib';
import type { EncodedState } from '../codec/types.js';
import type { ImageSink } from '../store/store.js';
import { hostname } from 'node:os';
import { CkptError, ErrorCodes } from '../errors.js';
import type { KeySource } from '../crypto/keys.js';
import { TAG_BYTES } from '../crypto/seal.js';
import { newImageSeal, sealIndex, type NewImageSeal } from '../crypto/image-seal.js';
import { CODEC_ID, ENCRYPTED_FORMAT_VERSION, ENCRYPTED_INCREMENTAL_FORMAT_VERSION, HEADER_SIZE, INCREMENTAL_FORMAT_VERSION, RequiredFlag, SegmentCodec, TRAILER_SIZE, type SegmentCodecId } from './constants.js';
import type { FormatList } from './format-list.js';
import { FORMATS } from './format-registry.js';
import { encodeHeader, encodeTrailer } from './header.js';
import type { AheadSegment, AheadStream, CapturedEncoding } from './capture.js';
import { SegmentFlag, type BlobEntry, type ImageIndex, type Manifest, type ProviderEntry, type SegmentEntry, type SegmentRun } from './index-model.js';
import type { Slot, ZstdPool } from './pool.js';
import type { SegmentOpen } from './pool-worker.js';
import { SegmentPipeline, ownKeys, type SegmentSeal } from './segment-pipeline.js';
import { encodeSegment, newImageUuid, segmentHash, type IncrementalPlan, type ParentSegment, type RunKey, type SegmentOutcome, type SegmentTask, type XorBases } from './incremental-plan.js';

/** One provider's captured state, ready to persist. */
export interface CapturedProvider {
  /** Provider id. */
  readonly id: string;
  /** Schema version of the state. */
  readonly version: number;
  /** Whether the state was encoded in tree mode. */
  readonly tree: boolean;
  /** The encoded state (with its segments compressed during capture, if any: see image/capture). */
  readonly encoded: EncodedState | CapturedEncoding;
}

/** Settings for writing one image. */
export interface WriteSettings {
  /** zstd level (1..19). */
  readonly level: number;
  /** Raw bytes per segment. */
  readonly segmentSize: number;
  /** Blob threshold used at capture (recorded in the index). */
  readonly blobThreshold: number;
  /** Stop between segments when aborted (a stop deadline); the reason is thrown. */
  readonly signal?: AbortSignal;
  /** Format version to write (default: the current one; older ones for tests and conversion). */
  readonly formatVersion?: number;
  /** The format versions known (default: this ckpt's list; tests of new versions pass their own). */
  readonly formats?: FormatList;
  /** Worker pool to compress on (images of at least its `minBytes`); without it, the calling thread compresses. */
  readonly pool?: ZstdPool;
  /**
   * Pool threads this write keeps busy at most (default: all of them). An
   * async persist writes while the app runs: fewer threads leave the app's
   * core alone (`compression.backgroundThreads`).
   */
  readonly threads?: number;
  /**
   * The calling thread's segment pipeline (its zstd contexts and output
   * memory are reused from one image to the next). Default: the pool's,
   * else one for this image only.
   */
  readonly pipeline?: SegmentPipeline;
  /**
   * Write an incremental image (format 3): segments equal to the plan's
   * parent's are referred to, changed ones written (as XOR deltas with
   * `bases`). Every segment row gets its hash and the manifest a uuid.
   */
  readonly incremental?: IncrementalWrite;
  /**
   * Write an encrypted image (format 4; format 5 with `incremental`): a
   * fresh data key wrapped by this source, every segment and the index
   * sealed with AES-256-GCM. Segments are compressed and sealed in the pool
   * threads when the image is written through the pool (with the compare and
   * XOR of an incremental image's segments), else on the calling thread. An
   * encrypted image refers only to encrypted images and
   * a plaintext one only to plaintext ones (`CKPT_ERR_INVALID_ARGUMENT`).
   */
  readonly encryption?: KeySource;
  /** Test vectors only: the data key and uuid of an encrypted image (else random). */
  readonly fixedSeal?: { readonly dek: Uint8Array; readonly uuid: Uint8Array };
}

/** How to write an incremental image (see {@link WriteSettings.incremental}). */
export interface IncrementalWrite {
  /** The decisions (and the parent, if any). */
  readonly plan: IncrementalPlan;
  /** With `delta: 'xor'`: the raw bytes of the last image written, updated as segments are written. */
  readonly bases?: XorBases;
}

/** Which run of which provider a run being written is (incremental images compare it with the parent's). */
interface RunPlace {
  readonly providerId: string;
  readonly run: RunKey;
  readonly kind: number | undefined;
}

/** The manifest as the writer takes it: format-2 fields default to this host, no parent, no meta. */
export type ManifestInput = Omit<Manifest, 'hostname' | 'parent' | 'meta'> & Partial<Pick<Manifest, 'hostname' | 'parent' | 'meta'>>;

/** What was written. */
export interface WriteResult {
  /** Total image size in bytes. */
  readonly bytes: number;
  /** The index that was written (in the current model, whatever version was written). */
  readonly index: ImageIndex;
  /** The format version written. */
  readonly formatVersion: number;
}


class ImageStreamWriter {
  readonly segments: SegmentEntry[] = [];
  /** Bytes written so far (in file order). */
  offset = 0;
  /** Segments started (their index entries may still be pending). */
  #started = 0;
  /** The pooled pipeline: one step per segment, in file order. */
  #chain: Promise<void> = Promise.resolve();
  #failed = false;
  #failure: unknown;
  /** Segments compressed on this thread go through it. */
  readonly #pipeline: SegmentPipeline;
  readonly #pool: ZstdPool | undefined;
  #output: Uint8Array | undefined;
  /** Ciphertext memory of sealed segments (encrypted images), reused from one segment to the next. */
  #sealed: Uint8Array | undefined;
  /** The seal of an encrypted image. */
  seal: NewImageSeal | undefined;
  /** Its segment subkey and uuid as sent to pool threads (see {@link ownKeys}). */
  #openKeys: { readonly key: Uint8Array; readonly uuid: Uint8Array } | undefined;

  constructor(
    readonly sink: ImageSink,
    readonly settings: WriteSettings,
    pooled: boolean,
  ) {
    this.#pipeline = settings.pipeline ?? settings.pool?.pipeline ?? new SegmentPipeline();
    this.#pool = pooled ? settings.pool : undefined;
  }

  /** Append bytes after everything started so far. */
  async write(bytes: Uint8Array): Promise<void> {
    await this.drain();
    await this.sink.write(bytes);
    this.offset += bytes.length;
  }

  /** Wait for every started segment; throws the pipeline's first failure. */
  async drain(): Promise<void> {
    await this.#chain;
    if (this.#failed) throw this.#failure;
  }

  /** Wait for every started segment and give buffers back, ignoring failures (cleanup). */
  async settle(): Promise<void> {
    await this.#chain;
    if (this.#output !== undefined) this.#pipeline.giveOutput(this.#output);
    this.#output = undefined;
    if (this.#sealed !== undefined) this.#pipeline.giveOutput(this.#sealed);
    this.#sealed = undefined;
  }

  #fail(err: unknown): void {
    if (this.#failed) return;
    this.#failed = true;
    this.#failure = err;
  }

  /**
   * Write `data` as a run of segments of at most segmentSize raw bytes.
   * Segments `ahead` compressed during capture (same segment size and
   * level) are written as they come back, without compressing again.
   */
  async writeRun(data: Uint8Array, ahead?: AheadStream, place?: RunPlace): Promise<SegmentRun> {
    const first = this.#started;
    const size = this.settings.segmentSize;
    // An empty stream still gets one (empty) segment so every run has a place.
    const count = data.length === 0 ? 1 : Math.ceil(data.length / size);
    const incr = this.settings.incremental;
    const bases = incr?.bases !== undefined && place !== undefined ? this.#basesOf(incr.bases, incr.plan, place, data.length) : undefined;
    for (let i = 0; i < count; i++) {
      if (this.#failed) throw this.#failure;
      if (this.settings.signal?.aborted === true) throw this.settings.signal.reason;
      const raw = data.subarray(i * size, Math.min(data.length, (i + 1) * size));
      const index = this.#started++;
      const pre = ahead?.segmentSize === size && ahead.level === this.settings.level ? ahead.segments[i] : undefined;
      if (incr !== undefined && place !== undefined) {
        const keep = bases?.memory.subarray(i * size, i * size + raw.length);
        await this.#incremental(incr.plan, index, raw, incr.plan.parentSegment(place.providerId, place.run, place.kind, i, raw.length), pre, keep, bases?.valid === true);
        continue;
      }
      if (this.#pool !== undefined && pre !== undefined && pre.rawLength === raw.length) this.#ahead(index, raw, pre);
      else if (this.#pool !== undefined && raw.length > 0) await this.#pooled(this.#pool, index, raw);
      else await this.#inline(index, raw);
    }
    return { first, count, rawLength: data.length };
  }

  #entry(index: number, stored: Uint8Array, rawLength: number, crc: number, codec: SegmentCodecId, hash?: bigint): void {
    const flags = this.seal === undefined ? 0 : SegmentFlag.ENCRYPTED;
    this.segments[index] = { offset: this.offset, storedLength: stored.length, rawLength, crc, codec, flags, ...(hash === undefined ? {} : { hash }) };
  }

  /** The XOR base memory of a run; `valid` when it holds the parent's raw bytes of the run. */
  #basesOf(bases: XorBases, plan: IncrementalPlan, place: RunPlace, length: number): { memory: Uint8Array; valid: boolean } {
    const b = bases.run(place.providerId, place.run, length);
    const parent = plan.parent;
    return { memory: b.memory, valid: !b.fresh && parent !== undefined && bases.imageId === parent.ref.imageId };
  }

  /**
   * One segment of an incremental image: referred to when its hash equals
   * the parent's, else written (a XOR delta of the base when that is
   * small). Bytes in shared memory are hashed on a pool thread (one round
   * trip decides and encodes); others on this thread, so an unchanged
   * segment is never copied.
   */
  async #incremental(plan: IncrementalPlan, index: number, raw: Uint8Array, seg: ParentSegment | undefined, pre: AheadSegment | undefined, keep: Uint8Array | undefined, baseValid: boolean): Promise<void> {
    const expect = seg?.hash !== undefined && plan.reserve(seg) ? seg.hash : undefined;
    // A base not (yet) equal to the parent's bytes is filled whole and used from the next image on.
    const xorSeg = baseValid && plan.mayXor(seg) ? seg : undefined;
    const task = { level: this.settings.level, expect, base: xorSeg === undefined ? undefined : keep, keep, keepSame: keep !== undefined && !baseValid };
    // Referred to, or written (in an encrypted image sealed by the pool thread, or here: a delta like any segment).
    const done = async (o: SegmentOutcome, stored: Uint8Array | undefined): Promise<void> => {
      if (o.same) {
        this.segments[index] = plan.refer(index, seg!);
        return;
      }
      if (o.codec === SegmentCodec.XOR_ZSTD) plan.delta(index, xorSeg!);
      else plan.full(index);
      if (o.sealed === true) await this.#writeStored(index, raw.length, stored!, o.codec, o.crc, o.hash);
      else await this.#writeCompressed(index, raw.length, stored!, o.codec, o.crc, o.hash);
    };
    const pool = this.#pool;
    if (pool !== undefined && raw.length > 0 && raw.buffer instanceof SharedArrayBuffer && (pre === undefined || xorSeg !== undefined)) {
      await this.#pooledTask(pool, index, raw, raw, { ...task, hash: undefined }, done);
      return;
    }
    const hash = segmentHash(raw);
    if (expect === hash) {
      if (task.keepSame && keep !== undefined) keep.set(raw);
      await done({ hash, same: true, n: 0, crc: 0, codec: SegmentCodec.RAW }, undefined);
      return;
    }
    // A segment compressed during capture is used unless a delta may be smaller.
    if (pool !== undefined && pre !== undefined && pre.rawLength === raw.length && xorSeg === undefined) {
      this.#ahead(index, raw, pre, hash);
      plan.full(index);
      keep?.set(raw);
      return;
    }
    if (pool !== undefined && raw.length > 0) {
      await this.#pooledTask(pool, index, raw, undefined, { ...task, expect: undefined, hash }, done);
      return;
    }
    await this.drain();
    const bound = SegmentPipeline.outputBytes(raw.length);
    if (this.#output === undefined || this.#output.length < bound) {
      if (this.#output !== undefined) this.#pipeline.giveOutput(this.#output);
      this.#output = this.#pipeline.takeOutput(bound);
    }
    const o = encodeSegment({ ...task, expect: undefined, hash, src: raw, dst: this.#output }, this.#pipeline);
    await done(o, o.n < 0 ? raw : this.#output.subarray(0, o.n));
  }

  /** A segment encoded on a pool thread (`src`: its bytes already in shared memory, else copied into a slot). */
  async #pooledTask(pool: ZstdPool, index: number, raw: Uint8Array, src: Uint8Array | undefined, task: Omit<SegmentTask, 'src' | 'dst'>, done: (o: SegmentOutcome, stored: Uint8Array | undefined) => Promise<void>): Promise<void> {
    // An encrypted image's segment is sealed by the thread too, into the output (room for the tag).
    const open = this.#openOf(index);
    const slot: Slot = await pool.acquire(src === undefined ? raw.length : 0, Math.max(SegmentPipeline.outputBytes(raw.length), open === undefined ? 0 : raw.length + TAG_BYTES));
    let input = src;
    if (input === undefined) {
      slot.input.set(raw);
      input = slot.input.subarray(0, raw.length);
    }
    // Queued on at most `threads` threads (each runs one job at a time): the others stay free.
    const job = pool.encodeSegment({ ...task, src: input, dst: slot.output, ...(open === undefined ? {} : { open }) }, this.settings.threads).then(
      (r) => ({ ok: true as const, r }),
      (err: unknown) => ({ ok: false as const, err }),
    );
    const from = input;
    const step = async (): Promise<void> => {
      const r = await job;
      if (this.#failed) return;
      if (!r.ok) return this.#fail(r.err);
      await done(r.r, r.r.same ? undefined : r.r.n < 0 && r.r.sealed !== true ? from : slot.output.subarray(0, r.r.n));
    };
    this.#chain = this.#chain
      .then(step)
      .catch((err: unknown) => this.#fail(err))
      .finally(() => slot.release());
  }

  async #inline(index: number, raw: Uint8Array): Promise<void> {
    await this.drain();
    const bound = SegmentPipeline.outputBytes(raw.length);
    if (this.#output === undefined || this.#output.length < bound) {
      if (this.#output !== undefined) this.#pipeline.giveOutput(this.#output);
      this.#output = this.#pipeline.takeOutput(bound);
    }
    const seal = this.#segmentSeal(index, Math.max(bound, raw.length));
    const { stored, crc, codec } = this.#pipeline.encode(raw, this.#output, this.settings.level, seal);
    // Awaited before the output buffer is reused: the sink may hold it until then.
    await this.#writeStored(index, raw.length, stored, codec, crc);
  }

  /** The seal of segment `index` of an encrypted image (memory for `plainBytes` + its tag), or undefined. */
  #segmentSeal(index: number, plainBytes: number): SegmentSeal | undefined {
    if (this.seal === undefined) return undefined;
    const need = plainBytes + TAG_BYTES;
    if (this.#sealed === undefined || this.#sealed.length < need) {
      if (this.#sealed !== undefined) this.#pipeline.giveOutput(this.#sealed);
      this.#sealed = this.#pipeline.takeOutput(need);
    }
    return { key: this.seal.keys.segments, uuid: this.seal.uuid, index, memory: this.#sealed };
  }

  /**
   * Record and write a segment compressed on a pool thread (`crc` over
   * `compressed`): in an encrypted image it is sealed here first, in turn
   * (the seal's memory is reused once the write is done).
   */
  async #writeCompressed(index: number, rawLength: number, compressed: Uint8Array, codec: SegmentCodecId, crc: number, hash?: bigint): Promise<void> {
    const seal = this.#segmentSeal(index, compressed.length);
    const s = seal === undefined ? { stored: compressed, crc, codec } : this.#pipeline.sealCompressed(compressed, codec, rawLength, seal);
    await this.#writeStored(index, rawLength, s.stored, s.codec, s.crc, hash);
  }

  /** How a pool thread seals segment `index` of this image; undefined for a plaintext image. */
  #openOf(index: number): SegmentOpen | undefined {
    const s = this.seal;
    if (s === undefined) return undefined;
    this.#openKeys ??= ownKeys(s.keys.segments, s.uuid);
    return { ...this.#openKeys, index };
  }

  /** Record and write a segment's stored bytes, sealed already in an encrypted image. */
  async #writeStored(index: number, rawLength: number, stored: Uint8Array, codec: SegmentCodecId, crc: number, hash?: bigint): Promise<void> {
    this.#entry(index, stored, rawLength, crc, codec, hash);
    await this.sink.write(stored);
    this.offset += stored.length;
  }

  /**
   * A segment compressed during capture: write it in turn (its buffer is
   * given back by the capture's release()). In an encrypted image a pool
   * thread seals it as soon as it is compressed — in place, in its buffer —
   * so segments are sealed on the threads, several at once, not in turn here.
   */
  #ahead(index: number, raw: Uint8Array, pre: AheadSegment, hash?: bigint): void {
    const open = this.#openOf(index);
    const pool = this.#pool;
    const sealed =
      open === undefined || pool === undefined
        ? undefined
        : pre.job
            .then(async (r) => {
              const codec = r.length < 0 ? SegmentCodec.RAW : SegmentCodec.ZSTD;
              if (pre.output.length < (r.length < 0 ? raw.length : r.length) + TAG_BYTES) return undefined; // no room: sealed in turn below
              return { ...(await pool.seal(pre.output, r.length, r.length < 0 ? raw : undefined, codec, raw.length, open, this.settings.threads)), codec };
            })
            .then(
              (v) => ({ ok: true as const, v }),
              (err: unknown) => ({ ok: false as const, err }),
            );
    const step = async (): Promise<void> => {
      const r = await pre.job;
      const s = await sealed;
      if (this.#failed) return;
      if (s !== undefined && !s.ok) return this.#fail(s.err);
      if (s?.v !== undefined) return this.#writeStored(index, raw.length, pre.output.subarray(0, s.v.length), s.v.codec, s.v.crc, hash);
      await this.#writeCompressed(index, raw.length, r.length < 0 ? raw : pre.output.subarray(0, r.length), r.length < 0 ? SegmentCodec.RAW : SegmentCodec.ZSTD, r.crc, hash);
    };
    this.#chain = this.#chain.then(step).catch((err: unknown) => this.#fail(err));
  }

  async #pooled(pool: ZstdPool, index: number, raw: Uint8Array): Promise<void> {
    // An encrypted image's segments are compressed and sealed by the thread (into the output, room for the tag).
    const open = this.#openOf(index);
    // Backpressure: wait for a free slot (segments in flight are bounded).
    const slot: Slot = await pool.acquire(raw.length, Math.max(SegmentPipeline.outputBytes(raw.length), open === undefined ? 0 : raw.length + TAG_BYTES));
    let src = raw;
    if (!(raw.buffer instanceof SharedArrayBuffer)) {
      slot.input.set(raw);
      src = slot.input.subarray(0, raw.length);
    }
    // Queued on at most `threads` threads (each runs one job at a time): the others stay free.
    const job = pool.compress(src, slot.output, this.settings.level, undefined, this.settings.threads, open).then(
      (r) => ({ ok: true as const, r }),
      (err: unknown) => ({ ok: false as const, err }),
    );
    const step = async (): Promise<void> => {
      // The job is awaited even after a failure: the slot is busy until it ends.
      const done = await job;
      if (this.#failed) return;
      if (!done.ok) return this.#fail(done.err);
      if (done.r.codec !== undefined) return this.#writeStored(index, raw.length, slot.output.subarray(0, done.r.length), done.r.codec, done.r.crc);
      await this.#writeCompressed(index, raw.length, done.r.length < 0 ? src : slot.output.subarray(0, done.r.length), done.r.length < 0 ? SegmentCodec.RAW : SegmentCodec.ZSTD, done.r.crc);
    };
    this.#chain = this.#chain
      .then(step)
      .catch((err: unknown) => this.#fail(err))
      .finally(() => slot.release());
  }
}

function rawBytesOf(providers: readonly CapturedProvider[]): number {
  let n = 0;
  for (const p of providers) {
    n += p.encoded.stream.length;
    for (const b of p.encoded.blobs) n += b.bytes.length;
  }
  return n;
}

/**
 * Write a complete image into `sink` (without committing it). The caller
 * commits on success and aborts on failure. Memory the captured states
 * lease (their `release()`) is given back once the image is written or has
 * failed.
 */
export async function writeImage(
  sink: ImageSink,
  manifest: ManifestInput,
  providers: readonly CapturedProvider[],
  settings: WriteSettings,
): Promise<WriteResult> {
  const formats = settings.formats ?? FORMATS;
  const encryption = settings.encryption;
  const parentRows = settings.incremental?.plan.parent?.index.segments ?? [];
  if (parentRows.some((s) => ((s.flags & SegmentFlag.ENCRYPTED) !== 0) !== (encryption !== undefined))) {
    for (const p of providers) p.encoded.release?.();
    throw new CkptError(
      ErrorCodes.INVALID_ARGUMENT,
      encryption === undefined ? 'a plaintext image cannot refer to an encrypted one; write it against a plaintext parent, or in full' : 'an encrypted image cannot refer to a plaintext one; write it against an encrypted parent, or in full',
    );
  }
  // Encrypted images are format 4, or 5 when incremental (they may refer to other images); plaintext
  // incremental ones default to format 3 (the default format 2 would drop their uuid and hashes).
  const incremental = settings.incremental !== undefined;
  const formatVersion =
    encryption !== undefined ? (incremental ? ENCRYPTED_INCREMENTAL_FORMAT_VERSION : ENCRYPTED_FORMAT_VERSION) : (settings.formatVersion ?? (incremental ? INCREMENTAL_FORMAT_VERSION : formats.current));
  // Segments are compressed in the pool threads; those of an encrypted image are sealed there too.
  const w = new ImageStreamWriter(sink, settings, settings.pool !== undefined && rawBytesOf(providers) >= settings.pool.minBytes);
  const incr = settings.incremental;
  const parent = incr?.plan.parent;
  try {
    if (encryption !== undefined) w.seal = await newImageSeal(encryption, { createdAt: manifest.createdAt, step: manifest.step, label: manifest.label }, settings.fixedSeal);
    // An image written against a parent always refers to it (at least in its refs): the header says so first.
    const requiredFlags = (parent === undefined ? 0 : RequiredFlag.SEGMENTS_BY_REFERENCE) | (encryption === undefined ? 0 : RequiredFlag.ENCRYPTED_SEGMENTS);
    const header = encodeHeader({ formatVersion, codecId: CODEC_ID, requiredFlags, optionalFlags: 0 });
    await w.write(header);
    const entries: ProviderEntry[] = [];
    for (const p of providers) {
      const stream = await w.writeRun(p.encoded.stream, 'ahead' in p.encoded ? p.encoded.ahead : undefined, { providerId: p.id, run: 'stream', kind: undefined });
      const blobs: BlobEntry[] = [];
      for (const [i, blob] of p.encoded.blobs.entries()) {
        const r = await w.writeRun(blob.bytes, undefined, { providerId: p.id, run: i, kind: blob.kind });
        blobs.push({ kind: blob.kind, ...r });
      }
      entries.push({ id: p.id, version: p.version, tree: p.tree, stream, blobs });
    }
    await w.drain();
    const finished = incr?.plan.finish(w.segments);
    const index: ImageIndex = {
      manifest: {
        ...manifest,
        hostname: manifest.hostname ?? hostname(),
        parent: manifest.parent ?? parent?.ref.imageId ?? null,
        meta: manifest.meta ?? {},
        ...(incr === undefined ? {} : { uuid: manifest.uuid ?? newImageUuid() }),
        ...(w.seal === undefined ? {} : { uuid: w.seal.uuid.toString('hex') }),
      },
      codec: { values: 1, level: settings.level, segmentSize: settings.segmentSize, blobThreshold: settings.blobThreshold },
      segments: finished?.segments ?? w.segments,
      providers: entries,
      ...(finished === undefined ? {} : { refs: finished.refs }),
    };
    let indexBytes = formats.encodeIndex(index, formatVersion);
    let cryptoOffset: number | undefined;
    if (w.seal !== undefined) {
      cryptoOffset = w.offset;
      await w.write(w.seal.block);
      indexBytes = sealIndex(w.seal, Buffer.concat([header, w.seal.block]), indexBytes);
    }
    const indexOffset = w.offset;
    await w.write(indexBytes);
    await w.write(encodeTrailer({ indexOffset, indexLength: indexBytes.length, indexCrc: crc32(indexBytes), ...(cryptoOffset === undefined ? {} : { cryptoOffset }) }));
    return { bytes: w.offset, index, formatVersion };
  } finally {
    // Segments still in flight read the captured memory: only then give it back.
    await w.settle();
    for (const p of providers) p.encoded.release?.();
  }
}

/** Smallest possible image size: header + trailer (used by readers for quick rejects). */
export const MIN_IMAGE_SIZE = HEADER_SIZE + TRAILER_SIZE;
