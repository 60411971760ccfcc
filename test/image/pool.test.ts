// The zstd worker pool: images written on it are byte for byte those written
// on the main thread (segment order kept), read back through it exactly,
// damage is reported as on the main thread, a thread that dies fails the
// operation with a clear CkptError and the pool recovers, segments in flight
// are bounded, and close() leaves no thread behind.
import { afterAll, describe, expect, it } from 'vitest';
import { ClassRegistry } from '../../src/codec/class-registry.js';
import { encodeState } from '../../src/codec/encode.js';
import { CkptError, ErrorCodes } from '../../src/errors.js';
import { CaptureArena, captureState } from '../../src/image/capture.js';
import { ZstdPool } from '../../src/image/pool.js';
import { ImageReader, useReaderPool } from '../../src/image/reader.js';
import { writeImage, type CapturedProvider } from '../../src/image/writer.js';
import { compressBound } from '../../src/image/zstd.js';
import type { ImageSink, ImageSource } from '../../src/store/store.js';
import { FIXED_MANIFEST, memorySource } from '../helpers/image-bytes.js';

const KiB = 1024;
const pool = new ZstdPool(2, 0);
afterAll(() => pool.close());

/** A state of several blobs and a multi-segment value stream: compressible, incompressible and raw segments. */
function state(): unknown {
  const smooth = new Float64Array(96 * KiB);
  for (let i = 0; i < smooth.length; i++) smooth[i] = Math.sin(i / 100) * 50;
  const noise = new Uint8Array(300 * KiB);
  let x = 12345;
  for (let i = 0; i < noise.length; i++) {
    x ^= x << 13;
    x ^= x >>> 17;
    x ^= x << 5;
    noise[i] = x & 0xff;
  }
  const ints = Int32Array.from({ length: 80 * KiB }, (_, i) => i >> 4);
  const records = Array.from({ length: 20_000 }, (_, i) => ({ id: i, name: `r${i}`, v: [i, i / 3] }));
  return { smooth, noise, ints, records, empty: new Float32Array(0) };
}

function capture(tree = false): CapturedProvider[] {
  const classes = new ClassRegistry();
  return [
    { id: 'a', version: 1, tree, encoded: encodeState(state(), { tree, classes, blobThreshold: 64 * KiB, maxDepth: 100 }) },
    { id: 'small', version: 1, tree, encoded: encodeState({ n: 1 }, { tree, classes, blobThreshold: 64 * KiB, maxDepth: 100 }) },
  ];
}

function memorySink(onWrite?: (n: number) => Promise<void>): { sink: ImageSink; bytes: () => Buffer } {
  const chunks: Buffer[] = [];
  let n = 0;
  return {
    sink: {
      id: FIXED_MANIFEST.imageId,
      write: async (c) => {
        chunks.push(Buffer.from(c));
        await onWrite?.(n++);
      },
      commit: () => Promise.resolve(),
      abort: () => Promise.resolve(),
    },
    bytes: () => Buffer.concat(chunks),
  };
}

async function write(providers: CapturedProvider[], p: ZstdPool | undefined, segmentSize = 64 * KiB, level = 3): Promise<Buffer> {
  const m = memorySink();
  await writeImage(m.sink, FIXED_MANIFEST, providers, { level, segmentSize, blobThreshold: 64 * KiB, ...(p === undefined ? {} : { pool: p }) });
  return m.bytes();
}

async function read(bytes: Uint8Array, p: ZstdPool | undefined): Promise<unknown> {
  const reader = await ImageReader.open(memorySource(bytes));
  useReaderPool(reader, p);
  try {
    return await reader.readProvider('a');
  } finally {
    await reader.close();
  }
}

