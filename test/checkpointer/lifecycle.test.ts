import { describe, it, expect } from 'vitest';
import { Checkpointer, ErrorCodes, MemoryStore, WarningCodes, isCkptError } from '../../src/index.js';
import type { CheckpointContext, CheckpointInfo, CkptWarning, Provider, Resource, ResumeContext } from '../../src/index.js';
import { TestStore, expectCode } from './helpers.js';

/** A provider that records every hook call into `log` and keeps its state in `box`. */
function recordingProvider(id: string, log: string[], box: { state: unknown }, overrides: Partial<Provider> = {}): Provider {
  return {
    id,
    prepare: (ctx: CheckpointContext) => {
      log.push(`prepare:${id}:${String(ctx.step)}:${String(ctx.label)}`);
    },
    snapshot: () => {
      log.push(`snapshot:${id}`);
      return box.state;
    },
    resume: (ctx: ResumeContext) => {
      log.push(`resume:${id}:${ctx.ok ? 'ok' : 'failed'}`);
    },
    committed: (info) => {
      log.push(`committed:${id}:${info.id}`);
    },
    restore: (s) => {
      log.push(`restore:${id}`);
      box.state = s;
    },
    ...overrides,
  };
}

function recordingResource(id: string, log: string[], overrides: Partial<Resource> = {}): Resource {
  return {
    id,
    beforeCheckpoint: () => {
      log.push(`before:${id}`);
    },
    afterCheckpoint: (ctx) => {
      log.push(`after:${id}:${ctx.ok ? 'ok' : 'failed'}`);
    },
    afterRestore: () => {
      log.push(`afterRestore:${id}`);
    },
    ...overrides,
  };
}

describe('checkpoint lifecycle order', () => {
  it('runs prepare → freeze (reverse) → snapshot → write → resume → commit → committed → retention, in that exact order', async () => {
    const store = new TestStore();
    const log = store.log;
    const ckpt = new Checkpointer({ store, retention: { keepLast: 1 } });
    const a = { state: { a: 1 } };
    const b = { state: { b: 2 } };
    ckpt.register(recordingProvider('A', log, a));
    ckpt.register(recordingProvider('B', log, b));
    ckpt.registerResource(recordingResource('R1', log));
    ckpt.registerResource(recordingResource('R2', log));
    ckpt.registerResource(recordingResource('R3', log));

    const first = await ckpt.checkpoint({ step: 7, label: 'x' });
    expect(first.id).toBe('000000000001');
    expect(log).toEqual([
      'prepare:A:7:x',
      'prepare:B:7:x',
      'before:R3',
      'before:R2',
      'before:R1',
      'snapshot:A',
      'snapshot:B',
      'write:000000000001',
      'after:R1:ok',
      'after:R2:ok',
      'after:R3:ok',
      'resume:A:ok',
      'resume:B:ok',
      'commit:000000000001',
      'committed:A:000000000001',
      'committed:B:000000000001',
    ]);

    log.length = 0;
    const second = await ckpt.checkpoint({ step: 8 });
    expect(second.id).toBe('000000000002');
    // Retention (keepLast 1) deletes the older image only after the new one is committed and announced to committed().
    expect(log.slice(-4)).toEqual(['commit:000000000002', 'committed:A:000000000002', 'committed:B:000000000002', 'delete:000000000001']);
    expect((await ckpt.list()).map((i) => i.id)).toEqual(['000000000002']);
  });

  it('passes step and label as null when not given, and awaits async hooks one after the other', async () => {
    const log: string[] = [];
    const ckpt = new Checkpointer({ store: new MemoryStore() });
    const slow = (what: string) => async (ctx: CheckpointContext) => {
      log.push(`${what}:start:${String(ctx.step)}:${String(ctx.label)}`);
      await new Promise((r) => setTimeout(r, 5));
      log.push(`${what}:end`);
    };
    ckpt.register({ id: 'p', prepare: slow('prepare'), snapshot: async () => { await slow('snapshot')({ step: null, label: null }); return 1; }, restore: () => undefined });
    ckpt.registerResource({ id: 'r', beforeCheckpoint: slow('freeze') });
    await ckpt.checkpoint();
    expect(log).toEqual([
      'prepare:start:null:null',
      'prepare:end',
      'freeze:start:null:null',
      'freeze:end',
      'snapshot:start:null:null',
      'snapshot:end',
    ]);
  });
});

