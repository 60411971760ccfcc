// Warnings for things that do not stop an operation, and limits that fail
// closed instead of falling back.
import { describe, expect, it } from 'vitest';
import { Checkpointer, ErrorCodes, MemoryStore, WarningCodes } from '../../src/index.js';
import type { CkptError, CkptWarning } from '../../src/index.js';

async function storeWith(states: { id: string; state: unknown }[], count = 1): Promise<MemoryStore> {
  const store = new MemoryStore();
  const w = new Checkpointer({ store });
  for (const s of states) w.register({ id: s.id, snapshot: () => s.state, restore: () => {} });
  for (let i = 0; i < count; i++) await w.checkpoint({ step: i });
  await w.close();
  return store;
}

function collect(ckpt: Checkpointer): CkptWarning[] {
  const out: CkptWarning[] = [];
  ckpt.on('warning', (w) => out.push(w));
  return out;
}

describe('warnings', () => {
  it("unknownProviders: 'ignore' drops state with CKPT_WARN_STATE_DROPPED", async () => {
    const store = await storeWith([{ id: 'a', state: 1 }, { id: 'gone', state: 2 }]);
    const r = new Checkpointer({ store, unknownProviders: 'ignore' });
    let got: unknown;
    r.register({ id: 'a', snapshot: () => 0, restore: (s) => void (got = s) });
    const warnings = collect(r);
    await r.restore();
    expect(got).toBe(1);
    expect(warnings.map((w) => w.code)).toEqual([WarningCodes.STATE_DROPPED]);
    expect(warnings[0]!.message).toContain('"gone"');
  });

  it("missingProviders: 'allow' skips a new provider with CKPT_WARN_NOT_RESTORED", async () => {
    const store = await storeWith([{ id: 'a', state: 1 }]);
    const r = new Checkpointer({ store, missingProviders: 'allow' });
    let calledNew = false;
    r.register({ id: 'a', snapshot: () => 0, restore: () => {} });
    r.register({ id: 'new', snapshot: () => 0, restore: () => void (calledNew = true) });
    const warnings = collect(r);
    await r.restore();
    expect(calledNew).toBe(false);
    expect(warnings.map((w) => w.code)).toEqual([WarningCodes.NOT_RESTORED]);
    expect(warnings[0]!.message).toContain('"new"');
  });

  it('images over a read limit are skipped (LIMIT, a warning each; none left: NO_VALID_IMAGE) and list() leaves them out with a warning', async () => {
    const store = await storeWith([{ id: 'p', state: { a: new Float64Array(200_000) } }], 2);
    const r = new Checkpointer({ store, limits: { maxSegmentBytes: 65_536 } });
    r.register({ id: 'p', snapshot: () => 0, restore: () => {} });
    const warnings = collect(r);
    const err = (await r.restore().catch((e: unknown) => e)) as CkptError;
    expect(err.code).toBe(ErrorCodes.NO_VALID_IMAGE);
    expect(err.message).toContain(ErrorCodes.LIMIT);
    expect(warnings.map((w) => w.code)).toEqual([WarningCodes.IMAGE_SKIPPED, WarningCodes.IMAGE_SKIPPED]);
    expect(warnings[0]!.message).toContain('maxSegmentBytes');
    warnings.length = 0;
    expect(await r.list()).toEqual([]);
    expect(warnings.map((w) => w.code)).toEqual([WarningCodes.IMAGE_UNREADABLE, WarningCodes.IMAGE_UNREADABLE]);
  });

  it('maxStateBytes fails the restore (the only image skipped: NO_VALID_IMAGE) but list() still describes the image', async () => {
    const store = await storeWith([{ id: 'p', state: new Float64Array(10_000) }]);
    const r = new Checkpointer({ store, limits: { maxStateBytes: 1000 } });
    r.register({ id: 'p', snapshot: () => 0, restore: () => {} });
    expect((await r.list()).map((i) => i.providers[0]!.rawBytes)).toEqual([expect.any(Number)]);
    expect(((await r.restore().catch((e: unknown) => e)) as CkptError).code).toBe(ErrorCodes.NO_VALID_IMAGE);
  });
});
