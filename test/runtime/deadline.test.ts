// stopDeadlineMs: a stop checkpoint that cannot finish in time fails with
// CKPT_ERR_DEADLINE thrown from the loop (or safepoint); no new image appears,
// the previous one stays intact, and no temporary file is left behind.
import { afterEach, describe, expect, it } from 'vitest';
import { readdir } from 'node:fs/promises';
import { Checkpointer, ErrorCodes, FsStore } from '../../src/index.js';
import { removeTempDirs, tempDir } from '../checkpointer/helpers.js';
import { ControlledStore, expectCode, now } from './helpers.js';
import { assertCkptError as expectCkptError } from '../helpers/errors.js';

afterEach(removeTempDirs);

interface State {
  n: number;
  data: Float64Array;
}

/** A FsStore-backed app whose snapshot() takes `slowStopMs` for stop checkpoints only. */
async function app(options: { slowStopMs?: number; stopDeadlineMs?: number; store?: (dir: string) => ControlledStore | string; size?: number } = {}) {
  /** Slow stop snapshots that have finished (a deadline must not wait for them). */
  const slowDone = { count: 0 };
  const dir = await tempDir('ckpt-runtime-deadline-');
  const ckpt = new Checkpointer({
    store: options.store?.(dir) ?? dir,
    signals: false,
    segmentSize: 64 * 1024,
    ...(options.stopDeadlineMs === undefined ? {} : { stopDeadlineMs: options.stopDeadlineMs }),
  });
  const box: { state: State } = { state: { n: 0, data: new Float64Array(options.size ?? 16).map(() => Math.random()) } };
  ckpt.register<State>({
    id: 's',
    snapshot: async (ctx) => {
      if (ctx.label?.startsWith('stop:') === true && options.slowStopMs !== undefined) {
        await new Promise((r) => setTimeout(r, options.slowStopMs));
        slowDone.count++;
      }
      return box.state;
    },
    restore: (s) => {
      box.state = s;
    },
  });
  return { dir, ckpt, box, slowDone };
}

/** Run the counter loop; requestStop() in iteration `stopAt`. Returns when the loop ends or throws. */
async function runUntilStop(a: Awaited<ReturnType<typeof app>>, stopAt: number): Promise<{ error: unknown; stopRequestedAt: number }> {
  let stopRequestedAt = 0;
  try {
    for await (const step of a.ckpt.loop({ until: 100, every: { steps: 3 } })) {
      a.box.state.n++;
      if (step === stopAt) {
        stopRequestedAt = now();
        a.ckpt.requestStop('deadline-test');
      }
    }
    return { error: undefined, stopRequestedAt };
  } catch (error) {
    return { error, stopRequestedAt };
  }
}

async function restoredN(dir: string): Promise<{ n: number; step: number | null | undefined }> {
  const again = new Checkpointer({ store: dir, signals: false });
  let n = -1;
  again.register<State>({ id: 's', snapshot: () => ({ n, data: new Float64Array() }), restore: (s) => void (n = s.n) });
  const r = await again.restore();
  await again.close();
  return { n, step: r?.image.step };
}

describe('stopDeadlineMs', () => {
  it('a stop checkpoint with a slow snapshot fails with CKPT_ERR_DEADLINE in time; the previous image stays the latest', async () => {
    const a = await app({ slowStopMs: 600, stopDeadlineMs: 100 });
    const { error, stopRequestedAt } = await runUntilStop(a, 4);
    const waited = now() - stopRequestedAt;
    const err = expectCkptError(error, ErrorCodes.DEADLINE);
    expect(err.message).toMatch(/stopDeadlineMs \(100 ms\)/);
    expect(waited).toBeGreaterThanOrEqual(95); // never before the deadline
    // The loop was let go while the slow snapshot was still running (mechanism, not a time bound).
    expect(a.slowDone.count).toBe(0);
    expect((await a.ckpt.list()).map((i) => i.step)).toEqual([3]);
    await a.ckpt.close(); // waits for the abandoned run to wind down
    expect(await readdir(a.dir)).toEqual(['000000000001.ckpt']);
    expect(await restoredN(a.dir)).toEqual({ n: 3, step: 3 });
  });

  it('a stop checkpoint with a slow write is abandoned mid-write: no image, no temporary file', async () => {
    let store: ControlledStore | undefined;
    const a = await app({
      stopDeadlineMs: 150,
      size: 1 << 17, // 1 MiB: at least 16 segments of 64 KiB
      store: (dir) => (store = new ControlledStore(new FsStore(dir))),
    });
    // The first checkpoint (step 3) is fast; then every chunk written takes 40 ms.
    const stopAt = 4;
    a.ckpt.on('checkpoint', (i) => {
      if (i.step === 3) store!.writeDelayMs = 40;
    });
    const { error, stopRequestedAt } = await runUntilStop(a, stopAt);
    expectCkptError(error, ErrorCodes.DEADLINE);
    // Abandoned mid-write: the stop image's write started and was never committed (checked below after close()).
    expect(stopRequestedAt).toBeGreaterThan(0);
    expect(store!.log.filter((l) => l.startsWith('write:'))).toEqual(['write:000000000001', 'write:000000000002']);
    await a.ckpt.close();
    expect(store!.log).toContain('abort:000000000002');
    expect(store!.log).not.toContain('commit:000000000002');
    expect(await readdir(a.dir)).toEqual(['000000000001.ckpt']);
    expect(await restoredN(a.dir)).toEqual({ n: 3, step: 3 });
  });

  it('a stop checkpoint that finishes within the deadline ends the loop normally', async () => {
    const a = await app({ slowStopMs: 20, stopDeadlineMs: 2000 });
    const { error } = await runUntilStop(a, 4);
    expect(error).toBeUndefined();
    expect((await a.ckpt.list()).map((i) => `${i.step}:${i.label}`)).toEqual(['5:stop:deadline-test', '3:null']);
    await a.ckpt.close();
    expect(await restoredN(a.dir)).toEqual({ n: 5, step: 5 });
  });

  it('safepoint(): a stop past the deadline rejects with CKPT_ERR_DEADLINE', async () => {
    const a = await app({ slowStopMs: 400, stopDeadlineMs: 50 });
    a.ckpt.requestCheckpoint();
    expect(await a.ckpt.safepoint(1)).toEqual({ checkpointed: true, stop: false });
    a.ckpt.requestStop();
    await expectCode(a.ckpt.safepoint(2), ErrorCodes.DEADLINE);
    await a.ckpt.close();
    expect(await readdir(a.dir)).toEqual(['000000000001.ckpt']);
  });

  it('a stop checkpoint that fails for another reason is thrown from the loop with that error', async () => {
    const a = await app();
    a.ckpt.register({
      id: 'flaky',
      snapshot: (ctx) => {
        if (ctx.label?.startsWith('stop:') === true) throw new Error('cannot save now');
        return 1;
      },
      restore: () => undefined,
    });
    const { error } = await runUntilStop(a, 4);
    const err = expectCkptError(error, ErrorCodes.SNAPSHOT_FAILED);
    expect(err.message).toMatch(/cannot save now/);
    await a.ckpt.close();
    expect(await readdir(a.dir)).toEqual(['000000000001.ckpt']);
  });
});
