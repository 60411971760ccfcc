// Encrypted images (format 4) round trip, and the plaintext never appears in
// their bytes.
import { randomBytes } from 'node:crypto';
import { crc32 } from 'node:zlib';
import { describe, expect, it, vi } from 'vitest';
import { ErrorCodes } from '../../src/errors.js';
import { RequiredFlag, TRAILER_SIZE } from '../../src/image/constants.js';
import { decodeHeader, decodeTrailer } from '../../src/image/header.js';
import { ImageReader, useReaderPool } from '../../src/image/reader.js';
import type { ZstdPool } from '../../src/image/pool.js';
import type { KeySource } from '../../src/crypto/keys.js';
import { SegmentFlag } from '../../src/image/index-model.js';
import { captured, imageBytes, memorySource } from '../helpers/image-bytes.js';
import { expectCode } from '../helpers/errors.js';
import { FIXED_DEK, FIXED_UUID, KEY_A, KEY_B, encryptedImage, readWith, resealIndex, ring, smallProviders, smallState } from './helpers.js';

describe('encrypted images', () => {
  it('round trip: typed arrays by value and object graphs with shared references', async () => {
    const bytes = await encryptedImage(ring({ a: KEY_A }, 'a'));
    const h = decodeHeader(bytes);
    expect(h.formatVersion).toBe(4);
    expect(h.requiredFlags & RequiredFlag.ENCRYPTED_SEGMENTS).toBe(RequiredFlag.ENCRYPTED_SEGMENTS);
    const back = await readWith(bytes, ring({ a: KEY_A }, 'a'));
    const app = back.get('app') as { n: number; s: string; list: object[]; blob: Float64Array; bytes: Uint8Array };
    expect(app).toEqual(smallState());
    expect(app.blob).toBeInstanceOf(Float64Array);
    expect(app.list[0]).toBe(app.list[1]);
    expect(back.get('count')).toEqual({ n: 1 });
  });

  it('marks every segment encrypted and leaves no plaintext in the bytes', async () => {
    const secret = 'TOP-SECRET-MARKER-'.repeat(20);
    const providers = [captured('app', { secret, raw: new Uint8Array(5000).map((_, i) => (i * 7919) & 0xff) }, { blobThreshold: 256 })];
    const bytes = await encryptedImage(ring({ a: KEY_A }, 'a'), providers);
    expect(bytes.includes(Buffer.from('TOP-SECRET-MARKER'))).toBe(false);
    expect(bytes.includes(Buffer.from('secret'))).toBe(false);
    const reader = await ImageReader.open(memorySource(bytes), { keys: ring({ a: KEY_A }, 'a') });
    expect(reader.index.segments.length).toBeGreaterThan(1);
    for (const s of reader.index.segments) expect(s.flags).toBe(SegmentFlag.ENCRYPTED);
    expect(reader.crypto?.key.keyId).toBe('a');
    expect(reader.crypto?.public.step).toBe(7);
    expect(await reader.readProvider('app')).toEqual({ secret, raw: new Uint8Array(5000).map((_, i) => (i * 7919) & 0xff) });
    await reader.close();
    // The same state unencrypted does show it (the check above can fail).
    expect((await imageBytes(providers)).includes(Buffer.from('TOP-SECRET-MARKER'))).toBe(true);
  });

  it('two images of the same state differ in every segment (fresh data key and uuid per image)', async () => {
    const a = await encryptedImage(ring({ a: KEY_A }, 'a'));
    const b = await encryptedImage(ring({ a: KEY_A }, 'a'));
    expect(a.equals(b)).toBe(false);
    expect(a.subarray(32, 96).equals(b.subarray(32, 96))).toBe(false);
  });

  it('wrong key → CKPT_ERR_KEY; missing key id → CKPT_ERR_KEY naming it; no key → CKPT_ERR_KEY', async () => {
    const bytes = await encryptedImage(ring({ k1: KEY_A }, 'k1'));
    const wrong = await expectCode(readWith(bytes, ring({ k1: KEY_B }, 'k1')), ErrorCodes.KEY);
    expect(wrong.message).toMatch(/"k1"/);
    const missing = await expectCode(readWith(bytes, ring({ k2: KEY_A }, 'k2')), ErrorCodes.KEY);
    expect(missing.message).toMatch(/key id "k1".*not in the keyring/);
    const none = await expectCode(readWith(bytes, undefined), ErrorCodes.KEY);
    expect(none.message).toMatch(/"k1"/);
    // Old key ids stay readable while in the keyring.
    expect((await readWith(bytes, ring({ k2: KEY_B, k1: KEY_A }, 'k2'))).get('count')).toEqual({ n: 1 });
  });

  it('a plaintext image with a key configured → CKPT_ERR_NOT_ENCRYPTED, unless allowPlaintext', async () => {
    const plain = await imageBytes(smallProviders(), { segmentSize: 4096, blobThreshold: 256 });
    await expectCode(readWith(plain, ring({ a: KEY_A }, 'a')), ErrorCodes.NOT_ENCRYPTED);
    expect((await readWith(plain, ring({ a: KEY_A }, 'a', true))).get('count')).toEqual({ n: 1 });
  });
});

