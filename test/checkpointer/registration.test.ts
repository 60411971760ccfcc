import { describe, it, expect } from 'vitest';
import { Checkpointer, ErrorCodes, MemoryStore } from '../../src/index.js';
import type { Provider } from '../../src/index.js';
import { deferred, expectCode, expectThrowCode, tick } from './helpers.js';

function provider(id: string, extra: Record<string, unknown> = {}): Provider {
  return { id, snapshot: () => id, restore: () => undefined, ...extra };
}

function fresh(): Checkpointer {
  return new Checkpointer({ store: new MemoryStore() });
}

describe('register(): validation', () => {
  it('accepts valid ids and keeps registration order', () => {
    const ckpt = fresh();
    const ids = ['a', 'Z9', 'A.b_c-d:e/f', '0start', 'x'.repeat(128)];
    for (const id of ids) ckpt.register(provider(id));
    expect(ckpt.providerIds).toEqual(ids);
  });

  it('rejects invalid ids with INVALID_ARGUMENT', () => {
    const ckpt = fresh();
    for (const id of ['', '-x', '.x', '_x', 'a b', 'a\u00e9', 'x'.repeat(129), 'tab\t', 123, undefined, null]) {
      const err = expectThrowCode(() => ckpt.register(provider(id as string)), ErrorCodes.INVALID_ARGUMENT);
      expect(err.message).toContain('not a valid id');
    }
    expect(ckpt.providerIds).toEqual([]);
  });

  it('rejects non-objects, missing or non-function hooks', () => {
    const ckpt = fresh();
    expectThrowCode(() => ckpt.register(null as unknown as Provider), ErrorCodes.INVALID_ARGUMENT);
    expectThrowCode(() => ckpt.register('grid' as unknown as Provider), ErrorCodes.INVALID_ARGUMENT);
    expectThrowCode(() => ckpt.register({ id: 'p', restore: () => undefined } as unknown as Provider), ErrorCodes.INVALID_ARGUMENT);
    expectThrowCode(() => ckpt.register({ id: 'p', snapshot: () => 1 } as unknown as Provider), ErrorCodes.INVALID_ARGUMENT);
    for (const hook of ['prepare', 'resume', 'committed']) {
      const err = expectThrowCode(() => ckpt.register(provider('p', { [hook]: 'yes' })), ErrorCodes.INVALID_ARGUMENT);
      expect(err.message).toContain(hook);
    }
    expect(ckpt.providerIds).toEqual([]);
  });

  it('rejects versions that are not positive integers', () => {
    const ckpt = fresh();
    for (const version of [0, -1, 1.5, Number.NaN, Infinity, '2', 2 ** 31]) {
      const err = expectThrowCode(() => ckpt.register(provider('p', { version })), ErrorCodes.INVALID_ARGUMENT);
      expect(err.message).toContain('version');
    }
    ckpt.register(provider('p1', { version: 1 }));
    ckpt.register(provider('p2', { version: 0x7fffffff }));
    expect(ckpt.providerIds).toEqual(['p1', 'p2']);
  });

  it('rejects bad migration tables', () => {
    const ckpt = fresh();
    const f = (s: unknown) => s;
    const bad: [number, unknown][] = [
      [3, { 1: f }], // no step "to 1"
      [3, { 4: f }], // above the provider's version
      [3, { abc: f }],
      [3, { '2.5': f }],
      [3, { '-2': f }],
      [3, { 2: 'not a function' }],
      [3, [f, f, f]],
      [3, 'migrations'],
      [1, { 2: f }], // version defaults to 1: no step is possible
    ];
    for (const [version, migrations] of bad) {
      expectThrowCode(() => ckpt.register(provider('p', { version, migrations })), ErrorCodes.INVALID_ARGUMENT);
    }
    ckpt.register(provider('ok', { version: 3, migrations: { 2: f, 3: f } }));
    expect(ckpt.providerIds).toEqual(['ok']);
  });

  it('rejects bad tree flags and aliases', () => {
    const ckpt = fresh();
    expectThrowCode(() => ckpt.register(provider('p', { tree: 'yes' })), ErrorCodes.INVALID_ARGUMENT);
    expectThrowCode(() => ckpt.register(provider('p', { aliases: 'old' })), ErrorCodes.INVALID_ARGUMENT);
    expectThrowCode(() => ckpt.register(provider('p', { aliases: ['bad id'] })), ErrorCodes.INVALID_ARGUMENT);
    expectThrowCode(() => ckpt.register(provider('p', { aliases: ['p'] })), ErrorCodes.INVALID_ARGUMENT);
    expectThrowCode(() => ckpt.register(provider('p', { aliases: ['o', 'o'] })), ErrorCodes.INVALID_ARGUMENT);
    expect(ckpt.providerIds).toEqual([]);
  });
});

