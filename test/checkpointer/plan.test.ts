// ckpt.plan(): the restore dry run, read from the index only.
import { describe, expect, it } from 'vitest';
import { Checkpointer, ErrorCodes, MemoryStore } from '../../src/index.js';

async function storeWith(providers: { id: string; version: number; state: unknown }[]): Promise<MemoryStore> {
  const store = new MemoryStore();
  const w = new Checkpointer({ store });
  for (const p of providers) w.register({ id: p.id, version: p.version, snapshot: () => p.state, restore: () => {} });
  await w.checkpoint({ step: 1 });
  await w.close();
  return store;
}

describe('plan()', () => {
  it('empty store → undefined', async () => {
    expect(await new Checkpointer({ store: new MemoryStore() }).plan()).toBeUndefined();
  });

  it('reports restore, migrate (with steps) and alias reads, calling no hook', async () => {
    const store = await storeWith([{ id: 'a', version: 1, state: 1 }, { id: 'old', version: 2, state: 2 }]);
    const ckpt = new Checkpointer({ store });
    const calls: string[] = [];
    ckpt.register({ id: 'a', version: 3, migrations: { 2: (s) => (calls.push('m2'), s), 3: (s) => (calls.push('m3'), s) }, snapshot: () => 0, restore: () => void calls.push('restore a') });
    ckpt.register({ id: 'b', version: 2, aliases: ['old'], snapshot: () => 0, restore: () => void calls.push('restore b') });
    const plan = await ckpt.plan();
    expect(plan?.ok).toBe(true);
    expect(plan?.providers.map((p) => [p.id, p.savedId, p.from, p.to, p.steps, p.action])).toEqual([
      ['a', 'a', 1, 3, [2, 3], 'migrate'],
      ['b', 'old', 2, 2, [], 'restore'],
    ]);
    expect(calls).toEqual([]);
  });

  it('lists every blocking problem; the first is what restore() throws', async () => {
    const store = await storeWith([{ id: 'a', version: 5, state: 1 }, { id: 'gone', version: 1, state: 2 }, { id: 'c', version: 1, state: 3 }]);
    const ckpt = new Checkpointer({ store });
    ckpt.register({ id: 'a', version: 2, snapshot: () => 0, restore: () => {} });
    ckpt.register({ id: 'c', version: 3, migrations: { 3: (s) => s }, snapshot: () => 0, restore: () => {} });
    ckpt.register({ id: 'new', snapshot: () => 0, restore: () => {} });
    const plan = (await ckpt.plan())!;
    expect(plan.ok).toBe(false);
    expect(plan.errors.map((e) => e.code)).toEqual([ErrorCodes.UNKNOWN_PROVIDER, ErrorCodes.MISSING_PROVIDER, ErrorCodes.VERSION_NEWER, ErrorCodes.NO_MIGRATION]);
    expect(Object.fromEntries(plan.providers.map((p) => [p.id, p.action]))).toEqual({ a: 'error', c: 'error', new: 'error', gone: 'error' });
    const err = await ckpt.restore().catch((e: unknown) => e);
    expect((err as { code: string }).code).toBe(plan.errors[0]!.code);
  });

  it("honours unknownProviders: 'ignore' and missingProviders: 'allow' (drop / skip)", async () => {
    const store = await storeWith([{ id: 'a', version: 1, state: 1 }, { id: 'gone', version: 1, state: 2 }]);
    const ckpt = new Checkpointer({ store, unknownProviders: 'ignore', missingProviders: 'allow' });
    ckpt.register({ id: 'a', snapshot: () => 0, restore: () => {} });
    ckpt.register({ id: 'new', snapshot: () => 0, restore: () => {} });
    const plan = (await ckpt.plan())!;
    expect(plan.ok).toBe(true);
    expect(plan.providers.map((p) => [p.id, p.action])).toEqual([['a', 'restore'], ['new', 'skip'], ['gone', 'drop']]);
  });

  it('an explicit unknown id is NOT_FOUND; bad arguments are INVALID_ARGUMENT', async () => {
    const ckpt = new Checkpointer({ store: new MemoryStore() });
    expect(((await ckpt.plan('000000000009').catch((e: unknown) => e)) as { code: string }).code).toBe(ErrorCodes.NOT_FOUND);
    expect(((await ckpt.plan(42 as unknown as string).catch((e: unknown) => e)) as { code: string }).code).toBe(ErrorCodes.INVALID_ARGUMENT);
  });
});
