// The tamper suite of encrypted images: every bit flip and truncation is
// CKPT_ERR_CORRUPT; segments swapped within an image, moved between two
// images of one key, and indexes swapped between images fail authentication
// even when every checksum was made to match.
import { randomBytes } from 'node:crypto';
import { describe, expect, it } from 'vitest';
import { ErrorCodes, isCkptError } from '../../src/errors.js';
import { TRAILER_SIZE } from '../../src/image/constants.js';
import { decodeTrailer } from '../../src/image/header.js';
import { ImageReader } from '../../src/image/reader.js';
import { captured, memorySource } from '../helpers/image-bytes.js';
import { expectCode } from '../helpers/errors.js';
import { SegmentCodec } from '../../src/image/constants.js';
import { FIXED_DEK, FIXED_UUID, KEY_A, encryptedImage, readWith, resealIndex, ring } from './helpers.js';

const keys = ring({ a: KEY_A }, 'a');

/** The code reading every provider of `bytes` fails with, or 'ok'. */
async function outcome(bytes: Uint8Array): Promise<string> {
  try {
    await readWith(bytes, keys);
    return 'ok';
  } catch (err) {
    if (!isCkptError(err)) throw err;
    return err.code;
  }
}

/** Incompressible segments of equal length (random bytes are stored raw: 4096 + 16 bytes each). */
function sameLengthProviders(data: Uint8Array) {
  return [captured('blob', { data }, { blobThreshold: 256 })];
}

async function segmentsOf(bytes: Buffer) {
  const reader = await ImageReader.open(memorySource(bytes), { keys });
  const segs = reader.index.segments;
  await reader.close();
  return segs;
}

describe('tampering with an encrypted image', () => {
  it('every single-bit flip → CKPT_ERR_CORRUPT', async () => {
    const bytes = await encryptedImage(keys, [captured('app', { n: 1, s: 'x'.repeat(40), t: new Uint8Array(64).fill(3) })]);
    expect(await outcome(bytes)).toBe('ok');
    const seen = new Map<string, number>();
    for (let i = 0; i < bytes.length; i++) {
      for (let bit = 0; bit < 8; bit++) {
        const bad = Buffer.from(bytes);
        bad[i]! ^= 1 << bit;
        const code = await outcome(bad);
        seen.set(code, (seen.get(code) ?? 0) + 1);
      }
    }
    expect([...seen.keys()]).toEqual([ErrorCodes.CORRUPT]);
    expect(seen.get(ErrorCodes.CORRUPT)).toBe(bytes.length * 8);
  });

  it('every truncation → CKPT_ERR_CORRUPT', async () => {
    const bytes = await encryptedImage(keys);
    for (let n = 0; n < bytes.length; n++) expect(await outcome(bytes.subarray(0, n))).toBe(ErrorCodes.CORRUPT);
  });

  it('two segments swapped within an image (checksums made to match) → CKPT_ERR_CORRUPT (authentication)', async () => {
    const bytes = await encryptedImage(keys, sameLengthProviders(randomBytes(4096 * 3)), { fixed: { dek: FIXED_DEK, uuid: FIXED_UUID } });
    const segs = await segmentsOf(bytes);
    const [i, j] = [segs.length - 3, segs.length - 2];
    const a = segs[i]!;
    const b = segs[j]!;
    expect(a.storedLength).toBe(b.storedLength);
    const swapped = Buffer.from(bytes);
    bytes.copy(swapped, a.offset, b.offset, b.offset + b.storedLength);
    bytes.copy(swapped, b.offset, a.offset, a.offset + a.storedLength);
    const forged = resealIndex(swapped, (m) => ({ ...m, segments: m.segments.map((s, k) => (k === i ? { ...s, crc: b.crc } : k === j ? { ...s, crc: a.crc } : s)) }));
    // The re-sealed index alone is fine: the unchanged image re-sealed reads.
    expect(await outcome(resealIndex(bytes, (m) => m))).toBe('ok');
    const err = await expectCode(readWith(forged, keys), ErrorCodes.CORRUPT);
    expect(err.message).toMatch(/authentication failed/);
  });

  it('a segment moved from another image of the same key (checksum made to match) → CKPT_ERR_CORRUPT', async () => {
    const data = randomBytes(4096 * 2);
    const a = await encryptedImage(keys, sameLengthProviders(data), { fixed: { dek: FIXED_DEK, uuid: FIXED_UUID } });
    const b = await encryptedImage(keys, sameLengthProviders(data));
    const sa = await segmentsOf(a);
    const sb = await segmentsOf(b);
    const k = sa.length - 2;
    expect(sa[k]!.storedLength).toBe(sb[k]!.storedLength);
    const moved = Buffer.from(a);
    b.copy(moved, sa[k]!.offset, sb[k]!.offset, sb[k]!.offset + sb[k]!.storedLength);
    const forged = resealIndex(moved, (m) => ({ ...m, segments: m.segments.map((s, n) => (n === k ? { ...s, crc: sb[k]!.crc } : s)) }));
    const err = await expectCode(readWith(forged, keys), ErrorCodes.CORRUPT);
    expect(err.message).toMatch(/authentication failed/);
  });

  it('indexes swapped between two images (trailer checksum made to match) → CKPT_ERR_CORRUPT', async () => {
    const data = randomBytes(4096);
    const a = await encryptedImage(keys, sameLengthProviders(data));
    const b = await encryptedImage(keys, sameLengthProviders(data));
    const ta = decodeTrailer(a.subarray(a.length - TRAILER_SIZE), a.length);
    const tb = decodeTrailer(b.subarray(b.length - TRAILER_SIZE), b.length);
    expect(ta.indexLength).toBe(tb.indexLength);
    expect(ta.indexOffset).toBe(tb.indexOffset);
    // B's index and trailer on A's header, segments and crypto block.
    const forged = Buffer.concat([a.subarray(0, ta.indexOffset), b.subarray(tb.indexOffset)]);
    const err = await expectCode(readWith(forged, keys), ErrorCodes.CORRUPT);
    expect(err.message).toMatch(/index authentication failed/);
    // B's crypto block with its index: A's segments are not B's (its checksums, and its keys, say so).
    const blockB = b.subarray(tb.cryptoOffset, tb.indexOffset);
    expect(blockB.length).toBe(ta.indexOffset - ta.cryptoOffset!);
    const both = Buffer.concat([a.subarray(0, ta.cryptoOffset), b.subarray(tb.cryptoOffset)]);
    await expectCode(readWith(both, keys), ErrorCodes.CORRUPT);
  });

  it('an index sealed with references or an encrypted XOR row (what format 4 never holds) → CKPT_ERR_CORRUPT', async () => {
    const bytes = await encryptedImage(keys, sameLengthProviders(randomBytes(4096)), { fixed: { dek: FIXED_DEK, uuid: FIXED_UUID } });
    expect(await outcome(resealIndex(bytes, (m) => m))).toBe('ok');
    const withRefs = resealIndex(bytes, (m) => ({ ...m, refs: [{ imageId: '000000000099', uuid: 'ab'.repeat(16) }] }));
    expect((await expectCode(readWith(withRefs, keys), ErrorCodes.CORRUPT)).message).toMatch(/refers to no other image/);
    const xor = resealIndex(bytes, (m) => ({ ...m, segments: m.segments.map((s, k) => (k === 0 ? { ...s, codec: SegmentCodec.XOR_ZSTD } : s)) }));
    await expectCode(readWith(xor, keys), ErrorCodes.CORRUPT);
  });
});
