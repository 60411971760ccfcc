// Format 3: images with segments stored by reference and as XOR deltas —
// the index rules, the header flag, reading through holders opened from the
// store (once each, uuid checked), the XOR chain bound, and every way a
// holder can go missing or bad.
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { crc32 } from 'node:zlib';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, afterEach, describe, expect, it, vi } from 'vitest';
import { CkptError, ErrorCodes } from '../../src/errors.js';
import type { RestoreResult } from '../../src/info.js';
import { MAX_XOR_CHAIN, RequiredFlag, SegmentCodec, TRAILER_SIZE } from '../../src/image/constants.js';
import { FORMATS } from '../../src/image/format-registry.js';
import { decodeHeader, decodeTrailer, encodeHeader, encodeTrailer } from '../../src/image/header.js';
import { SegmentFlag } from '../../src/image/index-model.js';
import { decodeIndexV3, encodeIndexV3, type ImageIndexV3 } from '../../src/image/index-v3.js';
import { attachHolderSource, openStoreImage } from '../../src/image/open-store.js';
import { ImageReader } from '../../src/image/reader.js';
import type { ZstdPool } from '../../src/image/pool.js';
import { FsStore } from '../../src/store/fs-store.js';
import { MemoryStore } from '../../src/store/memory-store.js';
import { openImageFile } from '../../src/store/open-image-file.js';
import type { ImageSource, Store } from '../../src/store/store.js';
import { captured, imageBytes, memorySource } from '../helpers/image-bytes.js';
import { writeChainImage, type ChainProvider } from '../helpers/incremental-images.js';

async function failure(p: Promise<unknown> | (() => unknown)): Promise<CkptError> {
  const e = typeof p === 'function' ? await Promise.resolve().then(p).then(() => undefined, (x: unknown) => x) : await p.then(() => undefined, (x: unknown) => x);
  if (!(e instanceof CkptError)) throw new Error(`expected CkptError, got ${String(e)}`);
  return e;
}

/** 16 segments of 4 KiB in one blob, plus a small value stream. */
function field(seed: number): Float64Array {
  const f = new Float64Array(8192);
  for (let i = 0; i < f.length; i++) f[i] = Math.sin(i / 50 + seed) * 100;
  return f;
}
const state = (f: Float64Array, step: number): ChainProvider[] => [{ id: 'grid', state: { step, f } }];

async function readGrid(store: Store, id: string): Promise<unknown> {
  const r = await openStoreImage(store, id);
  try {
    return await r.readProvider('grid');
  } finally {
    await r.close();
  }
}

/** A store that counts opens per image id. */
function countingStore(inner: Store): { store: Store; opens: Map<string, number> } {
  const opens = new Map<string, number>();
  const store: Store = {
    description: inner.description,
    list: () => inner.list(),
    open: (id: string): Promise<ImageSource> => {
      opens.set(id, (opens.get(id) ?? 0) + 1);
      return inner.open(id);
    },
    acquireWriter: (o) => inner.acquireWriter(o),
    create: (l) => inner.create(l),
    delete: (l, id) => inner.delete(l, id),
    cleanup: (l) => inner.cleanup(l),
  };
  return { store, opens };
}

const dirs: string[] = [];
afterEach(async () => {
  for (const d of dirs.splice(0)) await rm(d, { recursive: true, force: true });
});

describe('format 3 by reference', () => {
  it('unchanged segments become references into the holder; the image reads back exactly', async () => {
    const store = new MemoryStore();
    const f = field(1);
    const a = await writeChainImage(store, state(f, 1));
    expect(a.referenced).toBe(0);
    const g = Float64Array.from(f);
    g[100] = -1;
    const b = await writeChainImage(store, state(g, 2), { parent: a.id });
    expect(b.referenced).toBeGreaterThanOrEqual(15);
    expect(b.written).toBeLessThanOrEqual(2);
    expect(b.index.refs).toEqual([{ imageId: a.id, uuid: a.uuid }]);
    expect(await readGrid(store, b.id)).toEqual({ step: 2, f: g });
    expect(await readGrid(store, a.id)).toEqual({ step: 1, f });
    const r = await openStoreImage(store, b.id);
    expect(r.refs).toEqual([a.id]);
    expect(r.incremental).toBe(true);
    expect(r.header.formatVersion).toBe(3);
    expect(r.header.requiredFlags & RequiredFlag.SEGMENTS_BY_REFERENCE).not.toBe(0);
    expect((await r.verify()).ok).toBe(true);
    await r.close();
  });

  it('references are flattened: a third image names the image that holds the bytes, never one that refers on', async () => {
    const store = new MemoryStore();
    const f = field(2);
    const a = await writeChainImage(store, state(f, 1));
    const g = Float64Array.from(f);
    g[0] = 7; // segment 0 of the blob changes in b
    const b = await writeChainImage(store, state(g, 2), { parent: a.id });
    const h = Float64Array.from(g);
    h[8191] = 9; // the last segment changes in c
    const c = await writeChainImage(store, state(h, 3), { parent: b.id });
    const holderIds = c.index.refs!.map((x) => x.imageId);
    expect(new Set(holderIds)).toEqual(new Set([a.id, b.id]));
    for (const s of c.index.segments) {
      if (s.ref === undefined) continue;
      const holder = c.index.refs![s.ref.image]!.imageId;
      const holderIndex = (await openStoreImage(store, holder)).index;
      expect(holderIndex.segments[s.ref.segment]!.ref).toBeUndefined();
    }
    expect(await readGrid(store, c.id)).toEqual({ step: 3, f: h });
  });

  it('opens each holder once per reader, however many segments and images refer to it', async () => {
    const mem = new MemoryStore();
    const f = field(3);
    const a = await writeChainImage(mem, state(f, 1));
    const b = await writeChainImage(mem, state(f, 2), { parent: a.id });
    const c = await writeChainImage(mem, state(f, 3), { parent: b.id });
    const { store, opens } = countingStore(mem);
    const r = await openStoreImage(store, c.id);
    expect(await r.readProvider('grid')).toEqual({ step: 3, f });
    expect(await r.readProvider('grid')).toEqual({ step: 3, f });
    expect((await r.verify()).ok).toBe(true);
    await r.close();
    expect(opens.get(c.id)).toBe(1);
    // Every blob segment is held by a (flattened through b).
    expect(opens.get(a.id)).toBe(1);
  });

  it('readRawSegment gives a referenced segment’s raw bytes, the same as the holder’s', async () => {
    const store = new MemoryStore();
    const f = field(4);
    const a = await writeChainImage(store, state(f, 1));
    const b = await writeChainImage(store, state(f, 1), { parent: a.id });
    const ra = await openStoreImage(store, a.id);
    const rb = await openStoreImage(store, b.id);
    const n = rb.index.segments.findIndex((s) => s.ref !== undefined);
    expect(n).toBeGreaterThanOrEqual(0);
    const ref = rb.index.segments[n]!.ref!;
    expect(Buffer.from(await rb.readRawSegment(n)).equals(await ra.readRawSegment(ref.segment))).toBe(true);
    expect(await rb.readStoredSegment(n)).toEqual(await ra.readStoredSegment(ref.segment));
    await ra.close();
    await rb.close();
  });
});

