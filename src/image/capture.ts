/**
 * @module image/capture
 *
 * Capturing one provider's state at the frozen point: encoding it, and
 * - compressing its value stream ahead: while a large stream is still being
 *   encoded, its finished segments are already compressed on the worker
 *   pool, so by the time the write starts most of them are done
 *   ({@link captureState}; the writer picks them up);
 * - for an asynchronous persist, copying its large binary values so the
 *   application may change its arrays while the image is being written.
 *   This copy is all the app waits for, so it goes into a
 *   {@link CaptureArena}: shared memory kept from one checkpoint to the next.
 *   Why: a copy into new memory pays a page fault per 4 KiB (on some VMs
 *   that is ten times the copy itself), a copy into the pages of the
 *   previous checkpoint is a plain memcpy; and shared memory is what the
 *   worker pool compresses from, with no further copy.
 */
import { encodeState, type StateEncoder } from '../codec/encode.js';
import type { Blob, EncodedState, EncodeOptions } from '../codec/types.js';
import type { CompressResult, ZstdPool } from './pool.js';
import { SegmentPipeline } from './segment-pipeline.js';

/**
 * A stream's segments compressed during capture are at most this many times
 * the pool's slots: each holds an output buffer until the image is written.
 */
const AHEAD_SLOTS_FACTOR = 4;

/** Captures smaller than this are copied into ordinary memory (the arena is for the large ones). */
const ARENA_MIN_BYTES = 256 * 1024;
/** Each blob starts on a cache line. */
const ALIGN = 64;

/** New arena blocks at least this large are faulted in on the pool's threads as they are filled (see ZstdPool.prefault). */
const PREFAULT_MIN_BYTES = 16 * 1024 * 1024;

/** Free blocks the arena keeps at most (one per provider with large binary values, typically). */
const MAX_FREE_BLOCKS = 8;

/**
 * Reusable shared memory for async captures: blocks lent to one capture at
 * a time and kept, once given back, for the next checkpoint's capture.
 */
export class CaptureArena {
  readonly #free: Uint8Array[] = [];
  /** The block each key (a provider id) had last: given back to it first, so a provider's capture lands in the pages of its previous one. */
  readonly #owner = new WeakMap<Uint8Array, string>();

  /** Bytes held for reuse (free blocks). */
  get bytes(): number {
    return this.#free.reduce((n, b) => n + b.length, 0);
  }

