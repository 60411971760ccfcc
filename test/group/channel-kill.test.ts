/**
 * @module test/group/channel-kill
 *
 * Channels across kills: a child program runs a group of 3 worker threads
 * or 3 child processes (`chan-part.ts`) that send each other numbered messages at every step,
 * checkpointing every 30 ms, and is SIGKILLed — the whole process, threads
 * and all — at random moments, then restarted until it finishes. Each part
 * checks at every message that each sender's numbers come in order without a
 * gap or a repeat (a part that sees one throws and the run fails), and at
 * the end every part must have received every number of every other part
 * exactly once: its count and its sum. Kills: CKPT_KILL_ROUNDS (default 3).
 */
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { reapChildren } from '../helpers/child-process.js';
import { gone, killRounds, running, type GroupEvent } from './kill-rounds.js';

const CHILD = new URL('./chan-child.ts', import.meta.url).pathname;
const KILLS = Number(process.env['CKPT_KILL_ROUNDS'] ?? 3);
const PARTS = 3;
const STEPS = 6000;

interface Event extends GroupEvent {
  readonly pid?: number;
  readonly results?: { part: number; got: number[]; sum: number[] }[];
}

afterEach(reapChildren);

/** Child pids of the rounds with child-process parts, SIGKILLed if still running after a test. */
const pids = new Set<number>();
afterEach(() => {
  for (const pid of pids) if (running(pid)) process.kill(pid, 'SIGKILL');
  pids.clear();
});

describe.each(['threads', 'children'] as const)('channels between 3 parts (%s), the group SIGKILLed at random moments', (mode) => {
  it(`delivers every message exactly once, in order per sender (${String(KILLS)} kills)`, async () => {
    // Children: fewer, heavier steps — enough group checkpoints per round, a shorter last round.
    const steps = mode === 'children' ? STEPS / 2 : STEPS;
    const dir = await mkdtemp(join(tmpdir(), 'ckpt-chan-kill-'));
    try {
      let resumed = 0;
      const done = await killRounds<Event>({
        program: CHILD,
        // Children: more work per step, so their exchange outlasts several group checkpoints (IPC is slower than a port).
        args: [dir, String(PARTS), String(steps), mode, mode === 'children' ? '200000' : '20000'],
        kills: KILLS,
        afterCheckpoints: 4,
        maxDelayMs: 40,
        onRound: async (events, killed, lastEpoch) => {
          const starts = events.filter((e) => e.event === 'part-start');
          for (const s of starts) {
            expect(s.restoredEpoch).toBeGreaterThanOrEqual(lastEpoch);
            if (lastEpoch > 0 && (s.step ?? 0) > 0 && (s.step ?? 0) < steps) resumed++;
          }
          if (mode === 'children') {
            const children = starts.map((s) => s.pid!);
            for (const pid of children) pids.add(pid);
            // Orphaned by the kill, the children see their coordinator gone and exit on their own; otherwise it reaped them.
            expect(await gone(children, killed ? 10_000 : 0), 'child processes left running').toEqual([]);
          }
        },
      });
      // At least one restart resumed parts in the middle of their exchange (else the kills tested nothing).
      expect(resumed).toBeGreaterThan(0);
      const total = (steps * (steps + 1)) / 2;
      for (let p = 0; p < PARTS; p++) {
        const r = done.results![p]!;
        expect(r.got).toEqual(Array.from({ length: PARTS }, (_, q) => (q === p ? 0 : steps)));
        expect(r.sum).toEqual(Array.from({ length: PARTS }, (_, q) => (q === p ? 0 : total)));
      }
    } finally {
      await rm(dir, { recursive: true, force: true });
    }
  }, 180_000);
});
