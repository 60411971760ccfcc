// Header, trailer and index rules: newer formats and unknown required flags
// are refused with their own codes; forged sizes are refused before anything
// is allocated; limits apply.
import { crc32 } from 'node:zlib';
import { describe, expect, it } from 'vitest';
import { CkptError, ErrorCodes } from '../../src/errors.js';
import { HEADER_SIZE, TRAILER_SIZE } from '../../src/image/constants.js';
import { decodeHeader, decodeTrailer, encodeHeader, encodeTrailer } from '../../src/image/header.js';
import { decodeIndexV2 as decodeIndex, encodeIndexV2 as encodeIndex } from '../../src/image/index-v2.js';
import type { ImageIndex } from '../../src/image/index-model.js';
import { ImageReader } from '../../src/image/reader.js';
import { captured, imageBytes, memorySource, readAll } from '../helpers/image-bytes.js';

async function codeOf(p: Promise<unknown>): Promise<string> {
  try {
    await p;
    return 'ok';
  } catch (err) {
    return err instanceof CkptError ? err.code : `non-ckpt: ${String(err)}`;
  }
}

function withHeader(img: Buffer, patch: (h: Buffer) => void): Buffer {
  const out = Buffer.from(img);
  const h = out.subarray(0, HEADER_SIZE);
  patch(h);
  h.writeUInt32LE(crc32(h.subarray(0, 28)), 28);
  return out;
}

const limits = { maxSegmentBytes: 64 * 1024 * 1024 };

/** Rewrite the index (with valid checksums) to forge an image. */
function withIndex(img: Buffer, patch: (index: ImageIndex) => ImageIndex): Buffer {
  const t = decodeTrailer(img.subarray(img.length - TRAILER_SIZE), img.length);
  const index = decodeIndex(img.subarray(t.indexOffset, t.indexOffset + t.indexLength), t.indexOffset, limits);
  const bytes = encodeIndex(patch(index));
  return Buffer.concat([img.subarray(0, t.indexOffset), bytes, encodeTrailer({ indexOffset: t.indexOffset, indexLength: bytes.length, indexCrc: crc32(bytes) })]);
}

describe('header', () => {
  it('round-trips', () => {
    const h = { formatVersion: 1, codecId: 1, requiredFlags: 0, optionalFlags: 5 };
    expect(decodeHeader(encodeHeader(h))).toEqual(h);
  });

  it('a newer format version is CKPT_ERR_FORMAT_NEWER naming both versions', async () => {
    const img = withHeader(await imageBytes([captured('a', 1)]), (h) => h.writeUInt16LE(6, 8));
    const err = await ImageReader.open(memorySource(img)).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(CkptError);
    expect((err as CkptError).code).toBe(ErrorCodes.FORMAT_NEWER);
    expect((err as CkptError).message).toMatch(/format version 6.*up to 5/);
  });

  it('an unknown required flag is CKPT_ERR_UNSUPPORTED_FEATURE; an unknown optional flag is ignored', async () => {
    const img = await imageBytes([captured('a', { x: 1 })]);
    const required = withHeader(img, (h) => h.writeUInt32LE(1 << 5, 12));
    expect(await codeOf(readAll(required))).toBe(ErrorCodes.UNSUPPORTED_FEATURE);
    const encrypted = withHeader(img, (h) => h.writeUInt32LE(1, 12));
    expect(await codeOf(readAll(encrypted))).toBe(ErrorCodes.UNSUPPORTED_FEATURE);
    const optional = withHeader(img, (h) => h.writeUInt32LE(0xffff, 16));
    expect((await readAll(optional)).get('a')).toEqual({ x: 1 });
  });

  it('a version change without a matching CRC is damage, not a newer format', async () => {
    const img = Buffer.from(await imageBytes([captured('a', 1)]));
    img[8] = 9;
    expect(await codeOf(readAll(img))).toBe(ErrorCodes.CORRUPT);
  });

  it('errors raised while opening name the image by its id (CkptError.image) and in the message', async () => {
    const img = await imageBytes([captured('a', 1)]);
    const damagedHeader = Buffer.from(img);
    damagedHeader[12]! ^= 0x01;
    const damagedTrailer = Buffer.from(img);
    damagedTrailer[img.length - 30]! ^= 0x01;
    const newer = withHeader(img, (h) => h.writeUInt16LE(6, 8));
    for (const [bytes, code] of [
      [damagedHeader, ErrorCodes.CORRUPT],
      [damagedTrailer, ErrorCodes.CORRUPT],
      [newer, ErrorCodes.FORMAT_NEWER],
      [img.subarray(0, 20), ErrorCodes.CORRUPT],
    ] as const) {
      const err = await ImageReader.open(memorySource(bytes, '000000000042')).catch((e: unknown) => e);
      expect(err).toBeInstanceOf(CkptError);
      expect((err as CkptError).code).toBe(code);
      expect((err as CkptError).image).toBe('000000000042');
      expect((err as CkptError).message).toContain('image 000000000042');
    }
  });

  it('a file that is not an image says so', async () => {
    const err = await ImageReader.open(memorySource(Buffer.from('{"json": true}\n'.repeat(10)))).catch((e: unknown) => e);
    expect((err as CkptError).code).toBe(ErrorCodes.CORRUPT);
    expect((err as CkptError).message).toMatch(/not a ckpt image/);
  });
});

