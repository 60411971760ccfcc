/**
 * @module test/group/channel-kill
 *
 * Channels across kills: a child program runs a group of 3 worker threads
 * (`chan-part.ts`) that send each other numbered messages at every step,
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
import { killRounds, type GroupEvent } from './kill-rounds.js';

const CHILD = new URL('./chan-child.ts', import.meta.url).pathname;
const KILLS = Number(process.env['CKPT_KILL_ROUNDS'] ?? 3);
const PARTS = 3;
const STEPS = 6000;

interface Event extends GroupEvent {
  readonly results?: { part: number; got: number[]; sum: number[] }[];
}

afterEach(reapChildren);

describe('channels between 3 worker threads, the group SIGKILLed at random moments', () => {
  it(`delivers every message exactly once, in order per sender (${String(KILLS)} kills)`, async () => {
    const dir = await mkdtemp(join(tmpdir(), 'ckpt-chan-kill-'));
    try {
      let resumed = 0;
      const done = await killRounds<Event>({
        program: CHILD,
        args: [dir, String(PARTS), String(STEPS)],
        kills: KILLS,
        afterCheckpoints: 4,
        maxDelayMs: 40,
        onRound: (events, _killed, lastEpoch) => {
          for (const s of events.filter((e) => e.event === 'part-start')) {
            expect(s.restoredEpoch).toBeGreaterThanOrEqual(lastEpoch);
            if (lastEpoch > 0 && (s.step ?? 0) > 0 && (s.step ?? 0) < STEPS) resumed++;
          }
        },
      });
      // At least one restart resumed parts in the middle of their exchange (else the kills tested nothing).
      expect(resumed).toBeGreaterThan(0);
      const total = (STEPS * (STEPS + 1)) / 2;
      for (let p = 0; p < PARTS; p++) {
        const r = done.results![p]!;
        expect(r.got).toEqual(Array.from({ length: PARTS }, (_, q) => (q === p ? 0 : STEPS)));
        expect(r.sum).toEqual(Array.from({ length: PARTS }, (_, q) => (q === p ? 0 : total)));
      }
    } finally {
      await rm(dir, { recursive: true, force: true });
    }
  }, 180_000);
});
