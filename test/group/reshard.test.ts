/**
 * @module test/group/reshard
 *
 * Restoring a group image into another number of parts, at the level of the
 * part states (no threads): N parts capture sharded providers, the
 * coordinator's plan splits their pieces for M parts, each of the M parts
 * restores — and what the M parts hold, together and each, is exactly what
 * the N held, split the way shardRange / partOfKey say (property tests over
 * N, M, sizes, types, tree and identity mode). Also: the bytes each part is
 * sent against the bytes it needs, the split functions themselves (pinned,
 * they are part of the format), and every refusal.
 */
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { ClassRegistry } from '../../src/codec/class-registry.js';
import { StateEncoder } from '../../src/codec/encode.js';
import { ErrorCodes, type ImageInfo } from '../../src/index.js';
import { checkShardSpec, DEFAULT_KEY_GROUPS, keyGroupOf, keyGroupRange, partOfKey, shardRange, type ShardRestoreInfo, type ShardSpec } from '../../src/group/shard.js';
import { capturePart, restorePart } from '../../src/group/part-state.js';
import { checkPartState, type PartState, type SavedRangePiece } from '../../src/group/protocol.js';
import { placeRanges, reshardStates } from '../../src/group/reshard.js';
import { Registry } from '../../src/provider/registry.js';
import { assertCkptError } from '../helpers/errors.js';

const IMAGE = { id: '000000000007' } as ImageInfo;

interface Declared {
  readonly id: string;
  readonly shard?: ShardSpec;
  readonly tree?: boolean;
  readonly version?: number;
}

/** One part with providers `declared`: `values` are what snapshot() returns; restore() records value and context. */
function part(index: number, parts: number, declared: readonly Declared[], values: ReadonlyMap<string, unknown> = new Map()) {
  const registry = new Registry();
  const shards = new Map<string, ShardSpec>();
  const restored = new Map<string, { value: unknown; shard: ShardRestoreInfo | undefined }>();
  for (const d of declared) {
    registry.addProvider({
      id: d.id,
      ...(d.tree === undefined ? {} : { tree: d.tree }),
      ...(d.version === undefined ? {} : { version: d.version }),
      snapshot: () => values.get(d.id),
      restore: (value, ctx) => void restored.set(d.id, { value, shard: ctx.shard }),
    });
    if (d.shard !== undefined) shards.set(d.id, d.shard);
  }
  const env = { registry, classes: new ClassRegistry(), encoder: new StateEncoder(), index, parts, shards };
  return {
    capture: (step: number | null = 5): Promise<PartState> => capturePart(env, { step, label: null }, step),
    restore: (state: PartState) => restorePart(env, state, IMAGE),
    restored,
  };
}

async function captureAll(n: number, declared: readonly Declared[], valuesOf: (i: number) => Map<string, unknown>, step: (i: number) => number | null = () => 5): Promise<PartState[]> {
  const states: PartState[] = [];
  for (let i = 0; i < n; i++) states.push(await part(i, n, declared, valuesOf(i)).capture(step(i)));
  // As the image holds them: checked as read.
  return states.map((s, i) => checkPartState(s, i));
}

async function restoreAll(states: readonly PartState[], declared: readonly Declared[]) {
  const out = [];
  for (let j = 0; j < states.length; j++) {
    const p = part(j, states.length, declared);
    await p.restore(states[j]!);
    out.push(p.restored);
  }
  return out;
}

const bytesOf = (s: PartState): number => s.providers.reduce((n, p) => n + p.stream.byteLength + p.blobs.reduce((m, b) => m + b.byteLength, 0), 0);

