// The new user's mistakes, from the user's side: a second writer, a missing
// await, a stop that looks like the end, an unheard warning, a late
// registration, handles that will not come back after a restore.
import { createServer, type Server } from 'node:net';
import { afterEach, describe, expect, it, vi } from 'vitest';
import { Checkpointer, ErrorCodes, MemoryStore, WarningCodes } from '../../src/index.js';
import type { CkptWarning } from '../../src/index.js';
import { expectCode, expectThrowCode } from './helpers.js';

const counter = (ckpt: Checkpointer): { value: number; restores: number } => {
  const box = { value: 0, restores: 0 };
  ckpt.register<number>({
    id: 'n',
    snapshot: () => box.value,
    restore: (s) => {
      box.value = s;
      box.restores++;
    },
  });
  return box;
};

const warningsOf = (ckpt: Checkpointer): CkptWarning[] => {
  const out: CkptWarning[] = [];
  ckpt.on('warning', (w) => out.push(w));
  return out;
};

const open: Checkpointer[] = [];
const make = (options: ConstructorParameters<typeof Checkpointer>[0]): Checkpointer => {
  const c = new Checkpointer({ compression: { threads: 0 }, ...options });
  open.push(c);
  return c;
};
afterEach(async () => {
  vi.restoreAllMocks();
  for (const c of open.splice(0)) await c.close().catch(() => undefined);
});

describe('a second writer fails at restore()/loop(), before any work', () => {
  it('restore() on a store another Checkpointer writes to fails with LOCKED naming lockWaitMs and readOnly; nothing is restored', async () => {
    const store = new MemoryStore();
    const first = make({ store });
    const a = counter(first);
    a.value = 7;
    await first.checkpoint({ step: 1 });
    const second = make({ store });
    const b = counter(second);
    const err = await expectCode(second.restore(), ErrorCodes.LOCKED);
    expect(err.message).toContain('lockWaitMs');
    expect(err.message).toContain('readOnly: true');
    expect(err.message).not.toContain('acquireWriter');
    expect(b.restores).toBe(0);
  });

  it('loop() fails with LOCKED before its first iteration (with or without restore)', async () => {
    const store = new MemoryStore();
    const first = make({ store });
    counter(first);
    await first.checkpoint({ step: 1 });
    for (const restore of [true, false]) {
      const second = make({ store, signals: false });
      counter(second);
      let iterations = 0;
      const run = async (): Promise<void> => {
        for await (const _ of second.loop({ until: 10, restore })) iterations++;
      };
      await expectCode(run(), ErrorCodes.LOCKED);
      expect(iterations).toBe(0);
    }
  });

  it('the lock taken at restore() is the one the checkpoints use; close() releases it for the next writer', async () => {
    const store = new MemoryStore();
    const first = make({ store });
    counter(first);
    await first.restore();
    // Held from restore() on: a second writer is locked out before first ever checkpoints.
    const second = make({ store });
    counter(second);
    await expectCode(second.restore(), ErrorCodes.LOCKED);
    await first.checkpoint({ step: 1 });
    await first.close();
    expect((await second.restore())?.image.step).toBe(1);
  });

  it('readOnly: restores while another process writes, takes no lock, and refuses checkpoint(), loop() and safepoint() checkpoints', async () => {
    const store = new MemoryStore();
    const writer = make({ store });
    const w = counter(writer);
    w.value = 42;
    await writer.checkpoint({ step: 3 });
    const reader = make({ store, readOnly: true, signals: false });
    const r = counter(reader);
    expect((await reader.restore())?.image.step).toBe(3);
    expect(r.value).toBe(42);
    const err = await expectCode(reader.checkpoint(), ErrorCodes.READ_ONLY);
    expect(err.message).toContain('readOnly');
    await expectCode((async () => { for await (const _ of reader.loop({ until: 1 })) break; })(), ErrorCodes.READ_ONLY);
    reader.requestCheckpoint();
    await expectCode(reader.safepoint(), ErrorCodes.READ_ONLY);
    // The writer was never disturbed.
    expect((await writer.checkpoint({ step: 4 })).step).toBe(4);
  });

  it('readOnly must be a boolean', () => {
    expectThrowCode(() => new Checkpointer({ store: new MemoryStore(), readOnly: 'yes' as unknown as boolean }), ErrorCodes.INVALID_ARGUMENT);
  });
});

