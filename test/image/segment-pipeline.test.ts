// The segment pipeline (raw bytes ↔ stored bytes): the same inputs give the
// same stored bytes, checksums, raw bytes and refusals on the calling thread
// and in a pool thread (which runs the same module); a checksum mismatch is
// CKPT_ERR_CORRUPT; a frame declaring more than the limit is CKPT_ERR_LIMIT
// before anything is decompressed (one disagreeing with the index stays
// CKPT_ERR_CORRUPT); the memory a writer reuses belongs to its pipeline.
import { crc32 } from 'node:zlib';
import { afterAll, describe, expect, it } from 'vitest';
import { ErrorCodes } from '../../src/errors.js';
import { SegmentCodec, TRAILER_SIZE } from '../../src/image/constants.js';
import { decodeTrailer, encodeTrailer } from '../../src/image/header.js';
import { encodeIndexV2 } from '../../src/image/index-v2.js';
import type { ImageIndex } from '../../src/image/index-model.js';
import { ZstdPool } from '../../src/image/pool.js';
import { ImageReader, useReaderPool } from '../../src/image/reader.js';
import { SegmentPipeline, type FrameFailure, type StoredSegment } from '../../src/image/segment-pipeline.js';
import { writeImage } from '../../src/image/writer.js';
import { frameError } from '../../src/image/zstd.js';
import type { ImageSink } from '../../src/store/store.js';
import { captured, FIXED_MANIFEST, memorySource } from '../helpers/image-bytes.js';

const KiB = 1024;
const LEVEL = 3;
const pool = new ZstdPool(1, 0);
afterAll(() => pool.close());

function shared(bytes: number): Uint8Array {
  return new Uint8Array(new SharedArrayBuffer(Math.max(1, bytes))).subarray(0, bytes);
}

function noise(n: number, seed: number): Uint8Array {
  const out = new Uint8Array(n);
  let x = seed;
  for (let i = 0; i < n; i++) {
    x ^= x << 13;
    x ^= x >>> 17;
    x ^= x << 5;
    out[i] = x & 0xff;
  }
  return out;
}

/** Inputs covering both codecs: compressible, incompressible, empty, one byte. */
const INPUTS: Record<string, Uint8Array> = {
  smooth: new Uint8Array(Float64Array.from({ length: 16 * KiB }, (_, i) => Math.sin(i / 50)).buffer),
  noise: noise(40 * KiB, 99),
  empty: new Uint8Array(0),
  one: Uint8Array.of(7),
  zeros: new Uint8Array(100 * KiB),
};

/** Encode on the calling thread: stored bytes copied out of the output memory. */
function encodeHere(raw: Uint8Array): StoredSegment {
  const p = new SegmentPipeline();
  const s = p.encode(raw, new Uint8Array(SegmentPipeline.outputBytes(raw.length)), LEVEL);
  return { stored: s.stored.slice(), codec: s.codec, crc: s.crc };
}

/** Encode in a pool thread (same inputs, in shared memory as the writer gives them). */
async function encodeInPool(raw: Uint8Array): Promise<StoredSegment> {
  const src = shared(raw.length);
  src.set(raw);
  const dst = shared(SegmentPipeline.outputBytes(raw.length));
  const r = await pool.compress(src, dst, LEVEL);
  const stored = r.length < 0 ? src.slice() : dst.slice(0, r.length);
  return { stored, codec: r.length < 0 ? SegmentCodec.RAW : SegmentCodec.ZSTD, crc: r.crc };
}

/** The sentinel raw memory starts with: a refusal before decompression leaves it as is. */
const SENTINEL = 0xa5;

/** Decode on the calling thread into fresh `rawLength` bytes. */
function decodeHere(s: StoredSegment, rawLength: number, maxRawBytes?: number): { fail: FrameFailure | undefined; raw: Uint8Array } {
  const raw = new Uint8Array(rawLength).fill(SENTINEL);
  const fail = new SegmentPipeline().decode(s.stored, s.codec, s.crc, raw, maxRawBytes);
  return { fail: fail === undefined ? undefined : withoutCause(fail), raw };
}

/** Decode in a pool thread: a zstd segment through `decompress`, either codec through a run (`fillRun`). */
async function decodeInPool(s: StoredSegment, rawLength: number, maxRawBytes?: number): Promise<{ fail: FrameFailure | undefined; raw: Uint8Array }> {
  const src = shared(s.stored.length);
  src.set(s.stored);
  if (s.codec === SegmentCodec.ZSTD) {
    const raw = shared(rawLength).fill(SENTINEL);
    const fail = await pool.decompress(src, raw, s.crc, maxRawBytes);
    return { fail, raw: raw.slice() };
  }
  const run = await pool.openRun(rawLength);
  const fail = await pool.fillRun(run, 0, src, s.crc, s.codec, rawLength, shared(rawLength), maxRawBytes);
  if (fail !== undefined) {
    pool.dropRun(run);
    return { fail, raw: new Uint8Array(0) };
  }
  return { fail, raw: new Uint8Array(await pool.takeRun(run)) };
}

