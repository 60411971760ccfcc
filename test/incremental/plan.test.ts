// The per-segment decisions of an incremental image (image/incremental-plan):
// hashing, comparing, XOR deltas and their depth bound, flattened references,
// the refs budget — checked on the plan itself, without a store.
import { describe, expect, it } from 'vitest';
import { randomBytes } from 'node:crypto';
import { xxh3 } from '@node-rs/xxhash';
import { MAX_XOR_CHAIN, SegmentCodec } from '../../src/image/constants.js';
import { MAX_REFS } from '../../src/image/index-v3.js';
import { SegmentFlag, type ImageIndex, type ImageRef, type SegmentEntry } from '../../src/image/index-model.js';
import {
  encodeSegment,
  IncrementalPlan,
  newImageUuid,
  segmentHash,
  XorBases,
  type ParentImage,
} from '../../src/image/incremental-plan.js';
import { SegmentPipeline } from '../../src/image/segment-pipeline.js';
import { xorBytes } from '../../src/image/xor.js';
import { SegmentDecompressor } from '../../src/image/zstd.js';

function noisy(n: number, seed = 1): Uint8Array {
  const out = new Uint8Array(n);
  let x = seed;
  for (let i = 0; i < n; i++) {
    x = (x * 1103515245 + 12345) >>> 0;
    out[i] = x >>> 24;
  }
  return out;
}

function row(over: Partial<SegmentEntry> = {}): SegmentEntry {
  return { offset: 32, storedLength: 100, rawLength: 1000, crc: 7, codec: SegmentCodec.ZSTD, flags: 0, hash: 1n, ...over };
}

function parentOf(segments: SegmentEntry[], refs: ImageRef[] = [], depths?: number[]): ParentImage {
  const index: ImageIndex = {
    manifest: { imageId: 'p', app: null, createdAt: '', step: null, label: null, library: '', node: '', platform: '', hostname: null, parent: null, uuid: 'u-p', meta: {} },
    codec: { values: 1, level: 3, segmentSize: 1000, blobThreshold: 1 },
    segments,
    providers: [{ id: 'a', version: 1, tree: false, stream: { first: 0, count: 1, rawLength: 1000 }, blobs: [{ kind: 5, first: 1, count: segments.length - 1, rawLength: 1000 * (segments.length - 1) }] }],
    refs,
  };
  return { ref: { imageId: 'p', uuid: 'u-p' }, index, ...(depths === undefined ? {} : { depths }) };
}

describe('segment hash', () => {
  it('is xxh3-64 with seed 0, the value the one-shot function gives', () => {
    const b = noisy(100_000);
    expect(segmentHash(b)).toBe(xxh3.xxh64(b));
    const c = b.slice();
    c[500] = c[500]! ^ 1;
    expect(segmentHash(c)).not.toBe(segmentHash(b));
  });

  it('a uuid is 32 lowercase hex digits, new each time', () => {
    const a = newImageUuid();
    expect(a).toMatch(/^[0-9a-f]{32}$/);
    expect(newImageUuid()).not.toBe(a);
  });
});