describe('register(): duplicates', () => {
  it('rejects a duplicate id and every id/alias clash with DUPLICATE_ID, leaving the registry unchanged', () => {
    const ckpt = fresh();
    ckpt.register(provider('grid', { aliases: ['old-grid'] }));
    const cases: Provider[] = [
      provider('grid'), // same id
      provider('old-grid'), // id equals another's alias
      provider('mesh', { aliases: ['grid'] }), // alias equals another's id
      provider('mesh', { aliases: ['old-grid'] }), // alias equals another's alias
    ];
    for (const p of cases) {
      const err = expectThrowCode(() => ckpt.register(p), ErrorCodes.DUPLICATE_ID);
      expect(err.message).toContain('"grid"');
    }
    expect(ckpt.providerIds).toEqual(['grid']);
    // After the failures the names are still free / taken exactly as before.
    ckpt.register(provider('mesh', { aliases: ['old-mesh'] }));
    expect(ckpt.providerIds).toEqual(['grid', 'mesh']);
  });

  it('resources: invalid ids, non-function hooks and duplicates are rejected; ids are separate from providers', () => {
    const ckpt = fresh();
    expectThrowCode(() => ckpt.registerResource({ id: 'bad id' }), ErrorCodes.INVALID_ARGUMENT);
    expectThrowCode(() => ckpt.registerResource(null as unknown as { id: string }), ErrorCodes.INVALID_ARGUMENT);
    expectThrowCode(() => ckpt.registerResource({ id: 'r', beforeCheckpoint: 1 } as unknown as { id: string }), ErrorCodes.INVALID_ARGUMENT);
    ckpt.registerResource({ id: 'r' });
    expectThrowCode(() => ckpt.registerResource({ id: 'r' }), ErrorCodes.DUPLICATE_ID);
    ckpt.register(provider('r'));
    expect(ckpt.providerIds).toEqual(['r']);
  });
});

describe('register(): BUSY while a checkpoint or restore runs', () => {
  it('registration, unregistration and class registration fail with BUSY during a checkpoint, and work again afterwards', async () => {
    const ckpt = fresh();
    const gate = deferred();
    const unregister = ckpt.register({ id: 'p', prepare: () => gate.promise, snapshot: () => 1, restore: () => undefined });
    const running = ckpt.checkpoint();
    await tick();
    class K {}
    expectThrowCode(() => ckpt.register(provider('q')), ErrorCodes.BUSY);
    expectThrowCode(() => ckpt.registerResource({ id: 'r' }), ErrorCodes.BUSY);
    expectThrowCode(() => ckpt.registerClass(K), ErrorCodes.BUSY);
    expectThrowCode(() => unregister(), ErrorCodes.BUSY);
    gate.resolve();
    await running;
    ckpt.register(provider('q'));
    ckpt.registerResource({ id: 'r' });
    ckpt.registerClass(K);
    unregister();
    expect(ckpt.providerIds).toEqual(['q']);
  });

  it('is BUSY from the moment checkpoint() is called, so a pending checkpoint never sees a half-changed registry', async () => {
    const ckpt = fresh();
    ckpt.register(provider('p'));
    const pending = ckpt.checkpoint();
    expectThrowCode(() => ckpt.register(provider('late')), ErrorCodes.BUSY);
    const info = await pending;
    expect(info.providers.map((p) => p.id)).toEqual(['p']);
    ckpt.register(provider('late'));
    expect(ckpt.providerIds).toEqual(['p', 'late']);
  });

  it('a provider hook that registers during the checkpoint gets BUSY (and the checkpoint reports it)', async () => {
    const ckpt = fresh();
    ckpt.register({
      id: 'p',
      snapshot: () => {
        ckpt.register(provider('from-inside'));
        return 1;
      },
      restore: () => undefined,
    });
    const err = await expectCode(ckpt.checkpoint(), ErrorCodes.SNAPSHOT_FAILED);
    expect(err.errors[0]).toMatchObject({ code: ErrorCodes.BUSY });
    expect(ckpt.providerIds).toEqual(['p']);
  });

  it('is BUSY during a restore too', async () => {
    const ckpt = fresh();
    const gate = deferred();
    ckpt.register({ id: 'p', snapshot: () => 1, restore: () => gate.promise });
    await ckpt.checkpoint();
    const restoring = ckpt.restore();
    await tick();
    expectThrowCode(() => ckpt.register(provider('q')), ErrorCodes.BUSY);
    gate.resolve();
    expect((await restoring)?.image.id).toBe('000000000001');
    // Once restore() has run, a new provider could never be restored: refused at once.
    expectThrowCode(() => ckpt.register(provider('q')), ErrorCodes.LATE_REGISTRATION);
  });

  it('a failed checkpoint releases BUSY', async () => {
    const ckpt = fresh();
    ckpt.register({ id: 'p', snapshot: () => { throw new Error('x'); }, restore: () => undefined });
    await expectCode(ckpt.checkpoint(), ErrorCodes.SNAPSHOT_FAILED);
    ckpt.register(provider('q'));
    expect(ckpt.providerIds).toEqual(['p', 'q']);
  });
});