describe('zstd worker pool', () => {
  it('writes the same bytes as the main thread, segments in order', async () => {
    const inline = await write(capture(), undefined);
    const pooled = await write(capture(), pool);
    expect(pooled.equals(inline)).toBe(true);
    expect(pool.running).toBeGreaterThan(0);
    const reader = await ImageReader.open(memorySource(pooled));
    // Many segments, some stored raw (the noise), some zstd.
    expect(reader.index.segments.length).toBeGreaterThan(20);
    expect(new Set(reader.index.segments.map((s) => s.codec))).toEqual(new Set([0, 1]));
    await reader.close();
  });

  it('reads back exactly through the pool (typed arrays over their own buffers)', async () => {
    const bytes = await write(capture(), pool);
    const expected = state() as Record<string, unknown>;
    for (const p of [undefined, pool]) {
      const got = (await read(bytes, p)) as Record<string, ArrayBufferView & { buffer: ArrayBuffer }>;
      for (const k of ['smooth', 'noise', 'ints', 'empty'] as const) {
        const e = expected[k] as ArrayBufferView;
        expect(Buffer.from(got[k]!.buffer).equals(Buffer.from(e.buffer, e.byteOffset, e.byteLength))).toBe(true);
        expect(got[k]!.buffer).toBeInstanceOf(ArrayBuffer);
        expect(got[k]!.byteOffset).toBe(0);
      }
      expect(got['records']).toEqual(expected['records']);
    }
  });

  it('writes from shared (leased) memory and from app memory alike, and releases leases after the write', async () => {
    const classes = new ClassRegistry();
    const big = Array.from({ length: 60_000 }, (_, i) => ({ i, s: 'x'.repeat(i % 20) }));
    const encoded = encodeState(big, { tree: true, classes, blobThreshold: 64 * KiB, maxDepth: 100 });
    expect(encoded.stream.buffer).toBeInstanceOf(SharedArrayBuffer);
    let released = 0;
    const tracked = { ...encoded, release: () => void released++ };
    const bytes = await write([{ id: 'a', version: 1, tree: true, encoded: tracked }], pool);
    expect(released).toBe(1);
    expect(await read(bytes, pool)).toEqual(big);
    encoded.release?.();
  });

  it('segments compressed during capture (while the stream is encoded) give the same image', async () => {
    const classes = new ClassRegistry();
    // A stream of about 2 MiB: streams are compressed ahead only past 1 MiB (where the encoder lends its buffer).
    const big = (): unknown => ({ m: new Map([[1, Array.from({ length: 80_000 }, (_, i) => ({ i, s: `v${i % 97}` }))]]), list: Array.from({ length: 100_000 }, (_, i) => [i, `n${i}`]) });
    // Identity mode too: the same image, compressed ahead.
    const identity = { tree: false, classes, blobThreshold: 64 * KiB, maxDepth: 100 };
    const plainIdentity = await write([{ id: 'a', version: 1, tree: false, encoded: encodeState(big(), identity) }], undefined);
    const capturedIdentity = captureState(big(), identity, { mode: 'sync', pool, arena: undefined, segmentSize: 64 * KiB, level: 3 });
    expect(capturedIdentity.ahead?.segments.length).toBeGreaterThan(3);
    expect((await write([{ id: 'a', version: 1, tree: false, encoded: capturedIdentity }], pool)).equals(plainIdentity)).toBe(true);
    const opts = { tree: true, classes, blobThreshold: 64 * KiB, maxDepth: 100 };
    const plain = await write([{ id: 'a', version: 1, tree: true, encoded: encodeState(big(), opts) }], undefined);
    let sealed = 0;
    const encoded = captureState(big(), { ...opts }, { mode: 'sync', pool, arena: undefined, segmentSize: 64 * KiB, level: 3 });
    expect(encoded.ahead?.segments.length).toBeGreaterThan(3);
    // Bounded: each holds an output buffer until the write; the writer compresses the rest.
    expect(encoded.stream.length / (64 * KiB)).toBeGreaterThan(4 * pool.slots);
    expect(encoded.ahead!.segments.filter((x) => x !== undefined).length).toBeLessThanOrEqual(4 * pool.slots);
    const withAhead = await write([{ id: 'a', version: 1, tree: true, encoded }], pool);
    expect(withAhead.equals(plain)).toBe(true);
    // The encoder reported sealed prefixes while it ran (not only at the end).
    const seen: boolean[] = [];
    encodeState(big(), { ...opts, sealStep: 64 * KiB, onSealed: (_b, end, final) => void (seen.push(final), (sealed = end)) }).release?.();
    expect(seen.filter((f) => !f).length).toBeGreaterThan(3);
    expect(sealed).toBeGreaterThan(64 * KiB);
    // Captures that are never written give their buffers back on release; the next one still writes the same image.
    const given: Uint8Array[] = [];
    const ahead = pool.aheadOutput.bind(pool);
    pool.aheadOutput = (bytes: number) => {
      const o = ahead(bytes);
      given.push(o.memory);
      return o;
    };
    try {
      for (let i = 0; i < 3; i++) captureState(big(), { ...opts }, { mode: 'sync', pool, arena: undefined, segmentSize: 64 * KiB, level: 3 }).release?.();
      await new Promise((r) => setTimeout(r, 300));
      const again = captureState(big(), { ...opts }, { mode: 'sync', pool, arena: undefined, segmentSize: 64 * KiB, level: 3 });
      expect((await write([{ id: 'a', version: 1, tree: true, encoded: again }], pool)).equals(plain)).toBe(true);
      // Buffers were reused from one capture to the next.
      expect(new Set(given.map((g) => g.buffer)).size).toBeLessThan(given.length);
    } finally {
      pool.aheadOutput = ahead;
    }
  });

  it('reports damage through the pool exactly as on the main thread', async () => {
    const bytes = await write(capture(), pool);
    const reader = await ImageReader.open(memorySource(bytes));
    const zstdSeg = reader.index.segments.findIndex((s, i) => s.codec === 1 && i > 3);
    const rawSeg = reader.index.segments.findIndex((s) => s.codec === 0 && s.rawLength > 0);
    await reader.close();
    for (const seg of [zstdSeg, rawSeg]) {
      const reader2 = await ImageReader.open(memorySource(bytes));
      const at = reader2.index.segments[seg]!.offset + 7;
      await reader2.close();
      const damaged = Buffer.from(bytes);
      damaged[at]! ^= 0x40;
      const errors: CkptError[] = [];
      for (const p of [undefined, pool]) {
        try {
          await read(damaged, p);
        } catch (err) {
          errors.push(err as CkptError);
        }
      }
      expect(errors).toHaveLength(2);
      for (const e of errors) {
        expect(e).toBeInstanceOf(CkptError);
        expect(e.code).toBe(ErrorCodes.CORRUPT);
        expect(e.where).toBe(`segment ${seg}`);
      }
      expect(errors[1]!.message).toBe(errors[0]!.message);
    }
  });

  it('bounds the segments in flight to its slots (threads + 2)', async () => {
    const p = new ZstdPool(1, 0);
    try {
      expect(p.slots).toBe(3);
      const held = await Promise.all([p.acquire(10, 10), p.acquire(10, 10), p.acquire(10, 10)]);
      let fourth = false;
      const waiting = p.acquire(10, 10).then((s) => {
        fourth = true;
        return s;
      });
      await new Promise((r) => setTimeout(r, 20));
      expect(fourth).toBe(false);
      held[0].release();
      const s = await waiting;
      expect(fourth).toBe(true);
      s.release();
      for (const h of held) h.release();
      // A writer behind a slow sink keeps at most `slots` segments (and no more) in flight.
      let inFlightMax = 0;
      let writes = 0;
      const m = memorySink(async () => {
        writes++;
        await new Promise((r) => setTimeout(r, 2));
      });
      const origAcquire = p.acquire.bind(p);
      let lent = 0;
      p.acquire = async (a: number, b: number) => {
        const slot = await origAcquire(a, b);
        lent++;
        inFlightMax = Math.max(inFlightMax, lent);
        const release = slot.release;
        return { ...slot, release: () => { lent--; release(); } };
      };
      await writeImage(m.sink, FIXED_MANIFEST, capture(), { level: 1, segmentSize: 64 * KiB, blobThreshold: 64 * KiB, pool: p });
      expect(writes).toBeGreaterThan(20);
      expect(inFlightMax).toBeLessThanOrEqual(3);
    } finally {
      await p.close();
    }
  });

  it('a thread that dies fails the running operation with a clear CkptError, and the pool recovers', async () => {
    const p = new ZstdPool(1, 0);
    try {
      // A task that is surely running when the thread dies: a large segment at a high level.
      const src = new Uint8Array(new SharedArrayBuffer(8 * 1024 * KiB));
      for (let i = 0; i < src.length; i++) src[i] = (i * 2654435761) >>> 27;
      const dst = new Uint8Array(new SharedArrayBuffer(compressBound(src.length)));
      const job = p.compress(src, dst, 19);
      expect(await p.crashOneThreadForTesting()).toBe(true);
      const err = (await job.catch((e: unknown) => e)) as CkptError;
      expect(err).toBeInstanceOf(CkptError);
      expect(err.code).toBe(ErrorCodes.SNAPSHOT_FAILED);
      expect(err.message).toMatch(/zstd worker thread of ckpt exited/);
      expect(p.running).toBe(0);

      // A write whose thread dies midway fails; the next one succeeds.
      const slow = memorySink(async (n) => {
        if (n === 2) await p.crashOneThreadForTesting();
      });
      const failed = await writeImage(slow.sink, FIXED_MANIFEST, capture(), { level: 19, segmentSize: 64 * KiB, blobThreshold: 64 * KiB, pool: p }).catch((e: unknown) => e);
      expect(failed).toBeInstanceOf(CkptError);
      expect((failed as CkptError).code).toBe(ErrorCodes.SNAPSHOT_FAILED);
      const ok = await write(capture(), p);
      expect(ok.equals(await write(capture(), undefined))).toBe(true);

      // Reading: a thread dying while a run is assembled (here: after the third
      // segment read) fails the read with CORRUPT (a restore falls back past
      // it with a warning, as past a failed store read); the next read works.
      const mem = memorySource(ok);
      let reads = 0;
      const slowSource = {
        ...mem,
        read: async (offset: number, length: number) => {
          const out = await mem.read(offset, length);
          await new Promise((r) => setTimeout(r, 3));
          if (++reads === 6) await p.crashOneThreadForTesting();
          return out;
        },
      };
      const reader = await ImageReader.open(slowSource);
      useReaderPool(reader, p);
      const readErr = (await reader.readProvider('a').catch((e: unknown) => e)) as CkptError;
      expect(readErr).toBeInstanceOf(CkptError);
      expect(readErr.code).toBe(ErrorCodes.CORRUPT);
      expect(readErr.message).toMatch(/zstd worker thread of ckpt/);
      expect(await reader.readProvider('a')).toEqual(await read(ok, undefined));
      await reader.close();
    } finally {
      await p.close();
    }
  }, 60_000);

  it('close() ends every thread and fails later use with CKPT_ERR_CLOSED', async () => {
    const p = new ZstdPool(2, 0);
    await write(capture(), p);
    expect(p.running).toBe(2);
    await p.close();
    expect(p.running).toBe(0);
    const err = (await p.acquire(1, 1).catch((e: unknown) => e)) as CkptError;
    expect(err.code).toBe(ErrorCodes.CLOSED);
    await p.close(); // idempotent
  });
});

