import { describe, it, expect } from 'vitest';
import fc from 'fast-check';
import { Checkpointer, ErrorCodes, MemoryStore, WarningCodes } from '../../src/index.js';
import type { CkptError, CkptWarning, RestoreContext, Store } from '../../src/index.js';
import { TestStore, expectCode, imageLayout } from './helpers.js';

const TYPED_ARRAY_CLASSES = [
  Int8Array,
  Uint8Array,
  Uint8ClampedArray,
  Int16Array,
  Uint16Array,
  Int32Array,
  Uint32Array,
  Float32Array,
  Float64Array,
  BigInt64Array,
  BigUint64Array,
] as const;

/** A state using every kind of value the codec must preserve. */
function richState() {
  const shared = { name: 'shared', n: 1 };
  const key = { k: 'object key' };
  const cycle: { name: string; self?: unknown; list: unknown[] } = { name: 'cycle', list: [] };
  cycle.self = cycle;
  cycle.list.push(cycle, shared);
  // eslint-disable-next-line no-sparse-arrays
  const sparse = [1, , 3, , , 6];
  sparse.length = 9; // trailing holes
  const typed: Record<string, ArrayBufferView> = {};
  for (const C of TYPED_ARRAY_CLASSES) {
    const bytes = new Uint8Array(C.BYTES_PER_ELEMENT * 5);
    for (let i = 0; i < bytes.length; i++) bytes[i] = (i * 37 + C.BYTES_PER_ELEMENT) & 0xff;
    typed[C.name] = new C(bytes.buffer);
  }
  const nullProto = Object.create(null) as Record<string, unknown>;
  nullProto['x'] = 1;
  return {
    numbers: { negZero: -0, nan: Number.NaN, inf: Infinity, ninf: -Infinity, max: Number.MAX_VALUE, tiny: Number.MIN_VALUE, int: 2 ** 53 - 1 },
    bigints: { zero: 0n, big: 2n ** 200n + 12345n, neg: -(10n ** 40n) },
    dates: { epoch: new Date(0), some: new Date('2024-02-29T12:34:56.789Z'), invalid: new Date(Number.NaN) },
    strings: ['', 'ascii', 'ünïcödé ✓ 𝄞', '\u0000nul', 'lone \ud800 surrogate'],
    misc: { t: true, f: false, n: null, u: undefined, re: /a+b?/giu },
    sparse,
    typed,
    binary: {
      buffer: Buffer.from('hello buffer'),
      arrayBuffer: Uint8Array.of(9, 8, 7).buffer,
      dataView: new DataView(Uint8Array.of(1, 2, 3, 4, 5).buffer, 1, 3),
      offsetView: new Uint16Array(Uint16Array.of(1, 2, 3, 4).buffer, 2, 2),
    },
    map: new Map<unknown, unknown>([
      [key, 'value for object key'],
      ['str', shared],
      [1, [key]],
    ]),
    set: new Set<unknown>([shared, 'x', 3n]),
    sharedTwice: [shared, shared],
    cycle,
    nullProto,
  };
}

function roundTripper(store: Store = new MemoryStore()) {
  const box: { state: unknown } = { state: undefined };
  const ckpt = new Checkpointer({ store });
  ckpt.register({ id: 'app', snapshot: () => box.state, restore: (s) => { box.state = s; } });
  return { ckpt, box, store };
}

