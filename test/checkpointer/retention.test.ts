import { describe, it, expect } from 'vitest';
import { Checkpointer, ErrorCodes, MemoryStore, isCkptError, keepEverySeconds, keepEverySteps, keepLabelled, keepLast } from '../../src/index.js';
import type { CheckpointerOptions, CkptWarning, ImageInfo } from '../../src/index.js';
import { TestStore, expectCode } from './helpers.js';

function withRetention(retention: CheckpointerOptions['retention'], store: MemoryStore | TestStore = new MemoryStore()) {
  const ckpt = new Checkpointer({ store, ...(retention === undefined ? {} : { retention }) });
  ckpt.register({ id: 'p', snapshot: (ctx) => ctx.step, restore: () => undefined });
  return ckpt;
}

async function steps(ckpt: Checkpointer): Promise<(number | null)[]> {
  return (await ckpt.list()).map((i) => i.step);
}

describe('retention through the Checkpointer', () => {
  it('keeps everything by default', async () => {
    const ckpt = withRetention(undefined);
    for (let s = 1; s <= 5; s++) await ckpt.checkpoint({ step: s });
    expect(await steps(ckpt)).toEqual([5, 4, 3, 2, 1]);
  });

  it('keepLast: N newest images survive, applied after every commit', async () => {
    const ckpt = withRetention({ keepLast: 2 });
    const counts: number[] = [];
    for (let s = 1; s <= 5; s++) {
      await ckpt.checkpoint({ step: s });
      counts.push((await ckpt.list()).length);
    }
    expect(counts).toEqual([1, 2, 2, 2, 2]);
    expect(await steps(ckpt)).toEqual([5, 4]);
  });

  it('keepEverySteps: the newest image of each block of N steps', async () => {
    const ckpt = withRetention({ keepEverySteps: 10 });
    for (const s of [0, 5, 10, 15, 20, 25]) await ckpt.checkpoint({ step: s });
    expect(await steps(ckpt)).toEqual([25, 15, 5]);
  });

  it('keepLabelled with keepLast: labelled images survive beside the newest N', async () => {
    const ckpt = withRetention({ keepLast: 1, keepLabelled: true });
    await ckpt.checkpoint({ step: 1, label: 'before-deploy' });
    for (let s = 2; s <= 4; s++) await ckpt.checkpoint({ step: s });
    await ckpt.checkpoint({ step: 5, label: 'v2' });
    await ckpt.checkpoint({ step: 6 });
    const images = await ckpt.list();
    expect(images.map((i) => [i.step, i.label])).toEqual([
      [6, null],
      [5, 'v2'],
      [1, 'before-deploy'],
    ]);
  });

  it('composed policies as an array: an image survives if any policy keeps it', async () => {
    const ckpt = withRetention([keepLast(2), keepEverySteps(100), keepLabelled()]);
    for (const [s, label] of [[50, undefined], [99, undefined], [120, 'x'], [150, undefined], [160, undefined], [170, undefined]] as const) {
      await ckpt.checkpoint({ step: s, ...(label === undefined ? {} : { label }) });
    }
    // keepLast(2): 170, 160; every 100 steps: 170 (block 1), 99 (block 0); labelled: 120.
    expect(await steps(ckpt)).toEqual([170, 160, 120, 99]);
  });

  it('the newest image is always kept, even when no policy selects it', async () => {
    const labelled = withRetention({ keepLabelled: true });
    for (let s = 1; s <= 3; s++) await labelled.checkpoint({ step: s });
    expect(await steps(labelled)).toEqual([3]);

    const stepless = withRetention({ keepEverySteps: 10 });
    for (let i = 0; i < 3; i++) await stepless.checkpoint();
    expect((await stepless.list()).map((i) => i.id)).toEqual(['000000000003']);

    const custom = withRetention([{ name: 'keepNothing', keep: () => [] }]);
    for (let i = 0; i < 3; i++) await custom.checkpoint();
    expect((await custom.list()).map((i) => i.id)).toEqual(['000000000003']);
  });

  it('a failed checkpoint prunes nothing', async () => {
    const store = new MemoryStore();
    const ckpt = new Checkpointer({ store, retention: { keepLast: 1 } });
    let fail = false;
    ckpt.register({ id: 'p', snapshot: (ctx) => { if (fail) throw new Error('no'); return ctx.step; }, restore: () => undefined });
    await ckpt.checkpoint({ step: 1 });
    fail = true;
    await expectCode(ckpt.checkpoint({ step: 2 }), ErrorCodes.SNAPSHOT_FAILED);
    expect(await steps(ckpt)).toEqual([1]);
  });

  it('a failing delete is a warning; the new image is committed', async () => {
    const store = new TestStore();
    const ckpt = withRetention({ keepLast: 1 }, store);
    const warnings: CkptWarning[] = [];
    ckpt.on('warning', (w) => warnings.push(w));
    await ckpt.checkpoint({ step: 1 });
    store.failDeletes = new Error('EACCES: permission denied');
    const info = await ckpt.checkpoint({ step: 2 });
    expect(info.step).toBe(2);
    expect(await steps(ckpt)).toEqual([2, 1]);
    expect(warnings).toHaveLength(1);
    expect(warnings[0]!.message).toContain('retention could not prune old images');
    expect(warnings[0]!.message).toContain('EACCES');
    store.failDeletes = undefined;
    await ckpt.checkpoint({ step: 3 });
    expect(await steps(ckpt)).toEqual([3]);
  });
});

