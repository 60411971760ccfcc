// The tamper suite of encrypted images: every bit flip and truncation is
// CKPT_ERR_CORRUPT; segments swapped within an image, moved between two
// images of one key, and indexes swapped between images fail authentication
// even when every checksum was made to match. Format 5 (encrypted
// incremental images): the same for a referring image, and for the bytes of
// its holder it reads; references forged with the key are held to the
// holder's rows; a replaced holder is refused.
import { randomBytes } from 'node:crypto';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { crc32 } from 'node:zlib';
import { afterEach, describe, expect, it } from 'vitest';
import { openIndex, sealIndex } from '../../src/crypto/image-seal.js';
import type { KeySource } from '../../src/crypto/keys.js';
import { NONCE_DOMAIN_INDEX, deriveImageKeys, nonceOf } from '../../src/crypto/seal.js';
import { CkptError, ErrorCodes, isCkptError } from '../../src/errors.js';
import { HEADER_SIZE, RequiredFlag, SegmentCodec, TRAILER_SIZE } from '../../src/image/constants.js';
import { FORMATS, modelOfV5 } from '../../src/image/format-registry.js';
import { decodeTrailer, encodeTrailer } from '../../src/image/header.js';
import { IncrementalPlan, XorBases } from '../../src/image/incremental-plan.js';
import { SegmentFlag, type ImageIndex, type SegmentEntry } from '../../src/image/index-model.js';
import { formatV5 } from '../../src/image/index-v5.js';
import { openStoreImage } from '../../src/image/open-store.js';
import { ImageReader } from '../../src/image/reader.js';
import { writeImage, type CapturedProvider, type ManifestInput, type WriteSettings } from '../../src/image/writer.js';
import { FsStore } from '../../src/store/fs-store.js';
import type { ImageSink, ReadStore } from '../../src/store/store.js';
import { FIXED_MANIFEST, captured, memorySource } from '../helpers/image-bytes.js';
import { expectCode } from '../helpers/errors.js';
import { FIXED_DEK, FIXED_UUID, KEY_A, encryptedImage, readAllProviders, readWith, resealIndex, ring } from './helpers.js';
import { bytes } from '../../src/testing/conformance-bytes.js';

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

// ---------------------------------------------------------------------------
// Format 5: encrypted incremental images. A holder H (a full image of an
// incremental chain) and a referrer R written against it, in a temp store:
// R refers to H's unchanged segments (opened with H's key, uuid and segment
// index: segments 0, 1, 3), stores a blob segment changed in 3 bytes and its
// changed 'meta' value stream as XOR deltas over H's (2, 5) and a replaced
// blob segment in full (4), all sealed under R's key. Both are written with writeImage and fixed data keys (distinct), so a test
// can re-seal either index (what an attacker without the keys cannot).
// ---------------------------------------------------------------------------

const HOLDER_DEK = Uint8Array.from({ length: 32 }, (_, i) => 0x80 + i);
const HOLDER_UUID = Uint8Array.from({ length: 16 }, (_, i) => 0xf0 - i * 5);
/** Another image's data key (a holder replaced by an image of the same key id). */
const OTHER_DEK = Uint8Array.from({ length: 32 }, (_, i) => 0x40 ^ i);
const SEG = 4096;
/** Temp stores of the format-5 tests, removed after each. */
const incrDirs: string[] = [];

/** `n` deterministic incompressible bytes (xorshift32 from `seed`): stored raw, 4096 + 16 bytes a segment. */
const noise = (n: number, seed: number): Uint8Array => bytes(n, seed);

/** The holder's blob (4 segments) and the referrer's: segment 1 changed in 3 bytes (an XOR delta), segment 3 replaced (written in full), 0 and 2 unchanged (referred to). */
function blobs(): { h: Uint8Array; r: Uint8Array } {
  const h = noise(4 * SEG, 0x9e3779b9);
  const r = h.slice();
  for (const at of [17, 2000, 4000]) r[SEG + at]! ^= 0x5a;
  r.set(noise(SEG, 0x1234567), 3 * SEG);
  return { h, r };
}

