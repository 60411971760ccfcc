/**
 * @module image/pool
 *
 * A pool of worker threads that compress and decompress segments with zstd,
 * so a large image uses every core while the main thread only cuts, copies
 * and writes. Buffers travel as views over SharedArrayBuffers: the pool owns
 * a fixed set of segment {@link Slot}s (input + output), reused from one image
 * to the next, so nothing is copied by `postMessage` and no fresh memory is
 * faulted in per segment. The number of slots bounds the segments in flight
 * (threads + 2), which bounds the memory a write or read holds to
 * (segment size × slots), whatever the state's size.
 *
 * Threads start lazily at the first task, are `unref`'d while idle (the pool
 * never keeps a process alive), and are terminated by {@link ZstdPool.close}.
 * A thread that dies fails its tasks with a `CkptError` naming what happened;
 * the next task starts a new thread.
 */
import { createRequire } from 'node:module';
import { pathToFileURL } from 'node:url';
import { Worker } from 'node:worker_threads';
import { CkptError, ErrorCodes, type ErrorCode } from '../errors.js';
import { SegmentCodec, type SegmentCodecId } from './constants.js';
import type { ChainLevel, PoolReply, PoolTask, SegmentOpen } from './pool-worker.js';
import { SegmentPipeline, type FrameFailure } from './segment-pipeline.js';
import type { SegmentOutcome, SegmentTask } from './incremental-plan.js';

/**
 * Default {@link ZstdPool.minBytes}: images (and runs read) smaller than this
 * are (de)compressed on the main thread — a thread round trip costs more, and
 * starting the threads would eat a short-lived process's first checkpoint.
 */
export const POOL_MIN_BYTES = 8 * 1024 * 1024;

/** Output buffers of segments compressed ahead that a pool keeps for reuse (one stream's worth: see image/capture). */
const OUTPUTS_KEEP_MAX = 16;

/** Largest value-stream scratch a pool keeps between restores. */
const SCRATCH_KEEP_MAX = 512 * 1024 * 1024;

/** Result of compressing one segment in the pool. */
export interface CompressResult {
  /** Frame size in `dst`, or -1 when compression did not help (store `src` raw); sealed: the sealed bytes' size in `dst`. */
  readonly length: number;
  /** CRC-32 of the stored bytes (the frame, or `src` when raw; sealed: the sealed bytes). */
  readonly crc: number;
  /** Sealed (`open` given): the segment's codec. */
  readonly codec?: SegmentCodecId;
}

/** A segment's worth of shared memory, lent by {@link ZstdPool.acquire}; give it back with `release()`. */
export interface Slot {
  /** Input buffer (raw bytes to compress, or stored bytes to decompress). */
  readonly input: Uint8Array;
  /** Output buffer. */
  readonly output: Uint8Array;
  /** Return the slot to the pool. Idempotent. */
  release(): void;
}

interface Pending {
  resolve(reply: PoolReply): void;
  reject(err: Error): void;
  readonly code: ErrorCode;
  readonly what: string;
  /** Whether this task keeps the process alive (and the thread ref'd) until it is answered. */
  readonly keepAlive: boolean;
}

interface Thread {
  readonly worker: Worker;
  readonly pending: Map<number, Pending>;
  /** Pending tasks that keep the process alive: the worker is ref'd while there are any. */
  refs: number;
  dead: boolean;
  /** Bytes of run buffers this thread holds. */
  owned: number;
}

/**
 * A run (value stream or blob) being read into an ArrayBuffer that one pool
 * thread, its owner, allocated and will transfer; see {@link ZstdPool.openRun}.
 */
export interface RunBuffer {
  /** Raw bytes of the run. */
  readonly bytes: number;
}

interface OwnedRun extends RunBuffer {
  readonly owner: Thread;
  readonly key: number;
}

interface SlotMemory {
  input: Uint8Array;
  output: Uint8Array;
}

