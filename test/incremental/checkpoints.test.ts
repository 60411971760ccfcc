// Incremental checkpoints end to end: what each image writes and refers to,
// and that every image of a chain restores to exactly the state it was taken
// from (clustered, scattered, unchanged, object graphs; sync and async
// persist; segment references and XOR deltas); the parent rules (deleted
// parent → full, restored image as parent, fullEvery).
import { afterEach, describe, expect, it } from 'vitest';
import { FsStore, type Store } from '../../src/index.js';
import { removeTempDirs, tempDir } from '../checkpointer/helpers.js';
import { deepDiff } from '../helpers/deep-equal.js';
import {
  app,
  copyState,
  describeInfo,
  dirtyClustered,
  dirtyRecords,
  dirtyScattered,
  indexOf,
  kinds,
  makeState,
  maxXorDepth,
  removeImageFile,
  restoreCopy,
  type AppState,
} from './helpers.js';

afterEach(removeTempDirs);

/** Restore every image taken and compare it with the state copied when it was taken. */
async function expectAllRestore(dir: string, taken: Map<string, AppState>): Promise<void> {
  for (const [id, want] of taken) {
    const got = await restoreCopy(dir, id);
    const diff = deepDiff(got, want, false);
    expect(diff, `image ${id}`).toBeUndefined();
  }
}

