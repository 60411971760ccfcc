// compactImage and `ckpt compact`: an image that refers to older images is
// rewritten as a full image under a new id (references injected into real
// images), so retention can then delete the older ones.
import { readdir } from 'node:fs/promises';
import { afterAll, afterEach, beforeEach, describe, expect, it } from 'vitest';
import { Checkpointer, compactImage, ErrorCodes, FsStore, keepLast, MemoryStore, planRetention, type Store } from '../../src/index.js';
import { TestStore } from '../checkpointer/helpers.js';
import { cleanupDirs, tempDir } from '../cli/helpers.js';
import { runCliInProcess } from '../helpers/cli-in-process.js';
import { expectCode } from '../helpers/errors.js';
import { injectRefs } from '../helpers/inject-refs.js';

const id = (n: number): string => String(n).padStart(12, '0');
const REFS = new Map<string, string[]>([
  [id(2), [id(1)]],
  [id(3), [id(1), id(2)]],
]);

let undo: () => void;
beforeEach(() => {
  undo = injectRefs(REFS);
});
afterEach(() => undo());
afterAll(cleanupDirs);

/** A Checkpointer with one provider whose state depends on the step. */
function app(store: Store | string, restored: unknown[] = []): Checkpointer {
  const ckpt = new Checkpointer({ store, signals: false });
  ckpt.register({
    id: 'grid',
    snapshot: (ctx) => ({ step: ctx.step, cells: new Float64Array(5000).map((_, i) => i * (ctx.step ?? 0)), name: `s${ctx.step}` }),
    restore: (s) => void restored.push(s),
  });
  return ckpt;
}

async function fill(store: Store | string, count = 3): Promise<void> {
  const ckpt = app(store);
  for (let s = 1; s <= count; s++) await ckpt.checkpoint({ step: s * 10, ...(s === count ? { label: 'last' } : {}), meta: { run: s } });
  await ckpt.close();
}

async function restoreNewest(store: Store | string): Promise<{ id: string; state: unknown; step: number | null; label: string | null }> {
  const restored: unknown[] = [];
  const ckpt = app(store, restored);
  try {
    const r = (await ckpt.restore())!;
    return { id: r.image.id, state: restored[0], step: r.image.step, label: r.image.label };
  } finally {
    await ckpt.close();
  }
}

describe('compactImage', () => {
  it('rewrites the newest image as a full one with a new id; it restores the same state; older images can then go', async () => {
    const store = new MemoryStore();
    await fill(store);
    const before = await restoreNewest(store);
    const lock = await store.acquireWriter();
    try {
      const report = await compactImage(store, lock);
      expect(report).toMatchObject({ source: id(3), references: [id(1), id(2)], written: id(4) });
      expect(report.bytes).toBeGreaterThan(0);
    } finally {
      await lock.release();
    }
    const after = await restoreNewest(store);
    expect(after.id).toBe(id(4));
    expect(after.state).toEqual(before.state);
    expect([after.step, after.label]).toEqual([30, 'last']);
    // The new image refers to nothing: keeping only it lets every older image go.
    const list = await app(store).list();
    const plan = await planRetention(list, [keepLast(1)], (x) => REFS.get(x) ?? []);
    expect(plan.deleteOrder).toEqual([id(3), id(2), id(1)]);
  });

  it('an image that refers to nothing is left alone unless force; the newest image may be named', async () => {
    const store = new MemoryStore();
    await fill(store);
    const lock = await store.acquireWriter();
    try {
      expect((await compactImage(store, lock, { imageId: id(3) })).written).toBe(id(4));
      expect(await compactImage(store, lock, { imageId: id(4) })).toEqual({ source: id(4), references: [], written: null, bytes: 0 });
      expect((await store.list()).length).toBe(4);
      expect((await compactImage(store, lock, { imageId: id(4), force: true })).written).toBe(id(5));
    } finally {
      await lock.release();
    }
  });

  it('refuses an image other than the newest: its copy would become the newest and restore would go back in time', async () => {
    const store = new MemoryStore();
    await fill(store);
    const lock = await store.acquireWriter();
    try {
      for (const old of [id(2), id(1)]) {
        const e = await expectCode(compactImage(store, lock, { imageId: old, force: true }), ErrorCodes.INVALID_ARGUMENT);
        expect(e.message).toMatch(new RegExp(`only the newest image \\(${id(3)}\\) can be compacted.*restore\\(\\) would pick it and silently go back to the older state of image ${old}`));
      }
      expect((await store.list()).map((e) => e.id)).toEqual([id(3), id(2), id(1)]);
    } finally {
      await lock.release();
    }
    expect((await restoreNewest(store)).step).toBe(30);
  });

  it('fails closed: unknown id, empty store, a damaged image, a failing write — and no new image exists', async () => {
    const empty = new MemoryStore();
    const l0 = await empty.acquireWriter();
    await expectCode(compactImage(empty, l0), ErrorCodes.NOT_FOUND);
    await l0.release();

    const store = new TestStore();
    await fill(store);
    const lock = await store.acquireWriter();
    try {
      await expectCode(compactImage(store, lock, { imageId: id(9) }), ErrorCodes.NOT_FOUND);
      store.failWrites = new Error('ENOSPC: no space left on device');
      await expect(compactImage(store, lock)).rejects.toThrow();
      expect((await store.list()).map((e) => e.id)).toEqual([id(3), id(2), id(1)]);
      store.failWrites = undefined;
      store.damage(id(3), 100);
      await expectCode(compactImage(store, lock), ErrorCodes.CORRUPT);
      expect((await store.list()).map((e) => e.id)).toEqual([id(3), id(2), id(1)]);
    } finally {
      await lock.release();
    }
  });
});

describe('ckpt compact', () => {
  async function files(dir: string): Promise<string[]> {
    return (await readdir(dir)).filter((n) => /^\d{12}\.ckpt$/.test(n)).sort();
  }

  it('writes the newest image as a full one; prune --keep-last 1 then deletes the rest', async () => {
    const dir = await tempDir();
    await fill(dir);
    const r = await runCliInProcess(['compact', dir]);
    expect(r.code, r.stderr).toBe(0);
    expect(r.stdout).toContain('wrote 000000000004');
    expect(r.stdout).toContain('which refers to 000000000001, 000000000002; the new image refers to none');
    const j = JSON.parse((await runCliInProcess(['compact', dir, '--json'])).stdout) as { source: string; written: string | null };
    expect(j).toMatchObject({ source: id(4), written: null });
    expect((await runCliInProcess(['prune', dir, '--keep-last', '1'])).code).toBe(0);
    expect(await files(dir)).toEqual([`${id(4)}.ckpt`]);
    expect((await restoreNewest(dir)).step).toBe(30);
  });

  it('an image other than the newest: usage error (exit 1) saying why, nothing written', async () => {
    const dir = await tempDir();
    await fill(dir);
    const r = await runCliInProcess(['compact', dir, id(2)]);
    expect(r.code).toBe(1);
    expect(r.stderr).toMatch(/only the newest image \(000000000003\) can be compacted.*; compact the newest image \(omit the id\), then prune/);
    expect(await files(dir)).toHaveLength(3);
  });

  it('a running writer holds the lock: exit 5, nothing written', async () => {
    const dir = await tempDir();
    await fill(dir);
    const lock = await new FsStore(dir).acquireWriter();
    try {
      const r = await runCliInProcess(['compact', dir]);
      expect(r.code).toBe(5);
      expect(r.stderr).toMatch(/locked by a running writer.*compact changed nothing/);
      expect(await files(dir)).toHaveLength(3);
    } finally {
      await lock.release();
    }
  });
});