/** The check a restore runs before any hook (every provider), through `pool`'s threads. */
async function checkWith(bytes: Uint8Array, keys: KeySource, pool: ZstdPool): Promise<number> {
  const reader = await ImageReader.open(memorySource(bytes), { keys });
  useReaderPool(reader, pool);
  try {
    return await reader.checkSegments(reader.providers.map((p) => p.id));
  } finally {
    await reader.close();
  }
}

describe('an encrypted image written through the compression pool', () => {
  it('holds the same sealed segments as the image written on one thread (compressed and sealed in the pool threads), and reads back by value', async () => {
    const { ZstdPool } = await import('../../src/image/pool.js');
    const pool = new ZstdPool(2, 0);
    const compress = vi.spyOn(ZstdPool.prototype, 'compress');
    try {
      // Several segments of compressible and incompressible bytes (stored raw), as blobs.
      const data = Buffer.concat([Buffer.alloc(200_000, 7), randomBytes(100_000), Buffer.from('x'.repeat(150_000))]);
      const providers = [captured('big', { data, n: 42 }, { blobThreshold: 256 })];
      const keys = ring({ a: KEY_A }, 'a');
      const fixed = { dek: FIXED_DEK, uuid: FIXED_UUID };
      const alone = await imageBytes(providers, { segmentSize: 64 * 1024, blobThreshold: 256, encryption: keys, fixedSeal: fixed });
      const pooled = await imageBytes(providers, { segmentSize: 64 * 1024, blobThreshold: 256, encryption: keys, fixedSeal: fixed, pool });
      // The header and every sealed segment are equal; the crypto block after them wraps the data key under a random nonce.
      const segmentsEnd = (b: Buffer): number => decodeTrailer(b.subarray(b.length - TRAILER_SIZE), b.length).cryptoOffset!;
      expect(segmentsEnd(pooled)).toBe(segmentsEnd(alone));
      expect(pooled.subarray(0, segmentsEnd(pooled)).equals(alone.subarray(0, segmentsEnd(alone)))).toBe(true);
      expect((await readWith(pooled, keys)).get('big')).toEqual({ data, n: 42 });
      // Each segment went to a thread with its key, uuid and index (compress's 6th argument): sealed there.
      expect(compress.mock.calls.every((c) => c[5]?.key.buffer.byteLength === 32 && c[5].uuid.buffer.byteLength === 16)).toBe(true);
      const sealedBy = compress.mock.calls.map((c) => c[5]?.index);
      expect(sealedBy.length).toBeGreaterThan(3);
      expect(sealedBy.every((i) => i !== undefined)).toBe(true);
      expect(new Set(sealedBy).size).toBe(sealedBy.length);
    } finally {
      compress.mockRestore();
      await pool.close();
    }
  });

  it('is opened in the pool threads on read: each segment of its runs goes to a thread with its own index, and reads back by value', async () => {
    const { ZstdPool } = await import('../../src/image/pool.js');
    const pool = new ZstdPool(2, 0);
    const fill = vi.spyOn(ZstdPool.prototype, 'fillRun');
    const decompress = vi.spyOn(ZstdPool.prototype, 'decompress');
    const verify = vi.spyOn(ZstdPool.prototype, 'verify');
    try {
      const data = Buffer.concat([Buffer.alloc(200_000, 7), randomBytes(100_000), Buffer.from('x'.repeat(150_000))]);
      const keys = ring({ a: KEY_A }, 'a');
      const bytes = await imageBytes([captured('big', { data, n: 42 }, { blobThreshold: 256 })], { segmentSize: 64 * 1024, blobThreshold: 256, encryption: keys });
      expect((await readWith(bytes, keys, 'mem', pool)).get('big')).toEqual({ data, n: 42 });
      const reader = await ImageReader.open(memorySource(bytes), { keys });
      const segments = reader.index.segments.length;
      // Every segment was opened by a thread (fillRun's 9th argument, decompress's 5th: the key, uuid and index), each index once.
      const opened = [...fill.mock.calls.map((c) => c[8]), ...decompress.mock.calls.map((c) => c[4])];
      // Each over memory of its own: a message copies the whole buffer under a view (never Node's shared 8 KiB pool).
      expect(opened.every((o) => o !== undefined && o.key.buffer.byteLength === 32 && o.uuid.buffer.byteLength === 16)).toBe(true);
      expect(opened.map((o) => o!.index).sort((a, b) => a - b)).toEqual(Array.from({ length: segments }, (_, i) => i));
      // The check before a restore authenticates every segment on the threads too (verify's 5th argument).
      useReaderPool(reader, pool);
      expect(await reader.checkSegments(['big'])).toBe(segments);
      expect(verify.mock.calls.map((c) => c[4]?.index).sort((a, b) => (a ?? -1) - (b ?? -1))).toEqual(Array.from({ length: segments }, (_, i) => i));
      await reader.close();
    } finally {
      fill.mockRestore();
      decompress.mockRestore();
      verify.mockRestore();
      await pool.close();
    }
  });

  it('a segment changed with its checksum made to match fails authentication in the pool thread that opens it: CKPT_ERR_CORRUPT', async () => {
    const { ZstdPool } = await import('../../src/image/pool.js');
    const pool = new ZstdPool(2, 0);
    try {
      const keys = ring({ a: KEY_A }, 'a');
      const data = randomBytes(300_000);
      const bytes = await imageBytes([captured('big', { data }, { blobThreshold: 256 })], { segmentSize: 64 * 1024, blobThreshold: 256, encryption: keys, fixedSeal: { dek: FIXED_DEK, uuid: FIXED_UUID } });
      const reader = await ImageReader.open(memorySource(bytes), { keys });
      const segs = reader.index.segments;
      await reader.close();
      const k = segs.length - 2;
      const seg = segs[k]!;
      const bad = Buffer.from(bytes);
      bad[seg.offset + 10]! ^= 0x40;
      const forged = resealIndex(bad, (m) => ({ ...m, segments: m.segments.map((s, n) => (n === k ? { ...s, crc: crc32(bad.subarray(seg.offset, seg.offset + seg.storedLength)) } : s)) }));
      expect((await readWith(resealIndex(bytes, (m) => m), keys, 'mem', pool)).get('big')).toEqual({ data });
      for (const attempt of [() => readWith(forged, keys, 'mem', pool), () => checkWith(forged, keys, pool)]) {
        const err = await expectCode(attempt(), ErrorCodes.CORRUPT);
        expect(err.message).toMatch(/authentic/);
        expect(err.message).toContain(`segment ${k}`);
      }
      await checkWith(resealIndex(bytes, (m) => m), keys, pool);
    } finally {
      await pool.close();
    }
  });
});