/** memorySource plus readInto, counting how the reader reads. */
function readIntoSource(bytes: Uint8Array): { source: ImageSource; counts: { read: number; readInto: number } } {
  const base = memorySource(bytes);
  const counts = { read: 0, readInto: 0 };
  return {
    counts,
    source: {
      ...base,
      read: (offset, length) => {
        counts.read++;
        return base.read(offset, length);
      },
      readInto: async (offset, into) => {
        counts.readInto++;
        into.set(await base.read(offset, into.length));
      },
    },
  };
}

describe('sources with readInto', () => {
  it('segments are read into reused memory, with and without the pool, giving the same state', async () => {
    const bytes = await write(capture(), undefined);
    const expected = await read(bytes, undefined);
    for (const p of [undefined, pool]) {
      const { source, counts } = readIntoSource(bytes);
      const reader = await ImageReader.open(source);
      useReaderPool(reader, p);
      const segments = reader.index.segments.length;
      const readsBefore = counts.read;
      try {
        const got = (await reader.readProvider('a')) as Record<string, ArrayBufferView>;
        expect(got).toEqual(expected);
        expect(got['smooth']!.buffer).toBeInstanceOf(ArrayBuffer);
      } finally {
        await reader.close();
      }
      // Every segment of provider 'a' through readInto; no segment through read().
      expect(counts.readInto).toBeGreaterThan(segments / 2);
      expect(counts.read).toBe(readsBefore);
    }
  });

  it('concurrent reads on one reader do not share memory (each call its own scratch)', async () => {
    const bytes = await write(capture(), undefined);
    const expected = await read(bytes, undefined);
    const { source } = readIntoSource(bytes);
    const slow: ImageSource = {
      ...source,
      // Like a real file read, the bytes arrive in parts, with other work in
      // between: calls sharing one buffer would mix their segments.
      readInto: async (offset, into) => {
        const data = await source.read(offset, into.length);
        const half = into.length >>> 1;
        into.set(data.subarray(0, half));
        await new Promise((r) => setImmediate(r));
        into.set(data.subarray(half), half);
      },
    };
    const reader = await ImageReader.open(slow);
    try {
      const [a, b, report, c] = await Promise.all([reader.readProvider('a'), reader.readProvider('a'), reader.verify(), reader.readProvider('small')]);
      expect(a).toEqual(expected);
      expect(b).toEqual(expected);
      expect(report.problems).toEqual([]);
      expect(c).toEqual({ n: 1 });
    } finally {
      await reader.close();
    }
  });

  it('a damaged raw or zstd segment is still CKPT_ERR_CORRUPT when read in place', async () => {
    const bytes = await write(capture(), undefined);
    const reader = await ImageReader.open(memorySource(bytes));
    const raw = reader.index.segments.findIndex((g) => g.codec === 0 && g.storedLength > 1000);
    const zstd = reader.index.segments.findIndex((g) => g.codec === 1 && g.storedLength > 1000);
    const segs = [reader.index.segments[raw]!, reader.index.segments[zstd]!];
    await reader.close();
    expect(raw).toBeGreaterThanOrEqual(0);
    expect(zstd).toBeGreaterThanOrEqual(0);
    for (const seg of segs) {
      const bad = Uint8Array.from(bytes);
      bad[seg.offset + Math.floor(seg.storedLength / 2)]! ^= 0x10;
      for (const p of [undefined, pool]) {
        const r = await ImageReader.open(readIntoSource(bad).source);
        useReaderPool(r, p);
        try {
          const err: unknown = await r.readProvider('a').then(
            () => undefined,
            (e: unknown) => e,
          );
          expect(err).toBeInstanceOf(CkptError);
          expect((err as CkptError).code).toBe(ErrorCodes.CORRUPT);
        } finally {
          await r.close();
        }
      }
    }
  });
});

