// ckpt.loop(): restore before the first iteration, step numbering continued
// from the image (image step = completed iterations), checkpoints only at
// iteration boundaries, a final checkpoint at `until`, and the loop's own
// bookkeeping (one loop at a time, handlers removed when it ends).
import { describe, expect, it } from 'vitest';
import type { Checkpointer} from '../../src/index.js';
import { ErrorCodes, MemoryStore } from '../../src/index.js';
import { counterApp, expectCode, imageSteps, signalListeners, tick } from './helpers.js';

/** Run `ckpt.loop(options)` over a counter app, bumping `n` each iteration; returns the yielded steps. */
async function runCounter(app: ReturnType<typeof counterApp>, options: Parameters<Checkpointer['loop']>[0], body?: (step: number) => Promise<void> | void): Promise<number[]> {
  const steps: number[] = [];
  for await (const step of app.ckpt.loop(options)) {
    app.inIteration = true;
    steps.push(step);
    app.state.value.n++;
    app.state.value.history.push(step);
    if (body !== undefined) await body(step);
    app.inIteration = false;
  }
  return steps;
}

describe('loop()', () => {
  it('yields 0..until-1, checkpoints at every step policy boundary and once more at until', async () => {
    const app = counterApp({ store: new MemoryStore() });
    const steps = await runCounter(app, { until: 10, every: { steps: 3 } });
    expect(steps).toEqual([0, 1, 2, 3, 4, 5, 6, 7, 8, 9]);
    // The image step is the number of completed iterations; the counter agrees with it.
    expect(await imageSteps(app.ckpt)).toEqual(['3:null', '6:null', '9:null', '10:end']);
    expect(app.log).toEqual(['snapshot:3:null', 'snapshot:6:null', 'snapshot:9:null', 'snapshot:10:end']);
    const images = await app.ckpt.list();
    const r = await app.ckpt.restore(images[1]!.id);
    expect(r?.image.step).toBe(9);
    expect(app.state.value.n).toBe(9);
    await app.ckpt.close();
  });

  it('takes no extra final checkpoint when a policy already took one at until, and none with checkpointAtEnd: false', async () => {
    const a = counterApp({ store: new MemoryStore() });
    await runCounter(a, { until: 9, every: { steps: 3 } });
    expect(await imageSteps(a.ckpt)).toEqual(['3:null', '6:null', '9:null']);
    await a.ckpt.close();

    const b = counterApp({ store: new MemoryStore() });
    await runCounter(b, { until: 10, every: { steps: 4 }, checkpointAtEnd: false });
    expect(await imageSteps(b.ckpt)).toEqual(['4:null', '8:null']);
    await b.ckpt.close();
  });

  it('restores the latest image before the first iteration and continues the step numbering from it', async () => {
    const store = new MemoryStore();
    const first = counterApp({ store });
    // The app stops early (break after the body of step 6): images at 3 and 6.
    for await (const step of first.ckpt.loop({ until: 100, every: { steps: 3 } })) {
      first.state.value.n++;
      first.state.value.history.push(step);
      if (step === 6) break;
    }
    expect(await imageSteps(first.ckpt)).toEqual(['3:null', '6:null']);
    await first.ckpt.close();

    const second = counterApp({ store: store.reopen() });
    const seenAtFirstIteration: number[] = [];
    const steps = await runCounter(second, { until: 12, every: { steps: 3 } }, (step) => {
      if (seenAtFirstIteration.length === 0) seenAtFirstIteration.push(step, second.state.value.n - 1);
    });
    expect(second.log[0]).toBe('restore:6');
    // The restored state was in place before the body of the first iteration ran.
    expect(seenAtFirstIteration).toEqual([6, 6]);
    expect(steps).toEqual([6, 7, 8, 9, 10, 11]);
    // Work of iterations 0..11 exactly once each: the same as an uninterrupted run.
    expect(second.state.value.history).toEqual([0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11]);
    expect(second.state.value.n).toBe(12);
    expect(await imageSteps(second.ckpt)).toEqual(['3:null', '6:null', '9:null', '12:null']);
    await second.ckpt.close();
  });

  it('restore: false starts at 0 without calling restore()', async () => {
    const store = new MemoryStore();
    const first = counterApp({ store });
    await runCounter(first, { until: 5 });
    await first.ckpt.close();
    const second = counterApp({ store: store.reopen() });
    const steps = await runCounter(second, { until: 2, restore: false });
    expect(steps).toEqual([0, 1]);
    expect(second.log.filter((l) => l.startsWith('restore'))).toEqual([]);
    expect(await imageSteps(second.ckpt)).toEqual(['5:end', '2:end']);
    await second.ckpt.close();
  });

  it('a restart after the loop finished runs no iteration and writes no image', async () => {
    const store = new MemoryStore();
    const first = counterApp({ store });
    await runCounter(first, { until: 4, every: { steps: 2 } });
    await first.ckpt.close();
    const second = counterApp({ store: store.reopen() });
    expect(await runCounter(second, { until: 4, every: { steps: 2 } })).toEqual([]);
    expect(second.state.value.n).toBe(4);
    expect(await imageSteps(second.ckpt)).toEqual(['2:null', '4:null']);
    await second.ckpt.close();
  });

  it('never checkpoints in the middle of an iteration, even when asked to from inside one', async () => {
    const app = counterApp({ store: new MemoryStore() });
    const steps = await runCounter(app, { until: 8, every: { seconds: 0.005 } }, async (step) => {
      if (step % 2 === 0) app.ckpt.requestCheckpoint(`asked-at-${step}`);
      // An asynchronous body: timers (the 5 ms time policy) fire while it runs.
      await tick(8);
    });
    expect(steps).toHaveLength(8);
    expect(app.midIteration).toBe(0);
    const labels = await imageSteps(app.ckpt);
    // A request made during iteration `s` is taken at the boundary right after it: step s+1.
    for (const s of [0, 2, 4, 6]) expect(labels).toContain(`${s + 1}:asked-at-${s}`);
    // The last boundary is always checkpointed (by the time policy or as the end checkpoint).
    expect(labels.at(-1)).toMatch(/^8:(null|end)$/);
    // A time policy of 5 ms with 8 ms iterations fires in most iterations: those checkpoints are unlabelled.
    expect(labels.filter((l) => l.endsWith(':null')).length).toBeGreaterThanOrEqual(2);
    await app.ckpt.close();
  });

  it('the counter of each image equals its step (the image step is the number of completed iterations)', async () => {
    const app = counterApp({ store: new MemoryStore() });
    await runCounter(app, { until: 7, every: { steps: 2 } });
    const images = await app.ckpt.list();
    expect(images.map((i) => i.step)).toEqual([7, 6, 4, 2]);
    for (const info of images) {
      await app.ckpt.restore(info.id);
      expect(app.state.value.n).toBe(info.step);
      expect(app.state.value.history).toEqual([...Array(info.step).keys()]);
    }
    await app.ckpt.close();
  });

  it('runs one loop at a time and validates until', async () => {
    const app = counterApp({ store: new MemoryStore() });
    const a = app.ckpt.loop({ until: 3 });
    expect((await a.next()).value).toBe(0);
    await expectCode(app.ckpt.loop({ until: 3 }).next(), ErrorCodes.BUSY);
    await a.return(undefined);
    // Once the first loop is over, another may run.
    expect((await app.ckpt.loop({ until: 1, restore: false }).next()).value).toBe(0);
    for (const bad of [-1, 1.5, Number.NaN, '3' as unknown as number]) {
      await expectCode(app.ckpt.loop({ until: bad }).next(), ErrorCodes.INVALID_ARGUMENT);
    }
    await app.ckpt.close();
    await expectCode(app.ckpt.loop({ until: 1 }).next(), ErrorCodes.CLOSED);
  });

  it('requestStop(): checkpoints labelled stop:<reason> at the next boundary and ends the loop normally, without an end checkpoint', async () => {
    const app = counterApp({ store: new MemoryStore() });
    expect(app.ckpt.stopping).toBe(false);
    const steps = await runCounter(app, { until: 100, every: { steps: 4 } }, (step) => {
      if (step === 5) app.ckpt.requestStop('preempted');
    });
    expect(steps).toEqual([0, 1, 2, 3, 4, 5]);
    expect(app.ckpt.stopping).toBe(true);
    expect(await imageSteps(app.ckpt)).toEqual(['4:null', '6:stop:preempted']);
    await app.ckpt.close();
  });

  it('a stop requested before the loop starts: a stop checkpoint at the restored step and no iteration', async () => {
    const store = new MemoryStore();
    const first = counterApp({ store });
    await runCounter(first, { until: 3 });
    await first.ckpt.close();
    const second = counterApp({ store: store.reopen() });
    second.ckpt.requestStop('early');
    expect(await runCounter(second, { until: 10, every: { steps: 1 } })).toEqual([]);
    expect(second.state.value.n).toBe(3);
    expect(await imageSteps(second.ckpt)).toEqual(['3:end', '3:stop:early']);
    await second.ckpt.close();
  });

  it('installs signal handlers while it runs and removes them when it ends, breaks or throws; signals: false installs none', async () => {
    const base = signalListeners();
    const plus = { SIGTERM: base.SIGTERM + 1, SIGINT: base.SIGINT + 1, SIGUSR2: base.SIGUSR2 + 1 };
    const app = counterApp({ store: new MemoryStore(), signals: {} });
    const during: ReturnType<typeof signalListeners>[] = [];
    for await (const _ of app.ckpt.loop({ until: 2 })) during.push(signalListeners());
    expect(during).toEqual([plus, plus]);
    expect(signalListeners()).toEqual(base);

    for await (const step of app.ckpt.loop({ until: 10, restore: false })) {
      expect(signalListeners()).toEqual(plus);
      if (step === 1) break;
    }
    expect(signalListeners()).toEqual(base);

    await expect(
      (async () => {
        for await (const _ of app.ckpt.loop({ until: 10, restore: false })) throw new Error('app failed');
      })(),
    ).rejects.toThrow('app failed');
    expect(signalListeners()).toEqual(base);
    await app.ckpt.close();

    const quiet = counterApp({ store: new MemoryStore(), signals: false });
    for await (const _ of quiet.ckpt.loop({ until: 2 })) expect(signalListeners()).toEqual(base);
    await quiet.ckpt.close();
  });
});
