// child-loop.ts (a ckpt.loop() program checkpointing every 10 steps) is
// SIGKILLed at random moments, again and again; every restart must resume from
// a committed checkpoint, and the final result must equal an uninterrupted run.
// Rounds: CKPT_KILL_ROUNDS (default 3).
import { afterEach, describe, expect, it } from 'vitest';
import { mkdtemp, readdir, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { referenceHash } from './loop-sim.js';
import { reapChildren, startLoopChild, type LoopEvent } from './spawn-loop.js';

const ROUNDS = Number(process.env['CKPT_KILL_ROUNDS'] ?? 3);
const UNTIL = 200;
const EVERY = 10;
const SIZE = 20_000;

afterEach(reapChildren);

describe('SIGKILL at random moments during ckpt.loop()', () => {
  it(`resumes from a committed checkpoint every time and ends with the uninterrupted result (${ROUNDS} rounds)`, async () => {
    const root = await mkdtemp(join(tmpdir(), 'ckpt-kill-loop-'));
    const expected = referenceHash(SIZE, UNTIL);
    let kills = 0;
    let resumes = 0;
    try {
      for (let round = 0; round < ROUNDS; round++) {
        const dir = join(root, `r${round}`);
        let lastCommitted = 0;
        let done: LoopEvent | undefined;
        for (let attempt = 0; attempt < 40 && done === undefined; attempt++) {
          const child = startLoopChild({ CKPT_DIR: dir, CKPT_UNTIL: String(UNTIL), CKPT_EVERY_STEPS: String(EVERY), CKPT_SIZE: String(SIZE), CKPT_ITER_MS: '1' });
          // Start the kill clock once the loop runs (past module loading and the restore).
          const killAfter = 10 + Math.floor(Math.random() * 300);
          void child.waitFor((e) => e.event === 'running', 30_000).then(
            () => setTimeout(() => child.process.kill('SIGKILL'), killAfter),
            () => undefined,
          );
          const exit = await child.exited;
          if (exit.signal === 'SIGKILL') kills++;
          else expect(exit, child.stderr).toEqual({ code: 0, signal: null });

          const restored = child.events.find((e) => e.event === 'restored');
          const running = child.events.find((e) => e.event === 'running');
          if (restored !== undefined) {
            resumes++;
            // A committed checkpoint boundary, no older than the last one reported committed.
            expect(restored.step % EVERY).toBe(0);
            expect(restored.step).toBeGreaterThanOrEqual(lastCommitted);
            expect(restored.stateStep).toBe(restored.step);
            expect(restored.fellBack).toBe(false);
            if (running !== undefined) expect(running.step).toBe(restored.step);
          } else if (running !== undefined) {
            expect(running.step).toBe(0);
            expect(lastCommitted).toBe(0);
          }
          for (const e of child.events) if (e.event === 'checkpoint') lastCommitted = e.step;
          done = child.events.find((e) => e.event === 'done');
        }
        expect(done, `round ${round} never finished`).toBeDefined();
        expect(done!.step).toBe(UNTIL);
        expect(done!.hash).toBe(expected);
        expect((await readdir(dir)).filter((n) => n.endsWith('.partial'))).toEqual([]);
      }
      console.log(`kill-loop: ${ROUNDS} rounds, ${kills} SIGKILLs, ${resumes} resumes`);
      expect(kills).toBeGreaterThan(0);
      expect(resumes).toBeGreaterThan(0);
    } finally {
      await rm(root, { recursive: true, force: true });
    }
  }, 400_000); // generous: restarts are slow when the 2 cores are busy
});
