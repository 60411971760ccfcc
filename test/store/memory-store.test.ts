import { describe, it, expect } from 'vitest';
import { MemoryStore } from '../../src/store/memory-store.js';
import { ErrorCodes } from '../../src/errors.js';
import { rejection } from '../helpers/errors.js';
import { runStoreConformance, storeConformanceCases } from '../../src/testing/store-conformance.js';

runStoreConformance(
  () => {
    const store = new MemoryStore();
    return Promise.resolve({ store, reopen: () => Promise.resolve(store.reopen()), dispose: () => Promise.resolve() });
  },
  { describe, it },
  { name: 'MemoryStore conformance' },
);

describe('MemoryStore', () => {
  it('describes itself', () => {
    expect(new MemoryStore().description).toBe('memory');
    const named = new MemoryStore({ name: 'unit' });
    expect(named.description).toBe('memory:unit');
    expect(named.reopen().description).toBe('memory:unit');
  });

  it('shares images and the lock between handles of one storage, not between separate stores', async () => {
    const a = new MemoryStore();
    const b = new MemoryStore({ shareWith: a });
    const separate = new MemoryStore();
    const lock = await a.acquireWriter();
    const sink = await a.create(lock);
    await sink.write(new Uint8Array([1]));
    await sink.commit();
    expect(await b.list()).toEqual([{ id: '000000000001', size: 1 }]);
    expect(await separate.list()).toEqual([]);
    expect((await rejection(b.acquireWriter())).code).toBe(ErrorCodes.LOCKED);
    const other = await separate.acquireWriter();
    expect((await rejection(separate.create(lock))).code).toBe(ErrorCodes.INVALID_ARGUMENT);
    await other.release();
    await lock.release();
  });

  it('wakes a waiting writer as soon as the lock is released', async () => {
    const store = new MemoryStore();
    const first = await store.acquireWriter();
    const started = Date.now();
    const waiting = store.acquireWriter({ waitMs: 60_000 });
    await new Promise((r) => setTimeout(r, 50));
    await first.release();
    const second = await waiting;
    expect(Date.now() - started).toBeLessThan(5_000);
    await second.release();
  });

  it('rejects malformed ids and bad waitMs with CKPT_ERR_INVALID_ARGUMENT', async () => {
    const store = new MemoryStore();
    expect((await rejection(store.open('42'))).code).toBe(ErrorCodes.INVALID_ARGUMENT);
    expect((await rejection(store.acquireWriter({ waitMs: Number.NaN }))).code).toBe(ErrorCodes.INVALID_ARGUMENT);
  });

  it('exposes every conformance case by a unique name', () => {
    const names = storeConformanceCases.map((c) => c.name);
    expect(new Set(names).size).toBe(names.length);
    expect(names.length).toBeGreaterThanOrEqual(15);
  });

  it('a conformance case reports a broken store with a clear Error', async () => {
    // A store that lists aborted images must fail the "aborted" case.
    const store = new MemoryStore();
    const broken = Object.assign(Object.create(store) as MemoryStore, {
      list: () => Promise.resolve([{ id: '000000000009', size: 1 }]),
    });
    const c = storeConformanceCases.find((x) => x.name === 'lists nothing when empty')!;
    await expect(
      c.run(() => Promise.resolve({ store: broken, reopen: () => Promise.resolve(broken), dispose: () => Promise.resolve() })),
    ).rejects.toThrow(/a new store must list no images/);
  });
});