describe('retention options validation', () => {
  const bad: unknown[] = [
    { keepLast: 0 },
    { keepLast: -1 },
    { keepLast: 1.5 },
    { keepLast: '3' },
    { keepLast: Number.NaN },
    { keepEverySteps: 0 },
    { keepEverySeconds: Infinity },
    { keepLabelled: 'yes' },
    { keepLabelled: 1 },
    { keepLats: 3 },
    5,
    'keepLast',
    null,
    [{}],
    [keepLast(1), { name: 'x' }],
  ];
  for (const retention of bad) {
    it(`rejects retention ${JSON.stringify(retention)} with INVALID_ARGUMENT`, () => {
      let err: unknown;
      try {
        new Checkpointer({ store: new MemoryStore(), retention: retention as CheckpointerOptions['retention'] & object });
      } catch (e) {
        err = e;
      }
      expect(isCkptError(err, ErrorCodes.INVALID_ARGUMENT)).toBe(true);
    });
  }

  it('the policy factories validate too', () => {
    for (const f of [() => keepLast(0), () => keepEverySteps(-2), () => keepEverySeconds(0.5)]) {
      let err: unknown;
      try {
        f();
      } catch (e) {
        err = e;
      }
      expect(isCkptError(err, ErrorCodes.INVALID_ARGUMENT)).toBe(true);
    }
    expect(keepLast(3).name).toBe('keepLast(3)');
  });
});

describe('policies on synthetic images', () => {
  function img(id: number, createdAtSec: number, step: number | null = null, label: string | null = null): ImageInfo {
    return {
      id: String(id).padStart(12, '0'),
      step,
      label,
      createdAt: new Date(createdAtSec * 1000),
      bytes: 100,
      app: null,
      formatVersion: 1,
      library: 'ckpt test',
      node: process.version,
      hostname: null,
      meta: {},
      providers: [],
    };
  }

  it('keepEverySeconds keeps the newest image of each window of wall time', () => {
    // newest first, as the store lists them
    const images = [img(6, 125), img(5, 119), img(4, 61), img(3, 60), img(2, 59), img(1, 0)];
    // windows [0,60) [60,120) [120,180): newest of each is 2 (t=59), 5 (t=119), 6 (t=125)
    expect([...keepEverySeconds(60).keep(images)]).toEqual(['000000000006', '000000000005', '000000000002']);
  });

  it('keepEverySteps ignores images without a step, keepLabelled keeps only labelled ones', () => {
    const images = [img(5, 5, null), img(4, 4, 25, 'a'), img(3, 3, 21), img(2, 2, 19), img(1, 1, 3)];
    expect([...keepEverySteps(10).keep(images)]).toEqual(['000000000004', '000000000002', '000000000001']);
    expect([...keepLabelled().keep(images)]).toEqual(['000000000004']);
    expect([...keepLast(2).keep(images)]).toEqual(['000000000005', '000000000004']);
  });
});