describe('checkpoint failures', () => {
  interface Setup {
    store: TestStore;
    log: string[];
    ckpt: Checkpointer;
    a: { state: unknown };
    b: { state: unknown };
    good: CheckpointInfo;
    ctxs: ResumeContext[];
  }

  /** A Checkpointer with providers A, B and resources R1, R2 that already wrote one good image. */
  async function setup(): Promise<Setup> {
    const store = new TestStore();
    const log = store.log;
    const ckpt = new Checkpointer({ store });
    const a = { state: { v: 'a1' } as unknown };
    const b = { state: { v: 'b1' } as unknown };
    const ctxs: ResumeContext[] = [];
    ckpt.register(recordingProvider('A', log, a));
    ckpt.register(recordingProvider('B', log, b, { resume: (ctx: ResumeContext) => { ctxs.push(ctx); log.push(`resume:B:${ctx.ok ? 'ok' : 'failed'}`); } }));
    ckpt.registerResource(recordingResource('R1', log));
    ckpt.registerResource(recordingResource('R2', log));
    const good = await ckpt.checkpoint({ step: 1 });
    log.length = 0;
    ctxs.length = 0;
    return { store, log, ckpt, a, b, good, ctxs };
  }

  /** After a failed checkpoint: only the good image exists, it restores, and a new checkpoint works. */
  async function expectIntactAndUsable(s: Setup) {
    expect((await s.ckpt.list()).map((i) => i.id)).toEqual([s.good.id]);
    s.a.state = 'changed';
    s.b.state = 'changed';
    const r = await s.ckpt.restore();
    expect(r?.image.id).toBe(s.good.id);
    expect(s.a.state).toEqual({ v: 'a1' });
    expect(s.b.state).toEqual({ v: 'b1' });
    s.a.state = { v: 'a2' };
    const next = await s.ckpt.checkpoint({ step: 2 });
    expect(next.step).toBe(2);
    expect((await s.ckpt.list()).map((i) => i.id)).toEqual([next.id, s.good.id]);
  }

  it('prepare() failure: no freeze, no snapshot, no write; every provider resumed with ok=false; one aggregated error', async () => {
    const s = await setup();
    const boom = new Error('disk buffer stuck');
    let failPrepare = true;
    const ckpt = new Checkpointer({ store: s.store });
    const log = s.log;
    const ctxs: ResumeContext[] = [];
    ckpt.register(recordingProvider('A', log, s.a));
    ckpt.register(
      recordingProvider('B', log, s.b, {
        prepare: () => {
          log.push('prepare:B');
          if (failPrepare) throw boom;
        },
        resume: (ctx: ResumeContext) => {
          ctxs.push(ctx);
          log.push(`resume:B:${ctx.ok ? 'ok' : 'failed'}`);
        },
      }),
    );
    ckpt.register(recordingProvider('C', log, { state: 3 }));
    ckpt.registerResource(recordingResource('R1', log));
    await s.ckpt.close(); // release the lock of the setup's Checkpointer
    log.length = 0;
    const err = await expectCode(ckpt.checkpoint({ step: 9 }), ErrorCodes.SNAPSHOT_FAILED);
    expect(log).toEqual(['prepare:A:9:null', 'prepare:B', 'prepare:C:9:null', 'resume:A:failed', 'resume:B:failed', 'resume:C:failed']);
    expect(err.errors).toHaveLength(1);
    const inner = err.errors[0]!;
    expect(isCkptError(inner, ErrorCodes.SNAPSHOT_FAILED)).toBe(true);
    expect((inner as { provider?: string }).provider).toBe('B');
    expect(inner.cause).toBe(boom);
    expect(inner.message).toContain('prepare() failed: disk buffer stuck');
    expect(err.message).toContain('disk buffer stuck');
    expect(err.message).toContain('earlier images are untouched');
    expect(ctxs[0]!.ok).toBe(false);
    expect(ctxs[0]!.error).toBe(inner);
    expect((await ckpt.list()).map((i) => i.id)).toEqual([s.good.id]);

    failPrepare = false;
    s.a.state = { v: 'a2' };
    const again = await ckpt.checkpoint({ step: 10 });
    expect(again.step).toBe(10);
    expect((await ckpt.list()).map((i) => i.id)).toEqual([again.id, s.good.id]);
  });

  it('snapshot() failures in several providers: all are tried, all aggregated, resources thawed, nothing written', async () => {
    const s = await setup();
    const ckpt = s.ckpt;
    const log = s.log;
    const e1 = new Error('A broke');
    // Failing versions of A and B, in a fresh Checkpointer on the same store.
    await ckpt.close();
    const c2 = new Checkpointer({ store: s.store });
    const ctxs: ResumeContext[] = [];
    let fail = true;
    c2.register(recordingProvider('A', log, s.a, { snapshot: () => { log.push('snapshot:A'); if (fail) throw e1; return s.a.state; } }));
    c2.register(recordingProvider('B', log, s.b, { snapshot: () => { log.push('snapshot:B'); if (fail) return Promise.reject(new TypeError('B async broke')); return s.b.state; }, resume: (ctx: ResumeContext) => { ctxs.push(ctx); log.push(`resume:B:${ctx.ok ? 'ok' : 'failed'}`); } }));
    c2.registerResource(recordingResource('R1', log));
    c2.registerResource(recordingResource('R2', log));
    log.length = 0;
    const err = await expectCode(c2.checkpoint(), ErrorCodes.SNAPSHOT_FAILED);
    expect(log).toEqual([
      'prepare:A:null:null',
      'prepare:B:null:null',
      'before:R2',
      'before:R1',
      'snapshot:A',
      'snapshot:B',
      'after:R1:failed',
      'after:R2:failed',
      'resume:A:failed',
      'resume:B:failed',
    ]);
    expect(err.errors.map((e) => (e as { provider?: string }).provider)).toEqual(['A', 'B']);
    expect(err.errors[0]!.cause).toBe(e1);
    expect(err.errors[1]!.message).toContain('B async broke');
    expect(err.message).toContain('2 errors');
    expect(ctxs[0]!.error).toBe(err.errors[0]);
    fail = false;
    s.ckpt = c2;
    await expectIntactAndUsable(s);
  });

  it('an unserializable value keeps its code inside errors and names the path', async () => {
    const ckpt = new Checkpointer({ store: new MemoryStore() });
    const particles = [{ x: 0 }, { x: 1 }, { x: 2 }, { x: 3, onHit: () => 1 }];
    ckpt.register({ id: 'sim', snapshot: () => ({ particles }), restore: () => undefined });
    const err = await expectCode(ckpt.checkpoint(), ErrorCodes.SNAPSHOT_FAILED);
    expect(err.errors).toHaveLength(1);
    const inner = err.errors[0]!;
    expect(isCkptError(inner, ErrorCodes.UNSERIALIZABLE)).toBe(true);
    expect(inner.message).toContain('particles[3].onHit');
    expect(inner.message).toContain('function');
    expect((inner as { provider?: string }).provider).toBe('sim');
    expect(err.message).toContain(`[${ErrorCodes.UNSERIALIZABLE}]`);
    expect(await ckpt.list()).toEqual([]);
  });

  it('a resource whose beforeCheckpoint() throws: later resources are not frozen, frozen ones and the failing one are thawed', async () => {
    const store = new MemoryStore();
    const log: string[] = [];
    const ckpt = new Checkpointer({ store });
    let fail = true;
    ckpt.register(recordingProvider('A', log, { state: 1 }));
    ckpt.registerResource(recordingResource('R1', log));
    ckpt.registerResource(recordingResource('R2', log, { beforeCheckpoint: () => { log.push('before:R2'); if (fail) throw new Error('socket will not drain'); } }));
    ckpt.registerResource(recordingResource('R3', log));
    const err = await expectCode(ckpt.checkpoint(), ErrorCodes.SNAPSHOT_FAILED);
    expect(log).toEqual([
      'prepare:A:null:null',
      'before:R3',
      'before:R2',
      // R1 is never asked to freeze; R2 (which may be half-closed) and R3 are told the checkpoint failed.
      'after:R2:failed',
      'after:R3:failed',
      'resume:A:failed',
    ]);
    expect(err.errors).toHaveLength(1);
    expect(err.errors[0]!.message).toContain('resource "R2" beforeCheckpoint() failed: socket will not drain');
    expect(await ckpt.list()).toEqual([]);
    fail = false;
    log.length = 0;
    const ok = await ckpt.checkpoint();
    expect(ok.id).toBe('000000000001');
    expect(log.filter((l) => l.startsWith('before:'))).toEqual(['before:R3', 'before:R2', 'before:R1']);
  });

  it('resume() or afterCheckpoint() failure aborts the image, yet every other provider and resource is resumed', async () => {
    const s = await setup();
    await s.ckpt.close();
    const log = s.log;
    const c2 = new Checkpointer({ store: s.store });
    let fail = true;
    c2.register(recordingProvider('A', log, s.a, { resume: () => { log.push('resume:A'); if (fail) throw new Error('A cannot resume'); } }));
    c2.register(recordingProvider('B', log, s.b));
    c2.registerResource(recordingResource('R1', log, { afterCheckpoint: () => { log.push('after:R1'); if (fail) throw new Error('R1 cannot reconnect'); } }));
    c2.registerResource(recordingResource('R2', log));
    log.length = 0;
    const err = await expectCode(c2.checkpoint(), ErrorCodes.SNAPSHOT_FAILED);
    expect(log).toEqual([
      'prepare:A:null:null',
      'prepare:B:null:null',
      'before:R2',
      'before:R1',
      'snapshot:A',
      'snapshot:B',
      'write:000000000002',
      'after:R1',
      'after:R2:ok',
      'resume:A',
      'resume:B:ok',
      'abort:000000000002',
    ]);
    expect(err.errors.map((e) => e.message)).toEqual([
      expect.stringContaining('R1 cannot reconnect') as string,
      expect.stringContaining('A cannot resume') as string,
    ]);
    fail = false;
    s.ckpt = c2;
    await expectIntactAndUsable(s);
  });

  it('a store failure while writing: STORE_IO, providers resumed with that error, earlier image intact', async () => {
    const s = await setup();
    s.store.failWrites = new Error('ENOSPC: no space left on device');
    const err = await expectCode(s.ckpt.checkpoint({ step: 5 }), ErrorCodes.STORE_IO);
    expect(err.message).toContain('ENOSPC');
    expect(err.cause).toBe(s.store.failWrites);
    expect(s.ctxs).toHaveLength(1);
    expect(s.ctxs[0]!.ok).toBe(false);
    expect(s.ctxs[0]!.error).toBe(err);
    expect(s.log).toContain('after:R1:failed');
    expect(s.log).toContain('resume:A:failed');
    expect(s.log).not.toContain('committed:A:000000000002');
    s.store.failWrites = undefined;
    await expectIntactAndUsable(s);
  });

  it('a throwing committed() hook is a warning: the image stays committed and other hooks still run', async () => {
    const log: string[] = [];
    const ckpt = new Checkpointer({ store: new MemoryStore() });
    const warnings: CkptWarning[] = [];
    ckpt.on('warning', (w) => warnings.push(w));
    ckpt.register(recordingProvider('A', log, { state: 1 }, { committed: () => { throw new Error('upload hook failed'); } }));
    ckpt.register(recordingProvider('B', log, { state: 2 }));
    const info = await ckpt.checkpoint();
    expect(log).toContain(`committed:B:${info.id}`);
    expect(warnings).toHaveLength(1);
    expect(warnings[0]!.code).toBe(WarningCodes.HOOK_FAILED);
    expect(warnings[0]!.message).toContain('provider "A" committed() hook failed (the image is committed): upload hook failed');
    expect((await ckpt.list()).map((i) => i.id)).toEqual([info.id]);
  });

  it('a non-Error thrown value is wrapped and still aggregated', async () => {
    const ckpt = new Checkpointer({ store: new MemoryStore() });
    ckpt.register({
      id: 'p',
      snapshot: () => {
        // eslint-disable-next-line @typescript-eslint/only-throw-error
        throw 'plain string';
      },
      restore: () => undefined,
    });
    const err = await expectCode(ckpt.checkpoint(), ErrorCodes.SNAPSHOT_FAILED);
    expect(err.errors).toHaveLength(1);
    expect(err.errors[0]!.message).toContain('plain string');
  });
});