/**
 * A full image of field(6), then MAX_XOR_CHAIN + 1 images each an XOR delta
 * over the one before, `change` applied to a copy of the field each time:
 * ids[k] holds deltas k deep.
 */
async function deltaChain(change: (g: Float64Array, k: number) => void): Promise<{ store: MemoryStore; ids: string[]; states: Float64Array[] }> {
  const store = new MemoryStore();
  const f = field(6);
  let prev = await writeChainImage(store, state(f, 0));
  const states: Float64Array[] = [f];
  const ids = [prev.id];
  for (let k = 1; k <= MAX_XOR_CHAIN + 1; k++) {
    const g = Float64Array.from(states[k - 1]!);
    change(g, k);
    prev = await writeChainImage(store, state(g, k), { parent: prev.id, delta: 'xor' });
    states.push(g);
    ids.push(prev.id);
  }
  return { store, ids, states };
}

describe('format 3 XOR deltas', () => {
  it('a changed segment becomes a small XOR delta over the parent’s; reads back exactly', async () => {
    const store = new MemoryStore();
    const f = field(5);
    const a = await writeChainImage(store, state(f, 1));
    const g = Float64Array.from(f);
    for (let i = 0; i < g.length; i += 97) g[i] = g[i]! + 1;
    const b = await writeChainImage(store, state(g, 2), { parent: a.id, delta: 'xor' });
    expect(b.xor).toBeGreaterThanOrEqual(15);
    const xorSeg = b.index.segments.find((s) => s.codec === SegmentCodec.XOR_ZSTD && s.rawLength === 4096)!;
    expect(xorSeg.base).toBeDefined();
    expect(xorSeg.storedLength).toBeLessThan(xorSeg.rawLength / 2);
    expect(await readGrid(store, b.id)).toEqual({ step: 2, f: g });
  });

  it(`follows a chain of ${MAX_XOR_CHAIN} deltas and refuses a longer one as CORRUPT`, async () => {
    // The same (first) blob segment changes every time: ids[k] holds a delta k deep in it.
    const { store, ids, states } = await deltaChain((g, k) => void (g[k * 10] = k));
    expect(await readGrid(store, ids[MAX_XOR_CHAIN]!)).toEqual({ step: MAX_XOR_CHAIN, f: states[MAX_XOR_CHAIN] });
    const r = await openStoreImage(store, ids[MAX_XOR_CHAIN + 1]!);
    const e = await failure(r.readProvider('grid'));
    await r.close();
    expect(e.code).toBe(ErrorCodes.CORRUPT);
    expect(e.message).toMatch(/base chain is deeper than 8/);
  });
});