describe('a forgotten await is reported', () => {
  it('checkpoint() calls not awaited in a synchronous loop: one NOT_AWAITED warning', async () => {
    const ckpt = make({ store: new MemoryStore() });
    const box = counter(ckpt);
    const warnings = warningsOf(ckpt);
    const pending: Promise<unknown>[] = [];
    for (let step = 0; step < 30; step++) {
      box.value = step;
      // The mistake: no await. (Kept only so the test can wait for the images.)
      if (step % 10 === 0) pending.push(Reflect.apply(ckpt.checkpoint, ckpt, [{ step }]));
    }
    await new Promise((r) => setTimeout(r, 0));
    await Promise.allSettled(pending);
    const notAwaited = warnings.filter((w) => w.code === WarningCodes.NOT_AWAITED);
    expect(notAwaited).toHaveLength(1);
    expect(notAwaited[0]!.message).toContain('await');
  });

  it('awaited calls, chained calls and Promise.all are not reported', async () => {
    const ckpt = make({ store: new MemoryStore() });
    counter(ckpt);
    const warnings = warningsOf(ckpt);
    await ckpt.checkpoint({ step: 1 });
    await ckpt.checkpoint({ step: 2 }).then((i) => i.step);
    await Promise.all([ckpt.checkpoint({ step: 3 }), ckpt.checkpoint({ step: 4 })]);
    await ckpt.restore();
    const held = ckpt.checkpoint({ step: 5 });
    await held;
    expect(warnings.map((w) => w.code)).not.toContain(WarningCodes.NOT_AWAITED);
    expect((await ckpt.list()).map((i) => i.step)).toEqual([5, 4, 3, 2, 1]);
  });

  it('restore() not awaited is reported (its state would overwrite what ran meanwhile)', async () => {
    const store = new MemoryStore();
    const writer = make({ store });
    counter(writer).value = 1;
    await writer.checkpoint();
    await writer.close();
    const ckpt = make({ store });
    counter(ckpt);
    const warnings = warningsOf(ckpt);
    const p = Reflect.apply(ckpt.restore, ckpt, []) as Promise<unknown>;
    await new Promise((r) => setTimeout(r, 0));
    await p;
    expect(warnings.filter((w) => w.code === WarningCodes.NOT_AWAITED).map((w) => w.message.slice(0, 9))).toEqual(['restore()']);
  });
});

describe('a stop is visible after the loop', () => {
  it('requestStop(): stopped, stopReason, no suggested exit code; a finished loop is not stopped', async () => {
    const ckpt = make({ store: new MemoryStore(), signals: false });
    counter(ckpt);
    let steps = 0;
    for await (const step of ckpt.loop({ until: 5 })) steps = step + 1;
    expect(steps).toBe(5);
    expect([ckpt.stopped, ckpt.stopReason, ckpt.stopExitCode]).toEqual([false, undefined, undefined]);

    const other = make({ store: new MemoryStore(), signals: false });
    counter(other);
    for await (const step of other.loop({ until: 100 })) {
      if (step === 3) other.requestStop('maintenance');
    }
    expect(other.stopped).toBe(true);
    expect(other.stopReason).toBe('maintenance');
    expect(other.stopExitCode).toBeUndefined();
    expect((await other.list())[0]!.label).toBe('stop:maintenance');
  });

  it('signals.exitCode is the suggested exit code once stopped', async () => {
    const saved = process.exitCode;
    const ckpt = make({ store: new MemoryStore(), signals: { exitCode: 75 } });
    counter(ckpt);
    try {
      for await (const step of ckpt.loop({ until: 100 })) if (step === 2) ckpt.requestStop();
      expect(ckpt.stopped).toBe(true);
      expect(ckpt.stopExitCode).toBe(75);
    } finally {
      process.exitCode = saved;
    }
  });
});

describe('warnings nobody listens to go to process.emitWarning', () => {
  it('without a listener: process.emitWarning with the CKPT_WARN code; with one: only the event', async () => {
    const spy = vi.spyOn(process, 'emitWarning').mockImplementation(() => undefined);
    const ckpt = make({ store: new MemoryStore() });
    ckpt.register({ id: 'p', snapshot: () => 1, restore: () => undefined, committed: () => { throw new Error('hook broke'); } });
    await ckpt.checkpoint();
    const calls = spy.mock.calls.filter((c) => (c[1] as { code?: string } | undefined)?.code === WarningCodes.HOOK_FAILED);
    expect(calls).toHaveLength(1);
    expect(String(calls[0]![0])).toContain('hook broke');
    expect((calls[0]![1] as { type?: string }).type).toBe('CkptWarning');

    spy.mockClear();
    const heard = warningsOf(ckpt);
    await ckpt.checkpoint();
    expect(heard.map((w) => w.code)).toEqual([WarningCodes.HOOK_FAILED]);
    expect(spy).not.toHaveBeenCalled();
  });
});

describe('registering after restore() is refused at once', () => {
  it('a provider or class registered after restore() (even of an empty store) or after loop() started fails with LATE_REGISTRATION', async () => {
    const ckpt = make({ store: new MemoryStore(), signals: false });
    counter(ckpt);
    expect(await ckpt.restore()).toBeUndefined();
    const err = expectThrowCode(() => ckpt.register({ id: 'b', snapshot: () => 1, restore: () => undefined }), ErrorCodes.LATE_REGISTRATION);
    expect(err.message).toContain('register every provider and class before restore()/loop()');
    expect(err.provider).toBe('b');
    class Late {}
    expectThrowCode(() => ckpt.registerClass(Late), ErrorCodes.LATE_REGISTRATION);
    expect(ckpt.providerIds).toEqual(['n']);
    // Resources are not in images: still accepted.
    ckpt.registerResource({ id: 'r' });

    const looped = make({ store: new MemoryStore(), signals: false });
    counter(looped);
    for await (const step of looped.loop({ until: 2 })) {
      if (step === 0) expectThrowCode(() => looped.register({ id: 'c', snapshot: () => 1, restore: () => undefined }), ErrorCodes.LATE_REGISTRATION);
    }
  });

  it('before any restore, registration works as before', async () => {
    const ckpt = make({ store: new MemoryStore() });
    counter(ckpt);
    await ckpt.checkpoint();
    ckpt.register({ id: 'b', snapshot: () => 2, restore: () => undefined });
    expect(ckpt.providerIds).toEqual(['n', 'b']);
  });
});

