/**
 * Scenario "typed arrays": a simulation's state of large Float64Arrays and
 * Int32Arrays, checkpointed durably (sync and async persist) and restored,
 * against the machine's limits measured in the same run.
 */
import { readFile, rm } from 'node:fs/promises';
import { createRequire } from 'node:module';
import { availableParallelism } from 'node:os';
import { join } from 'node:path';
import { Checkpointer } from 'ckpt';
import { simBytes, simState, type SimState } from './lib/data.js';
import { durableWrite, freshCopyMs, memcpyMs, rawWriteMs, readFileMs, RssSampler, sharedCopy, ZstdCrew } from './lib/machine.js';
import { fmt, interleave, med, MiB, rate, type Variant } from './lib/stats.js';

export interface TypedOptions {
  readonly bytes: number;
  readonly reps: number;
  readonly level: number;
  readonly dir: string;
  readonly log: (s: string) => void;
}

export interface Row {
  readonly name: string;
  readonly ms: number;
  readonly note: string;
  readonly [k: string]: number | string;
}

interface ZstdBinding {
  CCtx: new () => { setParameter(p: number, v: number): void; compress2(dst: Uint8Array, src: Uint8Array): number };
  CParameter: { compressionLevel: number; checksumFlag: number; contentSizeFlag: number };
  compressBound(n: number): number;
}

const SEGMENT = 4 * MiB;

function views(s: SimState): Uint8Array[] {
  return [s.temperature, s.pressure, s.velocity, s.neighbour, s.material].map((a) => new Uint8Array(a.buffer, a.byteOffset, a.byteLength));
}

/** Every segment compressed once (setup, untimed), back to back in a SharedArrayBuffer, for the decompression limit. */
function compressedCopy(arrays: readonly Uint8Array[], level: number): { data: Uint8Array; ranges: [number, number, number][] } {
  const b = createRequire(import.meta.url)('zstd-napi/binding') as ZstdBinding;
  const c = new b.CCtx();
  c.setParameter(b.CParameter.compressionLevel, level);
  c.setParameter(b.CParameter.checksumFlag, 1);
  c.setParameter(b.CParameter.contentSizeFlag, 1);
  const frames: Uint8Array[] = [];
  const tmp = Buffer.alloc(b.compressBound(SEGMENT));
  for (const a of arrays) {
    for (let o = 0; o < a.length; o += SEGMENT) {
      const src = a.subarray(o, Math.min(a.length, o + SEGMENT));
      frames.push(Uint8Array.prototype.slice.call(tmp, 0, c.compress2(tmp, src)));
    }
  }
  const data = new Uint8Array(new SharedArrayBuffer(frames.reduce((n, f) => n + f.length, 0)));
  const ranges: [number, number, number][] = [];
  let at = 0;
  let i = 0;
  for (const a of arrays) {
    for (let o = 0; o < a.length; o += SEGMENT) {
      const f = frames[i++]!;
      data.set(f, at);
      ranges.push([at, f.length, Math.min(SEGMENT, a.length - o)]);
      at += f.length;
    }
  }
  return { data, ranges };
}