describe('unregister', () => {
  it('removes the provider from later images and frees its id and aliases', async () => {
    const store = new MemoryStore();
    const ckpt = new Checkpointer({ store });
    ckpt.register(provider('keep'));
    const off = ckpt.register(provider('temp', { aliases: ['temp-old'] }));
    expect((await ckpt.checkpoint()).providers.map((p) => p.id)).toEqual(['keep', 'temp']);
    off();
    expect(ckpt.providerIds).toEqual(['keep']);
    expect((await ckpt.checkpoint()).providers.map((p) => p.id)).toEqual(['keep']);
    off(); // a second call is harmless
    ckpt.register(provider('temp-old'));
    expect(ckpt.providerIds).toEqual(['keep', 'temp-old']);
  });

  it('a stale unregister function does not remove a newer provider registered under the same id', () => {
    const ckpt = fresh();
    const offOld = ckpt.register(provider('p'));
    offOld();
    ckpt.register(provider('p', { version: 2 }));
    offOld();
    expect(ckpt.providerIds).toEqual(['p']);
  });
});

describe('registerClass', () => {
  class Vec {
    static constructed = 0;
    constructor(
      public x: number,
      public y: number,
    ) {
      Vec.constructed++;
    }
    length(): number {
      return Math.hypot(this.x, this.y);
    }
  }
  class Particle {
    constructor(
      public pos: Vec,
      public vel: Vec,
      public tags: Set<string>,
    ) {}
    step(): void {
      this.pos = new Vec(this.pos.x + this.vel.x, this.pos.y + this.vel.y);
    }
  }

  it('round-trips instances with their prototype and methods, shared instances stay shared, no constructor call', async () => {
    const ckpt = fresh();
    ckpt.registerClass(Vec);
    ckpt.registerClass(Particle, 'sim.Particle');
    const zero = new Vec(0, 0);
    let state: unknown = { particles: [new Particle(new Vec(3, 4), zero, new Set(['a'])), new Particle(new Vec(1, 1), zero, new Set())] };
    ckpt.register({ id: 'sim', snapshot: () => state, restore: (s) => { state = s; } });
    await ckpt.checkpoint();
    state = null;
    const before = Vec.constructed;
    await ckpt.restore();
    expect(Vec.constructed).toBe(before);
    const got = state as { particles: Particle[] };
    expect(got.particles).toHaveLength(2);
    const [p0, p1] = got.particles as [Particle, Particle];
    expect(p0).toBeInstanceOf(Particle);
    expect(p0.pos).toBeInstanceOf(Vec);
    expect(p0.pos.length()).toBe(5);
    expect(p0.tags).toEqual(new Set(['a']));
    expect(p0.vel).toBe(p1.vel);
    p1.vel.x = 2;
    p1.step();
    expect(p1.pos).toEqual(new Vec(3, 1));
  });

  it('an unregistered class instance is UNSERIALIZABLE at checkpoint time', async () => {
    const ckpt = fresh();
    ckpt.register({ id: 'sim', snapshot: () => ({ v: new Vec(1, 2) }), restore: () => undefined });
    const err = await expectCode(ckpt.checkpoint(), ErrorCodes.SNAPSHOT_FAILED);
    expect(err.errors[0]).toMatchObject({ code: ErrorCodes.UNSERIALIZABLE });
    expect(err.errors[0]!.message).toContain('v');
  });

  it('restoring an image whose class is not registered fails closed with UNKNOWN_CLASS', async () => {
    const store = new MemoryStore();
    const writer = new Checkpointer({ store });
    writer.registerClass(Vec, 'geom.Vec');
    writer.register({ id: 'sim', snapshot: () => new Vec(1, 2), restore: () => undefined });
    await writer.checkpoint();
    await writer.close();
    const reader = new Checkpointer({ store });
    let restored = false;
    reader.register({ id: 'sim', snapshot: () => null, restore: () => { restored = true; } });
    const err = await expectCode(reader.restore(), ErrorCodes.UNKNOWN_CLASS);
    expect(err.message).toContain('geom.Vec');
    expect(restored).toBe(false);
  });

  it('rejects duplicates and unsuitable classes', () => {
    const ckpt = fresh();
    ckpt.registerClass(Vec);
    expectThrowCode(() => ckpt.registerClass(Vec, 'other'), ErrorCodes.DUPLICATE_ID);
    expectThrowCode(() => ckpt.registerClass(Particle, 'Vec'), ErrorCodes.DUPLICATE_ID);
    expectThrowCode(() => ckpt.registerClass(Map), ErrorCodes.INVALID_ARGUMENT);
    expectThrowCode(() => ckpt.registerClass((() => 1) as unknown as typeof Vec), ErrorCodes.INVALID_ARGUMENT);
  });
});