describe('index validation', () => {
  it('a forged raw length larger than the segment limit is refused before decompressing (fail closed: LIMIT)', async () => {
    const img = await imageBytes([captured('a', { s: 'x'.repeat(1000) })]);
    const forged = withIndex(img, (ix) => ({ ...ix, segments: ix.segments.map((s) => ({ ...s, rawLength: 2 ** 40 })) }));
    const err = await ImageReader.open(memorySource(forged)).catch((e: unknown) => e);
    expect((err as CkptError).code).toBe(ErrorCodes.LIMIT);
    expect((err as CkptError).where).toMatch(/segments\[0\]/);
  });

  it('a raw length that disagrees with the zstd frame is CORRUPT (no allocation from the frame header)', async () => {
    const img = await imageBytes([captured('a', { s: 'abc'.repeat(5000) })]);
    const forged = withIndex(img, (ix) => ({
      ...ix,
      segments: ix.segments.map((s) => ({ ...s, rawLength: s.rawLength + 1 })),
      providers: ix.providers.map((p) => ({ ...p, stream: { ...p.stream, rawLength: p.stream.rawLength + 1 } })),
    }));
    expect(await codeOf(readAll(forged))).toBe(ErrorCodes.CORRUPT);
  });

  it('overlapping, gapped or shared segments are CORRUPT', async () => {
    const img = await imageBytes([captured('a', [1, 2, 3]), captured('b', 'x')]);
    const gap = withIndex(img, (ix) => ({ ...ix, segments: ix.segments.map((s, i) => (i === 1 ? { ...s, offset: s.offset + 1 } : s)) }));
    expect(await codeOf(readAll(gap))).toBe(ErrorCodes.CORRUPT);
    const shared = withIndex(img, (ix) => ({ ...ix, providers: ix.providers.map((p) => ({ ...p, stream: ix.providers[0]!.stream })) }));
    expect(await codeOf(readAll(shared))).toBe(ErrorCodes.CORRUPT);
    const dup = withIndex(img, (ix) => ({ ...ix, providers: ix.providers.map((p) => ({ ...p, id: 'a' })) }));
    expect(await codeOf(readAll(dup))).toBe(ErrorCodes.CORRUPT);
  });

  it('state above limits.maxStateBytes is CKPT_ERR_LIMIT', async () => {
    const img = await imageBytes([captured('a', new Float64Array(10_000))]);
    expect(await codeOf(readAll(img, { maxStateBytes: 1000 }))).toBe(ErrorCodes.LIMIT);
    expect(await codeOf(readAll(img))).toBe('ok');
  });

  it('an index above limits.maxIndexBytes is refused with LIMIT', async () => {
    const img = await imageBytes([captured('a', 1)]);
    expect(await codeOf(readAll(img, { maxIndexBytes: 16 }))).toBe(ErrorCodes.LIMIT);
  });
});

