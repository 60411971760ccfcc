// checkpoint({ meta }): user metadata in the manifest (format 2).
import { describe, expect, it } from 'vitest';
import { Checkpointer, ErrorCodes, MemoryStore } from '../../src/index.js';

describe('checkpoint({ meta })', () => {
  it('is recorded in the image and shown by list() and restore()', async () => {
    const store = new MemoryStore();
    const ckpt = new Checkpointer({ store });
    ckpt.register({ id: 'p', snapshot: () => 1, restore: () => {} });
    const info = await ckpt.checkpoint({ meta: { gitSha: 'abc123', epoch: 3, final: false, note: null } });
    expect({ ...info.meta }).toEqual({ gitSha: 'abc123', epoch: 3, final: false, note: null });
    expect({ ...(await ckpt.list())[0]!.meta }).toEqual({ gitSha: 'abc123', epoch: 3, final: false, note: null });
    expect((await ckpt.list())[0]!.hostname).toEqual(expect.any(String));
    const res = await ckpt.restore();
    expect(res?.image.meta['gitSha']).toBe('abc123');
    const plain = await ckpt.checkpoint();
    expect({ ...plain.meta }).toEqual({});
  });

  it('rejects what the image could not hold, before anything runs', async () => {
    const ckpt = new Checkpointer({ store: new MemoryStore() });
    let snapshots = 0;
    ckpt.register({ id: 'p', snapshot: () => ++snapshots, restore: () => {} });
    const bad: unknown[] = [[1], 'x', { n: NaN }, { o: {} }, { s: 'x'.repeat(1025) }, Object.fromEntries(Array.from({ length: 65 }, (_, i) => [`k${i}`, i])), new Map()];
    for (const meta of bad) {
      const err = await ckpt.checkpoint({ meta: meta as Record<string, string> }).catch((e: unknown) => e);
      expect((err as { code: string }).code).toBe(ErrorCodes.INVALID_ARGUMENT);
    }
    expect(snapshots).toBe(0);
  });
});