describe('shardRange and partOfKey', () => {
  it('tile [0, total) in order, sizes differing by at most one', () => {
    fc.assert(
      fc.property(fc.nat(100_000), fc.integer({ min: 1, max: 300 }), (total, parts) => {
        let at = 0;
        const sizes: number[] = [];
        for (let j = 0; j < parts; j++) {
          const r = shardRange(total, j, parts);
          expect(r.start).toBe(at);
          sizes.push(r.end - r.start);
          at = r.end;
        }
        expect(at).toBe(total);
        expect(Math.max(...sizes) - Math.min(...sizes)).toBeLessThanOrEqual(1);
      }),
    );
  });

  it('give each key to the part whose key-group range holds its group', () => {
    fc.assert(
      fc.property(fc.oneof(fc.string(), fc.double({ noNaN: true, noDefaultInfinity: true })), fc.integer({ min: 1, max: 128 }), fc.integer({ min: 1, max: 4096 }), (key, parts, groups) => {
        fc.pre(parts <= groups);
        const g = keyGroupOf(key, groups);
        const owner = partOfKey(key, parts, groups);
        const r = keyGroupRange(groups, owner, parts);
        expect(g).toBeGreaterThanOrEqual(r.start);
        expect(g).toBeLessThan(r.end);
      }),
    );
  });

  it('hash keys the same way in every version (the values are part of the image format)', () => {
    // Pinned: a change here makes every keyed image restore its entries into the wrong parts.
    expect([keyGroupOf('a'), keyGroupOf('user:42'), keyGroupOf(''), keyGroupOf(0), keyGroupOf(-0), keyGroupOf(1.5), keyGroupOf('é', 32_768)]).toEqual(PINNED);
    expect(keyGroupOf(-0)).toBe(keyGroupOf(0));
    // A string and a number are different keys, hashed apart.
    expect(keyGroupOf('1', 32_768)).not.toBe(keyGroupOf(1, 32_768));
  });

  it('spread keys evenly over the key groups', () => {
    const counts = new Array<number>(DEFAULT_KEY_GROUPS).fill(0);
    for (let i = 0; i < 128_000; i++) counts[keyGroupOf(`key-${String(i)}`)]!++;
    // 1000 expected per group; 5 sigma ≈ 160.
    expect(Math.min(...counts)).toBeGreaterThan(840);
    expect(Math.max(...counts)).toBeLessThan(1160);
  });

  it('refuse bad arguments with CKPT_ERR_INVALID_ARGUMENT', () => {
    for (const f of [
      () => shardRange(-1, 0, 1),
      () => shardRange(10, 2, 2),
      () => shardRange(10, 0, 0),
      () => shardRange(1.5, 0, 1),
      () => keyGroupOf(Number.NaN),
      () => keyGroupOf({} as unknown as string),
      () => keyGroupOf('a', 0),
      () => keyGroupOf('a', 40_000),
      () => partOfKey('a', 200, 128),
    ]) {
      let err: unknown;
      try {
        f();
      } catch (e) {
        err = e;
      }
      assertCkptError(err, ErrorCodes.INVALID_ARGUMENT);
    }
  });
});

const TYPED = ['Float64Array', 'Int32Array', 'Uint8Array', 'BigInt64Array'] as const;
function typed(type: (typeof TYPED)[number], values: readonly number[]): Float64Array | Int32Array | Uint8Array | BigInt64Array {
  if (type === 'BigInt64Array') return BigInt64Array.from(values.map((v) => BigInt(Math.trunc(v))));
  return type === 'Float64Array' ? Float64Array.from(values) : type === 'Int32Array' ? Int32Array.from(values) : Uint8Array.from(values);
}