describe('segments', () => {
  it('large binary values go to blob segments and come back with their class and values', async () => {
    const f = new Float64Array(300_000);
    for (let i = 0; i < f.length; i++) f[i] = i * 0.25 - 7;
    const u = new Uint16Array(70_000).map((_, i) => i % 65_536);
    const img = await imageBytes([captured('big', { f, u, small: new Int8Array([-1, 2]) })], { segmentSize: 256 * 1024 });
    const reader = await ImageReader.open(memorySource(img));
    const summary = reader.providers[0]!;
    expect(summary.blobs).toBe(2);
    expect(summary.segments).toBeGreaterThan(9);
    const state = (await reader.readProvider('big')) as { f: Float64Array; u: Uint16Array; small: Int8Array };
    expect(state.f).toBeInstanceOf(Float64Array);
    expect(state.f.length).toBe(f.length);
    for (let i = 0; i < f.length; i += 1) if (state.f[i] !== f[i]) throw new Error(`f[${i}] differs`);
    expect(state.u).toBeInstanceOf(Uint16Array);
    expect(Array.from(state.u.subarray(65_530, 65_540))).toEqual(Array.from(u.subarray(65_530, 65_540)));
    expect(Array.from(state.small)).toEqual([-1, 2]);
  });

  it('incompressible data is stored raw, compressible data compressed', async () => {
    const random = new Uint8Array(200_000);
    let s = 1;
    for (let i = 0; i < random.length; i++) random[i] = (s = (s * 1103515245 + 12345) >>> 0) >>> 24;
    const img = await imageBytes([captured('r', random), captured('z', new Uint8Array(200_000))]);
    const reader = await ImageReader.open(memorySource(img));
    const codecs = reader.index.segments.map((seg) => seg.codec);
    expect(codecs).toContain(0);
    expect(codecs).toContain(1);
    expect(img.length).toBeLessThan(200_000 + 20_000);
  });

  it('the same state gives the same bytes (determinism)', async () => {
    const state = () => ({ m: new Map<unknown, unknown>([[{ k: 1 }, [1, 2]]]), f: new Float32Array(50_000).fill(1.25), s: new Set(['a', 'b']) });
    const a = await imageBytes([captured('x', state())]);
    const b = await imageBytes([captured('x', state())]);
    expect(a.equals(b)).toBe(true);
  });
});

describe('verify', () => {
  it('reads each segment once, checks and decodes every provider', async () => {
    const big = Float64Array.from({ length: 40_000 }, (_, i) => Math.sin(i));
    const img = await imageBytes([captured('a', { big, list: Array.from({ length: 5000 }, (_, i) => ({ i })) }), captured('b', 'small')]);
    const base = memorySource(img);
    const reads = new Map<number, number>();
    const counting = { ...base, read: (offset: number, length: number) => (reads.set(offset, (reads.get(offset) ?? 0) + 1), base.read(offset, length)) };
    const reader = await ImageReader.open(counting);
    const segments = reader.index.segments;
    reads.clear();
    const report = await reader.verify();
    expect(report).toMatchObject({ ok: true, problems: [], providersDecoded: 2, segmentsChecked: segments.length });
    for (const seg of segments) expect(reads.get(seg.offset), `segment at ${seg.offset}`).toBe(1);
    await reader.close();
  });

  it('a provider above limits.maxStateBytes: its segments are still checked, and the limit is reported', async () => {
    const img = await imageBytes([captured('a', { big: new Float64Array(20_000).fill(2) }), captured('b', 'small')]);
    const reader = await ImageReader.open(memorySource(img), { maxStateBytes: 100_000 });
    const report = await reader.verify();
    expect(report.ok).toBe(false);
    expect(report.problems).toHaveLength(1);
    expect(report.problems[0]).toMatchObject({ code: ErrorCodes.LIMIT, where: 'provider "a"' });
    expect(report.segmentsChecked).toBe(reader.index.segments.length);
    expect(report.providersDecoded).toBe(1);
    await reader.close();
  });
});