describe('prefault of new shared memory', () => {
  it('never changes a byte the calling thread writes while the threads touch the pages', async () => {
    const p = new ZstdPool(2, 0);
    try {
      const bytes = 48 * 1024 * KiB;
      const source = new Uint8Array(bytes);
      for (let i = 0; i < bytes; i += 4096) source[i] = (i >>> 12) % 251 || 1; // one nonzero byte per page, where the threads touch
      for (let round = 0; round < 3; round++) {
        const memory = new Uint8Array(new SharedArrayBuffer(bytes));
        p.prefault(memory);
        // From the end backwards: the threads' parts are written first, while they touch them.
        for (let at = bytes - 1024 * KiB; at >= 0; at -= 1024 * KiB) memory.set(source.subarray(at, at + 1024 * KiB), at);
        await new Promise((r) => setTimeout(r, 200)); // let the touching end
        expect(Buffer.from(memory.buffer).equals(Buffer.from(source.buffer))).toBe(true);
      }
      // Not shared, or closed: nothing happens, nothing throws.
      p.prefault(new Uint8Array(64));
    } finally {
      await p.close();
    }
    p.prefault(new Uint8Array(new SharedArrayBuffer(64)));
  });

  it('an async capture into a new arena block with the pool copies every blob exactly', async () => {
    const classes = new ClassRegistry();
    const a = Float64Array.from({ length: (24 * 1024 * KiB) / 8 }, (_, i) => Math.sin(i) * i);
    const b = Int32Array.from({ length: (8 * 1024 * KiB) / 4 }, (_, i) => i * 7 - 3);
    const arena = new CaptureArena();
    const encoded = captureState({ a, b }, { tree: true, classes, blobThreshold: 64 * KiB, maxDepth: 100 }, { mode: 'async', pool, arena, segmentSize: 1024 * KiB, level: 1 });
    const [ca, cb] = encoded.blobs;
    expect(ca!.bytes.buffer).toBeInstanceOf(SharedArrayBuffer);
    await new Promise((r) => setTimeout(r, 200));
    expect(Buffer.from(ca!.bytes).equals(Buffer.from(a.buffer))).toBe(true);
    expect(Buffer.from(cb!.bytes).equals(Buffer.from(b.buffer))).toBe(true);
    encoded.release?.();
  });
});

