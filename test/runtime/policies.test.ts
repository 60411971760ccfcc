// Trigger policies compose: every N steps, every T seconds, on request, on a
// signal. A checkpoint is due as soon as any one says so, and all restart
// from that checkpoint.
import { describe, expect, it } from 'vitest';
import { ErrorCodes, MemoryStore, everySeconds, everySteps } from '../../src/index.js';
import type { CheckpointInfo, TriggerPolicy } from '../../src/index.js';
import { counterApp, expectCode, imageSteps, now, signalListeners, tick } from './helpers.js';

describe('trigger policies', () => {
  it('steps + request compose, and the step policy restarts from the requested checkpoint', async () => {
    const app = counterApp({ store: new MemoryStore() });
    for await (const step of app.ckpt.loop({ until: 12, every: { steps: 4 } })) {
      app.state.value.n++;
      if (step === 1) app.ckpt.requestCheckpoint('asked');
    }
    expect(await imageSteps(app.ckpt)).toEqual(['2:asked', '6:null', '10:null', '12:end']);
    await app.ckpt.close();
  });

  it('every.seconds checkpoints on wall time, at most once per period, and restarts after each checkpoint', async () => {
    const app = counterApp({ store: new MemoryStore() });
    const times: number[] = [];
    app.ckpt.on('checkpoint', () => times.push(now()));
    const t0 = now();
    for await (const _ of app.ckpt.loop({ until: 30, every: { seconds: 0.04 }, checkpointAtEnd: false })) await tick(5);
    const elapsed = now() - t0;
    // ~30 iterations of ≥5 ms: at least 150 ms, so at least 2 periods of 40 ms passed.
    expect(times.length).toBeGreaterThanOrEqual(2);
    expect(times.length).toBeLessThanOrEqual(Math.floor(elapsed / 40));
    for (let i = 1; i < times.length; i++) expect(times[i]! - times[i - 1]!).toBeGreaterThanOrEqual(38);
    expect(app.log.every((l) => l.endsWith(':null'))).toBe(true);
    await app.ckpt.close();
  });

  it('steps and seconds together: whichever comes first', async () => {
    // Fast iterations: the step policy fires, the time policy (1 h) never does.
    const fast = counterApp({ store: new MemoryStore() });
    for await (const _ of fast.ckpt.loop({ until: 9, every: { steps: 3, seconds: 3600 }, checkpointAtEnd: false })) fast.state.value.n++;
    expect(await imageSteps(fast.ckpt)).toEqual(['3:null', '6:null', '9:null']);
    await fast.ckpt.close();

    // Slow iterations (25 ms) with 1000 steps and 30 ms: only the time policy fires, at most once per 30 ms.
    const slow = counterApp({ store: new MemoryStore() });
    const times: number[] = [];
    slow.ckpt.on('checkpoint', () => times.push(now()));
    for await (const _ of slow.ckpt.loop({ until: 8, every: [everySteps(1000), everySeconds(0.03)], checkpointAtEnd: false })) await tick(25);
    const steps = (await slow.ckpt.list()).map((i) => i.step!).reverse();
    expect(steps.length).toBeGreaterThanOrEqual(2);
    expect(steps.length).toBe(times.length);
    for (let i = 1; i < times.length; i++) expect(times[i]! - times[i - 1]!).toBeGreaterThanOrEqual(28);
    await slow.ckpt.close();
  });

  it('accepts custom TriggerPolicy objects', async () => {
    const doubling: TriggerPolicy = { name: 'doubling', nextStep: (last) => (last === 0 ? 1 : last * 2), nextDelayMs: () => Infinity };
    const app = counterApp({ store: new MemoryStore() });
    for await (const _ of app.ckpt.loop({ until: 20, every: [doubling], checkpointAtEnd: false })) app.state.value.n++;
    expect((await app.ckpt.list()).map((i) => i.step).reverse()).toEqual([1, 2, 4, 8, 16]);
    await app.ckpt.close();
  });

  it("loop() uses the Checkpointer's `every` unless it passes its own", async () => {
    const app = counterApp({ store: new MemoryStore(), every: { steps: 5 } });
    for await (const _ of app.ckpt.loop({ until: 11, checkpointAtEnd: false })) app.state.value.n++;
    expect(await imageSteps(app.ckpt)).toEqual(['5:null', '10:null']);
    for await (const _ of app.ckpt.loop({ until: 14, every: { steps: 2 }, checkpointAtEnd: false })) app.state.value.n++;
    expect(await imageSteps(app.ckpt)).toEqual(['5:null', '10:null', '12:null', '14:null']);
    await app.ckpt.close();
  });

  it('no policy: only requests, signals and the end checkpoint', async () => {
    const app = counterApp({ store: new MemoryStore() });
    for await (const _ of app.ckpt.loop({ until: 50 })) app.state.value.n++;
    expect(await imageSteps(app.ckpt)).toEqual(['50:end']);
    await app.ckpt.close();
  });

  it('rejects invalid policies', async () => {
    const app = counterApp({ store: new MemoryStore() });
    for (const every of [{ steps: 0 }, { steps: 1.5 }, { seconds: -1 }, { seconds: Number.NaN }, { minutes: 1 }] as never[]) {
      await expectCode(app.ckpt.loop({ until: 1, every }).next(), ErrorCodes.INVALID_ARGUMENT);
    }
    expect(() => counterApp({ store: new MemoryStore(), every: { steps: -3 } })).toThrow(/every.steps/);
    await app.ckpt.close();
  });

  it('a checkpoint signal (SIGUSR2 by default, configurable) checkpoints with label signal:<name> and the loop goes on', async () => {
    const base = signalListeners();
    for (const [signals, sig] of [[{}, 'SIGUSR2'], [{ checkpoint: ['SIGWINCH'] }, 'SIGWINCH']] as const) {
      const app = counterApp({ store: new MemoryStore(), signals });
      const infos: CheckpointInfo[] = [];
      app.ckpt.on('checkpoint', (i) => infos.push(i));
      const steps: number[] = [];
      for await (const step of app.ckpt.loop({ until: 6, checkpointAtEnd: false })) {
        steps.push(step);
        if (step === 2) {
          process.kill(process.pid, sig);
          await tick(20); // the signal is delivered through the event loop
        }
      }
      expect(steps).toEqual([0, 1, 2, 3, 4, 5]);
      expect(infos.map((i) => `${i.step}:${i.label}`)).toEqual([`3:signal:${sig}`]);
      expect(app.ckpt.stopping).toBe(false);
      await app.ckpt.close();
    }
    expect(signalListeners()).toEqual(base);
  });
});
