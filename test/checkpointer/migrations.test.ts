import { describe, it, expect } from 'vitest';
import fc from 'fast-check';
import { Checkpointer, ErrorCodes, MemoryStore } from '../../src/index.js';
import type { CheckpointerOptions, MigrationContext, Provider, RestoreContext } from '../../src/index.js';
import { expectCode } from './helpers.js';

/** Write one image holding `states` (provider id → [version, state]) and return its store. */
async function imageWith(states: Record<string, [number, unknown]>): Promise<MemoryStore> {
  const store = new MemoryStore();
  const writer = new Checkpointer({ store });
  for (const [id, [version, state]] of Object.entries(states)) writer.register({ id, version, snapshot: () => state, restore: () => undefined });
  await writer.checkpoint({ step: 100 });
  await writer.close();
  return store;
}

/** A reader Checkpointer on `store`; `restored` collects (id → state, ctx). */
function readerOn(store: MemoryStore, options: Partial<CheckpointerOptions> = {}) {
  const ckpt = new Checkpointer({ store, ...options });
  const restored = new Map<string, { state: unknown; ctx: RestoreContext }>();
  const add = (p: Omit<Provider, 'snapshot' | 'restore'>) =>
    ckpt.register({
      ...p,
      snapshot: () => null,
      restore: (state, ctx) => {
        restored.set(p.id, { state, ctx });
      },
    });
  return { ckpt, restored, add };
}

