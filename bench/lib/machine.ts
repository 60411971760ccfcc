/**
 * The machine's limits, measured with the simplest code that could do the
 * job, so ckpt's figures can be put against them in the same run:
 * writing + fsyncing bytes, reading a file, copying memory, touching fresh
 * memory, and zstd compressing / decompressing on every core.
 */
import { open, readFile, rename, rm } from 'node:fs/promises';
import { createRequire } from 'node:module';
import { dirname } from 'node:path';
import { Worker } from 'node:worker_threads';

const require = createRequire(import.meta.url);
const BINDING = require.resolve('zstd-napi/binding');

/** Write `bytes` to `path` and make it durable the way ckpt's FsStore does: temp file, fsync, rename, fsync the directory. */
export async function durableWrite(path: string, bytes: Uint8Array): Promise<void> {
  const tmp = `${path}.tmp`;
  const fh = await open(tmp, 'w');
  try {
    const CHUNK = 64 * 1024 * 1024;
    for (let at = 0; at < bytes.length; at += CHUNK) {
      const part = bytes.subarray(at, Math.min(bytes.length, at + CHUNK));
      let done = 0;
      while (done < part.length) done += (await fh.write(part, done, part.length - done)).bytesWritten;
    }
    await fh.sync();
  } finally {
    await fh.close();
  }
  await rename(tmp, path);
  const dir = await open(dirname(path), 'r');
  try {
    await dir.sync();
  } finally {
    await dir.close();
  }
}

/** ms to durably write `bytes` (then the file is removed). */
export async function rawWriteMs(path: string, bytes: Uint8Array): Promise<number> {
  const t0 = performance.now();
  await durableWrite(path, bytes);
  const ms = performance.now() - t0;
  await rm(path, { force: true });
  return ms;
}

/** ms to read a whole file into (fresh) memory. */
export async function readFileMs(path: string): Promise<number> {
  const t0 = performance.now();
  const b = await readFile(path);
  const ms = performance.now() - t0;
  if (b.length === 0) throw new Error('empty file');
  return ms;
}

/** ms to copy every array into a destination that was written before (warm pages): the pure memcpy. */
export function memcpyMs(src: readonly Uint8Array[], dst: readonly Uint8Array[]): number {
  const t0 = performance.now();
  for (let i = 0; i < src.length; i++) dst[i]!.set(src[i]!);
  return performance.now() - t0;
}

/** ms to copy every array into fresh memory (`slice()`): memcpy plus the page faults of new memory. */
export function freshCopyMs(src: readonly Uint8Array[]): number {
  const t0 = performance.now();
  let keep = 0;
  for (const s of src) keep += s.slice().length;
  const ms = performance.now() - t0;
  if (keep < 0) throw new Error('unreachable');
  return ms;
}

// A minimal zstd worker: compress or decompress a list of [offset, length]
// ranges of a shared buffer into its own reused output buffer.
const WORKER = `
const { parentPort, workerData } = require('node:worker_threads');
const b = require(workerData.binding);
const c = new b.CCtx();
c.setParameter(b.CParameter.compressionLevel, workerData.level);
c.setParameter(b.CParameter.checksumFlag, 1);
c.setParameter(b.CParameter.contentSizeFlag, 1);
const d = new b.DCtx();
const out = Buffer.alloc(b.compressBound(workerData.segmentSize));
parentPort.on('message', (m) => {
  let total = 0;
  if (m.op === 'f') {
    // Fresh memory of each range's size, written once: the page faults of new memory on this thread.
    for (const [, len] of m.ranges) total += new Uint8Array(new ArrayBuffer(len)).fill(1).length;
    parentPort.postMessage(total);
    return;
  }
  for (const [off, len, raw] of m.ranges) {
    const src = m.data.subarray(off, off + len);
    total += m.op === 'c' ? c.compress2(out, src) : d.decompress(out.subarray(0, raw), src);
  }
  parentPort.postMessage(total);
});
`;

/** A fixed set of zstd workers, one per core, for the limit rows. */
export class ZstdCrew {
  readonly #workers: Worker[];

  constructor(threads: number, level: number, segmentSize: number) {
    this.#workers = Array.from({ length: threads }, () => new Worker(WORKER, { eval: true, execArgv: [], workerData: { binding: BINDING, level, segmentSize } }));
  }

  /**
   * Run `op` on all ranges of `data` (a view over a SharedArrayBuffer),
   * spread round-robin; resolves with [ms, total output bytes]. `c`
   * compresses, `d` decompresses, `f` fills fresh memory of each range's size.
   */
  async run(op: 'c' | 'd' | 'f', data: Uint8Array, ranges: readonly (readonly [number, number, number])[]): Promise<[number, number]> {
    const n = this.#workers.length;
    const shares = this.#workers.map((_, w) => ranges.filter((_r, i) => i % n === w));
    const t0 = performance.now();
    const totals = await Promise.all(
      this.#workers.map(
        (w, i) =>
          new Promise<number>((resolve, reject) => {
            w.once('error', reject);
            w.once('message', (m: number) => {
              w.off('error', reject);
              resolve(m);
            });
            w.postMessage({ op, data, ranges: shares[i] });
          }),
      ),
    );
    return [performance.now() - t0, totals.reduce((a, b) => a + b, 0)];
  }

  async close(): Promise<void> {
    await Promise.all(this.#workers.map((w) => w.terminate()));
  }
}

/** Copy arrays back to back into one SharedArrayBuffer; returns it and the segment ranges `[offset, length, length]`. */
export function sharedCopy(arrays: readonly Uint8Array[], segmentSize: number): { data: Uint8Array; ranges: [number, number, number][] } {
  const total = arrays.reduce((n, a) => n + a.length, 0);
  const data = new Uint8Array(new SharedArrayBuffer(total));
  const ranges: [number, number, number][] = [];
  let at = 0;
  for (const a of arrays) {
    data.set(a, at);
    for (let o = 0; o < a.length; o += segmentSize) {
      const len = Math.min(segmentSize, a.length - o);
      ranges.push([at + o, len, len]);
    }
    at += a.length;
  }
  return { data, ranges };
}

/**
 * Samples the resident set size (every thread's memory: worker threads are
 * part of the process) and the main isolate's ArrayBuffer memory every few
 * ms; `stop()` returns the peaks above their values at construction.
 */
export class RssSampler {
  readonly #base = process.memoryUsage();
  #peakRss = this.#base.rss;
  #peakAb = this.#base.arrayBuffers;
  #n = 0;
  readonly #timer: NodeJS.Timeout;

  constructor(everyMs = 2) {
    this.#timer = setInterval(() => this.sample(), everyMs);
  }

  sample(): void {
    const r = process.memoryUsage.rss();
    if (r > this.#peakRss) this.#peakRss = r;
    // The full figures cost more (heap statistics): every fifth sample.
    if (this.#n++ % 5 === 0) {
      const ab = process.memoryUsage().arrayBuffers;
      if (ab > this.#peakAb) this.#peakAb = ab;
    }
  }

  /** Peak RSS above the RSS at construction, in bytes. */
  stop(): number {
    return this.stopAll().rss;
  }

  /** Peaks above the start: RSS, and ArrayBuffer memory of the main isolate. */
  stopAll(): { rss: number; arrayBuffers: number } {
    this.sample();
    const ab = process.memoryUsage().arrayBuffers;
    if (ab > this.#peakAb) this.#peakAb = ab;
    clearInterval(this.#timer);
    return { rss: this.#peakRss - this.#base.rss, arrayBuffers: this.#peakAb - this.#base.arrayBuffers };
  }
}