describe('a range shard restored into another number of parts', () => {
  it('gives every part exactly its elements of the whole, for typed arrays and Arrays, tree and identity mode', async () => {
    await fc.assert(
      fc.asyncProperty(
        fc.integer({ min: 1, max: 6 }),
        fc.integer({ min: 1, max: 9 }),
        fc.constantFrom(...TYPED, 'Array', 'ArrayTree'),
        fc.array(fc.nat(40_000), { minLength: 6, maxLength: 6 }),
        fc.integer(),
        async (n, m, kind, lengths, seed) => {
          fc.pre(n !== m);
          const declared: Declared[] = [{ id: 'cells', shard: { kind: 'range' }, tree: kind === 'ArrayTree' }];
          const parts = lengths.slice(0, n).map((len, i) => Array.from({ length: len }, (_, k) => ((seed ^ (i * 7919 + k * 31)) & 0xff)));
          const valueOf = (vals: number[]): unknown => (kind === 'Array' || kind === 'ArrayTree' ? vals.map((v) => ({ v })) : typed(kind, vals));
          const states = await captureAll(n, declared, (i) => new Map([['cells', valueOf(parts[i]!)]]));
          const planned = reshardStates(states, m, IMAGE.id);
          expect(planned).toHaveLength(m);
          const restored = await restoreAll(planned, declared);
          const whole = parts.flat();
          for (let j = 0; j < m; j++) {
            const got = restored[j]!.get('cells')!;
            const r = shardRange(whole.length, j, m);
            expect(got.shard).toEqual({ kind: 'range', start: r.start, end: r.end, total: whole.length });
            const expected = valueOf(whole.slice(r.start, r.end));
            expect(got.value).toEqual(expected);
            if (kind !== 'Array' && kind !== 'ArrayTree') expect((got.value as object).constructor).toBe((expected as object).constructor);
          }
        },
      ),
      { numRuns: 60 },
    );
  });

  it('sends each part at most 1.1× the bytes it needs from a large typed array (4 → 2, 4 → 8, 4 → 3)', async () => {
    const declared: Declared[] = [{ id: 'cells', shard: { kind: 'range' } }];
    const per = 1 << 20; // 8 MiB of float64 per part
    const states = await captureAll(4, declared, (i) => new Map([['cells', new Float64Array(per).fill(i + 0.5)]]));
    const all = states.reduce((n, s) => n + bytesOf(s), 0);
    for (const m of [2, 8, 3]) {
      const planned = reshardStates(states, m, IMAGE.id);
      for (const s of planned) expect(bytesOf(s)).toBeLessThanOrEqual(1.1 * (all / m));
      const restored = await restoreAll(planned, declared);
      const sums = restored.map((r) => (r.get('cells')!.value as Float64Array).reduce((a, b) => a + b, 0));
      expect(sums.reduce((a, b) => a + b, 0)).toBe(per * (0.5 + 1.5 + 2.5 + 3.5));
    }
  });

  it('keeps shared references inside an Array saved with identity (one piece), and a part restored into the same count gets its own array back', async () => {
    const shared = { name: 'shared' };
    const declared: Declared[] = [{ id: 'rows', shard: { kind: 'range' } }];
    const states = await captureAll(2, declared, (i) => new Map([['rows', [shared, shared, { i }]]]));
    expect(states[0]!.providers).toHaveLength(1);
    // As run() sends them for the same count: each part's place in the whole added.
    const same = await restoreAll(placeRanges(states), declared);
    const rows = same[0]!.get('rows')!.value as unknown[];
    expect(rows[0]).toBe(rows[1]);
    expect(same[0]!.get('rows')!.shard).toEqual({ kind: 'range', start: 0, end: 3, total: 6 });
    expect(same[1]!.get('rows')!.shard).toEqual({ kind: 'range', start: 3, end: 6, total: 6 });
    const merged = await restoreAll(reshardStates(states, 1, IMAGE.id), declared);
    const all = merged[0]!.get('rows')!.value as unknown[];
    expect(all).toHaveLength(6);
    expect(all[0]).toBe(all[1]);
  });

  it('cuts a large typed array into pieces and an identity Array not at all', async () => {
    const states = await captureAll(1, [{ id: 'a', shard: { kind: 'range' } }, { id: 'b', shard: { kind: 'range' } }, { id: 'c', shard: { kind: 'range' }, tree: true }], () =>
      new Map<string, unknown>([
        ['a', new Float64Array(1 << 20)],
        ['b', Array.from({ length: 100_000 }, (_, i) => i)],
        ['c', Array.from({ length: 100_000 }, (_, i) => i)],
      ]),
    );
    const count = (id: string): number => states[0]!.providers.filter((p) => p.id === id).length;
    expect(count('a')).toBe(64);
    expect(count('b')).toBe(1);
    expect(count('c')).toBe(64);
  });
});