describe('incremental images (sync persist, segment references)', () => {
  it('the first image is full; 1 % clustered change writes about one segment and refers to the rest', async () => {
    const dir = await tempDir('ckpt-incr-');
    const box = { state: makeState(16) };
    const ckpt = app(dir, box);
    const taken = new Map<string, AppState>();
    const first = await ckpt.checkpoint();
    taken.set(first.id, copyState(box.state));
    expect(first.kind).toBe('full');
    expect(first.references).toEqual([]);
    expect(first.bytesReferenced).toBe(0);
    expect(first.bytesWritten).toBe(first.bytes);
    expect(first.formatVersion).toBe(3);

    dirtyClustered(box.state, 0.5, 1);
    box.state.counter.step = 1;
    const second = await ckpt.checkpoint();
    taken.set(second.id, copyState(box.state));
    expect(second.kind, describeInfo(second)).toBe('incremental');
    expect(second.references).toEqual([first.id]);
    const idx = await indexOf(ckpt.store, second.id);
    const k = kinds(idx);
    // The field: 16 + 4 segments; 1 % in one run touches 1 or 2 of them; the records and counter streams are unchanged.
    expect(k.written).toBeGreaterThanOrEqual(2); // the dirty field segment(s) + the counter stream
    expect(k.written).toBeLessThanOrEqual(3);
    expect(k.referenced).toBe(idx.segments.length - k.written);
    expect(second.bytesReferenced).toBeGreaterThan(0);
    expect(second.bytesWritten).toBeLessThan(first.bytesWritten / 4);
    // Every segment row of a format-3 image carries its hash, and the manifest its parent and uuid.
    expect(idx.segments.every((s) => typeof s.hash === 'bigint')).toBe(true);
    expect(idx.manifest.parent).toBe(first.id);
    expect(idx.manifest.uuid).toMatch(/^[0-9a-f]{32}$/);
    await ckpt.close();
    await expectAllRestore(dir, taken);
  });

  it('nothing changed: every segment is a reference and only the index is written', async () => {
    const dir = await tempDir('ckpt-incr-');
    const box = { state: makeState(8) };
    const ckpt = app(dir, box);
    const first = await ckpt.checkpoint();
    const again = await ckpt.checkpoint();
    const k = kinds(await indexOf(ckpt.store, again.id));
    expect(k.written).toBe(0);
    expect(k.deltas).toBe(0);
    const firstStored = (await indexOf(ckpt.store, first.id)).segments.reduce((n, s) => n + s.storedLength, 0);
    expect(again.bytesReferenced).toBe(firstStored);
    expect(again.bytesWritten).toBeLessThan(first.bytesWritten / 20);
    // References are flattened: the third image refers to the first, which holds the bytes, not to the second.
    const third = await ckpt.checkpoint();
    expect(third.references).toEqual([first.id]);
    await ckpt.close();
    await expectAllRestore(dir, new Map([[first.id, copyState(box.state)], [again.id, copyState(box.state)], [third.id, copyState(box.state)]]));
  });

  it('a chain of checkpoints with clustered, record and unchanged steps restores image by image', async () => {
    const dir = await tempDir('ckpt-incr-');
    const box = { state: makeState(8, 3000) };
    const ckpt = app(dir, box, { incremental: { fullEvery: 6 } });
    const taken = new Map<string, AppState>();
    const kindsSeen: string[] = [];
    for (let k = 1; k <= 10; k++) {
      if (k % 3 === 0) dirtyRecords(box.state, k);
      else if (k % 3 === 1) dirtyClustered(box.state, (k * 0.37) % 1, k);
      box.state.counter.step = k;
      const info = await ckpt.checkpoint({ step: k });
      kindsSeen.push(info.kind);
      taken.set(info.id, copyState(box.state));
    }
    // fullEvery: 6 → images 1 and 7 are full.
    expect(kindsSeen).toEqual(['full', 'incremental', 'incremental', 'incremental', 'incremental', 'incremental', 'full', 'incremental', 'incremental', 'incremental']);
    await ckpt.close();
    await expectAllRestore(dir, taken);
  });

  it('fullEvery: 1 writes every image in full (format 3, no references)', async () => {
    const dir = await tempDir('ckpt-incr-');
    const box = { state: makeState(4) };
    const ckpt = app(dir, box, { incremental: { fullEvery: 1 } });
    for (let k = 0; k < 3; k++) {
      const info = await ckpt.checkpoint();
      expect(info.kind).toBe('full');
      expect(info.references).toEqual([]);
      expect(kinds(await indexOf(ckpt.store, info.id)).referenced).toBe(0);
    }
    await ckpt.close();
  });

  it('a parent that is gone (deleted behind the writer) gives a full image', async () => {
    const dir = await tempDir('ckpt-incr-');
    const box = { state: makeState(4) };
    const ckpt = app(dir, box);
    const first = await ckpt.checkpoint();
    const second = await ckpt.checkpoint();
    expect(second.references).toEqual([first.id]);
    await removeImageFile(dir, second.id);
    // The parent (second) is gone: full.
    const third = await ckpt.checkpoint();
    expect(third.kind).toBe('full');
    // Its holder gone while the parent stays: full too.
    const fourth = await ckpt.checkpoint();
    expect(fourth.references).toEqual([third.id]);
    await removeImageFile(dir, third.id);
    const fifth = await ckpt.checkpoint();
    expect(fifth.kind).toBe('full');
    await ckpt.close();
    await expectAllRestore(dir, new Map([[first.id, copyState(box.state)], [fifth.id, copyState(box.state)]]));
  });

  it('after a restore, the restored image is the next parent', async () => {
    const dir = await tempDir('ckpt-incr-');
    const box = { state: makeState(4) };
    const a = app(dir, box);
    const first = await a.checkpoint();
    dirtyClustered(box.state, 0.1, 2);
    const second = await a.checkpoint();
    await a.close();
    const box2 = { state: makeState(1, 0) };
    const b = app(dir, box2);
    const r = await b.restore();
    expect(r?.image.id).toBe(second.id);
    dirtyClustered(box2.state, 0.9, 3);
    const third = await b.checkpoint();
    expect(third.kind).toBe('incremental');
    expect(third.references).toContain(second.id);
    expect(third.references).toContain(first.id);
    const want = copyState(box2.state);
    await b.close();
    expect(deepDiff(await restoreCopy(dir, third.id), want, false)).toBeUndefined();
  });

  it('a non-incremental Checkpointer keeps writing format 2 and full images', async () => {
    const dir = await tempDir('ckpt-incr-');
    const box = { state: makeState(2) };
    const ckpt = app(dir, box, { incremental: false });
    const info = await ckpt.checkpoint();
    expect(info.formatVersion).toBe(2);
    expect(info.kind).toBe('full');
    expect(info.bytesWritten).toBe(info.bytes);
    expect(info.references).toEqual([]);
    await ckpt.close();
  });
});

