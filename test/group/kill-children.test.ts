/**
 * @module test/group/kill-children
 *
 * A coordinator program runs a group of 3 child processes (a deterministic
 * computation, `sim.ts`) checkpointing every 50 ms. Each attempt is cut short
 * — one child SIGKILLed (the coordinator's run() fails, naming it, and kills
 * and reaps the other children), or, separately, the coordinator itself
 * SIGKILLed (its children find their coordinator gone and exit) — and the
 * program is restarted until it finishes. Every restart resumes every part
 * from one committed group epoch no older than the last one seen; the final
 * result equals the uninterrupted computation; no child outlives its attempt.
 */
import { mkdir, mkdtemp, readdir, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { reapChildren, startNodeChild, tsxArgs } from '../helpers/child-process.js';
import { checkStarts, gone, running } from './kill-rounds.js';
import { reference } from './sim.js';

const COORDINATOR = new URL('./sim-procs.ts', import.meta.url).pathname;
const PARTS = 3;
const STEPS = 150_000;

interface Event {
  readonly event: string;
  readonly part?: number;
  readonly pid?: number;
  readonly step?: number | null;
  readonly epoch?: number;
  readonly restoredEpoch?: number;
  readonly digests?: string[];
  readonly code?: string;
  readonly message?: string;
}

/** Child pids of the attempts, SIGKILLed if still running after a test. */
const pids = new Set<number>();

afterEach(async () => {
  await reapChildren();
  for (const pid of pids) if (running(pid)) process.kill(pid, 'SIGKILL');
  pids.clear();
});

async function runUntilDone(victim: 'child' | 'coordinator', kills: number): Promise<void> {
  const root = await mkdtemp(join(tmpdir(), `ckpt-group-kill-${victim}-`));
  const dir = join(root, 'store');
  // The coordinator's temp directory (where its control file lives), to see what it leaves behind.
  const temp = join(root, 'tmp');
  await mkdir(temp);
  try {
    let killed = 0;
    let lastEpoch = 0;
    const resumedAt: number[] = [];
    let done: Event | undefined;
    for (let attempt = 0; attempt < kills + 4 && done === undefined; attempt++) {
      // Kill a little after the first committed checkpoint past a random step (every part has done real work by then).
      const killAt = killed < kills ? STEPS / 8 + Math.floor((Math.random() * STEPS) / 4) : Infinity;
      let fired = false;
      const events: Event[] = [];
      const children: number[] = [];
      const coordinator = startNodeChild({
        args: tsxArgs(COORDINATOR, dir, String(PARTS), String(STEPS)),
        env: { TMPDIR: temp },
        onStdoutLine: (line) => {
          const ev = JSON.parse(line) as Event;
          events.push(ev);
          if (ev.event === 'child') {
            children.push(ev.pid!);
            pids.add(ev.pid!);
          }
          if (ev.event !== 'checkpoint' || fired || (ev.step ?? 0) < killAt) return;
          fired = true;
          if (victim === 'coordinator') {
            coordinator.killAfter(Math.floor(Math.random() * 40));
            return;
          }
          const pid = children[Math.floor(Math.random() * children.length)]!;
          setTimeout(() => running(pid) && process.kill(pid, 'SIGKILL'), Math.floor(Math.random() * 20));
        },
      });
      const exit = await coordinator.exited;
      const failed = events.find((e) => e.event === 'failed');
      if (victim === 'coordinator' && exit.signal === 'SIGKILL') {
        killed++;
        // The orphaned children see their coordinator gone and exit on their own.
        expect(await gone(children, 10_000), 'children left running after their coordinator was killed').toEqual([]);
      } else if (victim === 'child' && failed !== undefined) {
        killed++;
        expect(exit, coordinator.stderr).toEqual({ code: 1, signal: null });
        expect(failed.code).toBe('CKPT_ERR_PART_FAILED');
        expect(failed.message).toMatch(/part \d \(child process \d+\) was killed by SIGKILL before finishing/);
        // The coordinator killed and reaped every other child before it exited.
        expect(children.filter(running)).toEqual([]);
      } else {
        expect(exit, coordinator.stderr).toEqual({ code: 0, signal: null });
        expect(children.filter(running)).toEqual([]);
      }

      // Every part starts from the same restored epoch, no older than the last one seen committed.
      const starts = events.filter((e) => e.event === 'part-start');
      if (exit.signal === null && failed === undefined) expect(starts).toHaveLength(PARTS);
      checkStarts(starts, lastEpoch, resumedAt);
      for (const e of events) if (e.event === 'checkpoint') lastEpoch = Math.max(lastEpoch, e.epoch!);
      done = events.find((e) => e.event === 'done');
    }
    expect(killed).toBe(kills);
    // A restart resumed from a committed epoch, not from the start.
    expect(resumedAt.some((s) => s > 0), JSON.stringify(resumedAt)).toBe(true);
    // The control file's directory is removed at every end but a SIGKILL of the coordinator.
    expect((await readdir(temp)).filter((n) => n.startsWith('ckpt-group-'))).toHaveLength(victim === 'coordinator' ? kills : 0);
    expect(done, 'the group never finished').toBeDefined();
    expect(done!.digests).toEqual(Array.from({ length: PARTS }, (_, part) => reference(part, STEPS)));
    expect((await readdir(dir)).filter((n) => !/^\d+\.ckpt$/.test(n) && n !== 'lock')).toEqual([]);
  } finally {
    await rm(root, { recursive: true, force: true });
  }
}

describe('a group of 3 child processes, killed mid-run and restarted until done', () => {
  it('one child SIGKILLed: run() fails naming it, the others are reaped; the restart resumes and the result equals an uninterrupted run', async () => {
    await runUntilDone('child', 1);
  }, 60_000);

  it('the coordinator SIGKILLed: its children exit on their own; the restart resumes and the result equals an uninterrupted run', async () => {
    await runUntilDone('coordinator', 1);
  }, 60_000);
});