function shared(bytes: number): Uint8Array {
  return new Uint8Array(new SharedArrayBuffer(Math.max(1, bytes)));
}

/**
 * How a pool thread is started: the worker module next to this one. Built
 * (`dist/`), that is plain JavaScript; run from the TypeScript sources
 * (tests, benchmarks through tsx or vitest), the thread first registers
 * tsx's loader (resolved from here) and then imports the `.ts` file.
 */
function workerEntry(): { entry: string | URL; eval: boolean } {
  const here = import.meta.url;
  if (!here.endsWith('.ts')) return { entry: new URL('./pool-worker.js', here), eval: false };
  // tsx's ESM API (its `exports` map gives `require` the CommonJS file; `import` needs the .mjs one).
  const tsx = pathToFileURL(createRequire(here).resolve('tsx/esm/api').replace(/\.cjs$/, '.mjs')).href;
  const file = new URL('./pool-worker.ts', here).href;
  const source = `import(${JSON.stringify(tsx)}).then((t) => { t.register(); return import(${JSON.stringify(file)}); });`;
  return { entry: source, eval: true };
}

/** zstd worker threads plus the shared segment slots they work on. */
export class ZstdPool {
  /** Number of threads. */
  readonly size: number;
  readonly #threads: Thread[] = [];
  readonly #free: SlotMemory[] = [];
  readonly #waiters: { in: number; out: number; resolve(s: Slot): void; reject(e: Error): void }[] = [];
  #slotCount = 0;
  readonly #maxSlots: number;
  /** Shared memory kept for value streams being decoded (see {@link takeScratch}). */
  #scratch: Uint8Array | undefined;
  /** Output buffers for segments compressed ahead, kept for reuse (see {@link aheadOutput}). */
  readonly #outputs: Uint8Array[] = [];
  #nextId = 1;
  #closed = false;
  /** Threads that have compression jobs posted and not yet answered, with how many. */
  readonly #compressingOn = new Map<Thread, number>();
  #peakCompressing = 0;
  /** The calling thread's pipeline, for work below {@link minBytes} (a writer given this pool and no pipeline of its own uses it). */
  readonly pipeline = new SegmentPipeline();

  /** Work smaller than this (an image's raw bytes, a run to read) stays on the calling thread. */
  readonly minBytes: number;

  /**
   * @param size - number of worker threads (≥ 1)
   * @param minBytes - see {@link minBytes} (default {@link POOL_MIN_BYTES})
   */
  constructor(size: number, minBytes = POOL_MIN_BYTES) {
    if (!Number.isSafeInteger(size) || size < 1) throw new CkptError(ErrorCodes.INVALID_ARGUMENT, `a worker pool needs at least one thread, got ${String(size)}`);
    this.size = size;
    this.minBytes = minBytes;
    this.#maxSlots = size + 2;
  }

  /** Slots the pool lends at most at once (threads + 2): the segments in flight. */
  get slots(): number {
    return this.#maxSlots;
  }

  /** Threads running now (started lazily). */
  get running(): number {
    return this.#threads.length;
  }

  /**
   * Most threads compressing at once (with compression jobs posted and not
   * yet answered) since the pool was made or {@link resetPeak} was last
   * called: what a thread budget bounds.
   */
  get peakCompressing(): number {
    return this.#peakCompressing;
  }

  /** Start counting {@link peakCompressing} anew (from the threads compressing now). */
  resetPeak(): void {
    this.#peakCompressing = this.#compressingOn.size;
  }

