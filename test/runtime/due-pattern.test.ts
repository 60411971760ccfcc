// The `if (ckpt.due) await ckpt.safepoint()` pattern, the deadline close()
// guarantee, and pauseMs semantics.
import { describe, expect, it } from 'vitest';
import type { CkptError} from '../../src/index.js';
import { Checkpointer, ErrorCodes, MemoryStore } from '../../src/index.js';
import { expectCode } from './helpers.js';

describe('due pattern', () => {
  it('time policies are armed at construction: due flips without any safepoint() call', async () => {
    const ckpt = new Checkpointer({ store: new MemoryStore(), every: { seconds: 0.03 }, signals: false });
    ckpt.register({ id: 'p', snapshot: () => 1, restore: () => {} });
    expect(ckpt.due).toBe(false);
    let taken = 0;
    // Bounded by turns, not by the clock: a busy machine only makes it take longer.
    for (let turns = 0; turns < 20_000 && taken < 2; turns++) {
      await new Promise((r) => setTimeout(r, 5)); // an app loop with its own awaits
      if (ckpt.due) {
        const r = await ckpt.safepoint();
        if (r.checkpointed) taken++;
      }
    }
    expect(taken).toBe(2);
    expect((await ckpt.list()).length).toBe(2);
    await ckpt.close();
  });

  it('handleSignals() installs the handlers up front and close() removes them', async () => {
    const before = process.listenerCount('SIGTERM');
    const ckpt = new Checkpointer({ store: new MemoryStore() });
    ckpt.handleSignals();
    ckpt.handleSignals();
    expect(process.listenerCount('SIGTERM')).toBe(before + 1);
    expect(process.listenerCount('SIGUSR2')).toBeGreaterThan(0);
    await ckpt.close();
    expect(process.listenerCount('SIGTERM')).toBe(before);
    const off = new Checkpointer({ store: new MemoryStore(), signals: false });
    off.handleSignals();
    expect(process.listenerCount('SIGTERM')).toBe(before);
    await off.close();
  });
});

describe('stop deadline and close()', () => {
  it('close() settles even when the abandoned stop checkpoint hangs in a hook', async () => {
    const ckpt = new Checkpointer({ store: new MemoryStore(), stopDeadlineMs: 100, signals: false });
    ckpt.register({ id: 's', snapshot: () => new Promise<never>(() => {}), restore: () => {} });
    let error: unknown;
    try {
      for await (const step of ckpt.loop({ restore: false, until: 1e9 })) if (step === 3) ckpt.requestStop('test');
    } catch (e) {
      error = e;
    }
    expect((error as CkptError).code).toBe(ErrorCodes.DEADLINE);
    // It settles at all (a hang fails the test by its timeout) and closes the Checkpointer.
    await expect(ckpt.close()).resolves.toBeUndefined();
    await expectCode(ckpt.checkpoint(), ErrorCodes.CLOSED);
  });
});

describe('pauseMs', () => {
  it('sync mode holds the app until the commit: pauseMs covers the write; async mode only the capture', async () => {
    for (const persist of ['sync', 'async'] as const) {
      const store = new MemoryStore();
      const slow = {
        ...store,
        description: store.description,
        list: () => store.list(),
        open: (id: string) => store.open(id),
        acquireWriter: () => store.acquireWriter(),
        delete: (l: Parameters<MemoryStore['delete']>[0], id: string) => store.delete(l, id),
        cleanup: (l: Parameters<MemoryStore['cleanup']>[0]) => store.cleanup(l),
        create: async (l: Parameters<MemoryStore['create']>[0]) => {
          const sink = await store.create(l);
          return { id: sink.id, write: async (c: Uint8Array) => { await new Promise((r) => setTimeout(r, 30)); await sink.write(c); }, commit: () => sink.commit(), abort: () => sink.abort() };
        },
      };
      const ckpt = new Checkpointer({ store: slow, persist });
      ckpt.register({ id: 'p', snapshot: () => ({ a: 1 }), restore: () => {} });
      const info = await ckpt.checkpoint();
      await ckpt.close();
      expect(info.totalMs).toBeGreaterThan(60);
      if (persist === 'sync') expect(info.pauseMs).toBeGreaterThan(60);
      else expect(info.pauseMs).toBeLessThan(info.totalMs - 60);
    }
  });
});
