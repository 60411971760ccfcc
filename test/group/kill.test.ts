/**
 * @module test/group/kill
 *
 * A child program runs a group of 4 worker threads (a deterministic
 * computation, `sim.ts`) checkpointing every 50 ms, and is SIGKILLed —
 * the whole process, threads and all — at random moments, then restarted
 * until it finishes. Every restart must resume every part from the last
 * committed group epoch or a later one, and the final result must equal the
 * uninterrupted computation. Kills: CKPT_KILL_ROUNDS (default 3). A SIGTERM
 * instead takes one group checkpoint, stops every part and exits 143; the
 * restart resumes from exactly that epoch.
 */
import { mkdtemp, readdir, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { reapChildren, startNodeChild, tsxArgs } from '../helpers/child-process.js';
import { checkStarts, killRounds, type GroupEvent } from './kill-rounds.js';
import { reference } from './sim.js';

const CHILD = new URL('./sim-child.ts', import.meta.url).pathname;
const KILLS = Number(process.env['CKPT_KILL_ROUNDS'] ?? 3);
const PARTS = 4;
const STEPS = 50_000;

interface Event extends GroupEvent {
  readonly digests?: string[];
}

afterEach(reapChildren);

describe('a group of 4 worker threads, SIGKILLed at random moments', () => {
  it(`resumes every part from the last committed group epoch and ends with the uninterrupted result (${KILLS} kills)`, async () => {
    const dir = await mkdtemp(join(tmpdir(), 'ckpt-group-kill-'));
    try {
      const resumedAt: number[] = [];
      // Killed a little after the k-th committed checkpoint of a round (k random 1..3): in the middle
      // of the next epoch's barrier, capture or write, or between epochs.
      const done = await killRounds<Event>({
        program: CHILD,
        args: [dir, String(PARTS), String(STEPS)],
        kills: KILLS,
        afterCheckpoints: 3,
        maxDelayMs: 60,
        onRound: (events, killed, lastEpoch) => {
          // Every part starts from the same restored epoch, no older than the last one seen committed.
          const starts = events.filter((e) => e.event === 'part-start');
          if (!killed) expect(starts).toHaveLength(PARTS);
          checkStarts(starts, lastEpoch, resumedAt);
        },
      });
      expect(done.digests).toEqual(Array.from({ length: PARTS }, (_, part) => reference(part, STEPS)));
      // No temporary image survives a finished run.
      expect((await readdir(dir)).filter((n) => !/^\d+\.ckpt$/.test(n) && n !== 'lock')).toEqual([]);
    } finally {
      await rm(dir, { recursive: true, force: true });
    }
  }, 120_000);

  it('SIGTERM takes one group checkpoint, stops every part and exits 143; the restart finishes from it', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'ckpt-group-term-'));
    try {
      const events: Event[] = [];
      const child = startNodeChild({
        args: tsxArgs(CHILD, dir, String(PARTS), String(STEPS)),
        onStdoutLine: (line) => {
          const ev = JSON.parse(line) as Event & { stopped?: boolean };
          events.push(ev);
          if (ev.event === 'checkpoint' && ev.epoch === 2) child.kill('SIGTERM');
        },
      });
      expect(await child.exited, child.stderr).toEqual({ code: 143, signal: null });
      const stop = events.find((e) => e.event === 'done') as (Event & { stopped?: boolean; epoch?: number }) | undefined;
      expect(stop?.stopped).toBe(true);
      // The stop checkpoint is the last one committed, and the restart resumes from exactly it.
      const last = Math.max(...events.filter((e) => e.event === 'checkpoint').map((e) => e.epoch!));
      expect(stop?.epoch).toBe(last);
      const again: Event[] = [];
      const restart = startNodeChild({ args: tsxArgs(CHILD, dir, String(PARTS), String(STEPS)), onStdoutLine: (line) => again.push(JSON.parse(line) as Event) });
      expect(await restart.exited, restart.stderr).toEqual({ code: 0, signal: null });
      expect(again.filter((e) => e.event === 'part-start').map((e) => e.restoredEpoch)).toEqual([last, last, last, last]);
      expect(again.find((e) => e.event === 'done')?.digests).toEqual(Array.from({ length: PARTS }, (_, part) => reference(part, STEPS)));
    } finally {
      await rm(dir, { recursive: true, force: true });
    }
  }, 120_000);
});