describe('migrations', () => {
  it('image v1, code v3: runs step 2 then 3 in order (async allowed) and reports the migration', async () => {
    const store = await imageWith({ grid: [1, { cells: [1, 2, 3] }] });
    const { ckpt, restored, add } = readerOn(store);
    const calls: MigrationContext[] = [];
    add({
      id: 'grid',
      version: 3,
      migrations: {
        3: async (s, ctx) => {
          calls.push(ctx);
          await new Promise((r) => setTimeout(r, 5));
          const v2 = s as { cells: number[]; width: number };
          return { rows: [v2.cells], width: v2.width, v: 3 };
        },
        2: (s, ctx) => {
          calls.push(ctx);
          const v1 = s as { cells: number[] };
          return { cells: v1.cells, width: v1.cells.length };
        },
      },
    });
    const result = await ckpt.restore();
    expect(calls).toEqual([
      { id: 'grid', from: 1, to: 2 },
      { id: 'grid', from: 2, to: 3 },
    ]);
    expect(restored.get('grid')?.state).toEqual({ rows: [[1, 2, 3]], width: 3, v: 3 });
    expect(restored.get('grid')?.ctx.savedVersion).toBe(1);
    expect(result?.migrated).toEqual([{ id: 'grid', from: 1, to: 3 }]);
  });

  it('runs only the steps above the saved version (image v2, code v3 → step 3 only)', async () => {
    const store = await imageWith({ grid: [2, 'v2'] });
    const { ckpt, restored, add } = readerOn(store);
    const seen: string[] = [];
    add({ id: 'grid', version: 3, migrations: { 2: () => { seen.push('2'); return 'bad'; }, 3: (s) => { seen.push('3'); return `${String(s)}→v3`; } } });
    const result = await ckpt.restore();
    expect(seen).toEqual(['3']);
    expect(restored.get('grid')?.state).toBe('v2→v3');
    expect(result?.migrated).toEqual([{ id: 'grid', from: 2, to: 3 }]);
  });

  it('same version: no migration runs and migrated is empty', async () => {
    const store = await imageWith({ grid: [3, 'v3'] });
    const { ckpt, restored, add } = readerOn(store);
    let ran = 0;
    add({ id: 'grid', version: 3, migrations: { 2: () => ran++, 3: () => ran++ } });
    const result = await ckpt.restore();
    expect(ran).toBe(0);
    expect(restored.get('grid')?.state).toBe('v3');
    expect(result?.migrated).toEqual([]);
  });

  it('a missing step → NO_MIGRATION naming the step; nothing is restored', async () => {
    const store = await imageWith({ a: [1, 'a'], grid: [1, 'g'] });
    const { ckpt, restored, add } = readerOn(store);
    let ran = 0;
    add({ id: 'a' });
    add({ id: 'grid', version: 3, migrations: { 3: () => ran++ } });
    const err = await expectCode(ckpt.restore(), ErrorCodes.NO_MIGRATION);
    expect(err.provider).toBe('grid');
    expect(err.message).toContain('migrations[2]');
    expect(ran).toBe(0);
    expect(restored.size).toBe(0);
  });

  it('image newer than the code → VERSION_NEWER; nothing is restored', async () => {
    const store = await imageWith({ a: [1, 'a'], grid: [4, 'g'] });
    const { ckpt, restored, add } = readerOn(store);
    add({ id: 'a' });
    add({ id: 'grid', version: 2, migrations: { 2: (s) => s } });
    const err = await expectCode(ckpt.restore(), ErrorCodes.VERSION_NEWER);
    expect(err.provider).toBe('grid');
    expect(err.message).toContain('version 4');
    expect(restored.size).toBe(0);
  });

  it('a throwing migration → MIGRATION_FAILED with the cause; no provider is restored, not even earlier ones', async () => {
    const store = await imageWith({ a: [1, 'a'], grid: [1, 'g'] });
    const { ckpt, restored, add } = readerOn(store);
    const boom = new Error('cannot convert');
    add({ id: 'a' });
    add({ id: 'grid', version: 3, migrations: { 2: (s) => s, 3: () => Promise.reject(boom) } });
    const err = await expectCode(ckpt.restore(), ErrorCodes.MIGRATION_FAILED);
    expect(err.provider).toBe('grid');
    expect(err.cause).toBe(boom);
    expect(err.message).toContain('2 → 3');
    expect(restored.size).toBe(0);
  });

  it('does not fall back to an older image when the newest needs a missing migration (fails closed)', async () => {
    const store = new MemoryStore();
    const w = new Checkpointer({ store });
    let version = 1;
    w.register({ id: 'grid', snapshot: () => `written at v${version}`, restore: () => undefined });
    await w.checkpoint();
    await w.close();
    version = 2;
    const w2 = new Checkpointer({ store });
    w2.register({ id: 'grid', version: 2, migrations: { 2: (s) => s }, snapshot: () => 'v2 state', restore: () => undefined });
    await w2.checkpoint();
    await w2.close();
    const { ckpt, restored, add } = readerOn(store);
    add({ id: 'grid', version: 1 });
    await expectCode(ckpt.restore(), ErrorCodes.VERSION_NEWER);
    expect(restored.size).toBe(0);
  });
});

describe('migration chains (property)', () => {
  it('for any saved version v ≤ code version V, exactly steps v+1 … V run, in order, each once', async () => {
    await fc.assert(
      fc.asyncProperty(fc.integer({ min: 1, max: 6 }), fc.integer({ min: 0, max: 5 }), async (saved, extra) => {
        const code = saved + extra;
        const store = await imageWith({ p: [saved, [] as number[]] });
        const { ckpt, restored, add } = readerOn(store);
        const migrations: Record<number, (s: unknown) => unknown> = {};
        for (let to = 2; to <= code; to++) migrations[to] = (s) => [...(s as number[]), to];
        add({ id: 'p', version: code, migrations });
        const result = await ckpt.restore();
        const expected = Array.from({ length: extra }, (_, i) => saved + 1 + i);
        expect(restored.get('p')?.state).toEqual(expected);
        expect(result?.migrated).toEqual(extra === 0 ? [] : [{ id: 'p', from: saved, to: code }]);
      }),
      { numRuns: 40 },
    );
  });
});

