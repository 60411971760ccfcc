// Bad API input, the cases test/checkpointer/registration.test.ts and
// migrations.test.ts do not already pin: migration tables with gaps at
// restore time (and in plan()), and restore()/plan() of ids that do not exist
// or are not ids at all on a real directory store. Each is a clear typed error
// and nothing is restored.
import { afterEach, describe, expect, it } from 'vitest';
import { mkdtemp, readdir, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Checkpointer, ErrorCodes, FsStore, MemoryStore, isCkptError } from '../../src/index.js';
import type { Migration, Store } from '../../src/index.js';

const roots: string[] = [];
afterEach(async () => {
  for (const r of roots.splice(0)) await rm(r, { recursive: true, force: true });
});

async function codeOf(p: Promise<unknown>): Promise<string> {
  return p.then(
    () => 'ok',
    (e: unknown) => (isCkptError(e) ? e.code : `non-ckpt: ${String(e)}`),
  );
}

/** A store holding one image of provider "grid" at each of the given versions, oldest first. */
async function imagesAt(versions: number[], store: Store = new MemoryStore()): Promise<Store> {
  for (const version of versions) {
    const w = new Checkpointer({ store, signals: false });
    w.register({ id: 'grid', version, snapshot: () => ({ v: version }), restore: () => undefined });
    await w.checkpoint();
    await w.close();
  }
  return store;
}

function reader(store: Store, migrations: Record<number, Migration>, version = 4): { ckpt: Checkpointer; ran: number[]; restored: unknown[] } {
  const ckpt = new Checkpointer({ store, signals: false });
  const ran: number[] = [];
  const restored: unknown[] = [];
  const wrapped: Record<number, Migration> = {};
  for (const [to, fn] of Object.entries(migrations)) {
    wrapped[Number(to)] = (s, ctx) => {
      ran.push(Number(to));
      return fn(s, ctx);
    };
  }
  ckpt.register({ id: 'grid', version, migrations: wrapped, snapshot: () => null, restore: (s) => void restored.push(s) });
  return { ckpt, ran, restored };
}

describe('migrations with gaps, at restore', () => {
  const up = (s: unknown): unknown => ({ ...(s as object), up: true });

  it('a gap between the saved and the code version → NO_MIGRATION naming the missing step; no migration runs, nothing restored', async () => {
    const { ckpt, ran, restored } = reader(await imagesAt([1]), { 2: up, 4: up });
    const err = await ckpt.restore().catch((e: unknown) => e);
    expect(isCkptError(err, ErrorCodes.NO_MIGRATION)).toBe(true);
    expect((err as Error).message).toContain('migrations[3]');
    expect(ran).toEqual([]);
    expect(restored).toEqual([]);
    // plan() says the same without calling anything.
    const plan = await ckpt.plan();
    expect(plan?.ok).toBe(false);
    expect(plan?.providers[0]?.action).toBe('error');
    expect(plan?.errors[0]?.code).toBe(ErrorCodes.NO_MIGRATION);
  });

  it('a gap below the saved version does not matter: image v3, code v4, migrations { 2, 4 } → only step 4 runs', async () => {
    const { ckpt, ran, restored } = reader(await imagesAt([3]), { 2: up, 4: up });
    const r = await ckpt.restore();
    expect(ran).toEqual([4]);
    expect(restored).toEqual([{ v: 3, up: true }]);
    expect(r?.migrated).toEqual([{ id: 'grid', from: 3, to: 4 }]);
  });

  it('a missing last step (version 4, migrations { 2, 3 }) → NO_MIGRATION for migrations[4]', async () => {
    const { ckpt, ran } = reader(await imagesAt([2]), { 2: up, 3: up });
    const err = await ckpt.restore().catch((e: unknown) => e);
    expect(isCkptError(err, ErrorCodes.NO_MIGRATION)).toBe(true);
    expect((err as Error).message).toContain('migrations[4]');
    expect(ran).toEqual([]);
  });

  it('a gap in the newest image does not fall back to an older image that the chain could migrate (fails closed)', async () => {
    // Older image at v3 (migratable), newest at v1 (needs the missing step 3).
    const { ckpt, restored } = reader(await imagesAt([3, 1]), { 2: up, 4: up });
    expect(await codeOf(ckpt.restore())).toBe(ErrorCodes.NO_MIGRATION);
    expect(restored).toEqual([]);
  });
});

describe('restore() and plan() of ids that do not exist, on a directory store', () => {
  it('a well-formed id that is not there → NOT_FOUND; malformed or path-like ids → INVALID_ARGUMENT; nothing outside the store is read', async () => {
    const root = await mkdtemp(join(tmpdir(), 'ckpt-api-'));
    roots.push(root);
    const dir = join(root, 'store');
    await imagesAt([1], new FsStore(dir));
    // A valid image *outside* the store, reachable by a path-like id.
    const outside = join(root, '000000000001.ckpt');
    await writeFile(outside, 'not to be opened');
    const { ckpt, restored } = reader(new FsStore(dir), {}, 1);
    expect(await codeOf(ckpt.restore('000000000999'))).toBe(ErrorCodes.NOT_FOUND);
    expect(await codeOf(ckpt.plan('000000000999'))).toBe(ErrorCodes.NOT_FOUND);
    for (const id of ['', '1', 'latest', '000000000000', '../000000000001', '../000000000001.ckpt', '000000000001.ckpt', '000000000001/..', '/etc/passwd', ' 000000000001', '0000000000001']) {
      expect(await codeOf(ckpt.restore(id)), id).toBe(ErrorCodes.INVALID_ARGUMENT);
      expect(await codeOf(ckpt.plan(id)), id).toBe(ErrorCodes.INVALID_ARGUMENT);
    }
    expect(await codeOf(ckpt.restore(null as unknown as string))).toBe(ErrorCodes.INVALID_ARGUMENT);
    expect(restored).toEqual([]);
    // The real image is still restorable by its id, and the directory holds only it.
    await ckpt.restore('000000000001');
    expect(restored).toEqual([{ v: 1 }]);
    expect((await readdir(dir)).filter((n) => !n.startsWith('.'))).toEqual(['000000000001.ckpt']);
    await ckpt.close();
  });
});