  /**
   * Shared memory of at least `bytes`, and the function that gives it back:
   * the smallest free block that fits (and is not four times too large), or
   * a new one (with `pool`, faulted in on its threads while the caller fills
   * it). A block never given back (a write abandoned at a deadline) is
   * simply never reused. With `key` (a provider id), the block that key
   * had last comes first when it fits.
   */
  take(bytes: number, pool?: ZstdPool, key?: string): { memory: Uint8Array; release: () => void } {
    let best = -1;
    for (let i = 0; i < this.#free.length; i++) {
      const len = this.#free[i]!.length;
      if (len < bytes || len > bytes * 4) continue;
      const mine = key !== undefined && this.#owner.get(this.#free[i]!) === key;
      if (mine) {
        best = i;
        break;
      }
      if (best === -1 || len < this.#free[best]!.length) best = i;
    }
    let memory: Uint8Array;
    if (best === -1) {
      memory = new Uint8Array(new SharedArrayBuffer(bytes));
      // New memory: the copy that follows pays a page fault per 4 KiB; let the pool's threads take most of them.
      if (pool !== undefined && bytes >= PREFAULT_MIN_BYTES) pool.prefault(memory);
    } else {
      memory = this.#free.splice(best, 1)[0]!;
    }
    if (key !== undefined) this.#owner.set(memory, key);
    let released = false;
    return {
      memory,
      release: () => {
        if (released) return;
        released = true;
        this.#free.push(memory);
        // Keep the largest blocks when there are too many (the state changed shape).
        if (this.#free.length > MAX_FREE_BLOCKS) this.#free.sort((a, b) => b.length - a.length).length = MAX_FREE_BLOCKS;
      },
    };
  }

  /** Drop the free blocks. */
  clear(): void {
    this.#free.length = 0;
  }

  /**
   * Whether {@link take} would find a free block for each of `sizes` (taken
   * one after another, largest first), so copies of that size fault in no
   * new memory.
   */
  canLease(sizes: readonly number[]): boolean {
    const free = this.#free.map((b) => b.length);
    for (const bytes of [...sizes].sort((a, b) => b - a)) {
      let best = -1;
      for (let i = 0; i < free.length; i++) {
        const len = free[i]!;
        if (len >= bytes && len <= bytes * 4 && (best === -1 || len < free[best]!)) best = i;
      }
      if (best === -1) return false;
      free.splice(best, 1);
    }
    return true;
  }

  /**
   * Make a free block of `bytes` ahead of need: allocated here and, with
   * `pool`, faulted in on at most `threads` of its threads in the
   * background (nothing else waits for that; a capture that takes the block
   * meanwhile is correct, it only pays the faults not yet taken).
   */
  prepare(bytes: number, pool?: ZstdPool, threads?: number): void {
    const memory = new Uint8Array(new SharedArrayBuffer(bytes));
    if (pool !== undefined) pool.prefault(memory, { threads: threads ?? pool.size, callerFills: false });
    this.#free.push(memory);
    if (this.#free.length > MAX_FREE_BLOCKS) this.#free.sort((a, b) => b.length - a.length).length = MAX_FREE_BLOCKS;
  }
}

/**
 * A copy of `encoded` whose blobs no longer alias the application's memory.
 * With an arena and enough bytes, the blobs are copied into it and the result's
 * `release()` gives the arena back (and releases the stream's memory);
 * otherwise each blob is copied into a fresh buffer.
 */
export function detachBlobs(encoded: EncodedState, arena?: CaptureArena, pool?: ZstdPool, key?: string): EncodedState {
  let total = 0;
  for (const b of encoded.blobs) total += Math.ceil(b.bytes.length / ALIGN) * ALIGN;
  if (arena === undefined || total < ARENA_MIN_BYTES) {
    const blobs = encoded.blobs.map((b) => ({ kind: b.kind, bytes: b.bytes.slice() }));
    return encoded.release === undefined ? { stream: encoded.stream, blobs } : { stream: encoded.stream, blobs, release: encoded.release };
  }
  const lease = arena.take(total, pool, key);
  const blobs: Blob[] = [];
  let at = 0;
  for (const b of encoded.blobs) {
    const bytes = lease.memory.subarray(at, at + b.bytes.length);
    bytes.set(b.bytes);
    blobs.push({ kind: b.kind, bytes });
    at += Math.ceil(b.bytes.length / ALIGN) * ALIGN;
  }
  return {
    stream: encoded.stream,
    blobs,
    release: () => {
      encoded.release?.();
      lease.release();
    },
  };
}

/** A segment of a value stream compressed during capture. */
export interface AheadSegment {
  /** Raw bytes of the segment. */
  readonly rawLength: number;
  /** The compression, on the pool. */
  readonly job: Promise<CompressResult>;
  /** Where the frame is (busy until `job` settles). */
  readonly output: Uint8Array;
}

/** The segments of a stream compressed during capture, and with which settings. */
export interface AheadStream {
  readonly segmentSize: number;
  readonly level: number;
  /** By segment index; undefined where the write has to compress. */
  readonly segments: readonly (AheadSegment | undefined)[];
}

/** A captured state as {@link captureState} returns it: encoded, and the segments of its stream compressed during capture (the writer picks them up). */
export interface CapturedEncoding extends EncodedState {
  /** Segments compressed during capture; absent when none were. */
  readonly ahead?: AheadStream;
}

/** Dispatches a stream's finished segments to the pool while it is being encoded. */
class AheadCompressor {
  readonly segments: (AheadSegment | undefined)[] = [];
  /** Each job, settled (never rejects). */
  readonly #jobs: Promise<void>[] = [];
  /**
   * The output buffers' leases: given back only by {@link release}, once the
   * image is written — the writer reads the frames long after their jobs
   * end, and a buffer given back earlier could be handed to the next
   * capture and overwritten before its frame is written.
   */
  readonly #leases: (() => void)[] = [];
  /** Segments compressed ahead at most: their outputs are held until the write (bounded memory). */
  readonly #max: number;
  #next = 0;
  /** Jobs finished, counted by the threads. */
  readonly #done = new Int32Array(new SharedArrayBuffer(4));

  constructor(
    readonly pool: ZstdPool,
    readonly segmentSize: number,
    readonly level: number,
  ) {
    this.#max = AHEAD_SLOTS_FACTOR * pool.slots;
  }

  /** EncodeOptions.onSealed: never throws, never waits (no free buffer: the write compresses the rest). */
  readonly onSealed = (buffer: Uint8Array, end: number, final: boolean): void => {
    // Only a stream the writer will give to the pool (see writeImage).
    if (end < this.pool.minBytes) return;
    const size = this.segmentSize;
    for (;;) {
      const start = this.#next * size;
      const stop = Math.min(start + size, end);
      if (stop <= start || (stop - start < size && !final) || this.#next >= this.#max) return;
      // While the main thread still encodes, leave it a core: at most
      // threads − 1 jobs at once (the rest go when it reports again). The
      // threads count finished jobs in shared memory: replies cannot be read
      // before the encoder returns.
      if (!final && this.#next - Atomics.load(this.#done, 0) >= Math.max(1, this.pool.size - 1)) return;
      const out = this.pool.aheadOutput(SegmentPipeline.outputBytes(stop - start));
      const job = this.pool.compress(buffer.subarray(start, stop), out.memory, this.level, this.#done);
      this.#leases.push(out.release);
      this.#jobs.push(job.then(() => undefined, () => undefined));
      this.segments[this.#next++] = { rawLength: stop - start, job, output: out.memory };
    }
  };

  /**
   * Once every job is over (they read the stream, and write their outputs):
   * give the outputs back, then call `after`. Called when the image is
   * written (or given up); a capture never released just lets its buffers
   * be garbage-collected.
   */
  release(after: () => void): void {
    const leases = this.#leases.splice(0);
    void Promise.all(this.#jobs.splice(0)).then(() => {
      for (const give of leases) give();
      after();
    });
  }
}

/** What {@link captureState} needs besides the encoding options. */
export interface CaptureSettings {
  /** `async`: large binary values are copied (into `arena`). */
  readonly mode: 'sync' | 'async';
  /** Pool to compress the stream on while it is encoded (none: the write compresses). */
  readonly pool: ZstdPool | undefined;
  /** Reusable memory for async copies. */
  readonly arena: CaptureArena | undefined;
  /** The encoder whose buffers are reused from one checkpoint to the next (default: the process-wide one). */
  readonly encoder?: StateEncoder;
  /** Segment size and level of the image to be written. */
  readonly segmentSize: number;
  readonly level: number;
  /** The provider's id: its async copies go into the arena block it had last. */
  readonly key?: string;
}

/**
 * Encode one provider's state for a checkpoint: with a pool, segments of a
 * large value stream are compressed while the rest is encoded; in async mode
 * large binary values are copied. The result's `release()` gives back
 * everything it holds (the writer calls it once the image is written).
 */
export function captureState(state: unknown, options: EncodeOptions, settings: CaptureSettings): CapturedEncoding {
  const ahead = settings.pool === undefined ? undefined : new AheadCompressor(settings.pool, settings.segmentSize, settings.level);
  const encodeOptions = ahead === undefined ? options : { ...options, onSealed: ahead.onSealed, sealStep: settings.segmentSize };
  let encoded = settings.encoder === undefined ? encodeState(state, encodeOptions) : settings.encoder.encode(state, encodeOptions);
  if (ahead !== undefined && ahead.segments.length > 0) {
    const inner = encoded;
    encoded = {
      stream: inner.stream,
      blobs: inner.blobs,
      release: () => ahead.release(() => inner.release?.()),
    };
  }
  if (settings.mode === 'async') encoded = detachBlobs(encoded, settings.arena, settings.pool, settings.key);
  if (ahead === undefined || ahead.segments.length === 0) return encoded;
  return { ...encoded, ahead: { segmentSize: settings.segmentSize, level: settings.level, segments: ahead.segments } };
}

/**
 * Arena bytes an async copy of `encoded`'s blobs takes (each blob aligned),
 * or 0 when they are too few to go into the arena (copied into fresh
 * buffers, cheap at that size).
 */
export function arenaBytesOf(encoded: EncodedState): number {
  let total = 0;
  for (const b of encoded.blobs) total += Math.ceil(b.bytes.length / ALIGN) * ALIGN;
  return total < ARENA_MIN_BYTES ? 0 : total;
}

/**
 * Copies of this many arena bytes or more are worth persisting without a
 * copy when no arena block is free for them (see {@link asyncCaptureNeedsWrite}).
 */
export const FIRST_COPY_MIN_BYTES = PREFAULT_MIN_BYTES;

/**
 * Whether an async checkpoint of these captures (in `captureState`'s sync
 * mode, not yet copied) should write them before the app runs again
 * instead of copying them: when the arena has no free block for a copy of
 * at least {@link FIRST_COPY_MIN_BYTES} (the first async checkpoint of a
 * process, or a state that grew). Why: copying into new memory pays a page
 * fault per 4 KiB, which on some virtual machines costs more than
 * compressing and writing the same bytes (1 GiB: 2.6 s of page faults
 * against about 1 s for the whole write on 2 cores); the write needs no
 * copy. The caller then makes the missing blocks with {@link prepareArena}
 * once the app runs, so the next async checkpoint only copies.
 */
export function asyncCaptureNeedsWrite(captures: readonly EncodedState[], arena: CaptureArena | undefined): boolean {
  if (arena === undefined) return false;
  const sizes = captures.map(arenaBytesOf).filter((n) => n > 0);
  return sizes.some((n) => n >= FIRST_COPY_MIN_BYTES) && !arena.canLease(sizes);
}

/** Make the arena blocks these captures' async copies need (see {@link asyncCaptureNeedsWrite}), faulted in on at most `threads` pool threads. */
export function prepareArena(captures: readonly EncodedState[], arena: CaptureArena, pool: ZstdPool | undefined, threads: number): void {
  const sizes = captures.map(arenaBytesOf).filter((n) => n > 0).sort((a, b) => b - a);
  const covered: number[] = [];
  for (const n of sizes) {
    covered.push(n);
    if (!arena.canLease(covered)) arena.prepare(n, pool, threads);
  }
}

/** The async copy of a state captured in sync mode: its large binary values detached (into `arena`; `key`, a provider id, gets its own block back first), its segments compressed ahead kept. */
export function detachCaptured(encoded: CapturedEncoding, arena: CaptureArena | undefined, pool: ZstdPool | undefined, key?: string): CapturedEncoding {
  const detached = detachBlobs(encoded, arena, pool, key);
  return encoded.ahead === undefined ? detached : { ...detached, ahead: encoded.ahead };
}
