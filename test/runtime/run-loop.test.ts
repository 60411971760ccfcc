/**
 * The run loop driven by a host other than the Checkpointer — what a
 * worker-side participant of a coordinated checkpoint will do: the host only
 * starts checkpoints, restores and takes the writer lock; the run loop
 * decides when (due flag, step policies, requests, stops) and where.
 */
import { describe, expect, it } from 'vitest';
import { ErrorCodes, everySteps } from '../../src/index.js';
import type { CheckpointContext, CheckpointInfo } from '../../src/index.js';
import type { PersistMode, RunOptions } from '../../src/lifecycle/checkpoint-run.js';
import { RunLoop, type RunLoopHost, type RunLoopSettings } from '../../src/lifecycle/run-loop.js';
import { expectCode } from './helpers.js';

interface Call {
  readonly ctx: CheckpointContext;
  readonly mode: PersistMode;
  readonly options: RunOptions | undefined;
}

/** A host that records what the run loop asks of it; checkpoints settle as `outcome` says. */
function fakeHost(restoredStep = 0, outcome: 'commit' | 'hang' = 'commit') {
  const calls: Call[] = [];
  const log: string[] = [];
  const host: RunLoopHost = {
    checkOpen: () => void log.push('checkOpen'),
    checkWritable: (what) => void log.push(`checkWritable:${what}`),
    checkpoint: (ctx, mode, options) => {
      calls.push({ ctx, mode, options });
      const committed = outcome === 'commit' ? Promise.resolve({ step: ctx.step } as unknown as CheckpointInfo) : new Promise<CheckpointInfo>(() => undefined);
      return { captured: Promise.resolve(0), committed };
    },
    restore: () => (log.push('restore'), Promise.resolve(restoredStep)),
    lockWriter: () => (log.push('lockWriter'), Promise.resolve()),
    reportBackground: (err) => void log.push(`background:${String(err)}`),
  };
  return { host, calls, log };
}

function settings(over: Partial<RunLoopSettings> = {}): RunLoopSettings {
  return { persist: 'sync', every: [], signals: undefined, stopDeadlineMs: undefined, yieldEveryMs: 10, ...over };
}

describe('RunLoop with its own host', () => {
  it('loop(): restores through the host, continues from its step and checkpoints where the step policy says', async () => {
    const { host, calls, log } = fakeHost(4);
    const flag = { due: false };
    const run = new RunLoop(host, settings(), flag);
    const steps: number[] = [];
    for await (const step of run.loop({ until: 10, every: [everySteps(3)] })) steps.push(step);
    expect(steps).toEqual([4, 5, 6, 7, 8, 9]);
    // 7 and 10 by the policy; 10 is also the end, so no extra end checkpoint.
    expect(calls.map((c) => [c.ctx.step, c.ctx.label, c.mode])).toEqual([
      [7, null, 'sync'],
      [10, null, 'sync'],
    ]);
    expect(log).toEqual(['checkOpen', 'checkWritable:loop()', 'restore']);
    run.dispose();
  });

  it('loop({ restore: false }): takes the writer lock instead, and checkpoints at the end', async () => {
    const { host, calls, log } = fakeHost();
    const run = new RunLoop(host, settings(), { due: false });
    let n = 0;
    for await (const _ of run.loop({ until: 3, restore: false })) n++;
    expect(n).toBe(3);
    expect(log).toContain('lockWriter');
    expect(log).not.toContain('restore');
    expect(calls.map((c) => [c.ctx.step, c.ctx.label])).toEqual([[3, 'end']]);
    run.dispose();
  });

  it('safepoint(): nothing due, nothing asked of the host; a request sets the flag and is taken with its label', async () => {
    const { host, calls, log } = fakeHost();
    const flag = { due: false };
    const run = new RunLoop(host, settings({ persist: 'async' }), flag);
    expect(await run.safepoint(1)).toEqual({ checkpointed: false, stop: false });
    expect(calls).toEqual([]);
    expect(log).toEqual(['checkOpen']);
    run.requestCheckpoint('before-deploy');
    expect(flag.due).toBe(true);
    expect(await run.safepoint(2)).toEqual({ checkpointed: true, stop: false });
    expect(flag.due).toBe(false);
    expect(calls.map((c) => [c.ctx.step, c.ctx.label, c.mode])).toEqual([[2, 'before-deploy', 'async']]);
    expect(log).toContain('checkWritable:safepoint()');
    run.dispose();
  });

  it('a stop: the next safepoint takes a sync checkpoint labelled with the reason, then the state says stopped', async () => {
    const { host, calls } = fakeHost();
    const flag = { due: false };
    const run = new RunLoop(host, settings({ persist: 'async' }), flag);
    run.requestStop('SIGTERM');
    run.requestStop('later');
    expect(run.stop.stopping).toBe(true);
    expect(run.stop.stopped).toBe(false);
    expect(await run.safepoint(5)).toEqual({ checkpointed: true, stop: true });
    expect(calls.map((c) => [c.ctx.step, c.ctx.label, c.mode])).toEqual([[5, 'stop:SIGTERM', 'sync']]);
    expect(calls[0]!.options?.signal).toBeInstanceOf(AbortSignal);
    expect(run.stop.stopped).toBe(true);
    expect(run.stop.reason).toBe('SIGTERM');
    expect(run.stop.exitCode).toBe(143);
    run.dispose();
  });

  it('a stop checkpoint past stopDeadlineMs is aborted and abandoned: the safepoint fails with DEADLINE', async () => {
    const { host, calls } = fakeHost(0, 'hang');
    const run = new RunLoop(host, settings({ stopDeadlineMs: 5 }), { due: false });
    run.requestStop('requested');
    await expectCode(run.safepoint(), ErrorCodes.DEADLINE);
    expect(calls[0]!.options?.signal?.aborted).toBe(true);
    expect(run.abandoned).toBe(true);
    expect(run.stop.stopped).toBe(false);
    run.dispose();
  });

  it('one loop at a time: a second loop fails with BUSY while the first runs', async () => {
    const { host } = fakeHost();
    const run = new RunLoop(host, settings(), { due: false });
    const first = run.loop({ until: 5, restore: false });
    await first.next();
    await expectCode(run.loop({ until: 5 }).next(), ErrorCodes.BUSY);
    await first.return(undefined);
    run.dispose();
  });
});