function providersOf(blob: Uint8Array, step: number): CapturedProvider[] {
  return [captured('app', { n: 1, blob }, { blobThreshold: 256 }), captured('meta', { step, note: `note ${step} `.repeat(40) })];
}

interface Pair {
  readonly dir: string;
  readonly holderId: string;
  readonly referrerId: string;
  readonly holder: Buffer;
  readonly referrer: Buffer;
  readonly holderIndex: ImageIndex;
  readonly referrerIndex: ImageIndex;
  /** What reading every provider of the referrer gives. */
  readonly expected: Map<string, unknown>;
  /** Write (or overwrite) image `id` of the store. */
  readonly write: (id: string, providers: CapturedProvider[], settings: ImageSettings) => Promise<{ bytes: Buffer; index: ImageIndex }>;
}

/** Write settings over the defaults (4 KiB segments, blobs from 256 bytes); `manifest`: fields over {@link FIXED_MANIFEST}. */
type ImageSettings = Partial<WriteSettings> & { readonly manifest?: Partial<ManifestInput> };

/** Write `providers` as image `id` of the store in `dir` (`<id>.ckpt`). */
async function writeFileImage(dir: string, id: string, providers: CapturedProvider[], { manifest, ...settings }: ImageSettings): Promise<{ bytes: Buffer; index: ImageIndex }> {
  const chunks: Buffer[] = [];
  const sink: ImageSink = {
    id,
    write: (c) => {
      chunks.push(Buffer.from(c));
      return Promise.resolve();
    },
    commit: () => Promise.resolve(),
    abort: () => Promise.resolve(),
  };
  const res = await writeImage(sink, { ...FIXED_MANIFEST, ...manifest, imageId: id }, providers, { level: 3, segmentSize: SEG, blobThreshold: 256, ...settings });
  const bytes = Buffer.concat(chunks);
  await writeFile(join(dir, `${id}.ckpt`), bytes);
  return { bytes, index: res.index };
}

/** H (full, format 5) and R (incremental against H, XOR deltas allowed) in a fresh temp store. */
async function encryptedPair(): Promise<Pair> {
  const dir = await mkdtemp(join(tmpdir(), 'ckpt-tamper5-'));
  incrDirs.push(dir);
  const { h, r } = blobs();
  const holderId = '000000000001';
  const referrerId = '000000000002';
  const bases = new XorBases();
  const holder = await writeFileImage(dir, holderId, providersOf(h, 1), {
    encryption: keys,
    fixedSeal: { dek: HOLDER_DEK, uuid: HOLDER_UUID },
    incremental: { plan: new IncrementalPlan(undefined, true), bases },
  });
  bases.imageId = holderId;
  const parent = { ref: { imageId: holderId, uuid: holder.index.manifest.uuid! }, index: holder.index, depths: holder.index.segments.map(() => 0) };
  const referrer = await writeFileImage(dir, referrerId, providersOf(r, 2), {
    encryption: keys,
    fixedSeal: { dek: FIXED_DEK, uuid: FIXED_UUID },
    incremental: { plan: new IncrementalPlan(parent, true), bases },
  });
  const expected = new Map<string, unknown>([
    ['app', { n: 1, blob: r }],
    ['meta', { step: 2, note: 'note 2 '.repeat(40) }],
  ]);
  return { dir, holderId, referrerId, holder: holder.bytes, referrer: referrer.bytes, holderIndex: holder.index, referrerIndex: referrer.index, expected, write: (id, p, s) => writeFileImage(dir, id, p, s) };
}

/** A store over `dir` whose images in `replaced` are served from memory instead (a tampered copy of one image, the others from disk). */
function overlay(dir: string, replaced: ReadonlyMap<string, Uint8Array>): ReadStore {
  const fs = new FsStore(dir);
  return {
    description: fs.description,
    list: () => fs.list(),
    open: (id) => {
      const bytes = replaced.get(id);
      return bytes === undefined ? fs.open(id) : Promise.resolve(memorySource(bytes, id));
    },
  };
}

/**
 * The pair as a store in memory: the files' bytes, `replaced` instead where
 * given (the flip loops read thousands of images; from disk each read would
 * take twice as long).
 */