describe('XOR deltas decode to the bytes their rows record', () => {
  /** Reads through a pool of 2 threads (minimum 0 bytes: every run), or on this thread. */
  let pool: ZstdPool | undefined;
  afterAll(async () => {
    await pool?.close();
  });
  async function pooled(r: ImageReader): Promise<ImageReader> {
    const { ZstdPool } = await import('../../src/image/pool.js');
    const { useReaderPool } = await import('../../src/image/reader.js');
    pool ??= new ZstdPool(2, 0);
    useReaderPool(r, pool);
    return r;
  }

  /** a (full) and b (every blob segment an XOR delta over a's) in an FsStore; `n`: a delta row of b of 4 KiB. */
  async function xorPair(): Promise<{ dir: string; store: FsStore; a: string; b: string; n: number; g: Float64Array }> {
    const dir = await mkdtemp(join(tmpdir(), 'ckpt-incr-'));
    dirs.push(dir);
    const store = new FsStore(dir);
    const f = field(11);
    const a = await writeChainImage(store, state(f, 1));
    const g = Float64Array.from(f);
    for (let i = 0; i < g.length; i += 97) g[i] = g[i]! + 1;
    const b = await writeChainImage(store, state(g, 2), { parent: a.id, delta: 'xor' });
    const n = b.index.segments.findIndex((s) => s.codec === SegmentCodec.XOR_ZSTD && s.rawLength === 4096);
    expect(n).toBeGreaterThanOrEqual(0);
    expect(await readGrid(store, b.id)).toEqual({ step: 2, f: g });
    return { dir, store, a: a.id, b: b.id, n, g };
  }

  it('a damaged base whose checksum still matches (its row names other bytes) is CORRUPT naming the base image, not wrong data', async () => {
    const { dir, store, a, b, n } = await xorPair();
    const rb = await openStoreImage(store, b);
    const k = rb.index.segments[n]!.base!.segment;
    await rb.close();
    // Base segment k of a and its neighbour trade places in the file, each row moved with its
    // bytes (offset, length, checksum, codec) but keeping its own hash: every checksum passes.
    const path = join(dir, `${a}.ckpt`);
    const img = await readFile(path);
    const forged = rewriteIndex(img, (ix) => {
      const i = ix.segments[k + 1]?.rawLength === ix.segments[k]!.rawLength ? k : k - 1;
      const [x, y] = [ix.segments[i]!, ix.segments[i + 1]!];
      expect(y.rawLength).toBe(x.rawLength);
      Buffer.concat([img.subarray(y.offset, y.offset + y.storedLength), img.subarray(x.offset, x.offset + x.storedLength)]).copy(img, x.offset);
      const rows = [...ix.segments];
      rows[i] = { ...x, storedLength: y.storedLength, crc: y.crc, codec: y.codec };
      rows[i + 1] = { ...y, offset: x.offset + y.storedLength, storedLength: x.storedLength, crc: x.crc, codec: x.codec };
      return { ...ix, segments: rows };
    });
    await writeFile(path, forged);
    const r = await openStoreImage(store, b);
    const e = await failure(r.readRawSegment(n));
    expect(e.code).toBe(ErrorCodes.CORRUPT);
    expect(e.image).toBe(a);
    expect(e.message).toMatch(new RegExp(`image ${a}: segment ${k} .*do not match the hash recorded for it`));
    expect((await failure(r.readProvider('grid'))).code).toBe(ErrorCodes.CORRUPT);
    expect((await r.verify()).ok).toBe(false);
    await r.close();
    // The same on the pool's threads (the chain decoded there, each level's hash compared there).
    const rp = await pooled(await openStoreImage(store, b));
    const ep = await failure(rp.readProvider('grid'));
    await rp.close();
    expect(ep.code).toBe(ErrorCodes.CORRUPT);
    expect(ep.image).toBe(a);
    expect(ep.message).toMatch(new RegExp(`image ${a}: segment ${k} \\(base of an XOR delta\\) .*do not match the hash recorded for it`));
  });

  it('a delta whose row names the wrong base segment is CORRUPT naming the delta’s image; restore falls back past it', async () => {
    const { dir, store, a, b, n } = await xorPair();
    const bytes = await storedBytes(store, b);
    const forged = rewriteIndex(bytes, (ix) => {
      const base = ix.segments[n]!.base!;
      return { ...ix, segments: ix.segments.map((s, i) => (i === n ? { ...s, base: { ...base, segment: base.segment === 1 ? 2 : 1 } } : s)) };
    });
    await writeFile(join(dir, `${b}.ckpt`), forged);
    const r = await openStoreImage(store, b);
    const e = await failure(r.readRawSegment(n));
    await r.close();
    expect(e.code).toBe(ErrorCodes.CORRUPT);
    expect(e.image).toBe(b);
    expect(e.message).toMatch(new RegExp(`image ${b}: segment ${n} .*do not match the hash recorded for it`));
    const rp = await pooled(await openStoreImage(store, b));
    const ep = await failure(rp.readProvider('grid'));
    await rp.close();
    expect(ep.code).toBe(ErrorCodes.CORRUPT);
    expect(ep.image).toBe(b);
    expect(ep.message).toMatch(new RegExp(`image ${b}: segment ${n} \\(XOR delta\\) .*do not match the hash recorded for it`));
    const { Checkpointer } = await import('../../src/checkpointer.js');
    const ckpt = new Checkpointer({ store, readOnly: true });
    let got: unknown;
    ckpt.register({ id: 'grid', snapshot: () => null, restore: (s) => void (got = s) });
    const result = await ckpt.restore();
    await ckpt.close();
    expect(result?.image.id).toBe(a);
    expect(got).toEqual({ step: 1, f: field(11) });
    expect(result?.skipped).toEqual([expect.objectContaining({ id: b, code: ErrorCodes.CORRUPT })]);
  });
});