describe('aliases', () => {
  it('a renamed provider reads its old id, with savedId telling which', async () => {
    const store = await imageWith({ grid: [1, { cells: 4 }] });
    const { ckpt, restored, add } = readerOn(store);
    add({ id: 'world', aliases: ['grid', 'grid-old'] });
    const result = await ckpt.restore();
    expect(restored.get('world')?.state).toEqual({ cells: 4 });
    expect(restored.get('world')?.ctx.savedId).toBe('grid');
    expect(result?.skipped).toEqual([]);
  });

  it('alias plus migration: the old id at an old version is migrated to the new one', async () => {
    const store = await imageWith({ grid: [1, 10] });
    const { ckpt, restored, add } = readerOn(store);
    add({ id: 'world', version: 2, aliases: ['grid'], migrations: { 2: (s) => (s as number) * 2 } });
    const result = await ckpt.restore();
    expect(restored.get('world')?.state).toBe(20);
    expect(result?.migrated).toEqual([{ id: 'world', from: 1, to: 2 }]);
  });

  for (const order of [['world', 'grid'], ['grid', 'world']] as const) {
    it(`when both the id and an alias are in the image (written ${order.join(', ')}), the current id wins`, async () => {
      const states: Record<string, [number, unknown]> = {};
      for (const id of order) states[id] = [1, `state of ${id}`];
      const store = await imageWith(states);
      const { ckpt, restored, add } = readerOn(store);
      add({ id: 'world', aliases: ['grid'] });
      await ckpt.restore();
      expect(restored.get('world')?.state).toBe('state of world');
      expect(restored.get('world')?.ctx.savedId).toBe('world');
    });
  }
});

describe('provider set mismatches', () => {
  it('a provider in the image that is not registered → UNKNOWN_PROVIDER by default; nothing restored', async () => {
    const store = await imageWith({ a: [1, 'a'], gone: [1, 'g'] });
    const { ckpt, restored, add } = readerOn(store);
    add({ id: 'a' });
    const err = await expectCode(ckpt.restore(), ErrorCodes.UNKNOWN_PROVIDER);
    expect(err.provider).toBe('gone');
    expect(err.message).toContain("unknownProviders: 'ignore'");
    expect(restored.size).toBe(0);
  });

  it("unknownProviders: 'ignore' drops that state and restores the rest", async () => {
    const store = await imageWith({ a: [1, 'a'], gone: [1, 'g'] });
    const { ckpt, restored, add } = readerOn(store, { unknownProviders: 'ignore' });
    add({ id: 'a' });
    const result = await ckpt.restore();
    expect([...restored.keys()]).toEqual(['a']);
    expect(restored.get('a')?.state).toBe('a');
    expect(result?.image.providers.map((p) => p.id)).toEqual(['a', 'gone']);
  });

  it('a registered provider absent from the image → MISSING_PROVIDER by default; nothing restored', async () => {
    const store = await imageWith({ a: [1, 'a'] });
    const { ckpt, restored, add } = readerOn(store);
    add({ id: 'a' });
    add({ id: 'newcomer' });
    const err = await expectCode(ckpt.restore(), ErrorCodes.MISSING_PROVIDER);
    expect(err.provider).toBe('newcomer');
    expect(err.message).toContain("missingProviders: 'allow'");
    expect(restored.size).toBe(0);
  });

  it("missingProviders: 'allow' restores the others and does not call the missing one's restore()", async () => {
    const store = await imageWith({ a: [1, 'a'] });
    const { ckpt, restored, add } = readerOn(store, { missingProviders: 'allow' });
    add({ id: 'newcomer' });
    add({ id: 'a' });
    const result = await ckpt.restore();
    expect([...restored.keys()]).toEqual(['a']);
    expect(result?.migrated).toEqual([]);
  });

  it('both options together tolerate a rename without alias', async () => {
    const store = await imageWith({ old: [1, 'o'], kept: [1, 'k'] });
    const { ckpt, restored, add } = readerOn(store, { missingProviders: 'allow', unknownProviders: 'ignore' });
    add({ id: 'kept' });
    add({ id: 'renamed' });
    await ckpt.restore();
    expect([...restored.entries()].map(([id, r]) => [id, r.state])).toEqual([['kept', 'k']]);
  });
});
