// A loop of synchronous iterations (busy work, no await in the body) must
// still see timers, time policies and signals: at every iteration boundary
// where yieldEveryMs has passed, the loop gives the event loop a turn, and a
// request seen there is taken at the next boundary. These tests pin that
// mechanism counted in iterations, never in milliseconds (the machine is
// shared; the latency itself is measured by `npm run bench:latency`).
//
// Every iteration spins ITER_MS ≥ yieldEveryMs, so every boundary is a turn.
import { describe, expect, it } from 'vitest';
import { MemoryStore } from '../../src/index.js';
import { busy, counterApp, signalListeners } from './helpers.js';

const ITER_MS = 2;
const YIELD_MS = 1;

describe('requests reach a loop with synchronous iterations within a bounded number of iterations', () => {
  it('requestCheckpoint() from a timer is taken at the boundary after the one where the timer ran', async () => {
    const app = counterApp({ store: new MemoryStore(), yieldEveryMs: YIELD_MS });
    let iterations = 0;
    const snapshots: number[] = [];
    const fired: number[] = [];
    app.ckpt.register({ id: 'clock', snapshot: () => void snapshots.push(iterations), restore: () => undefined });
    let armed = 0;
    const arm = (): void => {
      armed++;
      setTimeout(() => {
        fired.push(iterations);
        app.ckpt.requestCheckpoint(`timer-${fired.length}`);
      }, 1);
    };
    for await (const _ of app.ckpt.loop({ until: 100_000, checkpointAtEnd: false })) {
      iterations++;
      busy(ITER_MS);
      if (armed === snapshots.length) {
        if (snapshots.length === 8) break;
        arm();
      }
    }
    expect(snapshots).toHaveLength(8);
    // Taken at the end of the iteration that ran after the timer's turn: one iteration later, never more.
    expect(snapshots.map((s, i) => s - fired[i]!)).toEqual(Array(8).fill(1));
    await app.ckpt.close();
  });

  it('after a long phase of very cheap iterations, slow iterations still turn the event loop at every boundary', async () => {
    // An iteration-counting yielder learns to read the clock rarely while
    // iterations are cheap, and then misses that they became slow.
    const app = counterApp({ store: new MemoryStore(), yieldEveryMs: YIELD_MS });
    const CHEAP = 200_000;
    let slow = 0;
    let firedAt = -1;
    let snapshotAt = -1;
    app.ckpt.register({ id: 'clock', snapshot: () => void (snapshotAt = slow), restore: () => undefined });
    for await (const step of app.ckpt.loop({ until: 10_000_000, checkpointAtEnd: false })) {
      if (step < CHEAP) continue;
      if (step === CHEAP) {
        setTimeout(() => {
          firedAt = slow;
          app.ckpt.requestCheckpoint('late');
        }, 0);
      }
      if (snapshotAt >= 0 || slow > 2000) break;
      slow++;
      busy(ITER_MS);
    }
    // The timer (due at once) runs within the first turns of the slow phase…
    expect(firedAt).toBeGreaterThanOrEqual(1);
    expect(firedAt).toBeLessThanOrEqual(3);
    // …and its request is taken one iteration later.
    expect(snapshotAt - firedAt).toBe(1);
    await app.ckpt.close();
  });

  it('a due time policy is taken at the end of the iteration in which ckpt.due was seen true', async () => {
    const app = counterApp({ store: new MemoryStore(), yieldEveryMs: YIELD_MS });
    let iterations = 0;
    const snapshots: number[] = [];
    const dueSeen: number[] = [];
    app.ckpt.register({ id: 'clock', snapshot: () => void snapshots.push(iterations), restore: () => undefined });
    for await (const _ of app.ckpt.loop({ until: 100_000, every: { seconds: 0.01 }, checkpointAtEnd: false })) {
      iterations++;
      if (app.ckpt.due && dueSeen.length === snapshots.length) dueSeen.push(iterations);
      if (snapshots.length === 5) break;
      busy(ITER_MS);
    }
    expect(snapshots).toHaveLength(5);
    expect(snapshots).toEqual(dueSeen);
    await app.ckpt.close();
  });

  it('a real SIGUSR2 is taken at the boundary after the turn in which its listener ran', async () => {
    // When the signal reaches the event loop depends on the kernel and the
    // scheduler (measured by bench:latency); what ckpt controls starts there.
    const base = signalListeners();
    const app = counterApp({ store: new MemoryStore(), signals: {}, yieldEveryMs: YIELD_MS });
    let iterations = 0;
    const snapshots: { at: number; label: string | null }[] = [];
    const heard: number[] = [];
    let sent = 0;
    // Listeners run in one emit, so this one runs in the same turn as ckpt's.
    const listener = (): void => void heard.push(iterations);
    app.ckpt.register({ id: 'clock', snapshot: (ctx) => void snapshots.push({ at: iterations, label: ctx.label }), restore: () => undefined });
    for await (const _ of app.ckpt.loop({ until: 100_000, checkpointAtEnd: false })) {
      if (iterations === 0) process.on('SIGUSR2', listener);
      iterations++;
      busy(ITER_MS);
      if (sent === snapshots.length) {
        if (snapshots.length === 5) break;
        sent++;
        process.kill(process.pid, 'SIGUSR2');
      }
    }
    process.off('SIGUSR2', listener);
    expect(snapshots.map((s) => s.label)).toEqual(Array(5).fill('signal:SIGUSR2'));
    expect(heard).toHaveLength(5);
    expect(snapshots.map((s, i) => s.at - heard[i]!)).toEqual(Array(5).fill(1));
    await app.ckpt.close();
    expect(signalListeners()).toEqual(base);
  });
});
