// What checkpointing costs a running app, by mechanism (never by time):
// - compression.backgroundThreads bounds the pool threads an async persist
//   keeps busy once the app runs again (default cores − 1), validated;
// - a write on the pool compresses on at most WriteSettings.threads threads;
// - the first async checkpoint of a large state is written before the app
//   resumes (no copy into new memory), and the capture memory for the next
//   one is made in the background, so the next one only copies.
import { availableParallelism } from 'node:os';
import { afterAll, afterEach, describe, expect, it, vi } from 'vitest';
import { ClassRegistry } from '../../src/codec/class-registry.js';
import { encodeState } from '../../src/codec/encode.js';
import { asyncCaptureNeedsWrite, CaptureArena, FIRST_COPY_MIN_BYTES } from '../../src/image/capture.js';
import { ZstdPool } from '../../src/image/pool.js';
import { writeImage, type CapturedProvider } from '../../src/image/writer.js';
import { Checkpointer, ErrorCodes, MemoryStore } from '../../src/index.js';
import { checkpointerSettings } from '../../src/options.js';
import type { ImageSink } from '../../src/store/store.js';
import { FIXED_MANIFEST } from '../helpers/image-bytes.js';
import { ControlledStore, deferred } from '../runtime/helpers.js';
import { expectThrowCode } from './helpers.js';

const KiB = 1024;
const MiB = 1024 * KiB;

afterEach(() => vi.restoreAllMocks());

function field(n: number, seed = 1): Float64Array {
  const a = new Float64Array(n);
  for (let i = 0; i < n; i++) a[i] = Math.sin((i + seed) / 300) * 40 + (i % 13);
  return a;
}

function nullSink(): ImageSink {
  return { id: FIXED_MANIFEST.imageId, write: () => Promise.resolve(), commit: () => Promise.resolve(), abort: () => Promise.resolve() };
}

/** Pools the Checkpointer under test compresses on (found through the prototype). */
function watchPools(): Set<ZstdPool> {
  const pools = new Set<ZstdPool>();
  const compress = ZstdPool.prototype.compress;
  vi.spyOn(ZstdPool.prototype, 'compress').mockImplementation(function (this: ZstdPool, ...args: Parameters<ZstdPool['compress']>) {
    pools.add(this);
    return compress.apply(this, args);
  });
  return pools;
}

describe('compression.backgroundThreads: options', () => {
  const settings = (compression: Record<string, unknown>) => checkpointerSettings({ store: new MemoryStore(), compression }, () => undefined);

  it('defaults to one core fewer than the machine has, at least 1, at most threads', () => {
    expect(settings({}).backgroundThreads).toBe(Math.max(1, availableParallelism() - 1));
    expect(settings({ threads: 1 }).backgroundThreads).toBe(1);
    expect(settings({ threads: 0 }).backgroundThreads).toBe(1);
    expect(settings({ threads: 8 }).backgroundThreads).toBe(Math.min(8, Math.max(1, availableParallelism() - 1)));
    expect(settings({ threads: 4, backgroundThreads: 4 }).backgroundThreads).toBe(4);
    expect(settings({ threads: 4, backgroundThreads: 2 }).backgroundThreads).toBe(2);
  });

  it('rejects counts below 1, fractions, non-numbers and more than threads, naming the option', () => {
    for (const bad of [0, -1, 1.5, '2', Number.NaN, null]) {
      const err = expectThrowCode(() => settings({ threads: 2, backgroundThreads: bad }), ErrorCodes.INVALID_ARGUMENT);
      expect(err.message).toMatch(/compression\.backgroundThreads/);
    }
    const over = expectThrowCode(() => settings({ threads: 2, backgroundThreads: 3 }), ErrorCodes.INVALID_ARGUMENT);
    expect(over.message).toMatch(/at most compression\.threads \(2\)/);
    // No threads at all: the count is moot, any valid one is accepted.
    expect(settings({ threads: 0, backgroundThreads: 3 }).backgroundThreads).toBe(3);
  });
});