describe('encodeSegment', () => {
  const pipeline = new SegmentPipeline();
  const dst = new Uint8Array(SegmentPipeline.outputBytes(65536));

  it('an unchanged segment (hash equal to the expected one) encodes nothing', () => {
    const src = noisy(65536);
    const o = encodeSegment({ src, dst, level: 1, expect: segmentHash(src) }, pipeline);
    expect(o.same).toBe(true);
    expect(o.hash).toBe(segmentHash(src));
  });

  it('a changed segment is encoded as the pipeline encodes it, and kept', () => {
    const src = new Uint8Array(65536).fill(3);
    const keep = new Uint8Array(65536);
    const o = encodeSegment({ src, dst, level: 1, expect: 5n, keep }, pipeline);
    expect(o.same).toBe(false);
    expect(o.codec).toBe(SegmentCodec.ZSTD);
    const p = pipeline.encode(src, new Uint8Array(dst.length), 1);
    expect(o.crc).toBe(p.crc);
    expect(o.n).toBe(p.stored.length);
    expect(keep).toEqual(src);
  });

  it('a few scattered changes become a small XOR delta that restores the bytes exactly', () => {
    const base = noisy(65536, 9);
    const src = base.slice();
    for (let i = 0; i < 50; i++) src[(i * 7919) % src.length] = src[(i * 7919) % src.length]! ^ 0x55;
    const keep = base.slice();
    const o = encodeSegment({ src, dst, level: 1, base: keep, keep }, pipeline);
    expect(o.codec).toBe(SegmentCodec.XOR_ZSTD);
    expect(o.n).toBeLessThan(src.length / 10);
    // The delta is zstd(src XOR base).
    const x = new Uint8Array(src.length);
    new SegmentDecompressor().decompressInto(dst.subarray(0, o.n), x, 'test');
    const back = new Uint8Array(src.length);
    xorBytes(x, base, back);
    expect(back).toEqual(src);
    // The kept bytes are the new ones (the next delta's base).
    expect(keep).toEqual(src);
  });

  it('a delta no smaller than half the raw bytes is written in full instead', () => {
    const base = new Uint8Array(randomBytes(65536));
    const src = new Uint8Array(randomBytes(65536));
    const o = encodeSegment({ src, dst, level: 1, base: base.slice() }, pipeline);
    expect(o.codec).not.toBe(SegmentCodec.XOR_ZSTD);
  });

  it('xorBytes handles unaligned views and odd lengths', () => {
    const buf = noisy(1003);
    const a = buf.subarray(1, 1002);
    const b = noisy(1001, 3);
    const out = new Uint8Array(1001);
    xorBytes(a, b, out);
    for (let i = 0; i < 1001; i++) expect(out[i]).toBe(a[i]! ^ b[i]!);
  });
});