describe('checkpoint() argument checks', () => {
  it('rejects bad options with INVALID_ARGUMENT without running any hook', async () => {
    const log: string[] = [];
    const ckpt = new Checkpointer({ store: new MemoryStore() });
    ckpt.register(recordingProvider('A', log, { state: 1 }));
    await expectCode(ckpt.checkpoint({ step: Number.NaN }), ErrorCodes.INVALID_ARGUMENT);
    await expectCode(ckpt.checkpoint({ step: Infinity }), ErrorCodes.INVALID_ARGUMENT);
    await expectCode(ckpt.checkpoint({ step: '3' as unknown as number }), ErrorCodes.INVALID_ARGUMENT);
    await expectCode(ckpt.checkpoint({ label: 5 as unknown as string }), ErrorCodes.INVALID_ARGUMENT);
    await expectCode(ckpt.checkpoint({ label: 'x'.repeat(257) }), ErrorCodes.INVALID_ARGUMENT);
    await expectCode(ckpt.checkpoint(null as unknown as object), ErrorCodes.INVALID_ARGUMENT);
    expect(log).toEqual([]);
    const info = await ckpt.checkpoint({ step: 0, label: 'x'.repeat(256) });
    expect(info.step).toBe(0);
    expect(info.label).toBe('x'.repeat(256));
  });

  it('rejects bad constructor options with INVALID_ARGUMENT', () => {
    const bad: unknown[] = [
      undefined,
      null,
      {},
      { store: '' },
      { store: 42 },
      { store: { list: () => [] } },
      { store: new MemoryStore(), compression: { level: 0 } },
      { store: new MemoryStore(), compression: { level: 20 } },
      { store: new MemoryStore(), segmentSize: 1024 },
      { store: new MemoryStore(), segmentSize: 128 * 1024 * 1024 },
      { store: new MemoryStore(), blobThreshold: 0 },
      { store: new MemoryStore(), maxDepth: 0 },
      { store: new MemoryStore(), lockWaitMs: -1 },
      { store: new MemoryStore(), app: 5 },
      { store: new MemoryStore(), unknownProviders: 'drop' },
      { store: new MemoryStore(), missingProviders: 'skip' },
    ];
    for (const options of bad) {
      let err: unknown;
      try {
        new Checkpointer(options as ConstructorParameters<typeof Checkpointer>[0]);
      } catch (e) {
        err = e;
      }
      expect(isCkptError(err, ErrorCodes.INVALID_ARGUMENT), `options ${String(JSON.stringify(options))}`).toBe(true);
    }
    expect(new Checkpointer({ store: new MemoryStore(), compression: { level: 19 }, segmentSize: 64 * 1024, app: 'sim' }).providerIds).toEqual([]);
  });
});