  /**
   * Borrow a slot whose input holds at least `inBytes` and output at least
   * `outBytes`. Waits while all slots are lent: this is the backpressure
   * that bounds memory in flight.
   */
  acquire(inBytes: number, outBytes: number): Promise<Slot> {
    if (this.#closed) return Promise.reject(this.#closedError());
    const mem = this.#free.pop() ?? (this.#slotCount < this.#maxSlots ? this.#newSlot() : undefined);
    if (mem !== undefined) return Promise.resolve(this.#lend(mem, inBytes, outBytes));
    return new Promise((resolve, reject) => this.#waiters.push({ in: inBytes, out: outBytes, resolve, reject }));
  }

  #newSlot(): SlotMemory {
    this.#slotCount++;
    return { input: shared(0), output: shared(0) };
  }

  #lend(mem: SlotMemory, inBytes: number, outBytes: number): Slot {
    // Grown on demand (a larger segment size); kept at that size for reuse.
    if (mem.input.length < inBytes) mem.input = shared(inBytes);
    if (mem.output.length < outBytes) mem.output = shared(outBytes);
    let released = false;
    return {
      input: mem.input,
      output: mem.output,
      release: () => {
        if (released) return;
        released = true;
        this.#giveBack(mem);
      },
    };
  }

  #giveBack(mem: SlotMemory): void {
    if (this.#closed) return;
    const w = this.#waiters.shift();
    if (w !== undefined) w.resolve(this.#lend(mem, w.in, w.out));
    else this.#free.push(mem);
  }

  /**
   * Shared memory of at least `bytes` for a value stream that is decoded
   * and then dropped (its bytes are copied out by the decoder): threads
   * decompress straight into it, and it is reused by the next restore
   * instead of faulting in new pages. One at a time; a second caller while
   * it is lent gets memory of its own. Kept up to {@link SCRATCH_KEEP_MAX}.
   */
  takeScratch(bytes: number): { memory: Uint8Array; release: () => void } {
    const kept = this.#scratch;
    this.#scratch = undefined;
    const memory = kept !== undefined && kept.length >= bytes ? kept : shared(bytes);
    let released = false;
    return {
      memory,
      release: () => {
        if (released || this.#closed) return;
        released = true;
        if (memory.length <= SCRATCH_KEEP_MAX && (this.#scratch === undefined || this.#scratch.length < memory.length)) this.#scratch = memory;
      },
    };
  }

  /**
   * An output buffer of at least `bytes` for a segment compressed ahead of
   * the write (while the rest of a stream is still being encoded). Never
   * waits (the encoder that asks cannot: it runs synchronously), and kept
   * apart from the slots: one never given back (a checkpoint that failed
   * before its write) can stall nothing; it is simply garbage-collected.
   * Given back ones are kept for the next checkpoint (at most
   * {@link OUTPUTS_KEEP_MAX}), so their pages are not faulted in again.
   */
  aheadOutput(bytes: number): { memory: Uint8Array; release: () => void } {
    const i = this.#outputs.findIndex((b) => b.length >= bytes);
    const memory = i === -1 ? shared(bytes) : this.#outputs.splice(i, 1)[0]!;
    let released = false;
    return {
      memory,
      release: (): void => {
        if (released) return;
        released = true;
        if (!this.#closed && this.#outputs.length < OUTPUTS_KEEP_MAX) this.#outputs.push(memory);
      },
    };
  }

  /**
   * Compress `src` into `dst` (views over SharedArrayBuffers; `dst` ≥
   * compressBound). With `done` (an Int32Array over shared memory), the
   * thread also adds 1 to `done[0]` when it has finished: a caller that
   * cannot wait for the reply (the encoder, mid-stream) can still see it.
   */
  async compress(src: Uint8Array, dst: Uint8Array, level: number, done?: Int32Array, threads?: number, open?: SegmentOpen): Promise<CompressResult> {
    const r = await this.#compressOn(this.#pick(threads), { op: 'encode', level, src, dst, done, open }, 'compressing a segment');
    if (open === undefined) return { length: r.n ?? -1, crc: r.crc ?? 0 };
    if (r.n === undefined || (r.codec !== SegmentCodec.RAW && r.codec !== SegmentCodec.ZSTD)) throw new CkptError(ErrorCodes.SNAPSHOT_FAILED, 'sealing a segment: the pool thread gave no result');
    return { length: r.n, crc: r.crc ?? 0, codec: r.codec };
  }

  /**
   * Seal one segment of an encrypted image that was compressed earlier:
   * the `length` bytes of frame at the start of `buf` (in place), or `src`
   * when `length` is -1 (stored raw), into `buf` (16 bytes of room after
   * them for the tag). Resolves with the sealed length and its CRC-32.
   */
  async seal(buf: Uint8Array, length: number, src: Uint8Array | undefined, codec: SegmentCodecId, rawLength: number, open: SegmentOpen, threads?: number): Promise<{ length: number; crc: number }> {
    const r = await this.#compressOn(this.#pick(threads), { op: 'seal', buf, n: length, src, codec, raw: rawLength, open }, 'sealing a segment');
    if (r.n === undefined) throw new CkptError(ErrorCodes.SNAPSHOT_FAILED, 'sealing a segment: the pool thread gave no result');
    return { length: r.n, crc: r.crc ?? 0 };
  }

  /**
   * One segment of an incremental image on a thread (see
   * `encodeSegment` in image/incremental-plan): every buffer of `task` is a
   * view over shared memory. At most `threads` threads are used (default all).
   */
  async encodeSegment(task: SegmentTask, threads?: number): Promise<SegmentOutcome> {
    const r = await this.#compressOn(this.#pick(threads), { op: 'encodeSegment', task }, 'encoding a segment');
    if (r.outcome === undefined) throw new CkptError(ErrorCodes.SNAPSHOT_FAILED, 'encoding a segment: the pool thread gave no result');
    return r.outcome;
  }

  /** Post a compression task to `t`, counted for {@link peakCompressing}. */
  async #compressOn(t: Thread, message: PoolTask, what: string): Promise<PoolReply> {
    this.#compressingOn.set(t, (this.#compressingOn.get(t) ?? 0) + 1);
    this.#peakCompressing = Math.max(this.#peakCompressing, this.#compressingOn.size);
    try {
      return await this.#post(t, message, ErrorCodes.SNAPSHOT_FAILED, what);
    } finally {
      const left = (this.#compressingOn.get(t) ?? 1) - 1;
      if (left > 0) this.#compressingOn.set(t, left);
      else this.#compressingOn.delete(t);
    }
  }

  /**
   * Check `src` against `crc` and the zstd frame against `dst.length` (and
   * `maxRawBytes`), then decompress into `dst` (views over
   * SharedArrayBuffers). Resolves with the failed check, or undefined when
   * the segment is sound. With `open` (a segment of an encrypted image,
   * `codec` raw or zstd) the bytes are authenticated and decrypted first.
   */
  async decompress(src: Uint8Array, dst: Uint8Array, crc: number, maxRawBytes = Number.POSITIVE_INFINITY, open?: SegmentOpen, codec?: number): Promise<FrameFailure | undefined> {
    const r = await this.#post(this.#pick(), { op: 'decode', src, dst, crc, maxRawBytes, open, codec }, ErrorCodes.CORRUPT, 'decompressing a segment');
    return r.fail;
  }

  /**
   * Check stored bytes (shared memory) against `crc` and, with `open` (a
   * segment of an encrypted image), authenticate them (`codec`, `raw` as the
   * index records them) on the least busy thread, without decompressing.
   * Resolves with the failed check, or undefined.
   */
  async verify(src: Uint8Array, crc: number, codec: number, raw: number, open?: SegmentOpen): Promise<FrameFailure | undefined> {
    const r = await this.#post(this.#pick(), { op: 'verify', src, crc, codec, raw, open }, ErrorCodes.CORRUPT, 'checking a segment');
    return r.fail;
  }

  /**
   * Start reading a run of `bytes` raw bytes: the thread holding the fewest
   * run bytes allocates its buffer (so several runs fill, and fault in their
   * pages, on several threads at once). Fill it with {@link fillRun}, then
   * {@link takeRun} or {@link dropRun}.
   */
  async openRun(bytes: number): Promise<RunBuffer> {
    if (this.#closed) throw this.#closedError();
    while (this.#threads.length < this.size) this.#spawn();
    let owner = this.#threads[0]!;
    for (const t of this.#threads) if (t.owned < owner.owned) owner = t;
    const key = this.#nextId++;
    owner.owned += bytes;
    const run: OwnedRun = { bytes, owner, key };
    await this.#post(owner, { op: 'openRun', run: key, bytes }, ErrorCodes.LIMIT, 'allocating a run buffer');
    return run;
  }

  /**
   * Check one stored segment (`src`: CRC-32 `crc`, codec 0 raw or 1 zstd)
   * and put its `raw` bytes into `run` at `offset`. A zstd segment is
   * decompressed by the least busy thread: the owner writes straight into
   * the run; another thread decompresses into `scratch` (≥ `raw` bytes,
   * shared) and the owner copies it in. Resolves with the failed check, or
   * undefined. `src` and `scratch` are busy until it settles. A frame may
   * declare at most `maxRawBytes`. With `open` (a segment of an encrypted
   * image) the thread authenticates and decrypts the bytes first.
   */
  async fillRun(
    runBuffer: RunBuffer,
    offset: number,
    src: Uint8Array,
    crc: number,
    codec: number,
    raw: number,
    scratch: Uint8Array,
    maxRawBytes = Number.POSITIVE_INFINITY,
    open?: SegmentOpen,
  ): Promise<FrameFailure | undefined> {
    const run = runBuffer as OwnedRun;
    const what = 'reading a segment';
    const code = ErrorCodes.CORRUPT;
    // The owner, unless it is already busy and the segment needs work a
    // thread can do elsewhere (decompress or decrypt; then copied in by the owner).
    const t = (codec === 1 || open !== undefined) && run.owner.pending.size > 1 ? this.#pick() : run.owner;
    if (t === run.owner) {
      const r = await this.#post(t, { op: 'fillRun', run: run.key, offset, src, crc, codec, raw, maxRawBytes, open }, code, what);
      return r.fail;
    }
    const out = scratch.subarray(0, raw);
    const r = await this.#post(t, { op: 'decode', src, dst: out, crc, maxRawBytes, open, codec }, code, what);
    if (r.fail !== undefined) return r.fail;
    await this.#post(run.owner, { op: 'copyIntoRun', run: run.key, offset, src: out }, code, what);
    return undefined;
  }

  /**
   * Decode an XOR-delta chain (`levels`, base first, their stored bytes
   * back to back in `stored`) into `raw` bytes at `offset` of `runBuffer`:
   * on its owner, or — when the owner is busy — on another thread into
   * `into` (shared memory, at least `raw` bytes), then copied in by the
   * owner; without a run buffer, into `into` itself. Resolves with the
   * failed level and check, or undefined.
   */
  async fillChain(
    runBuffer: RunBuffer | undefined,
    offset: number,
    into: Uint8Array,
    raw: number,
    stored: Uint8Array,
    levels: readonly ChainLevel[],
    maxRawBytes = Number.POSITIVE_INFINITY,
  ): Promise<{ readonly level: number; readonly fail?: FrameFailure; readonly hashMismatch?: boolean } | undefined> {
    const what = 'reading an XOR delta chain';
    const code = ErrorCodes.CORRUPT;
    const failed = (r: PoolReply): { level: number; fail?: FrameFailure; hashMismatch?: boolean } | undefined =>
      r.level === undefined ? undefined : { level: r.level, ...(r.fail === undefined ? {} : { fail: r.fail }), ...(r.hashMismatch === true ? { hashMismatch: true } : {}) };
    if (runBuffer === undefined) return failed(await this.#post(this.#pick(), { op: 'fillChain', dst: into.subarray(0, raw), offset: 0, raw, stored, levels, maxRawBytes }, code, what));
    const run = runBuffer as OwnedRun;
    if (run.owner.pending.size <= 1) return failed(await this.#post(run.owner, { op: 'fillChain', run: run.key, offset, raw, stored, levels, maxRawBytes }, code, what));
    const out = into.subarray(0, raw);
    const r = failed(await this.#post(this.#pick(), { op: 'fillChain', dst: out, offset: 0, raw, stored, levels, maxRawBytes }, code, what));
    if (r !== undefined) return r;
    await this.#post(run.owner, { op: 'copyIntoRun', run: run.key, offset, src: out }, code, what);
    return undefined;
  }

  /**
   * Fault in the pages of new shared memory on the pool's threads. By
   * default the calling thread fills it from the start meanwhile: the
   * memory is cut into one part per thread plus one, and each thread
   * touches one part other than the first. With `callerFills: false`
   * (memory prepared ahead of need) the threads take every part. At most
   * `threads` threads take part (default all; fewer leave cores to the app).
   * A thread touches its part without changing a byte, so it races safely
   * with a filling (the worker's `prefault`). Why: on some virtual machines
   * a page fault costs ~14 µs, so the first copy into 1 GiB of new memory
   * takes seconds on one thread. Returns at once; never fails (it is only a
   * speed-up); `done` settles when every part is touched.
   */
  prefault(memory: Uint8Array, options: { readonly threads?: number; readonly callerFills?: boolean } = {}): { readonly done: Promise<void> } {
    if (this.#closed || !(memory.buffer instanceof SharedArrayBuffer) || memory.byteOffset % 4 !== 0) return { done: Promise.resolve() };
    const threads = Math.max(1, Math.min(this.size, options.threads ?? this.size));
    while (this.#threads.length < threads) this.#spawn();
    const callerFills = options.callerFills !== false;
    const words = Math.floor(memory.byteLength / 4);
    const parts = threads + (callerFills ? 1 : 0);
    const per = Math.ceil(words / parts);
    const jobs: Promise<unknown>[] = [];
    for (let k = callerFills ? 1 : 0; k < parts; k++) {
      const from = k * per;
      const to = Math.min(words, from + per);
      if (to <= from) continue;
      const view = new Int32Array(memory.buffer, memory.byteOffset + from * 4, to - from);
      const t = this.#threads[(k - (callerFills ? 1 : 0)) % this.#threads.length]!;
      // Memory prepared ahead of need does not keep the process alive (nothing waits for it).
      jobs.push(this.#post(t, { op: 'prefault', memory: view }, ErrorCodes.SNAPSHOT_FAILED, 'preparing memory', callerFills).catch(() => undefined));
    }
    return { done: Promise.all(jobs).then(() => undefined) };
  }

  /** Operations waiting on or running in the thread that owns `runBuffer` (to spread work over the owners). */
  ownerLoad(runBuffer: RunBuffer): number {
    return (runBuffer as OwnedRun).owner.pending.size;
  }

  /** The filled run's buffer, transferred from its owner thread (no copy). */
  async takeRun(runBuffer: RunBuffer): Promise<ArrayBuffer> {
    const run = runBuffer as OwnedRun;
    try {
      const r = await this.#post(run.owner, { op: 'takeRun', run: run.key }, ErrorCodes.CORRUPT, 'handing over a run buffer');
      return r.buffer!;
    } finally {
      run.owner.owned -= run.bytes;
    }
  }

  /** Forget a run that will not be completed (a failed read). Never throws. */
  dropRun(runBuffer: RunBuffer): void {
    const run = runBuffer as OwnedRun;
    run.owner.owned -= run.bytes;
    if (run.owner.dead || this.#closed) return;
    this.#post(run.owner, { op: 'dropRun', run: run.key }, ErrorCodes.CORRUPT, 'dropping a run buffer').catch(() => undefined);
  }

  /**
   * Send one task to `t`. A task with `keepAlive` (all but background
   * speed-ups) refs the worker until answered, so the process lives until
   * the work it waits for is done; one without leaves the worker unref'd
   * (an idle app may exit, and the worker is not an open handle of the app).
   */
  #post(t: Thread, message: PoolTask, code: ErrorCode, what: string, keepAlive = true): Promise<PoolReply> {
    if (this.#closed) return Promise.reject(this.#closedError());
    if (t.dead) return Promise.reject(new CkptError(code, `a zstd worker thread of ckpt exited while ${what}; the operation failed, the pool starts a new thread for the next one`));
    const id = this.#nextId++;
    return new Promise<PoolReply>((resolve, reject) => {
      if (keepAlive && t.refs++ === 0) t.worker.ref();
      t.pending.set(id, { resolve, reject, code, what, keepAlive });
      t.worker.postMessage({ id, ...message });
    }).then((r) => {
      if (r.error !== undefined) throw new CkptError(code, `ckpt's zstd worker failed ${what}: ${r.error}`);
      return r;
    });
  }

  /**
   * The least busy live thread of the first `threads` (default all); a new
   * one while fewer than that run and all are busy. Work queued on fewer
   * threads keeps the others (and their cores) free.
   */
  #pick(threads = this.size): Thread {
    const n = Math.max(1, Math.min(this.size, threads));
    let best: Thread | undefined;
    for (const t of this.#threads.slice(0, n)) if (best === undefined || t.pending.size < best.pending.size) best = t;
    if ((best === undefined || best.pending.size > 0) && this.#threads.length < n) best = this.#spawn();
    return best!;
  }

  #spawn(): Thread {
    // execArgv: [] — the app's flags (loaders, inspectors) are not for this thread.
    const { entry, eval: isSource } = workerEntry();
    const worker = new Worker(entry, { eval: isSource, execArgv: [], stdout: false, stderr: false });
    worker.unref();
    const t: Thread = { worker, pending: new Map(), refs: 0, dead: false, owned: 0 };
    worker.on('message', (r: PoolReply) => {
      const p = t.pending.get(r.id);
      if (p === undefined) return;
      t.pending.delete(r.id);
      if (p.keepAlive && --t.refs === 0) worker.unref();
      p.resolve(r);
    });
    worker.on('error', (err) => this.#lost(t, `threw ${err.message}`, err));
    worker.on('exit', (exitCode) => this.#lost(t, `exited with code ${exitCode}`));
    this.#threads.push(t);
    return t;
  }

  /** A thread died: fail its tasks, forget it (the next task starts a new one). */
  #lost(t: Thread, how: string, cause?: Error): void {
    if (!t.dead) {
      t.dead = true;
      const i = this.#threads.indexOf(t);
      if (i !== -1) this.#threads.splice(i, 1);
    }
    for (const [id, p] of t.pending) {
      t.pending.delete(id);
      const msg = this.#closed
        ? `the worker pool was closed while ${p.what}`
        : `a zstd worker thread of ckpt ${how} while ${p.what}; the operation failed, the pool starts a new thread for the next one`;
      p.reject(new CkptError(this.#closed ? ErrorCodes.CLOSED : p.code, msg, cause === undefined ? {} : { cause }));
    }
  }

  #closedError(): CkptError {
    return new CkptError(ErrorCodes.CLOSED, 'the worker pool is closed (its Checkpointer was closed)');
  }

  /**
   * Terminate one running thread as if it had crashed (tests of crash
   * handling). Resolves when it is gone. @internal
   */
  async crashOneThreadForTesting(): Promise<boolean> {
    const t = this.#threads[0];
    if (t === undefined) return false;
    await t.worker.terminate();
    return true;
  }

  /** Terminate every thread, fail waiting and running tasks with `CKPT_ERR_CLOSED`, drop the slots. Idempotent. */
  async close(): Promise<void> {
    if (this.#closed) return;
    this.#closed = true;
    for (const w of this.#waiters.splice(0)) w.reject(this.#closedError());
    this.#free.length = 0;
    this.#scratch = undefined;
    this.#outputs.length = 0;
    const threads = this.#threads.splice(0);
    await Promise.all(threads.map((t) => t.worker.terminate()));
  }
}
