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
import { reapChildren, startNodeChild, tsxArgs } from '../helpers/child-process.js';

const CHILD = new URL('./chan-child.ts', import.meta.url).pathname;
const KILLS = Number(process.env['CKPT_KILL_ROUNDS'] ?? 3);
const PARTS = 3;
const STEPS = 6000;

interface Event {
  readonly event: string;
  readonly part?: number;
  readonly step?: number | null;
  readonly epoch?: number;
  readonly restoredEpoch?: number;
  readonly results?: { part: number; got: number[]; sum: number[] }[];
}

afterEach(reapChildren);

describe('channels between 3 worker threads, the group SIGKILLed at random moments', () => {
  it(`delivers every message exactly once, in order per sender (${String(KILLS)} kills)`, async () => {
    const dir = await mkdtemp(join(tmpdir(), 'ckpt-chan-kill-'));
    try {
      let kills = 0;
      let lastEpoch = 0;
      let done: Event | undefined;
      let resumed = 0;
      for (let attempt = 0; attempt < KILLS + 6 && done === undefined; attempt++) {
        const killAt = kills < KILLS ? 1 + Math.floor(Math.random() * 4) : Infinity;
        let seen = 0;
        const events: Event[] = [];
        const child = startNodeChild({
          args: tsxArgs(CHILD, dir, String(PARTS), String(STEPS)),
          onStdoutLine: (line) => {
            const ev = JSON.parse(line) as Event;
            events.push(ev);
            if (ev.event === 'checkpoint' && ++seen === killAt) child.killAfter(Math.floor(Math.random() * 40));
          },
        });
        const exit = await child.exited;
        if (exit.signal === 'SIGKILL') kills++;
        else expect(exit, child.stderr).toEqual({ code: 0, signal: null });
        const starts = events.filter((e) => e.event === 'part-start');
        for (const s of starts) {
          expect(s.restoredEpoch).toBeGreaterThanOrEqual(lastEpoch);
          if (lastEpoch > 0 && (s.step ?? 0) > 0 && (s.step ?? 0) < STEPS) resumed++;
        }
        for (const e of events) if (e.event === 'checkpoint') lastEpoch = Math.max(lastEpoch, e.epoch!);
        done = events.find((e) => e.event === 'done');
      }
      expect(kills).toBe(KILLS);
      expect(done, 'the group never finished').toBeDefined();
      // At least one restart resumed parts in the middle of their exchange (else the kills tested nothing).
      expect(resumed).toBeGreaterThan(0);
      const total = (STEPS * (STEPS + 1)) / 2;
      for (let p = 0; p < PARTS; p++) {
        const r = done!.results![p]!;
        expect(r.got).toEqual(Array.from({ length: PARTS }, (_, q) => (q === p ? 0 : STEPS)));
        expect(r.sum).toEqual(Array.from({ length: PARTS }, (_, q) => (q === p ? 0 : total)));
      }
    } finally {
      await rm(dir, { recursive: true, force: true });
    }
  }, 180_000);
});