describe('missing and bad holders', () => {
  async function pair(store: Store): Promise<{ a: string; b: string; g: Float64Array }> {
    const f = field(7);
    const a = await writeChainImage(store, state(f, 1));
    const g = Float64Array.from(f);
    g[1] = 0;
    const b = await writeChainImage(store, state(g, 2), { parent: a.id });
    return { a: a.id, b: b.id, g };
  }

  it('a deleted holder: the image opens (index only) but reading it is CKPT_ERR_MISSING_REFERENCE naming the holder', async () => {
    const store = new MemoryStore();
    const { a, b } = await pair(store);
    const lock = await store.acquireWriter();
    await store.delete(lock, a);
    await lock.release();
    const r = await openStoreImage(store, b);
    expect(r.refs).toEqual([a]);
    const e = await failure(r.readProvider('grid'));
    expect(e.code).toBe(ErrorCodes.MISSING_REFERENCE);
    expect(e.image).toBe(a);
    expect(e.message).toMatch(new RegExp(`image ${b} refers to image ${a}.*does not exist`));
    const report = await r.verify();
    expect(report.ok).toBe(false);
    expect(report.problems[0]!.code).toBe(ErrorCodes.MISSING_REFERENCE);
    expect(await failure(r.checkSegments(['grid']))).toMatchObject({ code: ErrorCodes.MISSING_REFERENCE });
    await r.close();
  });

  it('a holder replaced by another image under the same id (uuid differs) is CKPT_ERR_MISSING_REFERENCE', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'ckpt-incr-'));
    dirs.push(dir);
    const store = new FsStore(dir);
    const { a, b } = await pair(store);
    const other = await writeChainImage(store, state(field(99), 1));
    await writeFile(join(dir, `${a}.ckpt`), await readFile(join(dir, `${other.id}.ckpt`)));
    const r = await openStoreImage(store, b);
    const e = await failure(r.readProvider('grid'));
    await r.close();
    expect(e.code).toBe(ErrorCodes.MISSING_REFERENCE);
    expect(e.message).toMatch(/is another one \(uuid/);
  });

  it('an image opened on its own cannot reach its holders: CKPT_ERR_MISSING_REFERENCE says how to open it', async () => {
    const store = new MemoryStore();
    const { b } = await pair(store);
    const r = await ImageReader.open(await store.open(b));
    const e = await failure(r.readProvider('grid'));
    await r.close();
    expect(e.code).toBe(ErrorCodes.MISSING_REFERENCE);
    expect(e.message).toMatch(/opened on its own.*through its store/);
  });

  it('openImageFile finds holders next to the file (the store directory)', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'ckpt-incr-'));
    dirs.push(dir);
    const store = new FsStore(dir);
    const { b, g } = await pair(store);
    const r = await openImageFile(join(dir, `${b}.ckpt`));
    expect(await r.readProvider('grid')).toEqual({ step: 2, f: g });
    await r.close();
  });

  it('a flipped byte in a referenced holder segment fails the referring image, naming the holder and its segment', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'ckpt-incr-'));
    dirs.push(dir);
    const store = new FsStore(dir);
    const { a, b } = await pair(store);
    const rb = await openStoreImage(store, b);
    const n = rb.index.segments.findIndex((s) => s.ref !== undefined);
    const seg = rb.index.segments[n]!;
    await rb.close();
    const path = join(dir, `${a}.ckpt`);
    const bytes = await readFile(path);
    bytes[seg.offset + (seg.storedLength >> 1)]! ^= 0x10;
    await writeFile(path, bytes);
    const r = await openStoreImage(store, b);
    const e = await failure(r.readProvider('grid'));
    expect(e.code).toBe(ErrorCodes.CORRUPT);
    expect(e.image).toBe(a);
    expect(e.message).toMatch(new RegExp(`image ${a}: segment ${seg.ref!.segment} \\(held for image ${b} segment ${n}\\)`));
    const report = await r.verify();
    expect(report.ok).toBe(false);
    expect(report.problems.some((p) => p.message.includes(`image ${a}`))).toBe(true);
    expect(await failure(r.checkSegments(['grid']))).toMatchObject({ code: ErrorCodes.CORRUPT, image: a });
    await r.close();
  });

  it('a referring row that does not match the holder’s row is CORRUPT (the referring index is damaged)', async () => {
    const store = new MemoryStore();
    const { b } = await pair(store);
    const bytes = await storedBytes(store, b);
    const forged = rewriteIndex(bytes, (ix) => ({
      ...ix,
      segments: ix.segments.map((s) => (s.ref !== null ? { ...s, crc: (s.crc + 1) >>> 0 } : s)),
    }));
    const r = await ImageReader.open(memorySource(forged, b));
    attachHolderSource(r, store);
    const e = await failure(r.readProvider('grid'));
    await r.close();
    expect(e.code).toBe(ErrorCodes.CORRUPT);
    expect(e.message).toMatch(/does not match it/);
  });
});

/** Decode an image's v3 index, patch it (and the header's required flags), and put it back with valid checksums. */
function rewriteIndex(img: Buffer, patch: (ix: ImageIndexV3) => ImageIndexV3, flags?: (f: number) => number): Buffer {
  const t = decodeTrailer(img.subarray(img.length - TRAILER_SIZE), img.length);
  const ix = decodeIndexV3(img.subarray(t.indexOffset, t.indexOffset + t.indexLength), t.indexOffset, { maxSegmentBytes: 1 << 26 });
  const bytes = encodeIndexV3(patch(ix));
  const h = decodeHeader(img);
  const head = encodeHeader({ ...h, requiredFlags: flags === undefined ? h.requiredFlags : flags(h.requiredFlags) });
  return Buffer.concat([head, img.subarray(head.length, t.indexOffset), bytes, encodeTrailer({ indexOffset: t.indexOffset, indexLength: bytes.length, indexCrc: crc32(bytes) })]);
}

async function storedBytes(store: Store, id: string): Promise<Buffer> {
  const src = await store.open(id);
  try {
    return Buffer.from(await src.read(0, src.size));
  } finally {
    await src.close();
  }
}