describe('a keyed shard restored into another number of parts', () => {
  it('gives every part exactly the entries partOfKey gives it, for Maps and objects, tree and identity mode', async () => {
    await fc.assert(
      fc.asyncProperty(
        fc.integer({ min: 1, max: 5 }),
        fc.integer({ min: 1, max: 9 }),
        fc.constantFrom('map', 'object'),
        fc.boolean(),
        fc.uniqueArray(fc.oneof(fc.string({ maxLength: 6 }), fc.integer()), { maxLength: 300 }),
        fc.integer({ min: 9, max: 200 }),
        async (n, m, container, tree, keys, keyGroups) => {
          fc.pre(n !== m);
          const declared: Declared[] = [{ id: 'accounts', shard: { kind: 'keyed', keyGroups }, tree }];
          // Object keys are strings: number keys only in Maps.
          const usable = container === 'object' ? [...new Set(keys.map(String))] : keys;
          const owned = (i: number): (string | number)[] => usable.filter((k) => partOfKey(k, n, keyGroups) === i);
          const make = (ks: readonly (string | number)[]): unknown => {
            if (container === 'map') return new Map(ks.map((k) => [k, { balance: String(k).length }]));
            const o: Record<string, unknown> = {};
            for (const k of ks) Object.defineProperty(o, String(k), { value: { balance: String(k).length }, enumerable: true, writable: true, configurable: true });
            return o;
          };
          const states = await captureAll(n, declared, (i) => new Map([['accounts', make(owned(i))]]));
          const restored = await restoreAll(reshardStates(states, m, IMAGE.id), declared);
          for (let j = 0; j < m; j++) {
            const got = restored[j]!.get('accounts')!;
            const want = usable.filter((k) => partOfKey(k, m, keyGroups) === j);
            const keysGot = container === 'map' ? [...(got.value as Map<unknown, unknown>).keys()] : Object.keys(got.value as object);
            expect(new Set(keysGot)).toEqual(new Set(container === 'map' ? want : want.map(String)));
            expect(got.value instanceof Map).toBe(container === 'map');
            const r = keyGroupRange(keyGroups, j, m);
            expect(got.shard).toEqual({ kind: 'keyed', start: r.start, end: r.end, total: keyGroups });
          }
        },
      ),
      { numRuns: 60 },
    );
  });

  it('keeps a key named __proto__ as an entry', async () => {
    const declared: Declared[] = [{ id: 'kv', shard: { kind: 'keyed' }, tree: true }];
    const value = JSON.parse('{"__proto__": 1, "b": 2, "c": 3}') as Record<string, number>;
    const states = await captureAll(1, declared, () => new Map([['kv', value]]));
    const restored = await restoreAll(reshardStates(states, 2, IMAGE.id), declared);
    const merged = Object.assign({}, ...restored.map((r) => r.get('kv')!.value as object)) as object;
    expect(Object.getPrototypeOf(merged)).toBe(Object.prototype);
    const all = restored.flatMap((r) => Object.entries(r.get('kv')!.value as object));
    expect(all.sort()).toEqual([['__proto__', 1], ['b', 2], ['c', 3]]);
  });

  it('refuses a key held by two parts (nothing silently dropped)', async () => {
    const declared: Declared[] = [{ id: 'kv', shard: { kind: 'keyed' } }];
    const states = await captureAll(2, declared, () => new Map([['kv', new Map([['same', 1]])]]));
    const planned = reshardStates(states, 1, IMAGE.id);
    await expect(restoreAll(planned, declared)).rejects.toMatchObject({ code: ErrorCodes.GROUP_MISMATCH });
  });
});