function inMemory(p: Pair, replaced: ReadonlyMap<string, Uint8Array>): ReadStore {
  const images = new Map<string, Uint8Array>([[p.holderId, p.holder], [p.referrerId, p.referrer], ...replaced]);
  return {
    description: 'memory (tampered pair)',
    list: () => Promise.resolve([...images].map(([id, b]) => ({ id, size: b.length })).reverse()),
    open: (id) => {
      const bytes = images.get(id);
      return bytes === undefined ? Promise.reject(new CkptError(ErrorCodes.NOT_FOUND, `no image ${id}`)) : Promise.resolve(memorySource(bytes, id));
    },
  };
}

/** Every provider of image `id` read through `store` (holders from it too). */
async function readThrough(store: ReadStore, id: string, source: KeySource = keys): Promise<Map<string, unknown>> {
  return readAllProviders(await openStoreImage(store, id, { keys: source }));
}

/** The code (and image) reading every provider of `id` through `store` fails with; 'ok' when it reads. */
async function storeOutcome(store: ReadStore, id: string, source: KeySource = keys): Promise<{ code: string; image?: string | undefined }> {
  try {
    await readThrough(store, id, source);
    return { code: 'ok' };
  } catch (err) {
    if (!isCkptError(err)) throw err;
    return { code: err.code, image: err.image };
  }
}

/**
 * Re-seal the index of a format-5 image written with data key `dek` and
 * uuid `uuid` after `change` edits its model (the trailer's CRC fixed), as
 * {@link resealIndex} does for format 4; encoded in v5's layout directly, so
 * a forged index may hold what the writer never writes.
 */
function reseal5(bytes: Buffer, dek: Uint8Array, uuid: Uint8Array, change: (index: ImageIndex) => ImageIndex): Buffer {
  const t = decodeTrailer(bytes.subarray(bytes.length - TRAILER_SIZE), bytes.length);
  const aad = Buffer.concat([bytes.subarray(0, HEADER_SIZE), bytes.subarray(t.cryptoOffset, t.indexOffset)]);
  const seal = { uuid: Buffer.from(uuid), keys: deriveImageKeys(dek, uuid), indexNonce: nonceOf(NONCE_DOMAIN_INDEX, 0) };
  const plain = openIndex(seal, aad, bytes.subarray(t.indexOffset, t.indexOffset + t.indexLength), 'test');
  const model = FORMATS.decodeIndex(5, plain, t.cryptoOffset!, { maxSegmentBytes: 1 << 26 });
  const sealed = sealIndex(seal, aad, formatV5.encode(modelOfV5.fromModel(change(model))));
  return Buffer.concat([bytes.subarray(0, t.indexOffset), sealed, encodeTrailer({ indexOffset: t.indexOffset, indexLength: sealed.length, indexCrc: crc32(sealed), cryptoOffset: t.cryptoOffset! })]);
}

/** Row `n` of `index` replaced by `row(old)`. */
function withRow(index: ImageIndex, n: number, row: (s: SegmentEntry) => SegmentEntry): ImageIndex {
  return { ...index, segments: index.segments.map((s, k) => (k === n ? row(s) : s)) };
}

