import { describe, it, expect } from 'vitest';
import { Checkpointer, ErrorCodes, MemoryStore, WarningCodes } from '../../src/index.js';
import { openImage } from '../../src/format/index.js';
import type { CheckpointerOptions, CkptWarning } from '../../src/index.js';
import type { ImageReader } from '../../src/format/index.js';
import { expectCode } from './helpers.js';

async function writeOne(state: unknown, options: Partial<CheckpointerOptions> = {}, tree = false) {
  const store = new MemoryStore();
  const ckpt = new Checkpointer({ store, ...options });
  const box = { state };
  ckpt.register({ id: 'p', tree, snapshot: () => box.state, restore: (s) => { box.state = s; } });
  const info = await ckpt.checkpoint();
  return { store, ckpt, box, info };
}

async function withReader<T>(store: MemoryStore, id: string, fn: (r: ImageReader) => Promise<T> | T): Promise<T> {
  const reader = await openImage(await store.open(id));
  try {
    return await fn(reader);
  } finally {
    await reader.close();
  }
}

describe('codec and format options', () => {
  it('blobThreshold decides which binary values become raw blob segments', async () => {
    const state = { small: new Uint8Array(100), mid: new Uint8Array(5000), big: new Uint8Array(70_000) };
    const dflt = await writeOne(state);
    expect(await withReader(dflt.store, dflt.info.id, (r) => r.providers[0]!.blobs)).toBe(1); // only `big` (default 64 KiB)
    const low = await writeOne(state, { blobThreshold: 1000 });
    expect(await withReader(low.store, low.info.id, (r) => [r.providers[0]!.blobs, r.index.codec.blobThreshold])).toEqual([2, 1000]);
    low.box.state = null;
    await low.ckpt.restore();
    expect(low.box.state).toEqual(state);
  });

  it('segmentSize cuts data into segments of at most that many raw bytes', async () => {
    const data = new Float64Array(40_000).map((_, i) => Math.sqrt(i)); // 320 000 bytes
    const { store, info, ckpt, box } = await writeOne({ data }, { segmentSize: 64 * 1024 });
    await withReader(store, info.id, (r) => {
      const blob = r.provider('p')!.blobs[0]!;
      expect(blob.count).toBe(5);
      expect(r.index.segments.slice(blob.first, blob.first + blob.count).map((s) => s.rawLength)).toEqual([65536, 65536, 65536, 65536, 320_000 - 4 * 65536]);
      expect(r.index.codec.segmentSize).toBe(64 * 1024);
    });
    box.state = null;
    await ckpt.restore();
    expect((box.state as { data: Float64Array }).data).toEqual(data);
  });

  it('compression.level is recorded and higher levels are not larger on compressible data', async () => {
    const text = 'the quick brown fox jumps over the lazy dog; '.repeat(20_000);
    const fast = await writeOne({ text }, { compression: { level: 1 } });
    const strong = await writeOne({ text }, { compression: { level: 19 } });
    expect(await withReader(fast.store, fast.info.id, (r) => r.index.codec.level)).toBe(1);
    expect(await withReader(strong.store, strong.info.id, (r) => r.index.codec.level)).toBe(19);
    expect(strong.info.bytes).toBeLessThanOrEqual(fast.info.bytes);
    expect(fast.info.providers[0]!.storedBytes).toBeLessThan(text.length / 10);
  });

  it('maxDepth rejects deeper state at checkpoint time with the path', async () => {
    const ckpt = new Checkpointer({ store: new MemoryStore(), maxDepth: 3 });
    ckpt.register({ id: 'p', snapshot: () => ({ a: { b: { c: { d: 1 } } } }), restore: () => undefined });
    const err = await expectCode(ckpt.checkpoint(), ErrorCodes.SNAPSHOT_FAILED);
    expect(err.errors[0]).toMatchObject({ code: ErrorCodes.UNSERIALIZABLE });
    expect(err.errors[0]!.message).toContain('a.b.c');
    expect(err.errors[0]!.message).toContain('maxDepth (3)');
  });

  it('tree providers: shared references come back as copies, cycles are refused', async () => {
    const shared = { v: 1 };
    const { ckpt, box, store, info } = await writeOne({ a: shared, b: shared }, {}, true);
    expect(await withReader(store, info.id, (r) => r.providers[0]!.tree)).toBe(true);
    box.state = null;
    await ckpt.restore();
    const got = box.state as { a: object; b: object };
    expect(got).toEqual({ a: { v: 1 }, b: { v: 1 } });
    expect(got.a).not.toBe(got.b);

    const cyclic: { self?: unknown } = {};
    cyclic.self = cyclic;
    box.state = cyclic;
    const err = await expectCode(ckpt.checkpoint(), ErrorCodes.SNAPSHOT_FAILED);
    expect(err.errors[0]).toMatchObject({ code: ErrorCodes.UNSERIALIZABLE });
  });

  it('an image over a read limit is skipped with a warning naming the limit, and the older image is restored', async () => {
    const store = new MemoryStore();
    const writer = new Checkpointer({ store });
    let state: unknown = 'small';
    writer.register({ id: 'p', snapshot: () => state, restore: () => undefined });
    await writer.checkpoint();
    state = new Uint8Array(200_000);
    await writer.checkpoint();
    await writer.close();
    const reader = new Checkpointer({ store, limits: { maxStateBytes: 100_000 } });
    let restored: unknown = 'none';
    reader.register({ id: 'p', snapshot: () => null, restore: (s) => { restored = s; } });
    const warnings: CkptWarning[] = [];
    reader.on('warning', (w) => warnings.push(w));
    const result = await reader.restore();
    expect(result?.fellBack).toBe(true);
    expect(result?.skipped.map((s) => s.code)).toEqual([ErrorCodes.LIMIT]);
    expect(warnings.map((w) => w.code)).toEqual([WarningCodes.IMAGE_SKIPPED]);
    expect(warnings[0]!.message).toContain('maxStateBytes');
    expect(restored).toBe('small');
    // With an explicit id there is no fallback: the limit is the error.
    const err = await expectCode(reader.restore(result!.skipped[0]!.id), ErrorCodes.LIMIT);
    expect(err.message).toContain('maxStateBytes');
  });
});