function withoutCause(f: FrameFailure): FrameFailure {
  const { cause: _cause, ...rest } = f;
  return rest;
}

describe('segment pipeline', () => {
  it('has the stages compress, encrypt, checksum (a read runs them backwards)', () => {
    expect(new SegmentPipeline().stages.map((s) => s.name)).toEqual(['compress', 'encrypt', 'checksum']);
  });

  for (const [name, raw] of Object.entries(INPUTS)) {
    it(`round trip of ${name} (${raw.length} bytes): identical stored bytes, checksum and raw bytes on the calling thread and in a pool thread`, async () => {
      const here = encodeHere(raw);
      const there = await encodeInPool(raw);
      expect(Buffer.from(there.stored).equals(Buffer.from(here.stored))).toBe(true);
      expect(there.codec).toBe(here.codec);
      expect(there.crc).toBe(here.crc);
      // The checksum is of the stored bytes; raw only when compression does not help.
      expect(here.crc).toBe(crc32(here.stored));
      if (here.codec === SegmentCodec.RAW) expect(Buffer.from(here.stored).equals(Buffer.from(raw))).toBe(true);
      else expect(here.stored.length).toBeLessThan(raw.length);

      const back = decodeHere(here, raw.length);
      const backInPool = await decodeInPool(here, raw.length);
      expect(back.fail).toBeUndefined();
      expect(backInPool.fail).toBeUndefined();
      expect(Buffer.from(back.raw).equals(Buffer.from(raw))).toBe(true);
      expect(Buffer.from(backInPool.raw).equals(Buffer.from(raw))).toBe(true);
    });
  }

  it('compressible and incompressible inputs give both codecs', () => {
    expect(encodeHere(INPUTS.zeros!).codec).toBe(SegmentCodec.ZSTD);
    expect(encodeHere(INPUTS.noise!).codec).toBe(SegmentCodec.RAW);
    expect(encodeHere(INPUTS.empty!).codec).toBe(SegmentCodec.RAW);
  });

  for (const name of ['zeros', 'noise'] as const) {
    it(`a checksum mismatch (${name}) is refused identically on both threads, as CKPT_ERR_CORRUPT, before the bytes are used`, async () => {
      const raw = INPUTS[name]!;
      const good = encodeHere(raw);
      const damaged = good.stored.slice();
      damaged[damaged.length >> 1]! ^= 0x10;
      const bad: StoredSegment = { ...good, stored: damaged };
      const here = decodeHere(bad, raw.length);
      const there = await decodeInPool(bad, raw.length);
      expect(here.fail).toEqual({ kind: 'crc' });
      expect(there.fail).toEqual(here.fail);
      expect(here.raw.every((b) => b === SENTINEL)).toBe(true);
      expect(frameError(here.fail!, 'segment 0', raw.length).code).toBe(ErrorCodes.CORRUPT);
      // The stored-bytes check alone agrees.
      expect(new SegmentPipeline().check(damaged, good.crc)).toEqual({ kind: 'crc' });
      expect(new SegmentPipeline().check(good.stored, good.crc)).toBeUndefined();
    });
  }

  it('a frame declaring more than the limit is CKPT_ERR_LIMIT on both threads, and nothing is decompressed', async () => {
    const limit = 64 * KiB;
    const frame = encodeHere(INPUTS.zeros!); // declares 100 KiB
    expect(frame.codec).toBe(SegmentCodec.ZSTD);
    // The index agrees with the frame (100 KiB), the limit is below.
    const here = decodeHere(frame, 100 * KiB, limit);
    const there = await decodeInPool(frame, 100 * KiB, limit);
    expect(here.fail).toEqual({ kind: 'limit', value: 100 * KiB, limit });
    expect(there.fail).toEqual(here.fail);
    expect(here.raw.every((b) => b === SENTINEL)).toBe(true);
    expect(there.raw.every((b) => b === SENTINEL)).toBe(true);
    const err = frameError(here.fail!, 'segment 0', 100 * KiB);
    expect(err.code).toBe(ErrorCodes.LIMIT);
    expect(err.message).toContain('limits.maxSegmentBytes');
    // Within the limit it decodes.
    expect(decodeHere(frame, 100 * KiB, 100 * KiB).fail).toBeUndefined();
  });

  it('a frame declaring another size than the index is CKPT_ERR_CORRUPT on both threads, above the limit or not (a higher limit would not make it readable)', async () => {
    const frame = encodeHere(INPUTS.zeros!); // declares 100 KiB
    for (const limit of [64 * KiB, 1024 * KiB]) {
      const here = decodeHere(frame, 40 * KiB, limit);
      const there = await decodeInPool(frame, 40 * KiB, limit);
      expect(here.fail).toEqual({ kind: 'declared', value: 100 * KiB });
      expect(there.fail).toEqual(here.fail);
      expect(here.raw.every((b) => b === SENTINEL)).toBe(true);
      expect(frameError(here.fail!, 'segment 0', 40 * KiB).code).toBe(ErrorCodes.CORRUPT);
    }
  });

  it('a stored segment that is not a zstd frame, or has trailing bytes, is refused identically on both threads', async () => {
    const frame = encodeHere(INPUTS.zeros!);
    const junk = Uint8Array.of(1, 2, 3, 4, 5, 6, 7, 8);
    const notFrame: StoredSegment = { stored: junk, codec: SegmentCodec.ZSTD, crc: crc32(junk) };
    const trailing = new Uint8Array(frame.stored.length + 1);
    trailing.set(frame.stored);
    const withTrailing: StoredSegment = { stored: trailing, codec: SegmentCodec.ZSTD, crc: crc32(trailing) };
    for (const s of [notFrame, withTrailing]) {
      const here = decodeHere(s, INPUTS.zeros!.length);
      const there = await decodeInPool(s, INPUTS.zeros!.length);
      expect(here.fail).toBeDefined();
      expect(there.fail).toEqual(here.fail);
      expect(frameError(here.fail!, 'segment 0', INPUTS.zeros!.length).code).toBe(ErrorCodes.CORRUPT);
    }
    expect(decodeHere(notFrame, 1).fail?.kind).toBe('frame');
    expect(decodeHere(withTrailing, INPUTS.zeros!.length).fail?.kind).toBe('trailing');
  });

  it('a writer keeps no state of its own: the output memory it reuses from one image to the next belongs to the pipeline it is given', async () => {
    class Watched extends SegmentPipeline {
      readonly taken: Uint8Array[] = [];
      override takeOutput(bytes: number): Uint8Array {
        const b = super.takeOutput(bytes);
        this.taken.push(b);
        return b;
      }
    }
    const sink = (): ImageSink => ({ id: FIXED_MANIFEST.imageId, write: () => Promise.resolve(), commit: () => Promise.resolve(), abort: () => Promise.resolve() });
    const writeWith = (pipeline: SegmentPipeline): Promise<unknown> =>
      writeImage(sink(), FIXED_MANIFEST, [captured('a', { z: INPUTS.smooth!.slice() }, { blobThreshold: 1024 * KiB })], { level: LEVEL, segmentSize: 64 * KiB, blobThreshold: 1024 * KiB, pipeline });
    const one = new Watched();
    const other = new Watched();
    await writeWith(one);
    await writeWith(one);
    await writeWith(other);
    expect(one.taken.length).toBe(2);
    expect(one.taken[1]).toBe(one.taken[0]);
    expect(other.taken.length).toBe(1);
    expect(other.taken[0]).not.toBe(one.taken[0]);
  });

  it('a reader refuses a segment whose frame declares more than its index entry with CKPT_ERR_CORRUPT, with and without a pool, whatever limits.maxSegmentBytes', async () => {
    // An image whose provider's value stream is one zstd segment of 100 KiB…
    const chunks: Buffer[] = [];
    const sink: ImageSink = { id: FIXED_MANIFEST.imageId, write: (c) => (chunks.push(Buffer.from(c)), Promise.resolve()), commit: () => Promise.resolve(), abort: () => Promise.resolve() };
    const provider = captured('a', { z: 'x'.repeat(100 * KiB) }, { blobThreshold: 1024 * KiB });
    const res = await writeImage(sink, FIXED_MANIFEST, [provider], { level: LEVEL, segmentSize: 1024 * KiB, blobThreshold: 1024 * KiB, formatVersion: 2 });
    const img = Buffer.concat(chunks);
    const seg = res.index.segments[0]!;
    expect(seg.codec).toBe(SegmentCodec.ZSTD);
    // …and an index forged to say 40 KiB: the frame still declares its real size.
    const forgedRaw = 40 * KiB;
    const trailer = decodeTrailer(img.subarray(img.length - TRAILER_SIZE), img.length);
    const index: ImageIndex = {
      ...res.index,
      segments: [{ ...seg, rawLength: forgedRaw }, ...res.index.segments.slice(1)],
      providers: res.index.providers.map((p) => ({ ...p, stream: { ...p.stream, rawLength: p.stream.rawLength - seg.rawLength + forgedRaw } })),
    };
    const ix = encodeIndexV2(index);
    const forged = Buffer.concat([img.subarray(0, trailer.indexOffset), ix, encodeTrailer({ indexOffset: trailer.indexOffset, indexLength: ix.length, indexCrc: crc32(ix) })]);
    for (const p of [undefined, pool]) {
      // The frame is above one limit and within the other: damage either way (the sizes differ).
      for (const maxSegmentBytes of [64 * KiB, 1024 * KiB]) {
        const code = ErrorCodes.CORRUPT;
        const reader = await ImageReader.open(memorySource(forged), { maxSegmentBytes });
        useReaderPool(reader, p);
        await expect(reader.readProvider('a')).rejects.toMatchObject({ code, where: 'segment 0' });
        const report = await reader.verify();
        expect(report.problems.map((x) => x.code)).toEqual([code]);
        await reader.close();
      }
    }
  });
});