describe('tampering with an encrypted incremental image (format 5)', () => {
  afterEach(async () => {
    for (const d of incrDirs.splice(0)) await rm(d, { recursive: true, force: true });
  });

  it('the pair: R refers to H, has XOR deltas and a full segment of its own, and reads back exactly', async () => {
    const p = await encryptedPair();
    const r = await openStoreImage(new FsStore(p.dir), p.referrerId, { keys });
    expect(r.header.formatVersion).toBe(5);
    expect(r.header.requiredFlags).toBe(RequiredFlag.ENCRYPTED_SEGMENTS | RequiredFlag.SEGMENTS_BY_REFERENCE);
    await r.close();
    const segs = p.referrerIndex.segments;
    expect(segs.every((s) => (s.flags & SegmentFlag.ENCRYPTED) !== 0)).toBe(true);
    expect(p.referrerIndex.refs).toEqual([{ imageId: p.holderId, uuid: Buffer.from(HOLDER_UUID).toString('hex') }]);
    expect(segs.map((s) => (s.ref !== undefined ? 'ref' : s.codec === SegmentCodec.XOR_ZSTD ? 'xor' : 'own'))).toEqual(['ref', 'ref', 'xor', 'ref', 'own', 'xor']);
    expect(await readThrough(new FsStore(p.dir), p.referrerId)).toEqual(p.expected);
  });

  it('bit flips all over the referring image (header, own segments and XOR deltas, crypto block, sealed index, trailer) → CKPT_ERR_CORRUPT of the referrer', async () => {
    const p = await encryptedPair();
    const bytes = p.referrer;
    const own = p.referrerIndex.segments.filter((s) => s.ref === undefined);
    expect(own.map((s) => s.codec)).toEqual([SegmentCodec.XOR_ZSTD, SegmentCodec.RAW, SegmentCodec.XOR_ZSTD]);
    // Every bit of every byte (~41k reads at ~0.5 ms) would take 20 s. Sampled instead,
    // deterministically: every bit of the header, the trailer and each own segment's
    // first and last 16 bytes (its tag); one bit of every other byte outside the
    // segments (crypto block, index: bit i % 8); inside a segment, one bit of every 8th byte.
    const inSegment = (i: number) => own.find((s) => i >= s.offset && i < s.offset + s.storedLength);
    const flips: [number, number][] = [];
    for (let i = 0; i < bytes.length; i++) {
      const seg = inSegment(i);
      const all = i < HEADER_SIZE || i >= bytes.length - TRAILER_SIZE || (seg !== undefined && (i - seg.offset < 16 || seg.offset + seg.storedLength - i <= 16));
      const one = seg === undefined || (i - seg.offset) % 8 === 0;
      for (let bit = 0; bit < 8; bit++) if (all || (one && bit === i % 8)) flips.push([i, bit]);
    }
    const seen = new Map<string, number>();
    for (const [i, bit] of flips) {
      const bad = Buffer.from(bytes);
      bad[i]! ^= 1 << bit;
      const o = await storeOutcome(inMemory(p, new Map([[p.referrerId, bad]])), p.referrerId);
      const key = `${o.code} ${o.image ?? '-'}`;
      seen.set(key, (seen.get(key) ?? 0) + 1);
    }
    expect(flips.length).toBeGreaterThan(2000);
    expect(Object.fromEntries(seen)).toEqual({ [`${ErrorCodes.CORRUPT} ${p.referrerId}`]: flips.length });
  });

  it('every truncation of the referring image → CKPT_ERR_CORRUPT of the referrer', async () => {
    const p = await encryptedPair();
    const seen = new Map<string, number>();
    for (let n = 0; n < p.referrer.length; n++) {
      const o = await storeOutcome(inMemory(p, new Map([[p.referrerId, p.referrer.subarray(0, n)]])), p.referrerId);
      const key = `${o.code} ${o.image ?? '-'}`;
      seen.set(key, (seen.get(key) ?? 0) + 1);
    }
    expect(Object.fromEntries(seen)).toEqual({ [`${ErrorCodes.CORRUPT} ${p.referrerId}`]: p.referrer.length });
  });

  it("every sampled bit flip in the holder's bytes the referrer reads (referenced segments, XOR bases) → CKPT_ERR_CORRUPT naming the holder", async () => {
    const p = await encryptedPair();
    const rows = p.referrerIndex.segments;
    // The holder segments R reads: those it refers to, and the bases of its XOR deltas.
    const used = [...new Set(rows.flatMap((s) => (s.ref !== undefined ? [s.ref.segment] : s.base !== undefined ? [s.base.segment] : [])))].sort((a, b) => a - b);
    expect(used).toEqual([0, 1, 2, 3, 5]);
    // Sampled (~12 KiB of holder bytes): every bit of each segment's first and last 16
    // bytes (the GCM tag), and one bit of every 8th byte in between (bit j / 8 % 8).
    const flips: [number, number][] = [];
    for (const k of used) {
      const { offset, storedLength } = p.holderIndex.segments[k]!;
      for (let j = 0; j < storedLength; j++) {
        const edge = j < 16 || j >= storedLength - 16;
        for (let bit = 0; bit < 8; bit++) if (edge || (j % 8 === 0 && bit === (j / 8) % 8)) flips.push([offset + j, bit]);
      }
    }
    const seen = new Map<string, number>();
    for (const [i, bit] of flips) {
      const bad = Buffer.from(p.holder);
      bad[i]! ^= 1 << bit;
      const o = await storeOutcome(inMemory(p, new Map([[p.holderId, bad]])), p.referrerId);
      const key = `${o.code} ${o.image ?? '-'}`;
      seen.set(key, (seen.get(key) ?? 0) + 1);
    }
    expect(flips.length).toBeGreaterThan(2500);
    expect(Object.fromEntries(seen)).toEqual({ [`${ErrorCodes.CORRUPT} ${p.holderId}`]: flips.length });
    // The one segment R does not read: a flip there leaves R readable.
    const spare = p.holderIndex.segments[4]!;
    const bad = Buffer.from(p.holder);
    bad[spare.offset + 100]! ^= 1;
    expect(await readThrough(overlay(p.dir, new Map([[p.holderId, bad]])), p.referrerId)).toEqual(p.expected);
  });

  it("a flip in the holder's header, crypto block, index or trailer (one per byte, rotating bit) → CKPT_ERR_CORRUPT naming the holder", async () => {
    const p = await encryptedPair();
    const t = decodeTrailer(p.holder.subarray(p.holder.length - TRAILER_SIZE), p.holder.length);
    const at = [...Array(HEADER_SIZE).keys(), ...Array.from({ length: p.holder.length - t.cryptoOffset! }, (_, k) => t.cryptoOffset! + k)];
    const seen = new Map<string, number>();
    for (const i of at) {
      const bad = Buffer.from(p.holder);
      bad[i]! ^= 1 << (i % 8);
      const o = await storeOutcome(inMemory(p, new Map([[p.holderId, bad]])), p.referrerId);
      const key = `${o.code} ${o.image ?? '-'}`;
      seen.set(key, (seen.get(key) ?? 0) + 1);
    }
    expect(Object.fromEntries(seen)).toEqual({ [`${ErrorCodes.CORRUPT} ${p.holderId}`]: at.length });
  });

  it("a referenced segment's bytes replaced, in the holder's file, by another holder segment of the same length → CKPT_ERR_CORRUPT (checksum; with checksums made to match, authentication under the holder's segment index)", async () => {
    const p = await encryptedPair();
    const hs = p.holderIndex.segments;
    // Holder segment 1 is referred to by R's row 1; segment 4 is R's no longer (R rewrote it).
    expect(p.referrerIndex.segments[1]!.ref).toEqual({ image: 0, segment: 1 });
    const [a, b] = [hs[1]!, hs[4]!];
    expect(a.storedLength).toBe(b.storedLength);
    const moved = Buffer.from(p.holder);
    p.holder.copy(moved, a.offset, b.offset, b.offset + b.storedLength);
    const err = await expectCode(readThrough(overlay(p.dir, new Map([[p.holderId, moved]])), p.referrerId), ErrorCodes.CORRUPT);
    expect(err.image).toBe(p.holderId);
    expect(err.message).toMatch(/checksum/);
    // The holder's index re-sealed with segment 4's checksum on row 1: R's row no longer repeats it.
    const holderForged = reseal5(moved, HOLDER_DEK, HOLDER_UUID, (m) => withRow(m, 1, (s) => ({ ...s, crc: b.crc })));
    const unmatched = await expectCode(readThrough(overlay(p.dir, new Map([[p.holderId, holderForged]])), p.referrerId), ErrorCodes.CORRUPT);
    expect(unmatched.image).toBe(p.referrerId);
    expect(unmatched.message).toMatch(/does not match it/);
    // R's index re-sealed to match as well: every checksum holds, the bytes are sealed under index 4, not 1.
    const referrerForged = reseal5(p.referrer, FIXED_DEK, FIXED_UUID, (m) => withRow(m, 1, (s) => ({ ...s, crc: b.crc })));
    const both = overlay(p.dir, new Map([[p.holderId, holderForged], [p.referrerId, referrerForged]]));
    const auth = await expectCode(readThrough(both, p.referrerId), ErrorCodes.CORRUPT);
    expect(auth.image).toBe(p.holderId);
    expect(auth.message).toMatch(/authentication failed/);
    // The re-sealing itself is sound: both indexes re-sealed unchanged read.
    const resealed = overlay(p.dir, new Map([[p.holderId, reseal5(p.holder, HOLDER_DEK, HOLDER_UUID, (m) => m)], [p.referrerId, reseal5(p.referrer, FIXED_DEK, FIXED_UUID, (m) => m)]]));
    expect(await readThrough(resealed, p.referrerId)).toEqual(p.expected);
  });

  it("a holder segment moved into the referrer's own segment at the same index (checksum made to match) → CKPT_ERR_CORRUPT: R's own segments are opened with R's key", async () => {
    const p = await encryptedPair();
    const own = p.referrerIndex.segments[4]!;
    const theirs = p.holderIndex.segments[4]!;
    expect(own.ref).toBeUndefined();
    expect(own.codec).toBe(SegmentCodec.RAW);
    expect(theirs.storedLength).toBe(own.storedLength);
    const moved = Buffer.from(p.referrer);
    p.holder.copy(moved, own.offset, theirs.offset, theirs.offset + theirs.storedLength);
    const forged = reseal5(moved, FIXED_DEK, FIXED_UUID, (m) => withRow(m, 4, (s) => ({ ...s, crc: theirs.crc })));
    const err = await expectCode(readThrough(overlay(p.dir, new Map([[p.referrerId, forged]])), p.referrerId), ErrorCodes.CORRUPT);
    expect(err.image).toBe(p.referrerId);
    expect(err.message).toMatch(/authentication failed/);
  });

  it("a referrer index forged with the referrer's key: a by-reference row must repeat its holder's row exactly and be encrypted, else CKPT_ERR_CORRUPT", async () => {
    const p = await encryptedPair();
    const hs = p.holderIndex.segments;
    const row1 = p.referrerIndex.segments[1]!;
    const forged = async (change: (s: SegmentEntry) => SegmentEntry, n = 1) =>
      storeOutcome(overlay(p.dir, new Map([[p.referrerId, reseal5(p.referrer, FIXED_DEK, FIXED_UUID, (m) => withRow(m, n, change))]])), p.referrerId);
    const corrupt = { code: ErrorCodes.CORRUPT, image: p.referrerId };
    // The reference moved to another holder segment, the row left as it was.
    expect(await forged((s) => ({ ...s, ref: { image: 0, segment: 4 } }))).toEqual(corrupt);
    // Each field of the repeated row changed alone.
    expect(await forged((s) => ({ ...s, offset: hs[4]!.offset }))).toEqual(corrupt);
    expect(await forged((s) => ({ ...s, crc: (s.crc ^ 1) >>> 0 }))).toEqual(corrupt);
    expect(await forged((s) => ({ ...s, codec: SegmentCodec.ZSTD }))).toEqual(corrupt);
    expect(await forged((s) => ({ ...s, storedLength: s.storedLength - 1 }))).toEqual(corrupt);
    // Not encrypted: a by-reference row of an encrypted image without ENCRYPTED.
    expect(await forged((s) => ({ ...s, flags: SegmentFlag.BY_REFERENCE }))).toEqual(corrupt);
    // A holder segment that does not exist; a holder that is not listed.
    expect(await forged((s) => ({ ...s, ref: { image: 0, segment: 99 } }))).toEqual(corrupt);
    expect(await forged((s) => ({ ...s, ref: { image: 1, segment: 1 } }))).toEqual(corrupt);
    const msg = await expectCode(
      readThrough(overlay(p.dir, new Map([[p.referrerId, reseal5(p.referrer, FIXED_DEK, FIXED_UUID, (m) => withRow(m, 1, (s) => ({ ...s, ref: { image: 0, segment: 4 } })))]])), p.referrerId),
      ErrorCodes.CORRUPT,
    );
    expect(msg.message).toMatch(/does not match it/);
    // An XOR delta over another holder segment of the same length: decodes to bytes whose hash is not the row's.
    expect(p.referrerIndex.segments[2]!.base).toEqual({ image: 0, segment: 2 });
    expect(await forged((s) => ({ ...s, base: { image: 0, segment: 4 } }), 2)).toEqual(corrupt);
    // What the key's holder can do (the index is the key holder's word): a row naming another
    // holder segment and repeating that segment's row exactly reads that segment's authentic bytes.
    const other = { ...hs[4]!, flags: hs[4]!.flags | SegmentFlag.BY_REFERENCE, ref: { image: 0, segment: 4 } };
    expect(row1.rawLength).toBe(other.rawLength);
    const read = await readThrough(overlay(p.dir, new Map([[p.referrerId, reseal5(p.referrer, FIXED_DEK, FIXED_UUID, (m) => withRow(m, 1, () => other))]])), p.referrerId);
    const blob = (read.get('app') as { blob: Uint8Array }).blob;
    const { h, r } = blobs();
    expect(Buffer.from(blob.subarray(0, SEG)).equals(Buffer.from(h.subarray(3 * SEG, 4 * SEG)))).toBe(true);
    expect(Buffer.from(blob.subarray(SEG)).equals(Buffer.from(r.subarray(SEG)))).toBe(true);
  });

  it('a holder replaced by another encrypted image of the same key → CKPT_ERR_MISSING_REFERENCE; with its uuid copied → CKPT_ERR_CORRUPT', async () => {
    const p = await encryptedPair();
    const { h } = blobs();
    const store = new FsStore(p.dir);
    // The same state under a fresh data key and uuid (what the holder's writer would write again).
    await p.write(p.holderId, providersOf(h, 1), { encryption: keys, incremental: { plan: new IncrementalPlan(undefined, true) } });
    const missing = await expectCode(readThrough(store, p.referrerId), ErrorCodes.MISSING_REFERENCE);
    expect(missing.image).toBe(p.holderId);
    // Its uuid made the original's (another data key): the uuid check passes, the rows' checksums do not.
    const sameUuid = await p.write(p.holderId, providersOf(h, 1), { encryption: keys, fixedSeal: { dek: OTHER_DEK, uuid: HOLDER_UUID }, incremental: { plan: new IncrementalPlan(undefined, true) } });
    expect(sameUuid.index.manifest.uuid).toBe(p.holderIndex.manifest.uuid);
    expect(sameUuid.index.segments.map((s) => s.offset)).toEqual(p.holderIndex.segments.map((s) => s.offset));
    const unmatched = await expectCode(readThrough(store, p.referrerId), ErrorCodes.CORRUPT);
    expect(unmatched.message).toMatch(/does not match it/);
    // The original back: reads.
    await writeFile(join(p.dir, `${p.holderId}.ckpt`), p.holder);
    expect(await readThrough(store, p.referrerId)).toEqual(p.expected);
  });

  it('a holder replaced by a plaintext image → CKPT_ERR_MISSING_REFERENCE, or CKPT_ERR_CORRUPT with the uuid copied (allowPlaintext); CKPT_ERR_NOT_ENCRYPTED without it — never data', async () => {
    const p = await encryptedPair();
    const { h } = blobs();
    const store = new FsStore(p.dir);
    const migrating = ring({ a: KEY_A }, 'a', true);
    expect(await readThrough(store, p.referrerId, migrating)).toEqual(p.expected);
    // Format 3, as a Checkpointer writes a plaintext incremental chain.
    await p.write(p.holderId, providersOf(h, 1), { formatVersion: 3, incremental: { plan: new IncrementalPlan(undefined, true) } });
    expect(await storeOutcome(store, p.referrerId, migrating)).toEqual({ code: ErrorCodes.MISSING_REFERENCE, image: p.holderId });
    expect(await storeOutcome(store, p.referrerId)).toEqual({ code: ErrorCodes.NOT_ENCRYPTED, image: p.holderId });
    // A plaintext image claiming the holder's uuid (it is in the clear in the holder's crypto block).
    const forged = await p.write(p.holderId, providersOf(h, 1), { formatVersion: 3, incremental: { plan: new IncrementalPlan(undefined, true) }, manifest: { uuid: p.holderIndex.manifest.uuid! } });
    expect(forged.index.manifest.uuid).toBe(p.holderIndex.manifest.uuid);
    const err = await expectCode(readThrough(store, p.referrerId, migrating), ErrorCodes.CORRUPT);
    expect(err.message).toMatch(/does not match it/);
  });
});
