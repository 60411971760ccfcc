// ckpt/testing's migration helpers, on states and on golden fixtures.
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';
import { ErrorCodes } from '../../src/index.js';
import type { Provider , CkptError} from '../../src/index.js';
import { migrateFixture, runMigrationChain } from '../../src/testing/index.js';

const fixture = (v: number, name: string): string => fileURLToPath(new URL(`../fixtures/images/v${v}/${name}.image`, import.meta.url));
const base = { snapshot: () => 0, restore: () => {} };

describe('runMigrationChain', () => {
  it('runs the steps from the saved version in order, async ones too', async () => {
    const order: number[] = [];
    const p: Provider = {
      ...base,
      id: 'p',
      version: 3,
      migrations: {
        2: (s) => (order.push(2), { ...(s as object), v: 2 }),
        3: async (s) => (order.push(3), await Promise.resolve({ ...(s as object), v: 3 })),
      },
    };
    const r = await runMigrationChain(p, { v: 1 }, 1);
    expect(r).toEqual({ state: { v: 3 }, from: 1, to: 3, steps: [2, 3] });
    expect(order).toEqual([2, 3]);
    expect((await runMigrationChain(p, { v: 3 }, 3)).steps).toEqual([]);
  });

  it('reports a missing step, a newer version and a throwing step with the restore codes', async () => {
    const gap: Provider = { ...base, id: 'gap', version: 3, migrations: { 3: (s) => s } };
    const e1 = await runMigrationChain(gap, {}, 1).catch((e: unknown) => e as CkptError);
    expect((e1 as CkptError).code).toBe(ErrorCodes.NO_MIGRATION);
    expect((e1 as CkptError).message).toMatch(/no migration from version 1 to 2/);
    const e2 = await runMigrationChain(gap, {}, 4).catch((e: unknown) => e as CkptError);
    expect((e2 as CkptError).code).toBe(ErrorCodes.VERSION_NEWER);
    const bad: Provider = { ...base, id: 'bad', version: 2, migrations: { 2: () => { throw new Error('boom'); } } };
    const e3 = await runMigrationChain(bad, {}, 1).catch((e: unknown) => e as CkptError);
    expect((e3 as CkptError).code).toBe(ErrorCodes.MIGRATION_FAILED);
  });
});

describe('migrateFixture', () => {
  it('reads a provider from a golden image (through an alias) and migrates it', async () => {
    for (const v of [1, 2]) {
      const p: Provider = { ...base, id: 'labels', aliases: ['old-name'], version: 3, migrations: { 3: (s) => ({ ...(s as object), upgraded: true }) } };
      const r = await migrateFixture(p, fixture(v, 'multi'));
      expect(r.from).toBe(2);
      expect(r.steps).toEqual([3]);
      expect(r.state).toEqual({ label: 'renamed later', items: ['x', 'y'], upgraded: true });
    }
  });

  it('a provider that is not in the fixture is NOT_FOUND naming what is there', async () => {
    const e = await migrateFixture({ ...base, id: 'nope' }, fixture(1, 'multi')).catch((x: unknown) => x as CkptError);
    expect((e as CkptError).code).toBe(ErrorCodes.NOT_FOUND);
    expect((e as CkptError).message).toContain('counter, old-name, records');
  });
});
