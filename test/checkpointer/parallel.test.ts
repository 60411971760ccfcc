// The Checkpointer's worker pool and reusable memory: `compression.threads`,
// a thread dying during a checkpoint (clear error, next checkpoint fine),
// close() leaving no thread behind, a process that never calls close() still
// exiting, and async persist copying into reused shared memory.
import { spawn } from 'node:child_process';
import { writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { afterEach, describe, expect, it, vi } from 'vitest';
import { CaptureArena } from '../../src/image/capture.js';
import { ZstdPool } from '../../src/image/pool.js';
import { Checkpointer, ErrorCodes, MemoryStore } from '../../src/index.js';
import { openImage } from '../../src/format/index.js';
import { expectCode, expectThrowCode, removeTempDirs, tempDir } from './helpers.js';

afterEach(async () => {
  vi.restoreAllMocks();
  await removeTempDirs();
});

const MiB = 1024 * 1024;

function field(n: number, seed = 1): Float64Array {
  const a = new Float64Array(n);
  for (let i = 0; i < n; i++) a[i] = Math.sin((i + seed) / 300) * 40 + (i % 13);
  return a;
}

describe('worker pool of a Checkpointer', () => {
  it('compression.threads is validated; 0 compresses on the calling thread', async () => {
    expectThrowCode(() => new Checkpointer({ store: new MemoryStore(), signals: false, compression: { threads: -1 } }), ErrorCodes.INVALID_ARGUMENT);
    expectThrowCode(() => new Checkpointer({ store: new MemoryStore(), signals: false, compression: { threads: 1.5 } }), ErrorCodes.INVALID_ARGUMENT);
    const pools: ZstdPool[] = [];
    const close = ZstdPool.prototype.close;
    vi.spyOn(ZstdPool.prototype, 'close').mockImplementation(function (this: ZstdPool) {
      pools.push(this);
      return close.call(this);
    });
    const store = new MemoryStore();
    const ckpt = new Checkpointer({ store, signals: false, compression: { threads: 0 } });
    let s = { f: field(MiB / 8) };
    ckpt.register({ id: 'f', snapshot: () => s, restore: (v: typeof s) => void (s = v) });
    await ckpt.checkpoint();
    const before = s.f;
    await ckpt.restore();
    expect(Buffer.from(s.f.buffer).equals(Buffer.from(before.buffer))).toBe(true);
    await ckpt.close();
    expect(pools).toHaveLength(0); // no pool was ever made
  });

  it('a thread dying during a checkpoint fails it with a clear CkptError; the next one works; close() ends every thread', async () => {
    const pools: ZstdPool[] = [];
    const close = ZstdPool.prototype.close;
    vi.spyOn(ZstdPool.prototype, 'close').mockImplementation(function (this: ZstdPool) {
      pools.push(this);
      return close.call(this);
    });
    const compress = ZstdPool.prototype.compress;
    let crash = true;
    vi.spyOn(ZstdPool.prototype, 'compress').mockImplementation(function (this: ZstdPool, ...args: Parameters<ZstdPool['compress']>) {
      const job = compress.apply(this, args);
      if (crash) {
        crash = false;
        void this.crashOneThreadForTesting();
      }
      return job;
    });
    const dir = await tempDir();
    const ckpt = new Checkpointer({ store: dir, signals: false, compression: { threads: 2, level: 1 } });
    let s = { f: field((10 * MiB) / 8), step: 1 };
    ckpt.register({ id: 'f', snapshot: () => s, restore: (v: typeof s) => void (s = v) });
    const err = await expectCode(ckpt.checkpoint({ step: 1 }), ErrorCodes.SNAPSHOT_FAILED);
    expect(err.message).toMatch(/zstd worker thread of ckpt (exited|threw)/);
    expect(await ckpt.list()).toHaveLength(0);
    s = { f: field((10 * MiB) / 8, 7), step: 2 };
    const info = await ckpt.checkpoint({ step: 2 });
    expect(info.step).toBe(2);
    const saved = s.f;
    s = { f: new Float64Array(0), step: 0 };
    await ckpt.restore();
    expect(s.step).toBe(2);
    expect(Buffer.from(s.f.buffer).equals(Buffer.from(saved.buffer))).toBe(true);
    await ckpt.close();
    expect(pools).toHaveLength(1);
    expect(pools[0]!.running).toBe(0);
  });

  it('async persist copies large arrays into memory it reuses, and the app may change them at once', async () => {
    const memories: Uint8Array[] = [];
    const take = CaptureArena.prototype.take;
    vi.spyOn(CaptureArena.prototype, 'take').mockImplementation(function (this: CaptureArena, bytes: number) {
      const lease = take.call(this, bytes);
      memories.push(lease.memory);
      return lease;
    });
    const ckpt = new Checkpointer({ store: new MemoryStore(), signals: false, persist: 'async' });
    const live = { f: field(MiB / 8), n: 0 };
    let restored: typeof live | undefined;
    ckpt.register<typeof live>({
      id: 'f',
      snapshot: () => live,
      // Runs right after capture: the app changes its array while the image is written.
      resume: () => void live.f.fill(-1),
      restore: (v) => void (restored = v),
    });
    const expected = Buffer.from(field(MiB / 8).buffer);
    await ckpt.checkpoint();
    live.f.set(field(MiB / 8));
    await ckpt.checkpoint();
    await ckpt.restore();
    expect(Buffer.from(restored!.f.buffer).equals(expected)).toBe(true);
    expect(memories).toHaveLength(2);
    expect(memories[1]!.buffer).toBe(memories[0]!.buffer); // the second capture reused the first one's memory
    expect(memories[0]!.buffer).toBeInstanceOf(SharedArrayBuffer);
    await ckpt.close();
  });

  it('a process that checkpoints a large state and never calls close() still exits', async () => {
    const dir = await tempDir();
    const script = join(dir, 'no-close.mjs');
    const entry = new URL('../../src/index.ts', import.meta.url).pathname;
    await writeFile(
      script,
      `import { Checkpointer } from ${JSON.stringify(entry)};
const ckpt = new Checkpointer({ store: ${JSON.stringify(join(dir, 'store'))}, signals: false, compression: { threads: 2 } });
const f = new Float64Array(${(12 * MiB) / 8}).map((_, i) => Math.sin(i / 100));
let back;
ckpt.register({ id: 'f', snapshot: () => ({ f }), restore: (s) => { back = s.f; } });
await ckpt.checkpoint();
await ckpt.restore();
console.log(back.length === f.length && back[1234] === f[1234] ? 'ok' : 'bad');
`,
    );
    const out = await new Promise<{ code: number | null; stdout: string; ms: number }>((resolve, reject) => {
      const t0 = Date.now();
      const child = spawn(process.execPath, ['--import', 'tsx', script], { stdio: ['ignore', 'pipe', 'pipe'] });
      let stdout = '';
      let stderr = '';
      const timer = setTimeout(() => child.kill('SIGKILL'), 30_000);
      child.stdout.on('data', (d: Buffer) => (stdout += d.toString()));
      child.stderr.on('data', (d: Buffer) => (stderr += d.toString()));
      child.on('error', reject);
      child.on('exit', (code) => {
        clearTimeout(timer);
        if (code !== 0) reject(new Error(`child exited ${String(code)}: ${stderr}`));
        else resolve({ code, stdout, ms: Date.now() - t0 });
      });
    });
    expect(out.stdout.trim()).toBe('ok');
  }, 40_000);
});

describe('segments compressed during capture', () => {
  it('two large value streams, the second snapshot awaiting: every frame is written as compressed (buffers held until the write)', async () => {
    const store = new MemoryStore();
    const ckpt = new Checkpointer({ store, signals: false, compression: { threads: 2 } });
    // Value streams of ~10 MiB each (arrays of small records, not blobs): above the pool threshold.
    const make = (seed: number): unknown[] => Array.from({ length: 1_000_000 }, (_, i) => [i * seed, `k${(i * seed) % 1000}`]);
    const a = make(1);
    const b = make(3);
    let back: Record<string, unknown> = {};
    ckpt.register({ id: 'a', snapshot: () => a, restore: (v) => void (back['a'] = v) });
    ckpt.register({
      id: 'b',
      // Yields to the event loop between the two captures: the first capture's compressions end meanwhile.
      snapshot: async () => {
        await new Promise((r) => setTimeout(r, 200));
        return b;
      },
      restore: (v) => void (back['b'] = v),
    });
    try {
      for (let round = 0; round < 2; round++) {
        const info = await ckpt.checkpoint();
        expect(info.providers.every((p) => p.rawBytes > 8 * MiB)).toBe(true);
        const reader = await openImage(await store.open(info.id));
        try {
          const report = await reader.verify();
          expect(report.problems).toEqual([]);
          expect(report.ok).toBe(true);
        } finally {
          await reader.close();
        }
        back = {};
        await ckpt.restore(info.id);
        // JSON as a fast exact comparison of a million small arrays.
        expect(JSON.stringify(back['a']) === JSON.stringify(a)).toBe(true);
        expect(JSON.stringify(back['b']) === JSON.stringify(b)).toBe(true);
      }
    } finally {
      await ckpt.close();
    }
  }, 120_000);
});

