// The same state checkpointed twice gives byte-identical images apart from
// the manifest's id and time (so images can be compared and deduplicated).
import { describe, expect, it } from 'vitest';
import { Checkpointer, MemoryStore } from '../../src/index.js';
import { TRAILER_SIZE } from '../../src/image/constants.js';
import { decodeTrailer } from '../../src/image/header.js';
import { decodeIndexV2 } from '../../src/image/index-v2.js';

async function bytesOf(store: MemoryStore, id: string): Promise<Buffer> {
  const src = await store.open(id);
  const b = Buffer.from(await src.read(0, src.size));
  await src.close();
  return b;
}

describe('determinism', () => {
  it('two checkpoints of equal state differ only in manifest.imageId and createdAt', async () => {
    const store = new MemoryStore();
    const ckpt = new Checkpointer({ store, segmentSize: 64 * 1024 });
    const state = () => ({
      grid: new Float64Array(50_000).map((_, i) => Math.sin(i)),
      m: new Map<unknown, unknown>([[1, { shared: true }], ['k', [1, 2, 3]]]),
      s: new Set(['a', 'b']),
      when: new Date(Date.UTC(2026, 0, 1)),
    });
    ckpt.register({ id: 'a', snapshot: state, restore: () => {} });
    ckpt.register({ id: 'b', tree: true, snapshot: () => ({ list: Array.from({ length: 1000 }, (_, i) => ({ i })) }), restore: () => {} });
    const one = await ckpt.checkpoint({ step: 5, label: 'x' });
    await new Promise((r) => setTimeout(r, 5));
    const two = await ckpt.checkpoint({ step: 5, label: 'x' });
    await ckpt.close();
    const a = await bytesOf(store, one.id);
    const b = await bytesOf(store, two.id);
    const ta = decodeTrailer(a.subarray(a.length - TRAILER_SIZE), a.length);
    const tb = decodeTrailer(b.subarray(b.length - TRAILER_SIZE), b.length);
    // Header and every segment: identical bytes.
    expect(ta.indexOffset).toBe(tb.indexOffset);
    expect(a.subarray(0, ta.indexOffset).equals(b.subarray(0, tb.indexOffset))).toBe(true);
    // Index: equal except the two fields that must differ.
    const limits = { maxSegmentBytes: 64 * 1024 * 1024 };
    const ia = decodeIndexV2(a.subarray(ta.indexOffset, ta.indexOffset + ta.indexLength), ta.indexOffset, limits);
    const ib = decodeIndexV2(b.subarray(tb.indexOffset, tb.indexOffset + tb.indexLength), tb.indexOffset, limits);
    expect(ia.manifest.imageId).not.toBe(ib.manifest.imageId);
    expect(ia.manifest.createdAt).not.toBe(ib.manifest.createdAt);
    const strip = (ix: typeof ia) => ({ ...ix, manifest: { ...ix.manifest, imageId: '', createdAt: '' } });
    expect(strip(ia)).toEqual(strip(ib));
  });
});