describe("incremental images with delta: 'xor'", () => {
  it('1 % scattered change: every field segment becomes a small delta; restores exactly', async () => {
    const dir = await tempDir('ckpt-incr-');
    const box = { state: makeState(16) };
    const ckpt = app(dir, box, { incremental: { delta: 'xor' } });
    const taken = new Map<string, AppState>();
    const first = await ckpt.checkpoint();
    taken.set(first.id, copyState(box.state));
    dirtyScattered(box.state, 1);
    const second = await ckpt.checkpoint();
    taken.set(second.id, copyState(box.state));
    const k = kinds(await indexOf(ckpt.store, second.id));
    expect(k.deltas).toBe(16);
    expect(second.bytesWritten).toBeLessThan(first.bytesWritten / 5);
    await ckpt.close();
    await expectAllRestore(dir, taken);
  });

  it(`chains stay within the depth bound and every image restores`, async () => {
    const dir = await tempDir('ckpt-incr-');
    const box = { state: makeState(4) };
    const ckpt = app(dir, box, { incremental: { delta: 'xor', fullEvery: 1024 } });
    const taken = new Map<string, AppState>();
    const depths: number[] = [];
    for (let k = 1; k <= 12; k++) {
      dirtyScattered(box.state, k);
      const info = await ckpt.checkpoint({ step: k });
      taken.set(info.id, copyState(box.state));
      depths.push(await maxXorDepth(ckpt.store, info.id));
    }
    // The first image is full, then depth grows by one per image up to 8, then a full segment starts again.
    expect(depths.slice(0, 10)).toEqual([0, 1, 2, 3, 4, 5, 6, 7, 8, 0]);
    expect(Math.max(...depths)).toBe(8);
    await ckpt.close();
    await expectAllRestore(dir, taken);
  });
});

describe('incremental images with async persist and the worker pool', () => {
  it('clustered and scattered changes, references and deltas hashed on the pool threads, restore exactly', async () => {
    const dir = await tempDir('ckpt-incr-');
    // 8 MiB of field: the pool compresses (and hashes) images of at least 8 MiB.
    const box = { state: makeState(136, 100) };
    for (const delta of ['segments', 'xor'] as const) {
      const sub = `${dir}/${delta}`;
      const ckpt = app(sub, box, { persist: 'async', compression: { level: 1, threads: 2 }, segmentSize: 1024 * 1024, incremental: { delta } });
      const taken = new Map<string, AppState>();
      const first = await ckpt.checkpoint();
      taken.set(first.id, copyState(box.state));
      dirtyClustered(box.state, 0.3, 1);
      const second = await ckpt.checkpoint();
      taken.set(second.id, copyState(box.state));
      const k2 = kinds(await indexOf(new FsStore(sub), second.id));
      expect(k2.referenced).toBeGreaterThan(k2.written + k2.deltas);
      dirtyScattered(box.state, 2);
      const third = await ckpt.checkpoint();
      taken.set(third.id, copyState(box.state));
      const k3 = kinds(await indexOf(new FsStore(sub), third.id));
      if (delta === 'xor') expect(k3.deltas).toBeGreaterThan(0);
      else expect(k3.deltas).toBe(0);
      await ckpt.close();
      await expectAllRestore(sub, taken);
    }
  });
});

describe('async persist: the comparison happens after the pause', () => {
  it('the parent is looked up (and segments compared) only after the application was resumed', async () => {
    const dir = await tempDir('ckpt-incr-');
    const order: string[] = [];
    const fs = new FsStore(dir);
    // The store as the Checkpointer sees it, logging when the parent is looked up (list()).
    const store: Store = {
      description: fs.description,
      list: async () => {
        order.push('list');
        return fs.list();
      },
      open: (id) => fs.open(id),
      acquireWriter: (o) => fs.acquireWriter(o),
      create: (l) => fs.create(l),
      delete: (l, id) => fs.delete(l, id),
      cleanup: (l) => fs.cleanup(l),
    };
    const box = { state: makeState(4) };
    const ckpt = app(store, box, { persist: 'async' });
    ckpt.register({ id: 'probe', snapshot: () => null, restore: () => undefined, resume: () => void order.push('resume') });
    await ckpt.checkpoint();
    dirtyClustered(box.state, 0.2, 1);
    order.length = 0;
    const info = await ckpt.checkpoint();
    expect(info.kind).toBe('incremental');
    expect(order.indexOf('resume')).toBeGreaterThanOrEqual(0);
    expect(order.indexOf('list')).toBeGreaterThan(order.indexOf('resume'));
    await ckpt.close();
  });
});

