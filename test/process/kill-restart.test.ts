// A child program checkpoints every N steps and is SIGKILLed at random
// moments, again and again; every restart must resume from a committed
// checkpoint, and the final result must equal an uninterrupted run's.
// Rounds: CKPT_KILL_ROUNDS (default 4; raise it for a longer run).
import { spawn, type ChildProcess } from 'node:child_process';
import { mkdtemp, readdir, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';

const CHILD = new URL('./child-sim.ts', import.meta.url).pathname;
const ROUNDS = Number(process.env['CKPT_KILL_ROUNDS'] ?? 4);
const STEPS = 300;
const EVERY = 10;

interface Run {
  events: { event: string; step: number; hash?: string; fellBack?: boolean }[];
  code: number | null;
  signal: NodeJS.Signals | null;
}

const children = new Set<ChildProcess>();
afterEach(() => {
  for (const c of children) c.kill('SIGKILL');
  children.clear();
});

function run(dir: string, killAfterMs?: number): Promise<Run> {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, ['--import', 'tsx', CHILD, dir, String(STEPS), String(EVERY)], { stdio: ['ignore', 'pipe', 'pipe'] });
    children.add(child);
    const events: Run['events'] = [];
    let buf = '';
    let stderr = '';
    let timer: NodeJS.Timeout | undefined;
    child.stdout.on('data', (d: Buffer) => {
      buf += d.toString();
      let nl;
      while ((nl = buf.indexOf('\n')) >= 0) {
        const line = buf.slice(0, nl);
        buf = buf.slice(nl + 1);
        const ev = JSON.parse(line) as Run['events'][number];
        events.push(ev);
        // Start the kill clock once the program is running (past module loading).
        if (killAfterMs !== undefined && timer === undefined && (ev.event === 'fresh' || ev.event === 'resumed')) {
          timer = setTimeout(() => child.kill('SIGKILL'), killAfterMs);
        }
      }
    });
    child.stderr.on('data', (d: Buffer) => (stderr += d.toString()));
    child.on('error', reject);
    child.on('exit', (code, signal) => {
      clearTimeout(timer);
      children.delete(child);
      if (code !== 0 && signal === null) reject(new Error(`child exited ${code}: ${stderr}`));
      else resolve({ events, code, signal });
    });
  });
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