describe('open handles no resource owns are reported at the checkpoint', () => {
  const servers: Server[] = [];
  const listen = async (): Promise<Server> => {
    const s = createServer();
    servers.push(s);
    await new Promise<void>((resolve) => s.listen(0, '127.0.0.1', resolve));
    return s;
  };
  afterEach(async () => {
    for (const s of servers.splice(0)) await new Promise((r) => s.close(r));
    // The handle itself is closed in the event loop's next close phase.
    await new Promise((r) => setImmediate(r));
    await new Promise((r) => setImmediate(r));
  });

  it("'warn' (default): one warning per set, naming kinds and counts; not repeated while the set is unchanged", async () => {
    const ckpt = make({ store: new MemoryStore() });
    counter(ckpt);
    const warnings = warningsOf(ckpt);
    await ckpt.checkpoint();
    expect(warnings).toEqual([]);
    await listen();
    await ckpt.checkpoint();
    await ckpt.checkpoint();
    await listen();
    await ckpt.checkpoint();
    const msgs = warnings.filter((w) => w.code === WarningCodes.UNREGISTERED_RESOURCES).map((w) => w.message);
    expect(msgs).toHaveLength(2);
    expect(msgs[0]).toMatch(/^1 TCPServerWrap is open and not registered as resources: they will not exist after a restore/);
    expect(msgs[0]).toContain('docs/resources.md');
    expect(msgs[1]).toMatch(/^2 TCPServerWrap are open/);
    expect(await ckpt.list()).toHaveLength(4);
  });

  it('a resource that owns the handle silences it; timers (ref\'d or not) and the loop\'s own turns are never reported', async () => {
    const ckpt = make({ store: new MemoryStore(), signals: false, every: { seconds: 3600 } });
    counter(ckpt);
    const warnings = warningsOf(ckpt);
    const server = await listen();
    ckpt.registerResource({ id: 'server', owns: () => (server.listening ? { TCPServerWrap: 1 } : {}) });
    const interval = setInterval(() => undefined, 60_000);
    try {
      for await (const step of ckpt.loop({ until: 3, every: { steps: 1 } })) void step;
    } finally {
      clearInterval(interval);
    }
    expect(warnings).toEqual([]);
    expect((await ckpt.list()).length).toBeGreaterThanOrEqual(3);
  });

  it("'error' refuses the checkpoint (no image); 'off' says nothing", async () => {
    await listen();
    const strict = make({ store: new MemoryStore(), unregisteredResources: 'error' });
    counter(strict);
    const err = await expectCode(strict.checkpoint(), ErrorCodes.UNREGISTERED_RESOURCES);
    expect(err.message).toContain('1 TCPServerWrap');
    expect(await strict.list()).toEqual([]);

    const quiet = make({ store: new MemoryStore(), unregisteredResources: 'off' });
    counter(quiet);
    const warnings = warningsOf(quiet);
    await quiet.checkpoint();
    expect(warnings).toEqual([]);
  });

  it('bad options and a non-function owns are refused', () => {
    expectThrowCode(() => new Checkpointer({ store: new MemoryStore(), unregisteredResources: 'loud' as 'warn' }), ErrorCodes.INVALID_ARGUMENT);
    const ckpt = make({ store: new MemoryStore() });
    expectThrowCode(() => ckpt.registerResource({ id: 'x', owns: { TCPSocketWrap: 1 } as unknown as () => Record<string, number> }), ErrorCodes.INVALID_ARGUMENT);
  });
});

describe('a store that cannot be locked for writing', () => {
  it('restore() fails with STORE_IO naming readOnly; readOnly restores from it', async () => {
    const source = new MemoryStore();
    const writer = make({ store: source });
    counter(writer).value = 5;
    await writer.checkpoint();
    await writer.close();
    const readOnlyMedia = {
      description: 'read-only media',
      list: () => source.list(),
      open: (id: string) => source.open(id),
      acquireWriter: () => Promise.reject(new Error('EROFS: read-only file system')),
      create: () => Promise.reject(new Error('EROFS')),
      delete: () => Promise.reject(new Error('EROFS')),
      cleanup: () => Promise.reject(new Error('EROFS')),
    };
    const ckpt = make({ store: readOnlyMedia });
    const box = counter(ckpt);
    const err = await expectCode(ckpt.restore(), ErrorCodes.STORE_IO);
    expect(err.message).toContain('readOnly: true');
    expect(box.restores).toBe(0);
    const reader = make({ store: readOnlyMedia, readOnly: true });
    const r = counter(reader);
    await reader.restore();
    expect(r.value).toBe(5);
  });
});
