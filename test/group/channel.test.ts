/**
 * @module test/group/channel
 *
 * Channels in real groups: bad calls fail with their codes, a message a part
 * finished without taking fails the run with CKPT_ERR_CHANNEL_CLOSED, and a
 * group of a worker thread and two child processes exchanging numbered
 * messages is stopped in the middle and restarted: every part receives
 * every number of every other part exactly once.
 */
import { fork, type ChildProcess } from 'node:child_process';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { Worker } from 'node:worker_threads';
import { afterEach, describe, expect, it } from 'vitest';
import { CheckpointGroup, ErrorCodes } from '../../src/index.js';
import { tsWorker } from './helpers.js';

const MISUSE = new URL('./chan-misuse-part.ts', import.meta.url);
const CHAN = new URL('./chan-part.ts', import.meta.url);
const workers = new Set<Worker>();
const children = new Set<ChildProcess>();

afterEach(async () => {
  await Promise.all([...workers].map((w) => w.terminate()));
  workers.clear();
  await Promise.all(
    [...children].map(
      (c) =>
        new Promise<void>((resolve) => {
          if (c.exitCode !== null || c.signalCode !== null) return resolve();
          c.once('exit', () => resolve());
          c.kill('SIGKILL');
        }),
    ),
  );
  children.clear();
});

function worker(entry: URL, data: unknown, onMessage: (m: Record<string, unknown>) => void): Worker {
  const w = tsWorker(entry, { workerData: data });
  workers.add(w);
  w.on('message', onMessage);
  return w;
}

function child(steps: number, onReport: (m: Record<string, unknown>) => void): ChildProcess {
  const c = fork(CHAN.pathname, [JSON.stringify({ steps, work: 200_000 })], { execArgv: ['--import', 'tsx'], serialization: 'advanced', stdio: ['ignore', 'inherit', 'inherit', 'ipc'] });
  children.add(c);
  c.on('message', (m: { report?: Record<string, unknown> }) => m.report !== undefined && onReport(m.report));
  return c;
}

async function withStore<T>(f: (dir: string) => Promise<T>): Promise<T> {
  const dir = await mkdtemp(join(tmpdir(), 'ckpt-chan-'));
  try {
    return await f(dir);
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
}

describe('group channels', () => {
  it('bad calls fail with their codes', () =>
    withStore(async (dir) => {
      const group = new CheckpointGroup({ store: dir, signals: false });
      const codes: Record<string, string>[] = [];
      let ready = 0;
      let onReady!: () => void;
      const allReady = new Promise<void>((r) => (onReady = r));
      for (let i = 0; i < 2; i++) {
        group.addWorker(
          worker(MISUSE, { mode: 'codes' }, (m) => {
            if (m['event'] === 'ready' && ++ready === 2) onReady();
            if (m['event'] === 'codes') codes[m['part'] as number] = m['codes'] as Record<string, string>;
          }),
        );
      }
      const run = group.run();
      await allReady;
      await group.checkpoint();
      await run;
      for (const c of codes) {
        expect(c).toEqual({
          outOfRange: ErrorCodes.INVALID_ARGUMENT,
          negative: ErrorCodes.INVALID_ARGUMENT,
          fraction: ErrorCodes.INVALID_ARGUMENT,
          notCloneable: ErrorCodes.UNSERIALIZABLE,
          badMax: ErrorCodes.INVALID_ARGUMENT,
          sameObject: 'same',
          duringCapture: ErrorCodes.INVALID_ARGUMENT,
          afterFinish: ErrorCodes.CLOSED,
        });
      }
      expect(codes).toHaveLength(2);
    }), 60_000);

  it('a part that finishes without taking a message sent to it fails the run with CKPT_ERR_CHANNEL_CLOSED', () =>
    withStore(async (dir) => {
      const group = new CheckpointGroup({ store: dir, signals: false });
      for (let i = 0; i < 2; i++) group.addWorker(worker(MISUSE, { mode: 'unread' }, () => undefined));
      await expect(group.run()).rejects.toMatchObject({ code: ErrorCodes.CHANNEL_CLOSED, message: expect.stringMatching(/part 1/) });
    }), 60_000);

  it('a thread and two child processes: stopped in the middle and restarted, every message arrives exactly once', () =>
    withStore(async (dir) => {
      const STEPS = 3000;
      const start = (onReport: (m: Record<string, unknown>) => void): CheckpointGroup => {
        const group = new CheckpointGroup({ store: dir, signals: false, every: { seconds: 0.02 } });
        group.addWorker(worker(CHAN, { steps: STEPS, work: 200_000 }, onReport));
        group.addChild(child(STEPS, onReport));
        group.addChild(child(STEPS, onReport));
        return group;
      };
      const first = start(() => undefined);
      let epochs = 0;
      first.on('checkpoint', () => {
        if (++epochs === 3) first.requestStop('test');
      });
      const stopped = await first.run();
      expect(stopped.stopped).toBe(true);
      const results: { got: number[]; sum: number[] }[] = [];
      const starts: number[] = [];
      const second = start((m) => {
        if (m['event'] === 'part-start') starts.push(m['step'] as number);
        if (m['event'] === 'part-done') results[m['part'] as number] = m as unknown as { got: number[]; sum: number[] };
      });
      const done = await second.run();
      expect(done.stopped).toBe(false);
      // The restart resumed the exchange in the middle (else it tested nothing).
      expect(starts.some((s) => s > 0 && s < STEPS)).toBe(true);
      const total = (STEPS * (STEPS + 1)) / 2;
      for (let p = 0; p < 3; p++) {
        expect(results[p]?.got).toEqual([0, 1, 2].map((q) => (q === p ? 0 : STEPS)));
        expect(results[p]?.sum).toEqual([0, 1, 2].map((q) => (q === p ? 0 : total)));
      }
    }), 120_000);
});
