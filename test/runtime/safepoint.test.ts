// safepoint() in application-written loops: `due` as a cheap flag, requests
// taken at the next safepoint, step policies applied by safepoint(step), stop
// requests, signal handlers from the first safepoint until close().
import { describe, expect, it } from 'vitest';
import { ErrorCodes, MemoryStore } from '../../src/index.js';
import { ControlledStore, counterApp, deferred, expectCode, imageSteps, signalListeners, tick } from './helpers.js';

describe('safepoint()', () => {
  it('does nothing when nothing is due; requestCheckpoint(label) sets due and is taken at the next safepoint', async () => {
    const app = counterApp({ store: new MemoryStore() });
    expect(app.ckpt.due).toBe(false);
    expect(await app.ckpt.safepoint()).toEqual({ checkpointed: false, stop: false });
    expect(await app.ckpt.safepoint(5)).toEqual({ checkpointed: false, stop: false });
    expect(await imageSteps(app.ckpt)).toEqual([]);

    app.ckpt.requestCheckpoint('before-deploy');
    expect(app.ckpt.due).toBe(true);
    expect(app.log).toEqual([]); // nothing happens until a safepoint
    expect(await app.ckpt.safepoint(6)).toEqual({ checkpointed: true, stop: false });
    expect(app.ckpt.due).toBe(false);
    app.ckpt.requestCheckpoint();
    expect(await app.ckpt.safepoint()).toEqual({ checkpointed: true, stop: false });
    expect(await imageSteps(app.ckpt)).toEqual(['6:before-deploy', 'null:null']);
    expect(await app.ckpt.safepoint(7)).toEqual({ checkpointed: false, stop: false });
    await app.ckpt.close();
  });

  it('the `if (ckpt.due) await ckpt.safepoint()` pattern checkpoints exactly the requested iterations', async () => {
    const app = counterApp({ store: new MemoryStore() });
    for (let step = 0; step < 20; step++) {
      app.state.value.n++;
      if (step === 4 || step === 13) app.ckpt.requestCheckpoint(`r${step}`);
      if (app.ckpt.due) await app.ckpt.safepoint(step + 1);
    }
    expect(await imageSteps(app.ckpt)).toEqual(['5:r4', '14:r13']);
    const [latest] = await app.ckpt.list();
    await app.ckpt.restore(latest!.id);
    expect(app.state.value.n).toBe(14);
    await app.ckpt.close();
  });

  for (const signals of [{}, false] as const) {
    it(`safepoint(step) applies step policies counted from the start (signals: ${JSON.stringify(signals)})`, async () => {
      const app = counterApp({ store: new MemoryStore(), every: { steps: 3 }, signals });
      for (let step = 0; step < 10; step++) {
        app.state.value.n++;
        const r = await app.ckpt.safepoint(step + 1);
        expect(r.checkpointed).toBe((step + 1) % 3 === 0);
      }
      expect(await imageSteps(app.ckpt)).toEqual(['3:null', '6:null', '9:null']);
      await app.ckpt.close();
    });
  }

  it('safepoint(step) after a restore counts step policies from the restored step', async () => {
    const store = new MemoryStore();
    const first = counterApp({ store, every: { steps: 4 } });
    for (let step = 0; step < 9; step++) await first.ckpt.safepoint(step + 1);
    expect(await imageSteps(first.ckpt)).toEqual(['4:null', '8:null']);
    await first.ckpt.close();

    const second = counterApp({ store: store.reopen(), every: { steps: 4 } });
    const r = await second.ckpt.restore();
    const from = r!.image.step!;
    for (let step = from; step < 17; step++) await second.ckpt.safepoint(step + 1);
    expect(await imageSteps(second.ckpt)).toEqual(['4:null', '8:null', '12:null', '16:null']);
    await second.ckpt.close();
  });

  it('a checkpoint at a safepoint without a step does not reset the step policy to step 0', async () => {
    const app = counterApp({ store: new MemoryStore(), every: { steps: 3 } });
    for (let step = 0; step < 10; step++) {
      await app.ckpt.safepoint(step + 1);
      if (step === 3) {
        app.ckpt.requestCheckpoint('manual');
        await app.ckpt.safepoint();
      }
    }
    expect(await imageSteps(app.ckpt)).toEqual(['3:null', 'null:manual', '6:null', '9:null']);
    await app.ckpt.close();
  });

  it('requestStop(): the next safepoint checkpoints (label stop:<reason>) and returns stop: true', async () => {
    const app = counterApp({ store: new MemoryStore() });
    let ended = -1;
    for (let step = 0; step < 100; step++) {
      app.state.value.n++;
      if (step === 7) app.ckpt.requestStop('maintenance');
      const r = await app.ckpt.safepoint(step + 1);
      if (r.stop) {
        expect(r.checkpointed).toBe(true);
        ended = step + 1;
        break;
      }
    }
    expect(ended).toBe(8);
    expect(app.ckpt.stopping).toBe(true);
    expect(await imageSteps(app.ckpt)).toEqual(['8:stop:maintenance']);
    await app.ckpt.close();
  });

  it('installs signal handlers at the first safepoint and close() removes them', async () => {
    const base = signalListeners();
    const app = counterApp({ store: new MemoryStore(), signals: {} });
    expect(signalListeners()).toEqual(base);
    await app.ckpt.safepoint(1);
    expect(signalListeners()).toEqual({ SIGTERM: base.SIGTERM + 1, SIGINT: base.SIGINT + 1, SIGUSR2: base.SIGUSR2 + 1 });
    await app.ckpt.safepoint(2);
    expect(signalListeners().SIGTERM).toBe(base.SIGTERM + 1); // installed once
    await app.ckpt.close();
    expect(signalListeners()).toEqual(base);
  });

  it('rejects a bad step and any call after close()', async () => {
    const app = counterApp({ store: new MemoryStore() });
    for (const bad of [Number.NaN, Infinity, '3' as unknown as number]) await expectCode(app.ckpt.safepoint(bad), ErrorCodes.INVALID_ARGUMENT);
    await app.ckpt.close();
    await expectCode(app.ckpt.safepoint(), ErrorCodes.CLOSED);
    expect(() => app.ckpt.requestCheckpoint()).toThrow(/closed/);
  });

  it('sync persist: safepoint returns once the image is committed; async: once it is captured', async () => {
    for (const persist of ['sync', 'async'] as const) {
      const store = new ControlledStore();
      const app = counterApp({ store, persist });
      const gate = deferred();
      store.hold = gate.promise;
      app.ckpt.requestCheckpoint('held');
      let returned = false;
      const sp = app.ckpt.safepoint(1).then((r) => {
        returned = true;
        return r;
      });
      await tick(30);
      expect(app.log).toEqual(['snapshot:1:held']);
      expect(store.log).toEqual(['write:000000000001']);
      // Sync: held with the write; async: already back in the app.
      expect(returned).toBe(persist === 'async');
      gate.resolve();
      expect(await sp).toEqual({ checkpointed: true, stop: false });
      await app.ckpt.close();
      expect(store.log).toEqual(['write:000000000001', 'commit:000000000001']);
    }
  });

  it("a failed checkpoint at a safepoint does not throw: it goes to 'error' listeners, or to the next checkpoint()/close() once", async () => {
    const store = new ControlledStore();
    const app = counterApp({ store });
    const errors: unknown[] = [];
    const onError = (e: unknown): void => void errors.push(e);
    app.ckpt.on('error', onError);
    store.failWrites = new Error('disk full');
    app.ckpt.requestCheckpoint();
    expect(await app.ckpt.safepoint(1)).toEqual({ checkpointed: true, stop: false });
    expect(errors).toHaveLength(1);
    expect(String(errors[0])).toMatch(/disk full/);
    app.ckpt.off('error', onError);

    app.ckpt.requestCheckpoint();
    const warnings: string[] = [];
    const onWarning = (w: Error): void => void warnings.push(w.message);
    process.on('warning', onWarning);
    try {
      expect(await app.ckpt.safepoint(2)).toEqual({ checkpointed: true, stop: false });
      await tick(10);
    } finally {
      process.off('warning', onWarning);
    }
    // No listener: printed as a process warning, and kept for the next checkpoint().
    expect(warnings.filter((m) => m.includes('disk full'))).toHaveLength(1);
    store.failWrites = undefined;
    const err = await expectCode(app.ckpt.checkpoint({ step: 3 }), ErrorCodes.STORE_IO);
    expect(err.message).toMatch(/disk full/);
    // Reported once: the next checkpoint works.
    expect((await app.ckpt.checkpoint({ step: 3 })).step).toBe(3);
    await app.ckpt.close(); // reported already: close() does not reject again
  });
});