describe('what cannot be resharded fails closed', () => {
  const code = (f: () => unknown): unknown => {
    try {
      f();
    } catch (err) {
      return err;
    }
    return undefined;
  };

  it('a provider without shard, parts at different steps, different providers or versions, too few key groups', async () => {
    const plain = await captureAll(2, [{ id: 'cells', shard: { kind: 'range' } }, { id: 'config' }], () => new Map<string, unknown>([['cells', new Float64Array(4)], ['config', { a: 1 }]]));
    const e1 = code(() => reshardStates(plain, 3, IMAGE.id));
    assertCkptError(e1, ErrorCodes.GROUP_MISMATCH);
    expect((e1 as Error).message).toContain('"config" is not sharded');

    const steps = await captureAll(2, [{ id: 'cells', shard: { kind: 'range' } }], () => new Map([['cells', new Float64Array(4)]]), (i) => 10 + i);
    const e2 = code(() => reshardStates(steps, 3, IMAGE.id));
    assertCkptError(e2, ErrorCodes.GROUP_MISMATCH);
    expect((e2 as Error).message).toContain('different steps (10, 11)');

    const a = await part(0, 2, [{ id: 'cells', shard: { kind: 'range' } }], new Map([['cells', new Float64Array(4)]])).capture();
    const b = await part(1, 2, [{ id: 'cells', shard: { kind: 'range' }, version: 2 }], new Map([['cells', new Float64Array(4)]])).capture();
    assertCkptError(code(() => reshardStates([a, b], 1, IMAGE.id)), ErrorCodes.GROUP_MISMATCH);
    const c = await part(1, 2, [{ id: 'other', shard: { kind: 'range' } }], new Map([['other', new Float64Array(4)]])).capture();
    assertCkptError(code(() => reshardStates([a, c], 1, IMAGE.id)), ErrorCodes.GROUP_MISMATCH);
    const d = await part(1, 2, [{ id: 'cells', shard: { kind: 'range' } }], new Map([['cells', new Int32Array(4)]])).capture();
    assertCkptError(code(() => reshardStates([a, d], 1, IMAGE.id)), ErrorCodes.GROUP_MISMATCH);

    const keyed = await captureAll(1, [{ id: 'kv', shard: { kind: 'keyed', keyGroups: 4 } }], () => new Map([['kv', new Map([['a', 1]])]]));
    const e3 = code(() => reshardStates(keyed, 5, IMAGE.id));
    assertCkptError(e3, ErrorCodes.GROUP_MISMATCH);
    expect((e3 as Error).message).toContain('4 key groups, fewer than 5 parts');
  });

  it('pieces that do not tile a part’s array are CKPT_ERR_CORRUPT', async () => {
    const states = await captureAll(2, [{ id: 'cells', shard: { kind: 'range' } }], () => new Map([['cells', new Float64Array(1 << 18)]]));
    const holed: PartState = { ...states[0]!, providers: states[0]!.providers.filter((_, k) => k !== 1) };
    assertCkptError(code(() => reshardStates([holed, states[1]!], 3, IMAGE.id)), ErrorCodes.CORRUPT);
    // The same hole in a same-count restore: the part finds it.
    await expect(part(0, 2, [{ id: 'cells', shard: { kind: 'range' } }]).restore(holed)).rejects.toMatchObject({ code: ErrorCodes.CORRUPT });
  });

  it('a snapshot that is not what its shard says fails the capture with CKPT_ERR_SNAPSHOT_FAILED', async () => {
    const cases: [ShardSpec, unknown, string][] = [
      [{ kind: 'range' }, { not: 'an array' }, 'must return an Array or a typed array'],
      [{ kind: 'range' }, new DataView(new ArrayBuffer(8)), 'must return an Array or a typed array'],
      [{ kind: 'range', length: () => 3 }, new Float64Array(4), 'shard.length() says 3'],
      [{ kind: 'keyed' }, [1, 2], 'must return a Map or a plain object'],
      [{ kind: 'keyed' }, new Map([[{}, 1]]), 'keys must be strings or finite numbers'],
      [{ kind: 'keyed' }, new Map([[Number.NaN, 1]]), 'keys must be strings or finite numbers'],
    ];
    for (const [shard, value, message] of cases) {
      const p = part(0, 1, [{ id: 's', shard }], new Map([['s', value]]));
      const err = await p.capture().then(
        () => undefined,
        (e: unknown) => e,
      );
      assertCkptError(err, ErrorCodes.SNAPSHOT_FAILED);
      expect((err as Error).message).toContain(message);
    }
  });

  it('a bad shard declaration is refused at registration', () => {
    for (const bad of [null, 'range', { kind: 'rows' }, { kind: 'range', length: 3 }, { kind: 'keyed', keyGroups: 0 }, { kind: 'keyed', keyGroups: 1.5 }, { kind: 'range', keyGroups: 8 }, { kind: 'keyed', length: () => 1 }]) {
      assertCkptError(code(() => checkShardSpec(bad, 'p')), ErrorCodes.INVALID_ARGUMENT);
    }
  });
});

/** Computed by the formula in docs/groups.md, independently of this code. */
const PINNED: readonly number[] = [80, 106, 26, 4, 4, 53, 5769];

describe('the pieces the plan sends', () => {
  it('are never shared between two parts (each part’s buffers may be transferred to it)', async () => {
    const states = await captureAll(2, [{ id: 'cells', shard: { kind: 'range' } }, { id: 'kv', shard: { kind: 'keyed' } }], () =>
      new Map<string, unknown>([
        ['cells', new Float64Array(1000)],
        ['kv', new Map([['a', 1]])],
      ]),
    );
    const planned = reshardStates(states, 5, IMAGE.id);
    const arrays = planned.flatMap((s) => s.providers.flatMap((p) => [p.stream, ...p.blobs])).filter((a) => a.byteLength > 0);
    expect(new Set(arrays).size).toBe(arrays.length);
    // Every part got the one keyed piece (a copy) and a piece of the cells.
    for (const s of planned) expect([...new Set(s.providers.map((p) => p.id))]).toEqual(['cells', 'kv']);
  });
});