describe('format 3 index and header rules', () => {
  async function chain(): Promise<{ store: MemoryStore; full: Buffer; incr: Buffer; a: string; b: string }> {
    const store = new MemoryStore();
    const f = field(8);
    const a = await writeChainImage(store, state(f, 1));
    const g = Float64Array.from(f);
    g[5] = 5;
    const b = await writeChainImage(store, state(g, 2), { parent: a.id, delta: 'xor' });
    return { store, full: await storedBytes(store, a.id), incr: await storedBytes(store, b.id), a: a.id, b: b.id };
  }

  it('the header flag SEGMENTS_BY_REFERENCE is set exactly when the index needs other images; a mismatch is CORRUPT', async () => {
    const { full, incr, b } = await chain();
    const noFlag = rewriteIndex(incr, (ix) => ix, (f) => f & ~RequiredFlag.SEGMENTS_BY_REFERENCE);
    const e1 = await failure(ImageReader.open(memorySource(noFlag, b)));
    expect(e1.code).toBe(ErrorCodes.CORRUPT);
    expect(e1.message).toMatch(/refers to other images but the header's required flag SEGMENTS_BY_REFERENCE is not set/);
    const extraFlag = rewriteIndex(full, (ix) => ix, (f) => f | RequiredFlag.SEGMENTS_BY_REFERENCE);
    const e2 = await failure(ImageReader.open(memorySource(extraFlag)));
    expect(e2.code).toBe(ErrorCodes.CORRUPT);
    expect(e2.message).toMatch(/flag SEGMENTS_BY_REFERENCE is set but the index refers to no other image/);
    // Untouched, both open.
    await (await ImageReader.open(memorySource(incr))).close();
    await (await ImageReader.open(memorySource(full))).close();
  });

  it('in a format 1 or 2 image the flag is still unknown: CKPT_ERR_UNSUPPORTED_FEATURE, as older readers said', async () => {
    for (const v of [1, 2]) {
      const img = Buffer.from(await imageBytes([captured('a', { x: 1 })], { formatVersion: v }));
      const h = decodeHeader(img);
      encodeHeader({ ...h, requiredFlags: RequiredFlag.SEGMENTS_BY_REFERENCE }).copy(img, 0);
      expect((await failure(ImageReader.open(memorySource(img)))).code).toBe(ErrorCodes.UNSUPPORTED_FEATURE);
    }
  });

  it('malformed references are CORRUPT naming the field', async () => {
    const { incr, full } = await chain();
    const t = decodeTrailer(incr.subarray(incr.length - TRAILER_SIZE), incr.length);
    const good = decodeIndexV3(incr.subarray(t.indexOffset, t.indexOffset + t.indexLength), t.indexOffset, { maxSegmentBytes: 1 << 26 });
    const tf = decodeTrailer(full.subarray(full.length - TRAILER_SIZE), full.length);
    const fullIx = decodeIndexV3(full.subarray(tf.indexOffset, tf.indexOffset + tf.indexLength), tf.indexOffset, { maxSegmentBytes: 1 << 26 });
    const refRow = good.segments.findIndex((s) => s.ref !== null);
    const xorRow = good.segments.findIndex((s) => s.base !== null);
    expect(xorRow).toBeGreaterThanOrEqual(0);
    const seg = (i: number, patch: object): ImageIndexV3 => ({ ...good, segments: good.segments.map((s, k) => (k === i ? { ...s, ...patch } : s)) });
    // Segment 0 of the full image is held there (plain); it names one holder for the checks below.
    const plain = (patch: object): ImageIndexV3 => ({ ...fullIx, refs: [{ imageId: 'other', uuid: '0'.repeat(32) }], segments: fullIx.segments.map((s, k) => (k === 0 ? { ...s, ...patch } : s)) });
    const cases: [ImageIndexV3, RegExp][] = [
      [{ ...good, refs: [...good.refs, good.refs[0]!] }, /refs\[1\]: image .* is listed twice/],
      [{ ...good, refs: [{ imageId: good.manifest.imageId, uuid: good.refs[0]!.uuid }] }, /refs\[0\]: an image cannot refer to itself/],
      [{ ...good, refs: [{ imageId: 'x', uuid: 'ABC' }] }, /refs\[0\]\.uuid: expected 32 lowercase hex digits/],
      [{ ...good, refs: Array.from({ length: 257 }, (_, i) => ({ imageId: `i${i}`, uuid: '0'.repeat(32) })) }, /refs: more than 256 images/],
      [{ ...good, manifest: { ...good.manifest, uuid: 'nope' } }, /manifest\.uuid/],
      [seg(xorRow, { base: null }), /an XOR segment needs a base/],
      [seg(xorRow, { base: { image: 5, segment: 0 } }), /names refs\[5\], the index lists 1/],
      [plain({ base: { image: 0, segment: 0 } }), /set on a segment that is not an XOR delta/],
      [plain({ ref: { image: 0, segment: 0 } }), /set on a segment that is not stored by reference/],
      [plain({ flags: 1 }), /unknown segment flags 0x1/],
    ];
    if (refRow !== -1) {
      cases.push([seg(refRow, { ref: null }), /a by-reference segment needs a reference/]);
      cases.push([seg(refRow, { base: { image: 0, segment: 0 } }), /a by-reference segment has no base/]);
    }
    for (const [ix, re] of cases) {
      const e = await failure(() => decodeIndexV3(encodeIndexV3(ix), ix.manifest.imageId === fullIx.manifest.imageId ? tf.indexOffset : t.indexOffset, { maxSegmentBytes: 1 << 26 })).catch((x: unknown) => {
        throw new Error(`${String(re)}: ${String(x)}`);
      });
      expect(e.code, String(re)).toBe(ErrorCodes.CORRUPT);
      expect(e.message).toMatch(re);
    }
    // Unpatched, both decode to what they were.
    expect(decodeIndexV3(encodeIndexV3(good), t.indexOffset, { maxSegmentBytes: 1 << 26 })).toEqual(good);
    expect(decodeIndexV3(encodeIndexV3(plain({})), tf.indexOffset, { maxSegmentBytes: 1 << 26 })).toEqual(plain({}));
  });

  it('hashes are stored as 8 bytes big-endian and read back as the same bigint', async () => {
    const { incr } = await chain();
    const t = decodeTrailer(incr.subarray(incr.length - TRAILER_SIZE), incr.length);
    const ix = decodeIndexV3(incr.subarray(t.indexOffset, t.indexOffset + t.indexLength), t.indexOffset, { maxSegmentBytes: 1 << 26 });
    const big = { ...ix, segments: ix.segments.map((s, i) => (i === 0 ? { ...s, hash: 0xfedcba9876543210n } : s)) };
    const bytes = encodeIndexV3(big);
    expect(bytes.includes(Buffer.from('c408fedcba9876543210', 'hex'))).toBe(true);
    expect(decodeIndexV3(bytes, t.indexOffset, { maxSegmentBytes: 1 << 26 }).segments[0]!.hash).toBe(0xfedcba9876543210n);
  });

  it('format 3 → 2 refuses an image with references or deltas (materialize first) and drops uuid and hashes otherwise', async () => {
    const { store, a, b } = await chain();
    const rb = await openStoreImage(store, b);
    const e = await failure(() => FORMATS.encodeIndex(rb.index, 2));
    await rb.close();
    expect(e.code).toBe(ErrorCodes.INVALID_ARGUMENT);
    expect(e.message).toMatch(/materialize it first.*ckpt convert --to 2/);
    const ra = await openStoreImage(store, a);
    expect(ra.index.manifest.uuid).toMatch(/^[0-9a-f]{32}$/);
    expect(ra.index.segments.every((s) => typeof s.hash === 'bigint')).toBe(true);
    const v2 = FORMATS.encodeIndex(ra.index, 2);
    await ra.close();
    expect(v2.includes(Buffer.from('uuid'))).toBe(false);
    expect(v2.includes(Buffer.from('refs'))).toBe(false);
  });

  it('older images read into the same model as before: no uuid, refs, hash, ref or base fields', async () => {
    const r = await ImageReader.open(memorySource(await imageBytes([captured('a', { x: new Uint8Array(100000) })], { formatVersion: 2 })));
    expect('uuid' in r.index.manifest).toBe(false);
    expect('refs' in r.index).toBe(false);
    expect(r.index.segments.every((s) => !('hash' in s) && !('ref' in s) && !('base' in s))).toBe(true);
    expect(r.refs).toEqual([]);
    expect(r.incremental).toBe(false);
    await r.close();
  });

  it('SegmentFlag.BY_REFERENCE is the header’s bit', () => {
    expect(SegmentFlag.BY_REFERENCE).toBe(RequiredFlag.SEGMENTS_BY_REFERENCE);
  });
});

describe('restore of incremental images', () => {
  it('restores an image through its holders, and falls back past one whose holder is gone (MISSING_REFERENCE, like damage)', async () => {
    const { Checkpointer } = await import('../../src/checkpointer.js');
    const store = new MemoryStore();
    const f = field(10);
    const a = await writeChainImage(store, state(f, 1));
    const g = Float64Array.from(f);
    g[3] = 3;
    const b = await writeChainImage(store, state(g, 2));
    const h = Float64Array.from(g);
    h[4000] = 4;
    const c = await writeChainImage(store, state(h, 3), { parent: b.id, delta: 'xor' });
    expect(c.index.refs?.map((r) => r.imageId)).toEqual([b.id]);
    const restoreInto = async (): Promise<{ got: unknown; result: Awaited<ReturnType<InstanceType<typeof Checkpointer>['restore']>> }> => {
      const box: { got: unknown } = { got: undefined };
      const ckpt = new Checkpointer({ store, readOnly: true });
      ckpt.register({ id: 'grid', snapshot: () => null, restore: (s) => { box.got = s; } });
      const result = await ckpt.restore();
      await ckpt.close();
      return { got: box.got, result };
    };
    const first = await restoreInto();
    expect(first.result?.image.id).toBe(c.id);
    expect(first.got).toEqual({ step: 3, f: h });
    const lock = await store.acquireWriter();
    await store.delete(lock, b.id);
    await lock.release();
    const second = await restoreInto();
    expect(second.result?.image.id).toBe(a.id);
    expect(second.got).toEqual({ step: 1, f });
    expect(second.result?.skipped).toEqual([expect.objectContaining({ id: c.id, code: ErrorCodes.MISSING_REFERENCE, message: expect.stringMatching(new RegExp(`refers to image ${b.id}`)) as string })]);
  });
});

describe('restore past an image whose references are unusable', () => {
  /** z (full, step 1), a (full, step 2), b (refers to a, step 3), in an FsStore. */
  async function threeImages(): Promise<{ dir: string; store: FsStore; z: string; a: string; b: string; f: Float64Array }> {
    const dir = await mkdtemp(join(tmpdir(), 'ckpt-incr-'));
    dirs.push(dir);
    const store = new FsStore(dir);
    const f = field(12);
    const z = await writeChainImage(store, state(f, 1));
    const a = await writeChainImage(store, state(f, 2));
    const g = Float64Array.from(f);
    g[9] = 9;
    const b = await writeChainImage(store, state(g, 3), { parent: a.id });
    expect(b.index.refs?.map((r) => r.imageId)).toEqual([a.id]);
    return { dir, store, z: z.id, a: a.id, b: b.id, f };
  }

  async function restoreFrom(store: Store): Promise<{ got: unknown; result: RestoreResult | undefined; warnings: string[] }> {
    const { Checkpointer } = await import('../../src/checkpointer.js');
    const warnings: string[] = [];
    const ckpt = new Checkpointer({ store, readOnly: true });
    ckpt.on('warning', (w) => void warnings.push(w.message));
    let got: unknown;
    ckpt.register({ id: 'grid', snapshot: () => null, restore: (s) => void (got = s) });
    try {
      return { result: await ckpt.restore(), got, warnings };
    } finally {
      await ckpt.close();
    }
  }

  it('a malformed holder id in refs is damage (CORRUPT): restore falls back to the previous good image and reports the skipped one', async () => {
    const { dir, store, a, b, f } = await threeImages();
    const forged = rewriteIndex(await storedBytes(store, b), (ix) => ({ ...ix, refs: ix.refs.map((r) => ({ ...r, imageId: 'not-an-id' })) }));
    await writeFile(join(dir, `${b}.ckpt`), forged);
    const r = await openStoreImage(store, b);
    const e = await failure(r.readProvider('grid'));
    await r.close();
    expect(e.code).toBe(ErrorCodes.CORRUPT);
    expect(e.image).toBe(b);
    expect(e.message).toMatch(new RegExp(`image ${b} refers to image "not-an-id", which is not an image id of .*; image ${b} is damaged`));
    const { result, got } = await restoreFrom(store);
    expect(result?.image.id).toBe(a);
    expect(got).toEqual({ step: 2, f });
    expect(result?.skipped).toEqual([{ id: b, code: ErrorCodes.CORRUPT, message: e.message }]);
  });

  it('a skipped image names the image it refers to whose index is damaged; that image itself is skipped naming nothing else', async () => {
    const { dir, store, z, a, b, f } = await threeImages();
    // a's index no longer checks out (with a valid index checksum): a's own error, and b's through it.
    const forged = rewriteIndex(await storedBytes(store, a), (ix) => ({ ...ix, manifest: { ...ix.manifest, uuid: 'nope' } }));
    await writeFile(join(dir, `${a}.ckpt`), forged);
    const { result, got, warnings } = await restoreFrom(store);
    expect(result?.image.id).toBe(z);
    expect(got).toEqual({ step: 1, f });
    expect(result?.skipped.map((s) => [s.id, s.code, s.dependsOn])).toEqual([
      [b, ErrorCodes.CORRUPT, a],
      [a, ErrorCodes.CORRUPT, undefined],
    ]);
    expect(warnings[0]).toMatch(new RegExp(`^image ${b} is unusable and was skipped because image ${a}, which holds bytes it refers to, is unusable`));
    expect(warnings[1]).toMatch(new RegExp(`^image ${a} is unusable and was skipped; falling back`));
  });
});

describe('XOR primitives', () => {
  it('xorBytes in place is its own inverse, on aligned and unaligned views, long and short', async () => {
    const { xorBytes } = await import('../../src/image/xor.js');
    for (const [len, off] of [[3, 0], [100, 0], [4099, 1], [4096, 3]] as const) {
      const buf = new Uint8Array(len + 8);
      for (let i = 0; i < buf.length; i++) buf[i] = (i * 31) & 0xff;
      const a = buf.subarray(off, off + len);
      const before = Uint8Array.from(a);
      const key = new Uint8Array(len + 5).subarray(5).map((_, i) => (i * 7 + 1) & 0xff);
      xorBytes(a, key, a);
      expect(a.some((v, i) => v !== before[i])).toBe(true);
      for (let i = 0; i < len; i++) expect(a[i]).toBe(before[i]! ^ key[i]!);
      xorBytes(a, key, a);
      expect(Buffer.from(a).equals(before)).toBe(true);
    }
  });

  it('decodeXor applies a delta in place, and leaves the base untouched when the delta is damaged', async () => {
    const { SegmentPipeline } = await import('../../src/image/segment-pipeline.js');
    const { SegmentCompressor } = await import('../../src/image/zstd.js');
    const base = new Uint8Array(5000).map((_, i) => i & 0xff);
    const want = Uint8Array.from(base);
    want[17] = 99;
    want[4000] = 1;
    const delta = Uint8Array.from(want);
    for (let i = 0; i < delta.length; i++) delta[i]! ^= base[i]!;
    const out = new Uint8Array(SegmentPipeline.outputBytes(delta.length));
    const stored = out.subarray(0, new SegmentCompressor(3).compressInto(delta, out));
    const p = new SegmentPipeline();
    const dst = Uint8Array.from(base);
    expect(p.decodeXor(stored, crc32(stored), dst, new Uint8Array(dst.length))).toBeUndefined();
    expect(Buffer.from(dst).equals(want)).toBe(true);
    const bad = Uint8Array.from(stored);
    bad[bad.length >> 1]! ^= 1;
    const dst2 = Uint8Array.from(base);
    expect(p.decodeXor(bad, crc32(stored), dst2, new Uint8Array(dst2.length))).toEqual({ kind: 'crc' });
    expect(Buffer.from(dst2).equals(base)).toBe(true);
  });
});

describe('incremental images through the worker pool', () => {
  it('by-reference runs are read by the pool from the holder, XOR chains on the pool threads too; same states as without', async () => {
    const { ZstdPool } = await import('../../src/image/pool.js');
    const { useReaderPool } = await import('../../src/image/reader.js');
    const pool = new ZstdPool(2, 0);
    try {
      const store = new MemoryStore();
      const f = field(11);
      const a = await writeChainImage(store, state(f, 1));
      const g = Float64Array.from(f);
      g[9] = 9;
      const b = await writeChainImage(store, state(g, 2), { parent: a.id });
      const h = Float64Array.from(g);
      for (let i = 0; i < h.length; i += 33) h[i] = 1;
      const c = await writeChainImage(store, state(h, 3), { parent: b.id, delta: 'xor' });
      for (const [id, want] of [[b.id, { step: 2, f: g }], [c.id, { step: 3, f: h }]] as const) {
        const r = await openStoreImage(store, id);
        useReaderPool(r, pool);
        expect(await r.readProvider('grid')).toEqual(want);
        expect((await r.readRaw('grid')).blobs[0]!.length).toBe(8192 * 8);
        await r.close();
      }
      // A damaged holder segment read by the pool still names the holder.
      const rb = await openStoreImage(store, b.id);
      const n = rb.index.segments.findIndex((s) => s.ref !== undefined);
      const seg = rb.index.segments[n]!;
      await rb.close();
      const holderBytes = await storedBytes(store, a.id);
      holderBytes[seg.offset + 1]! ^= 0x55;
      const damaged = new MemoryStore();
      const lock = await damaged.acquireWriter();
      for (const bytes of [holderBytes, await storedBytes(store, b.id)]) {
        const sink = await damaged.create(lock);
        await sink.write(bytes);
        await sink.commit();
      }
      await lock.release();
      const r = await openStoreImage(damaged, b.id);
      useReaderPool(r, pool);
      const e = await failure(r.readProvider('grid'));
      await r.close();
      expect(e.code).toBe(ErrorCodes.CORRUPT);
      expect(e.image).toBe(a.id);
    } finally {
      await pool.close();
    }
  });
});

describe('writeImage and incremental plans', () => {
  it('an incremental write without a formatVersion is format 3 with its uuid and hashes (format 2 would drop them silently)', async () => {
    const { writeImage } = await import('../../src/image/writer.js');
    const { IncrementalPlan } = await import('../../src/image/incremental-plan.js');
    const chunks: Buffer[] = [];
    const sink = { id: '000000000001', write: (c: Uint8Array) => {
        chunks.push(Buffer.from(c));
        return Promise.resolve();
      }, commit: () => Promise.resolve(), abort: () => Promise.resolve() };
    const manifest = { imageId: '000000000001', app: 't', createdAt: '2026-12-06T00:00:00.000Z', step: 1, label: null, library: 'ckpt test', node: 'v20', platform: 'linux-x64' };
    const res = await writeImage(sink, manifest, [captured('a', { x: new Float64Array(3000).fill(1.5) }, { blobThreshold: 256 })], {
      level: 1,
      segmentSize: 4096,
      blobThreshold: 256,
      incremental: { plan: new IncrementalPlan(undefined, false) },
    });
    expect(res.formatVersion).toBe(3);
    const reader = await ImageReader.open(memorySource(Buffer.concat(chunks)));
    expect(reader.header.formatVersion).toBe(3);
    expect(reader.manifest.uuid).toMatch(/^[0-9a-f]{32}$/);
    expect(reader.index.segments.every((s) => s.hash !== undefined)).toBe(true);
    await reader.close();
  });
});

describe('XOR chains on the pool threads', () => {
  it(`a chain of ${MAX_XOR_CHAIN} deltas decodes on a thread to the calling thread's bytes; a longer one and a damaged delta are CORRUPT naming the right image`, async () => {
    const { ZstdPool } = await import('../../src/image/pool.js');
    const { useReaderPool } = await import('../../src/image/reader.js');
    const pool = new ZstdPool(2, 0);
    const chains = vi.spyOn(pool, 'fillChain');
    try {
      // Every blob segment changes every time.
      const { store, ids, states } = await deltaChain((g, k) => {
        for (let i = k; i < g.length; i += 61) g[i] = k;
      });
      const r = await openStoreImage(store, ids[MAX_XOR_CHAIN]!);
      useReaderPool(r, pool);
      expect(await r.readProvider('grid')).toEqual({ step: MAX_XOR_CHAIN, f: states[MAX_XOR_CHAIN] });
      const deltas = r.index.segments.filter((s) => s.codec === SegmentCodec.XOR_ZSTD).length;
      expect(deltas).toBeGreaterThan(1);
      expect(chains.mock.calls.length).toBeGreaterThanOrEqual(deltas);
      await r.close();
      const deeper = await openStoreImage(store, ids[MAX_XOR_CHAIN + 1]!);
      useReaderPool(deeper, pool);
      expect((await failure(deeper.readProvider('grid'))).message).toMatch(/base chain is deeper than 8/);
      await deeper.close();
      // One byte of a delta in the middle of the chain: its image is named, on the thread as on this one.
      const mid = ids[4]!;
      const bytes = await storedBytes(store, mid);
      const rm = await openStoreImage(store, mid);
      const row = rm.index.segments.find((s) => s.codec === SegmentCodec.XOR_ZSTD)!;
      await rm.close();
      bytes[row.offset + (row.storedLength >> 1)]! ^= 0x21;
      const damaged = new MemoryStore();
      const lock = await damaged.acquireWriter();
      for (const id of ids.slice(0, MAX_XOR_CHAIN + 1)) {
        const sink = await damaged.create(lock);
        await sink.write(id === mid ? bytes : await storedBytes(store, id));
        await sink.commit();
      }
      await lock.release();
      const top = await openStoreImage(damaged, ids[MAX_XOR_CHAIN]!);
      useReaderPool(top, pool);
      const e = await failure(top.readProvider('grid'));
      await top.close();
      expect(e.code).toBe(ErrorCodes.CORRUPT);
      expect(e.image).toBe(mid);
    } finally {
      chains.mockRestore();
      await pool.close();
    }
  });
});
