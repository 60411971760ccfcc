// Stale-lock recovery raced by several real processes: each round a dead
// process's lock is in the directory and four processes try to take the lock
// at the same moment. Exactly one wins every round, the others get
// CKPT_ERR_LOCKED, and the winner's release leaves no lock and no recovery
// token behind (a process is never locked out of the store by its own lock).
import { afterEach, describe, expect, it } from 'vitest';
import { mkdtemp, readdir, rm, writeFile } from 'node:fs/promises';
import { hostname, tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { LOCK_FILE_NAME } from '../../src/store/fs-lock.js';
import { spawn, type ChildProcess } from 'node:child_process';
import { createInterface } from 'node:readline';

const racerScript = fileURLToPath(new URL('./helpers/lock-racer.ts', import.meta.url));
const repoRoot = fileURLToPath(new URL('../../', import.meta.url));
const roots: string[] = [];

const started: Racer[] = [];

afterEach(async () => {
  // Kill and reap every racer still running.
  for (const r of started.splice(0)) {
    if (r.proc.exitCode === null && r.proc.signalCode === null) r.proc.kill('SIGKILL');
    await r.exited;
  }
  for (const root of roots.splice(0)) await rm(root, { recursive: true, force: true });
});

interface Racer {
  readonly proc: ChildProcess;
  readonly exited: Promise<{ code: number | null; signal: NodeJS.Signals | null }>;
  stderr(): string;
  next(): Promise<string>;
  send(line: string): void;
}

function startRacer(dir: string): Racer {
  const lines: string[] = [];
  const waiting: ((line: string) => void)[] = [];
  const proc = spawn(process.execPath, ['--import', 'tsx', racerScript, dir], { cwd: repoRoot, stdio: ['pipe', 'pipe', 'pipe'] });
  const exited = new Promise<{ code: number | null; signal: NodeJS.Signals | null }>((resolve) => proc.once('close', (code, signal) => resolve({ code, signal })));
  let err = '';
  proc.stderr.on('data', (d: Buffer) => (err += d.toString()));
  createInterface({ input: proc.stdout }).on('line', (line) => {
    const w = waiting.shift();
    if (w !== undefined) w(line);
    else lines.push(line);
  });
  const racer: Racer = {
    proc,
    exited,
    stderr: () => err,
    next: () => {
      const l = lines.shift();
      if (l !== undefined) return Promise.resolve(l);
      return new Promise((resolve, reject) => {
        waiting.push(resolve);
        void exited.then((x) => reject(new Error(`racer exited ${JSON.stringify(x)}: ${err}`)));
      });
    },
    send: (line) => void proc.stdin.write(`${line}\n`),
  };
  started.push(racer);
  return racer;
}

describe('FsStore writer lock: stale-lock recovery raced by four processes', () => {
  it('exactly one winner per round; release removes the lock and every recovery token', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'ckpt-lock-race-'));
    roots.push(dir);
    const racers = Array.from({ length: 4 }, () => startRacer(dir));
    for (const r of racers) expect(await r.next()).toBe('ready');
    const rounds = 25;
    const winners: number[] = [];
    for (let round = 0; round < rounds; round++) {
      const dead = { pid: 2 ** 22 + 1000 + round, hostname: hostname(), token: `dead-${round}`, startedAt: new Date().toISOString(), procStart: null };
      await writeFile(join(dir, LOCK_FILE_NAME), JSON.stringify(dead));
      for (const r of racers) r.send('go');
      const results = await Promise.all(racers.map((r) => r.next()));
      const won = results.flatMap((x, i) => (x === 'won' ? [i] : []));
      expect(won.length, `round ${round}: ${JSON.stringify(results)}`).toBe(1);
      expect(results.filter((x) => x !== 'won').every((x) => x === 'lost CKPT_ERR_LOCKED'), JSON.stringify(results)).toBe(true);
      const winner = racers[won[0]!]!;
      winner.send('release');
      expect(await winner.next()).toBe('released');
      expect(await readdir(dir), `round ${round}`).toEqual([]);
      winners.push(won[0]!);
    }
    expect(winners.length).toBe(rounds);
    for (const r of racers) r.proc.stdin?.end();
    for (const r of racers) expect(await r.exited, r.stderr()).toEqual({ code: 0, signal: null });
  }, 120_000);
});