describe('IncrementalPlan', () => {
  it('finds the parent segment at the same place only (provider, run, kind, ordinal, raw length)', () => {
    const plan = new IncrementalPlan(parentOf([row(), row({ hash: 2n }), row({ hash: 3n, rawLength: 500 })]), false);
    expect(plan.parentSegment('a', 'stream', undefined, 0, 1000)?.hash).toBe(1n);
    expect(plan.parentSegment('a', 0, 5, 0, 1000)?.hash).toBe(2n);
    expect(plan.parentSegment('a', 0, 5, 1, 500)?.hash).toBe(3n);
    expect(plan.parentSegment('a', 0, 5, 1, 1000)).toBeUndefined(); // raw length differs
    expect(plan.parentSegment('a', 0, 6, 0, 1000)).toBeUndefined(); // other kind
    expect(plan.parentSegment('a', 1, 5, 0, 1000)).toBeUndefined(); // no such blob
    expect(plan.parentSegment('b', 'stream', undefined, 0, 1000)).toBeUndefined(); // no such provider
    expect(new IncrementalPlan(undefined, false).parentSegment('a', 'stream', undefined, 0, 1000)).toBeUndefined();
  });

  it('a reference is flattened: it names the image holding the bytes, with the holder row', () => {
    const holder: ImageRef = { imageId: 'h', uuid: 'u-h' };
    const refRow = row({ flags: SegmentFlag.BY_REFERENCE, ref: { image: 0, segment: 4 }, offset: 999, crc: 42 });
    const plan = new IncrementalPlan(parentOf([row(), refRow], [holder]), false);
    const seg = plan.parentSegment('a', 0, 5, 0, 1000)!;
    expect(seg.holder).toEqual(holder);
    expect(seg.segment).toBe(4);
    expect(plan.reserve(seg)).toBe(true);
    const r = plan.refer(1, seg);
    expect(r.flags).toBe(SegmentFlag.BY_REFERENCE);
    expect(r.offset).toBe(999);
    expect(r.crc).toBe(42);
    expect(plan.bytesReferenced).toBe(100);
    const fin = plan.finish([row({ hash: 9n }), r]);
    expect(fin.refs).toEqual([holder]);
    expect(fin.segments[1]!.ref).toEqual({ image: 0, segment: 4 });
    expect(fin.segments[0]!.ref).toBeUndefined();
  });

  it('an image written against a parent lists the parent even when nothing was referenced', () => {
    const plan = new IncrementalPlan(parentOf([row(), row()]), false);
    plan.full(0);
    expect(plan.finish([row(), row()]).refs).toEqual([{ imageId: 'p', uuid: 'u-p' }]);
    expect(new IncrementalPlan(undefined, false).finish([row()]).refs).toEqual([]);
  });

  it(`XOR deltas stop at depth ${MAX_XOR_CHAIN}; unknown depths allow none`, () => {
    const xorRow = row({ codec: SegmentCodec.XOR_ZSTD, base: { image: 0, segment: 1 } });
    const older: ImageRef = { imageId: 'o', uuid: 'u-o' };
    const mk = (depth: number | undefined) => new IncrementalPlan(parentOf([row(), xorRow], [older], depth === undefined ? undefined : [0, depth]), true);
    const ok = mk(MAX_XOR_CHAIN - 1);
    const seg = ok.parentSegment('a', 0, 5, 0, 1000);
    expect(ok.mayXor(seg)).toBe(true);
    ok.delta(1, seg!);
    expect(ok.depths[1]).toBe(MAX_XOR_CHAIN);
    // A delta of a delta needs the whole chain's holders: the parent and its refs.
    const fin = ok.finish([row(), row({ codec: SegmentCodec.XOR_ZSTD })]);
    expect(fin.refs.map((r) => r.imageId)).toEqual(['o', 'p']);
    expect(fin.segments[1]!.base).toEqual({ image: 1, segment: 1 });
    const full = mk(MAX_XOR_CHAIN);
    expect(full.mayXor(full.parentSegment('a', 0, 5, 0, 1000))).toBe(false);
    const unknown = mk(undefined);
    expect(unknown.mayXor(unknown.parentSegment('a', 0, 5, 0, 1000))).toBe(false);
    // A full base segment gives depth 1 and needs only its holder.
    const plain = new IncrementalPlan(parentOf([row(), row()], [older]), true);
    const s0 = plain.parentSegment('a', 0, 5, 0, 1000)!;
    expect(plain.mayXor(s0)).toBe(true);
    plain.delta(1, s0);
    expect(plain.depths[1]).toBe(1);
    expect(plain.finish([row(), row({ codec: SegmentCodec.XOR_ZSTD })]).refs.map((r) => r.imageId)).toEqual(['p']);
    // Without delta: 'xor', never.
    const off = new IncrementalPlan(parentOf([row(), row()]), false);
    expect(off.mayXor(off.parentSegment('a', 0, 5, 0, 1000))).toBe(false);
  });

  it(`never reserves more than ${MAX_REFS} holders`, () => {
    const n = MAX_REFS + 5;
    const refs: ImageRef[] = Array.from({ length: n }, (_, i) => ({ imageId: `h${String(i).padStart(4, '0')}`, uuid: `u${i}` }));
    const segs = [row(), ...refs.map((_, i) => row({ flags: SegmentFlag.BY_REFERENCE, ref: { image: i, segment: 0 } }))];
    const plan = new IncrementalPlan(parentOf(segs, refs), false);
    let ok = 0;
    for (let i = 0; i < n; i++) if (plan.reserve(plan.parentSegment('a', 0, 5, i, 1000)!)) ok++;
    expect(ok).toBe(MAX_REFS);
  });
});

describe('XorBases', () => {
  it('gives a run the same memory while its length stays, fresh memory when it changes', () => {
    const b = new XorBases();
    const first = b.run('a', 0, 100);
    expect(first.fresh).toBe(true);
    expect(first.memory.buffer).toBeInstanceOf(SharedArrayBuffer);
    const again = b.run('a', 0, 100);
    expect(again.fresh).toBe(false);
    expect(again.memory).toBe(first.memory);
    expect(b.run('a', 0, 200).fresh).toBe(true);
    expect(b.run('a', 1, 200).fresh).toBe(true);
    expect(b.bytes).toBe(400);
    b.imageId = 'x';
    b.invalidate();
    expect(b.imageId).toBeUndefined();
  });
});
