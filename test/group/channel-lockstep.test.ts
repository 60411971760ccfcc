/**
 * @module test/group/channel-lockstep
 *
 * Two worker threads in lockstep through a channel, each waiting in the
 * middle of its iteration for the other's message, with group checkpoints
 * every 20 ms: a message sent after its sender's cut is held until the
 * receiver's cut, so a receiver waiting for it mid-iteration never reaches
 * its safepoint. That epoch fails at the deadline — and the held messages
 * must then flow again: the run ends with every message received (it hung
 * for ever before).
 */
import { afterEach, describe, expect, it } from 'vitest';
import type { Worker } from 'node:worker_threads';
import { CheckpointGroup, MemoryStore } from '../../src/index.js';
import { terminateAll, tsWorker } from './helpers.js';

const PART = new URL('./chan-lockstep-part.ts', import.meta.url);
const workers: Worker[] = [];
afterEach(async () => {
  await Promise.all(workers.splice(0).map((w) => w.terminate()));
  await terminateAll();
});

describe('channels in lockstep, waiting mid-iteration', () => {
  it('an epoch a part cannot reach fails at the deadline and the messages held for it flow again', { timeout: 60_000 }, async () => {
    const until = 150;
    const group = new CheckpointGroup({ store: new MemoryStore(), signals: false, every: { seconds: 0.02 }, deadlineMs: 200 });
    const failed: string[] = [];
    group.on('checkpointFailed', (err) => failed.push(err.code));
    const got: number[] = [];
    for (let i = 0; i < 2; i++) {
      const w = tsWorker(PART, { workerData: { until } });
      workers.push(w);
      w.on('message', (m: { part: number; got: number }) => (got[m.part] = m.got));
      group.addWorker(w);
    }
    const result = await group.run();
    expect(result.stopped).toBe(false);
    expect(got).toEqual([until, until]);
    // Every failure was a missed deadline, nothing else.
    expect(failed.every((c) => c === 'CKPT_ERR_DEADLINE')).toBe(true);
  });
});