describe('close()', () => {
  it('waits for a running checkpoint, then every call fails with CLOSED; close is idempotent', async () => {
    const ckpt = new Checkpointer({ store: new MemoryStore() });
    let release!: () => void;
    const held = new Promise<void>((r) => {
      release = r;
    });
    ckpt.register({ id: 'p', prepare: () => held, snapshot: () => 1, restore: () => undefined });
    const running = ckpt.checkpoint();
    let closed = false;
    const closing = ckpt.close().then(() => {
      closed = true;
    });
    await new Promise((r) => setTimeout(r, 10));
    expect(closed).toBe(false);
    release();
    const info = await running;
    await closing;
    expect(info.id).toBe('000000000001');
    await expectCode(ckpt.checkpoint(), ErrorCodes.CLOSED);
    await expectCode(ckpt.restore(), ErrorCodes.CLOSED);
    await expectCode(ckpt.list(), ErrorCodes.CLOSED);
    expect(() => ckpt.register({ id: 'q', snapshot: () => 1, restore: () => undefined })).toThrow(expect.objectContaining({ code: ErrorCodes.CLOSED }) as Error);
    expect(() => ckpt.registerResource({ id: 'r' })).toThrow(expect.objectContaining({ code: ErrorCodes.CLOSED }) as Error);
    await ckpt.close();
  });

  it('releases the writer lock so another Checkpointer on the same storage can write', async () => {
    const store = new MemoryStore();
    const a = new Checkpointer({ store });
    const b = new Checkpointer({ store: store.reopen() });
    a.register({ id: 'p', snapshot: () => 'a', restore: () => undefined });
    b.register({ id: 'p', snapshot: () => 'b', restore: () => undefined });
    await a.checkpoint();
    await expectCode(b.checkpoint(), ErrorCodes.LOCKED);
    await a.close();
    const info = await b.checkpoint();
    expect(info.id).toBe('000000000002');
  });

  it('lockWaitMs lets the second writer wait for the lock', async () => {
    const store = new MemoryStore();
    const a = new Checkpointer({ store });
    const b = new Checkpointer({ store: store.reopen(), lockWaitMs: 5_000 });
    a.register({ id: 'p', snapshot: () => 'a', restore: () => undefined });
    b.register({ id: 'p', snapshot: () => 'b', restore: () => undefined });
    await a.checkpoint();
    const waiting = b.checkpoint();
    setTimeout(() => void a.close(), 20);
    expect((await waiting).id).toBe('000000000002');
  });
});