describe('review findings, each a test', () => {
  it('a tree Array with secret paths is one piece: the secret (an index path) is never saved, the other rows are intact', async () => {
    const rows = Array.from({ length: 3000 }, (_, i) => ({ i, token: `tok${String(i)}` }));
    const registry = new Registry();
    registry.addProvider({ id: 'rows', tree: true, secret: ['1500.token'], snapshot: () => rows, restore: () => undefined });
    const env = { registry, classes: new ClassRegistry(), encoder: new StateEncoder(), index: 0, parts: 1, shards: new Map<string, ShardSpec>([['rows', { kind: 'range' }]]) };
    const state = await capturePart(env, { step: 1, label: null }, 1);
    expect(state.providers).toHaveLength(1);
    const bytes = Buffer.concat(state.providers.flatMap((p) => [p.stream, ...p.blobs]));
    expect(bytes.includes(Buffer.from('tok1500'))).toBe(false);
    expect(bytes.includes(Buffer.from('tok1499'))).toBe(true);
    const back = await restoreAll(reshardStates([checkPartState(state, 0)], 2, IMAGE.id), [{ id: 'rows', shard: { kind: 'range' }, tree: true }]);
    const all = back.flatMap((r) => r.get('rows')!.value as { i: number; token?: string }[]);
    expect(all).toHaveLength(3000);
    expect(all.filter((r) => r.token === undefined).map((r) => r.i)).toEqual([1500]);
  });

  it('a forged range total is CKPT_ERR_CORRUPT before anything is allocated', async () => {
    const states = await captureAll(1, [{ id: 'cells', shard: { kind: 'range' } }], () => new Map([['cells', new Float64Array(8)]]));
    const forged: PartState = { ...states[0]!, providers: states[0]!.providers.map((p) => ({ ...p, shard: { ...(p.shard as SavedRangePiece), total: 2 ** 40 } })) };
    await expect(part(0, 1, [{ id: 'cells', shard: { kind: 'range' } }]).restore(forged)).rejects.toMatchObject({ code: ErrorCodes.CORRUPT });
  });

  it('a piece without a stream outside a resharded restore, and a keyed piece holding a key of an undeclared group, are CKPT_ERR_CORRUPT', async () => {
    const declared: Declared[] = [{ id: 'kv', shard: { kind: 'keyed' } }];
    const states = await captureAll(1, declared, () => new Map([['kv', new Map([['a', 1], ['b', 2]])]]));
    const empty: PartState = { ...states[0]!, providers: states[0]!.providers.map((p) => ({ ...p, stream: new Uint8Array(0) })) };
    await expect(part(0, 1, declared).restore(empty)).rejects.toMatchObject({ code: ErrorCodes.CORRUPT });
    const lying: PartState = { ...states[0]!, providers: states[0]!.providers.map((p) => ({ ...p, shard: { kind: 'keyed', container: 'map', keyGroups: 128, groups: [keyGroupOf('a')] } })) };
    const planned = reshardStates([lying], 1, IMAGE.id).map((s) => ({ ...s, resharded: { from: 2 } }));
    await expect(restoreAll(planned, declared)).rejects.toMatchObject({ code: ErrorCodes.CORRUPT });
  });

  it('channel state of the wrong length in an image of n parts is CKPT_ERR_CORRUPT (its inbox would be dropped)', () => {
    const state = { step: 1, providers: [], channels: { sent: [0, 0], received: [0, 0], inbox: [] } };
    expect(checkPartState(state, 0, 2)).toBe(state);
    let err: unknown;
    try {
      checkPartState(state, 0, 3);
    } catch (e) {
      err = e;
    }
    assertCkptError(err, ErrorCodes.CORRUPT);
  });

  it('a provider registered with another shard declaration than the image saved fails with CKPT_ERR_GROUP_MISMATCH', async () => {
    const states = await captureAll(1, [{ id: 's', shard: { kind: 'keyed', keyGroups: 64 } }], () => new Map([['s', new Map([['a', 1]])]]));
    for (const shard of [{ kind: 'range' }, { kind: 'keyed' }, { kind: 'keyed', keyGroups: 32 }] as ShardSpec[]) {
      await expect(part(0, 1, [{ id: 's', shard }]).restore(states[0]!)).rejects.toMatchObject({ code: ErrorCodes.GROUP_MISMATCH });
    }
    await part(0, 1, [{ id: 's', shard: { kind: 'keyed', keyGroups: 64 } }]).restore(states[0]!);
  });
});