describe('restore round trip', () => {
  it('restores a rich state exactly: every typed array, Map with object keys, shared references, a cycle, Date, BigInt, -0, NaN, holes', async () => {
    const { ckpt, box } = roundTripper();
    const original = richState();
    box.state = original;
    await ckpt.checkpoint();
    box.state = undefined;
    const result = await ckpt.restore();
    expect(result?.image.id).toBe('000000000001');
    const got = box.state as ReturnType<typeof richState>;
    expect(got).not.toBe(original);
    expect(got).toEqual(original);

    expect(Object.is(got.numbers.negZero, -0)).toBe(true);
    expect(Number.isNaN(got.numbers.nan)).toBe(true);
    expect(got.bigints.big).toBe(2n ** 200n + 12345n);
    expect(got.bigints.neg).toBe(-(10n ** 40n));
    expect(got.dates.some).toBeInstanceOf(Date);
    expect(got.dates.some.toISOString()).toBe('2024-02-29T12:34:56.789Z');
    expect(Number.isNaN(got.dates.invalid.getTime())).toBe(true);
    expect(got.strings[4]).toBe('lone \ud800 surrogate');
    expect('u' in got.misc).toBe(true);
    expect(got.misc.u).toBeUndefined();
    expect(got.misc.re).toBeInstanceOf(RegExp);
    expect(got.misc.re.source).toBe('a+b?');
    expect(got.misc.re.flags).toBe('giu');

    expect(got.sparse).toHaveLength(9);
    expect(Object.keys(got.sparse)).toEqual(['0', '2', '5']);

    for (const C of TYPED_ARRAY_CLASSES) {
      const t = got.typed[C.name]!;
      expect(t.constructor).toBe(C);
      expect(Buffer.from(t.buffer, t.byteOffset, t.byteLength).equals(Buffer.from(original.typed[C.name]!.buffer))).toBe(true);
    }
    expect(Buffer.isBuffer(got.binary.buffer)).toBe(true);
    expect(got.binary.buffer.toString()).toBe('hello buffer');
    expect(got.binary.arrayBuffer).toBeInstanceOf(ArrayBuffer);
    expect([...new Uint8Array(got.binary.arrayBuffer)]).toEqual([9, 8, 7]);
    expect(got.binary.dataView).toBeInstanceOf(DataView);
    expect(got.binary.dataView.byteLength).toBe(3);
    expect([0, 1, 2].map((i) => got.binary.dataView.getUint8(i))).toEqual([2, 3, 4]);
    expect([...got.binary.offsetView]).toEqual([2, 3]);

    // Identity: shared objects are one object, map keys are those objects, the cycle closes.
    const [k] = [...got.map.keys()] as [object];
    expect(got.map.get(k)).toBe('value for object key');
    expect((got.map.get(1) as unknown[])[0]).toBe(k);
    expect(got.sharedTwice[0]).toBe(got.sharedTwice[1]);
    expect(got.map.get('str')).toBe(got.sharedTwice[0]);
    expect(got.set.has(got.sharedTwice[0])).toBe(true);
    expect(got.cycle.self).toBe(got.cycle);
    expect(got.cycle.list[0]).toBe(got.cycle);
    expect(got.cycle.list[1]).toBe(got.sharedTwice[0]);
    expect(Object.getPrototypeOf(got.nullProto)).toBeNull();
    expect(got.nullProto['x']).toBe(1);
  });

  it('several providers each get their own state back (no buffer shared between encodings)', async () => {
    const store = new MemoryStore();
    const ckpt = new Checkpointer({ store });
    const boxes: { state: unknown }[] = Array.from({ length: 5 }, (_, i) => ({ state: { i, text: `provider-${i}-`.repeat(i * 50 + 1), arr: new Float64Array(i * 3 + 1).fill(i + 0.5) } }));
    const originals = boxes.map((b) => b.state);
    boxes.forEach((b, i) => ckpt.register({ id: `p${i}`, snapshot: () => b.state, restore: (s) => { b.state = s; } }));
    await ckpt.checkpoint();
    for (const b of boxes) b.state = null;
    await ckpt.restore();
    boxes.forEach((b, i) => expect(b.state).toEqual(originals[i]));
  });

  it('calls restore() in registration order with the context, then afterRestore of resources in registration order', async () => {
    const store = new MemoryStore();
    const log: string[] = [];
    const ctxs: RestoreContext[] = [];
    const ckpt = new Checkpointer({ store });
    for (const id of ['z', 'a', 'm']) ckpt.register({ id, snapshot: () => id.toUpperCase(), restore: (s, ctx) => { log.push(`restore:${id}:${String(s)}`); ctxs.push(ctx); } });
    ckpt.registerResource({ id: 'r1', afterRestore: (ctx) => { log.push(`afterRestore:r1:${ctx.image.id}`); } });
    ckpt.registerResource({ id: 'r2', afterRestore: () => { log.push('afterRestore:r2'); } });
    const info = await ckpt.checkpoint({ step: 3, label: 'l' });
    await ckpt.restore();
    expect(log).toEqual(['restore:z:Z', 'restore:a:A', 'restore:m:M', `afterRestore:r1:${info.id}`, 'afterRestore:r2']);
    expect(ctxs[0]!.savedVersion).toBe(1);
    expect(ctxs[0]!.savedId).toBe('z');
    expect(ctxs[0]!.image.id).toBe(info.id);
    expect(ctxs[0]!.image.step).toBe(3);
    expect(ctxs[0]!.image.label).toBe('l');
  });

  it('property: any supported value survives checkpoint → restore', async () => {
    const { ckpt, box } = roundTripper();
    await fc.assert(
      fc.asyncProperty(
        fc.anything({
          withBigInt: true,
          withDate: true,
          withMap: true,
          withSet: true,
          withTypedArray: true,
          withSparseArray: true,
          withNullPrototype: true,
          withObjectString: false,
          withBoxedValues: false,
        }),
        async (value) => {
          box.state = value;
          await ckpt.checkpoint();
          box.state = Symbol('not restored');
          await ckpt.restore();
          expect(box.state).toStrictEqual(value);
        },
      ),
      { numRuns: 60 },
    );
  });
});