describe('a write on the pool compresses on at most `threads` threads', () => {
  const pools: ZstdPool[] = [];
  afterAll(() => Promise.all(pools.map((p) => p.close())));

  const captured = (): CapturedProvider[] => [
    { id: 'f', version: 1, tree: true, encoded: encodeState({ a: field(MiB / 2), b: field(MiB / 2, 7) }, { tree: true, classes: new ClassRegistry(), blobThreshold: 64 * KiB, maxDepth: 100 }) },
  ];

  for (const [threads, peak] of [
    [undefined, 2],
    [2, 2],
    [1, 1],
  ] as const) {
    it(`threads ${String(threads)}: at most ${peak} thread(s) compressing at once, ${peak} started`, async () => {
      const pool = new ZstdPool(2, 0);
      pools.push(pool);
      const res = await writeImage(nullSink(), FIXED_MANIFEST, captured(), { level: 1, segmentSize: 256 * KiB, blobThreshold: 64 * KiB, pool, ...(threads === undefined ? {} : { threads }) });
      expect(res.index.segments.length).toBeGreaterThan(16); // 8 MiB in 256 KiB segments: many jobs
      expect(pool.peakCompressing).toBe(peak);
      expect(pool.running).toBe(peak);
    });
  }
});

describe('async persist on the pool', () => {
  /** A Checkpointer with a state of two 12 MiB arrays (pooled: ≥ 8 MiB) and what its hooks saw. */
  function app(compression: { threads: number; backgroundThreads?: number }, store = new ControlledStore()) {
    const ckpt = new Checkpointer({ store, signals: false, persist: 'async', compression: { level: 1, ...compression }, unregisteredResources: 'off' });
    const live = { a: field((12 * MiB) / 8), b: field((12 * MiB) / 8, 5) };
    const writtenAtResume: boolean[] = [];
    const warnings: string[] = [];
    ckpt.on('warning', (w) => void warnings.push(w.code));
    ckpt.register<typeof live>({
      id: 'sim',
      snapshot: () => live,
      resume: () => void writtenAtResume.push(store.log.some((l) => l.startsWith(`write:`) && !store.log.includes(`commit:${l.slice(6)}`))),
      restore: () => undefined,
    });
    return { ckpt, live, store, writtenAtResume, warnings };
  }

  for (const [backgroundThreads, peak] of [
    [1, 1],
    [2, 2],
  ] as const) {
    it(`backgroundThreads ${backgroundThreads} of 2: the background write keeps at most ${peak} thread(s) busy`, async () => {
      const pools = watchPools();
      const { ckpt } = app({ threads: 2, backgroundThreads });
      try {
        await ckpt.checkpoint({ step: 1 }); // the first one is written before the app resumes, on every thread
        const [pool] = [...pools];
        expect(pools.size).toBe(1);
        expect(pool!.peakCompressing).toBe(2);
        for (let step = 2; step <= 3; step++) {
          pool!.resetPeak();
          await ckpt.checkpoint({ step });
          expect(pool!.peakCompressing).toBe(peak);
        }
      } finally {
        await ckpt.close();
      }
    });
  }

  it('the first async checkpoint of a large state is written before the app resumes, without a copy; the next ones copy into memory made in the background', async () => {
    const takes: Uint8Array[] = [];
    const prepared: Uint8Array[] = [];
    const take = CaptureArena.prototype.take;
    vi.spyOn(CaptureArena.prototype, 'take').mockImplementation(function (this: CaptureArena, ...args: Parameters<CaptureArena['take']>) {
      const lease = take.apply(this, args);
      takes.push(lease.memory);
      return lease;
    });
    const prefault = ZstdPool.prototype.prefault;
    vi.spyOn(ZstdPool.prototype, 'prefault').mockImplementation(function (this: ZstdPool, ...args: Parameters<ZstdPool['prefault']>) {
      prepared.push(args[0]);
      return prefault.apply(this, args);
    });
    const { ckpt, live, store, writtenAtResume, warnings } = app({ threads: 2, backgroundThreads: 1 });
    try {
      const expected = [live.a.slice(), live.b.slice()];
      const first = await ckpt.checkpoint({ step: 1 });
      // Written (not yet committed) when the app was let go; nothing copied.
      expect(writtenAtResume).toEqual([true]);
      expect(takes).toHaveLength(0);
      // The memory for the next capture: one block for the provider's 24 MiB (+ alignment), made after the write.
      expect(prepared).toHaveLength(1);
      expect(prepared[0]!.length).toBeGreaterThanOrEqual(24 * MiB);
      expect(first.pauseMs).toBeGreaterThan(0);

      // The second: captured by a copy into that block, the write runs after the app resumed.
      const gate = deferred();
      store.hold = gate.promise;
      const run = ckpt.checkpoint({ step: 2 });
      await vi.waitFor(() => expect(writtenAtResume).toHaveLength(2));
      expect(writtenAtResume[1]).toBe(false);
      expect(takes).toHaveLength(1);
      expect(takes[0]!.buffer).toBe(prepared[0]!.buffer);
      // The app changes its arrays while the image is written: the image keeps the captured values.
      live.a.fill(-1);
      live.b.fill(-2);
      gate.resolve();
      store.hold = undefined;
      await run;
      let restored: { a: Float64Array; b: Float64Array } | undefined;
      const reader = new Checkpointer({ store: store.inner, signals: false, readOnly: true });
      reader.register<{ a: Float64Array; b: Float64Array }>({ id: 'sim', snapshot: () => ({ a: new Float64Array(0), b: new Float64Array(0) }), restore: (s) => void (restored = s) });
      await reader.restore();
      await reader.close();
      expect(Buffer.from(restored!.a.buffer).equals(Buffer.from(expected[0]!.buffer))).toBe(true);
      expect(Buffer.from(restored!.b.buffer).equals(Buffer.from(expected[1]!.buffer))).toBe(true);
      // No further block was made: the arena kept the one it had.
      expect(prepared).toHaveLength(1);
      // The second checkpoint was started without await on purpose (to hold its write).
      expect(new Set(warnings)).toEqual(new Set(['CKPT_WARN_NOT_AWAITED']));
    } finally {
      await ckpt.close();
    }
  });

  it('memory being prepared in the background is not an open handle of the app (the unregisteredResources check at the next checkpoint)', async () => {
    const pool = new ZstdPool(1, 0);
    const workers = (): number => process.getActiveResourcesInfo().filter((k) => k === 'MessagePort').length;
    try {
      await pool.prefault(new Uint8Array(new SharedArrayBuffer(4 * MiB))).done; // the thread is started
      const idle = workers();
      // Ahead of need: nothing waits for it, the worker stays unref'd.
      const ahead = pool.prefault(new Uint8Array(new SharedArrayBuffer(64 * MiB)), { callerFills: false });
      expect(workers()).toBe(idle);
      await ahead.done;
      // While a caller fills the memory it waits for the touching: the worker is ref'd meanwhile.
      const filling = pool.prefault(new Uint8Array(new SharedArrayBuffer(64 * MiB)));
      expect(workers()).toBe(idle + 1);
      await filling.done;
      expect(workers()).toBe(idle);
    } finally {
      await pool.close();
    }
  });

  it('small states (below the threshold) are copied at once, as before: the write runs after the app resumes', () => {
    const arena = new CaptureArena();
    const classes = new ClassRegistry();
    const small = encodeState({ a: field((FIRST_COPY_MIN_BYTES / 8) >> 1) }, { tree: true, classes, blobThreshold: 64 * KiB, maxDepth: 100 });
    const large = encodeState({ a: field(FIRST_COPY_MIN_BYTES / 8) }, { tree: true, classes, blobThreshold: 64 * KiB, maxDepth: 100 });
    expect(asyncCaptureNeedsWrite([small], arena)).toBe(false);
    expect(asyncCaptureNeedsWrite([large], arena)).toBe(true);
    expect(asyncCaptureNeedsWrite([large], undefined)).toBe(false);
    arena.prepare(FIRST_COPY_MIN_BYTES + 64);
    expect(asyncCaptureNeedsWrite([large], arena)).toBe(false);
    // Two large captures need two blocks.
    expect(asyncCaptureNeedsWrite([large, large], arena)).toBe(true);
  });
});