export async function runTyped(o: TypedOptions): Promise<{ rows: Row[]; summary: Record<string, number>; samples: Record<string, Record<string, number>[]> }> {
  const log = o.log;
  log(`typed arrays: generating ${fmt(o.bytes / MiB)} MiB of state…`);
  const state = simState(o.bytes);
  const stateBytes = simBytes(state);
  const src = views(state);
  let restored: SimState | undefined;
  const provider = {
    id: 'sim',
    snapshot: () => state,
    restore: (s: SimState) => void (restored = s),
  };
  const syncCk = new Checkpointer({ store: join(o.dir, 'sync'), compression: { level: o.level }, retention: { keepLast: 1 }, signals: false });
  const asyncCk = new Checkpointer({ store: join(o.dir, 'async'), compression: { level: o.level }, retention: { keepLast: 1 }, signals: false, persist: 'async' });
  syncCk.register(provider);
  asyncCk.register(provider);

  // Warm-up (untimed): starts worker threads, fills page caches, tells us the image size.
  // The first checkpoints also start the worker threads and allocate the
  // pool's slots (and, async, the capture arena): their memory is reported too.
  log('typed arrays: warm-up checkpoints…');
  let rss = new RssSampler();
  const first = await syncCk.checkpoint({ step: 0 });
  const firstSync = { ...rss.stopAll(), ms: first.totalMs };
  rss = new RssSampler();
  const firstAsyncInfo = await asyncCk.checkpoint({ step: 0 });
  const firstAsync = { ...rss.stopAll(), ms: firstAsyncInfo.totalMs, pauseMs: firstAsyncInfo.pauseMs };
  // The next one at once: its copy goes into the memory the first one left
  // being faulted in on a pool thread (compression.backgroundThreads).
  const secondAsyncInfo = await asyncCk.checkpoint({ step: 0 });
  // A copy of the image: retention removes the store's own file at the next checkpoint.
  const imageBytes = new Uint8Array(await readFile(join(o.dir, 'sync', `${first.id}.ckpt`)));
  const imagePath = join(o.dir, 'image-copy.ckpt');
  await durableWrite(imagePath, imageBytes);
  await syncCk.restore();
  const ok = restored !== undefined && Buffer.from(restored.temperature.buffer).equals(Buffer.from(state.temperature.buffer)) && Buffer.from(restored.material.buffer).equals(Buffer.from(state.material.buffer));
  if (!ok) throw new Error('typed arrays: the restored state differs from the saved one');
  restored = undefined;

  log('typed arrays: preparing limit measurements…');
  const threads = availableParallelism();
  const crew = new ZstdCrew(threads, o.level, SEGMENT);
  const shared = sharedCopy(src, SEGMENT);
  const frames = compressedCopy(src, o.level);
  const warm = src.map((s) => new Uint8Array(s.length).fill(1));
  await crew.run('c', shared.data, shared.ranges.slice(0, threads)); // load the binding in every worker

  let step = 1;
  /** One checkpoint: its time, pause, image size and the peak extra memory while it ran. */
  const timedCheckpoint = async (ck: Checkpointer): Promise<{ ms: number } & Record<string, number>> => {
    const sampler = new RssSampler();
    const t0 = performance.now();
    const info = await ck.checkpoint({ step: step++ });
    const ms = performance.now() - t0;
    const peak = sampler.stopAll();
    return { ms, pauseMs: info.pauseMs, extraRss: peak.rss, extraArrayBuffers: peak.arrayBuffers, imageBytes: info.bytes };
  };
  const variants: Variant[] = [
    { name: 'limit: write+fsync image bytes', run: async () => ({ ms: await rawWriteMs(join(o.dir, 'raw.bin'), imageBytes) }) },
    {
      name: `limit: zstd-${o.level} compress, ${threads} threads`,
      run: async () => {
        const [ms, out] = await crew.run('c', shared.data, shared.ranges);
        return { ms, outBytes: out };
      },
    },
    { name: 'limit: memcpy state (warm destination)', run: () => Promise.resolve({ ms: memcpyMs(src, warm) }) },
    { name: 'limit: copy state to fresh memory', run: () => Promise.resolve({ ms: freshCopyMs(src) }) },
    { name: 'limit: read image file', run: async () => ({ ms: await readFileMs(imagePath) }) },
    {
      // Per array, the way ckpt's restore fills them: each thread creates whole arrays.
      name: `limit: fill fresh memory, ${threads} threads`,
      run: async () => {
        const [ms] = await crew.run('f', shared.data, src.map((a) => [0, a.length, a.length] as const));
        return { ms };
      },
    },
    {
      name: `limit: zstd decompress, ${threads} threads`,
      run: async () => {
        const [ms] = await crew.run('d', frames.data, frames.ranges);
        return { ms };
      },
    },
    { name: 'ckpt checkpoint, sync persist', run: () => timedCheckpoint(syncCk) },
    { name: 'ckpt checkpoint, async persist', run: () => timedCheckpoint(asyncCk) },
    {
      name: 'ckpt restore',
      run: async () => {
        const sampler = new RssSampler();
        const t0 = performance.now();
        await syncCk.restore();
        const ms = performance.now() - t0;
        const extra = sampler.stop();
        restored = undefined;
        return { ms, extraRss: extra };
      },
    },
  ];
  const samples = await interleave(variants, o.reps, log);
  await crew.close();
  await syncCk.close();
  await asyncCk.close();
  await rm(o.dir, { recursive: true, force: true });

  const m = (name: string, key = 'ms'): number => med(samples, name, key);
  const write = m(variants[0]!.name);
  const zstd = m(variants[1]!.name);
  const memcpy = m(variants[2]!.name);
  const fresh = m(variants[3]!.name);
  const readMs = m(variants[4]!.name);
  const freshT = m(variants[5]!.name);
  const unzstd = m(variants[6]!.name);
  const limit = Math.max(write, zstd);
  const sync = m('ckpt checkpoint, sync persist');
  const syncRss = m('ckpt checkpoint, sync persist', 'extraRss');
  const asyncTotal = m('ckpt checkpoint, async persist');
  const asyncPause = m('ckpt checkpoint, async persist', 'pauseMs');
  const asyncRss = m('ckpt checkpoint, async persist', 'extraRss');
  const restore = m('ckpt restore');
  const restoreRss = m('ckpt restore', 'extraRss');
  const img = m('ckpt checkpoint, sync persist', 'imageBytes');
  const zstdOut = m(variants[1]!.name, 'outBytes');
  const rows: Row[] = [
    { name: variants[0]!.name, ms: write, note: `${rate(img, write)} of image (${fmt(img / MiB)} MiB)` },
    { name: variants[1]!.name, ms: zstd, note: `${rate(stateBytes, zstd)} of state, ratio ${fmt(zstdOut / stateBytes, 3)}` },
    { name: '**machine limit** = slower of the two', ms: limit, note: rate(stateBytes, limit) },
    { name: 'compress, then write+fsync (back to back)', ms: zstd + write, note: `the sum of the two: what overlapping them can save; on ${threads} cores both compete for the same cores` },
    { name: variants[2]!.name, ms: memcpy, note: rate(stateBytes, memcpy) },
    { name: variants[3]!.name, ms: fresh, note: `${rate(stateBytes, fresh)} (memcpy + page faults of new memory)` },
    { name: variants[4]!.name, ms: readMs, note: rate(img, readMs) },
    { name: variants[5]!.name, ms: freshT, note: `${rate(stateBytes, freshT)}: the floor of any restore into new arrays, ${threads} arrays built at once` },
    { name: variants[6]!.name, ms: unzstd, note: `${rate(stateBytes, unzstd)} of state` },
    { name: 'ckpt checkpoint, sync persist (durable)', ms: sync, note: `${rate(stateBytes, sync)}; **${fmt(sync / limit, 2)}× the machine limit**; peak extra RSS ${fmt(syncRss / MiB)} MiB` },
    { name: 'ckpt checkpoint, async persist: pause', ms: asyncPause, note: `**${fmt(asyncPause / memcpy, 2)}× memcpy**, ${fmt(asyncPause / fresh, 2)}× fresh copy` },
    { name: 'ckpt checkpoint, async persist: until durable', ms: asyncTotal, note: `${fmt(asyncTotal / limit, 2)}× the machine limit; peak extra RSS ${fmt(asyncRss / MiB)} MiB` },
    { name: 'ckpt restore', ms: restore, note: `**${rate(stateBytes, restore)} of state**, ${fmt(restore / freshT, 2)}× filling fresh memory on ${threads} threads; peak extra RSS ${fmt(restoreRss / MiB)} MiB (the restored arrays are ${fmt(stateBytes / MiB)} MiB)` },
    { name: 'first checkpoint, sync (starts threads, allocates slots)', ms: firstSync.ms, note: `peak extra RSS ${fmt(firstSync.rss / MiB)} MiB, ArrayBuffers (main thread) ${fmt(firstSync.arrayBuffers / MiB)} MiB` },
    { name: 'first checkpoint, async (written before the app resumes; then prepares the capture arena)', ms: firstAsync.ms, note: `**pause ${fmt(firstAsync.pauseMs)} ms = ${fmt(firstAsync.pauseMs / asyncPause, 1)}× the steady pause**; peak extra RSS ${fmt(firstAsync.rss / MiB)} MiB, ArrayBuffers ${fmt(firstAsync.arrayBuffers / MiB)} MiB` },
    { name: 'second checkpoint, async, right after the first', ms: secondAsyncInfo.totalMs, note: `pause ${fmt(secondAsyncInfo.pauseMs)} ms = ${fmt(secondAsyncInfo.pauseMs / asyncPause, 1)}× the steady pause (copies into the arena while it may still be faulted in)` },
  ];
  const summary = {
    stateBytes,
    imageBytes: img,
    limitMs: limit,
    syncMs: sync,
    syncVsLimit: sync / limit,
    syncExtraRss: syncRss,
    asyncPauseMs: asyncPause,
    asyncPauseVsMemcpy: asyncPause / memcpy,
    asyncTotalMs: asyncTotal,
    asyncExtraRss: asyncRss,
    restoreMs: restore,
    restoreMBps: stateBytes / 1e3 / restore,
    freshMemoryThreadsMs: freshT,
    restoreVsFreshMemory: restore / freshT,
    restoreExtraRss: restoreRss,
    firstSyncMs: firstSync.ms,
    firstSyncExtraRss: firstSync.rss,
    firstSyncExtraArrayBuffers: firstSync.arrayBuffers,
    firstAsyncMs: firstAsync.ms,
    firstAsyncPauseMs: firstAsync.pauseMs,
    firstAsyncPauseVsSteady: firstAsync.pauseMs / asyncPause,
    secondAsyncPauseMs: secondAsyncInfo.pauseMs,
    firstAsyncExtraRss: firstAsync.rss,
    firstAsyncExtraArrayBuffers: firstAsync.arrayBuffers,
    syncExtraArrayBuffers: m('ckpt checkpoint, sync persist', 'extraArrayBuffers'),
    asyncExtraArrayBuffers: m('ckpt checkpoint, async persist', 'extraArrayBuffers'),
  };
  return { rows, summary, samples: Object.fromEntries(samples) };
}