describe('restore selection and failures', () => {
  it('resolves undefined on an empty store without calling any restore()', async () => {
    const store = new MemoryStore();
    const ckpt = new Checkpointer({ store });
    let called = 0;
    ckpt.register({ id: 'p', snapshot: () => 1, restore: () => { called++; } });
    ckpt.registerResource({ id: 'r', afterRestore: () => { called++; } });
    expect(await ckpt.restore()).toBeUndefined();
    expect(called).toBe(0);
  });

  it('restores the newest image by default and a given image by id', async () => {
    const { ckpt, box } = roundTripper();
    box.state = 'one';
    const one = await ckpt.checkpoint({ step: 1 });
    box.state = 'two';
    const two = await ckpt.checkpoint({ step: 2 });
    box.state = 'live';
    const latest = await ckpt.restore();
    expect(latest).toEqual({ image: expect.objectContaining({ id: two.id, step: 2 }) as unknown, migrated: [], skipped: [], fellBack: false });
    expect(box.state).toBe('two');
    const older = await ckpt.restore(one.id);
    expect(older?.image.id).toBe(one.id);
    expect(older?.fellBack).toBe(false);
    expect(box.state).toBe('one');
  });

  it('an unknown image id → NOT_FOUND, a malformed one → INVALID_ARGUMENT; nothing restored', async () => {
    const { ckpt, box } = roundTripper();
    box.state = 'saved';
    await ckpt.checkpoint();
    box.state = 'live';
    const err = await expectCode(ckpt.restore('000000000099'), ErrorCodes.NOT_FOUND);
    expect(err.message).toContain('000000000099');
    await expectCode(ckpt.restore('latest'), ErrorCodes.INVALID_ARGUMENT);
    await expectCode(ckpt.restore(7 as unknown as string), ErrorCodes.INVALID_ARGUMENT);
    expect(box.state).toBe('live');
  });

  for (const part of ['segment', 'index', 'header'] as const) {
    it(`falls back past a newest image with a damaged ${part}, with a warning, skipped and fellBack`, async () => {
      const store = new TestStore();
      const { ckpt, box } = roundTripper(store);
      const warnings: CkptWarning[] = [];
      ckpt.on('warning', (w) => warnings.push(w));
      box.state = { gen: 1, data: 'x'.repeat(1000) };
      const one = await ckpt.checkpoint();
      box.state = { gen: 2, data: 'y'.repeat(1000) };
      const two = await ckpt.checkpoint();
      const layout = await imageLayout(store, two.id);
      const offset = part === 'segment' ? layout.providerSegment.get('app')! + 5 : part === 'index' ? layout.indexOffset + 3 : 0;
      store.damage(two.id, offset);
      box.state = 'live';
      const result = await ckpt.restore();
      expect(box.state).toEqual({ gen: 1, data: 'x'.repeat(1000) });
      expect(result?.image.id).toBe(one.id);
      expect(result?.fellBack).toBe(true);
      expect(result?.skipped).toHaveLength(1);
      expect(result?.skipped[0]).toEqual({ id: two.id, code: ErrorCodes.CORRUPT, message: expect.any(String) as string });
      expect(warnings).toHaveLength(1);
      expect(warnings[0]!.code).toBe(WarningCodes.IMAGE_SKIPPED);
      expect((warnings[0]!.error as CkptError).code).toBe(ErrorCodes.CORRUPT);
      expect(warnings[0]!.message).toContain(two.id);
      expect(warnings[0]!.message).toContain('falling back');

      // An explicit id does not fall back: the damage is the answer.
      await expectCode(ckpt.restore(two.id), ErrorCodes.CORRUPT);
    });
  }

  it('skips several damaged images newest first', async () => {
    const store = new TestStore();
    const { ckpt, box } = roundTripper(store);
    const ids: string[] = [];
    for (let i = 1; i <= 4; i++) {
      box.state = i;
      ids.push((await ckpt.checkpoint()).id);
    }
    for (const id of ids.slice(2)) store.damage(id, (await imageLayout(store, id)).indexOffset);
    const result = await ckpt.restore();
    expect(box.state).toBe(2);
    expect(result?.skipped.map((s) => s.id)).toEqual([ids[3], ids[2]]);
    // list() leaves unreadable images out.
    expect((await ckpt.list()).map((i) => i.id)).toEqual([ids[1], ids[0]]);
  });

  it('every image damaged → NO_VALID_IMAGE listing each, and nothing restored', async () => {
    const store = new TestStore();
    const { ckpt, box } = roundTripper(store);
    const warnings: CkptWarning[] = [];
    ckpt.on('warning', (w) => warnings.push(w));
    const ids: string[] = [];
    for (let i = 1; i <= 2; i++) {
      box.state = i;
      ids.push((await ckpt.checkpoint()).id);
    }
    for (const id of ids) store.damage(id, (await imageLayout(store, id)).providerSegment.get('app')!);
    box.state = 'live';
    const err = await expectCode(ckpt.restore(), ErrorCodes.NO_VALID_IMAGE);
    expect(err.errors.map((e) => (e as { image?: string }).image)).toEqual([ids[1], ids[0]]);
    expect(err.errors.every((e) => (e as { code?: string }).code === ErrorCodes.CORRUPT)).toBe(true);
    expect(err.message).toContain(ids[0]);
    expect(warnings).toHaveLength(2);
    expect(box.state).toBe('live');
  });

  it('a restore() that throws → RESTORE_FAILED naming the provider and what was already restored; afterRestore not run', async () => {
    const store = new MemoryStore();
    const ckpt = new Checkpointer({ store });
    const log: string[] = [];
    const boom = new Error('bad state');
    ckpt.register({ id: 'first', snapshot: () => 1, restore: () => { log.push('first'); } });
    ckpt.register({ id: 'second', snapshot: () => 2, restore: () => { throw boom; } });
    ckpt.register({ id: 'third', snapshot: () => 3, restore: () => { log.push('third'); } });
    ckpt.registerResource({ id: 'r', afterRestore: () => { log.push('afterRestore'); } });
    const info = await ckpt.checkpoint();
    const err = await expectCode(ckpt.restore(), ErrorCodes.RESTORE_FAILED);
    expect(err.provider).toBe('second');
    expect(err.image).toBe(info.id);
    expect(err.cause).toBe(boom);
    expect(err.message).toContain('Already restored: first');
    expect(log).toEqual(['first']);
  });

  it('a failing afterRestore → RESTORE_FAILED after all state is restored and all resources are tried', async () => {
    const ckpt = new Checkpointer({ store: new MemoryStore() });
    const log: string[] = [];
    ckpt.register({ id: 'p', snapshot: () => 1, restore: () => { log.push('p'); } });
    ckpt.registerResource({ id: 'r1', afterRestore: () => { throw new Error('port in use'); } });
    ckpt.registerResource({ id: 'r2', afterRestore: () => { log.push('r2'); } });
    await ckpt.checkpoint();
    const err = await expectCode(ckpt.restore(), ErrorCodes.RESTORE_FAILED);
    expect(log).toEqual(['p', 'r2']);
    expect(err.errors).toHaveLength(1);
    expect(err.message).toContain('port in use');
  });

  it('a restore and a checkpoint queue: a restore called right after checkpoint() sees that image', async () => {
    const { ckpt, box } = roundTripper();
    box.state = 'first';
    const p = ckpt.checkpoint();
    const r = ckpt.restore();
    const [info, result] = await Promise.all([p, r]);
    expect(result?.image.id).toBe(info.id);
    expect(box.state).toBe('first');
  });
});
