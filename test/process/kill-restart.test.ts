/**
 * @module test/process/kill-restart
 *
 * A child program checkpoints every N steps and is SIGKILLed at random
 * moments, again and again; every restart must resume from a committed
 * checkpoint, and the final result must equal an uninterrupted run's.
 * Rounds: CKPT_KILL_ROUNDS (default 4; raise it for a longer run).
 */
import { mkdtemp, readdir, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { reapChildren, startNodeChild, tsxArgs } from '../helpers/child-process.js';

const CHILD = new URL('./child-sim.ts', import.meta.url).pathname;
const ROUNDS = Number(process.env['CKPT_KILL_ROUNDS'] ?? 4);
const STEPS = 300;
const EVERY = 10;

interface Run {
  events: { event: string; step: number; hash?: string; fellBack?: boolean }[];
  code: number | null;
  signal: NodeJS.Signals | null;
}

afterEach(reapChildren);

async function run(dir: string, killAfterMs?: number): Promise<Run> {
  const events: Run['events'] = [];
  const child = startNodeChild({
    args: tsxArgs(CHILD, dir, String(STEPS), String(EVERY)),
    onStdoutLine: (line) => {
      const ev = JSON.parse(line) as Run['events'][number];
      events.push(ev);
      // Start the kill clock once the program is running (past module loading).
      if (killAfterMs !== undefined && (ev.event === 'fresh' || ev.event === 'resumed')) child.killAfter(killAfterMs);
    },
  });
  const { code, signal } = await child.exited;
  if (code !== 0 && signal === null) throw new Error(`child exited ${code}: ${child.stderr}`);
  return { events, code, signal };
}

describe('SIGKILL at random moments', () => {
  it(`resumes from a committed checkpoint every time and ends with the uninterrupted result (${ROUNDS} rounds)`, async () => {
    const root = await mkdtemp(join(tmpdir(), 'ckpt-kill-'));
    try {
      const ref = await run(join(root, 'ref'));
      const refDone = ref.events.find((e) => e.event === 'done');
      expect(refDone?.step).toBe(STEPS);

      let kills = 0;
      for (let round = 0; round < ROUNDS; round++) {
        const dir = join(root, `r${round}`);
        let lastCommitted = 0;
        let done: Run['events'][number] | undefined;
        for (let attempt = 0; attempt < 60 && done === undefined; attempt++) {
          const r = await run(dir, 20 + Math.floor(Math.random() * 250));
          const start = r.events[0];
          expect(start).toBeDefined();
          // A restart resumes at a checkpoint boundary no older than the last one we saw committed.
          if (attempt === 0) expect(start!.event).toBe('fresh');
          else if (start!.event === 'resumed') {
            expect(start!.step % EVERY).toBe(0);
            expect(start!.step).toBeGreaterThanOrEqual(lastCommitted);
            expect(start!.fellBack).toBe(false);
          } else {
            expect(lastCommitted).toBe(0);
          }
          for (const e of r.events) if (e.event === 'checkpoint') lastCommitted = e.step;
          if (r.signal === 'SIGKILL') kills++;
          done = r.events.find((e) => e.event === 'done');
        }
        expect(done, `round ${round} never finished`).toBeDefined();
        expect(done!.hash).toBe(refDone!.hash);
        // No temporary files survive a finished run.
        const names = await readdir(dir);
        expect(names.filter((n) => n.endsWith('.partial'))).toEqual([]);
      }
      expect(kills).toBeGreaterThan(0);
    } finally {
      await rm(root, { recursive: true, force: true });
    }
  }, 300_000);
});
