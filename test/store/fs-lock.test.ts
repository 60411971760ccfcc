// The FsStore writer lock: live holders in other processes, stale locks of
// killed processes, reused pids, foreign hosts, garbage lock files, and the
// recovery race.
import { describe, it, expect, afterEach } from 'vitest';
import { spawn } from 'node:child_process';
import type { ChildProcess } from 'node:child_process';
import { mkdtemp, readdir, readFile, rename, rm, utimes, writeFile } from 'node:fs/promises';
import { hostname, tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { FsStore } from '../../src/store/fs-store.js';
import { DEFAULT_UNREADABLE_STALE_MS, FsWriterLock, LOCK_FILE_NAME, parseLockInfo, readProcStart, readProcState } from '../../src/store/fs-lock.js';
import type { LockInfo } from '../../src/store/fs-lock.js';
import { nodeFsOps } from '../../src/store/fs-ops.js';
import { ErrorCodes } from '../../src/errors.js';
import { rejection } from '../helpers/errors.js';
import { FaultyFs } from './helpers/faulty-fs.js';

const childScript = fileURLToPath(new URL('./helpers/lock-holder.ts', import.meta.url));
const repoRoot = fileURLToPath(new URL('../../', import.meta.url));

interface Child {
  readonly proc: ChildProcess;
  readonly exited: Promise<void>;
}
const children: Child[] = [];
const roots: string[] = [];

afterEach(async () => {
  for (const { proc, exited } of children.splice(0)) {
    if (proc.exitCode === null && proc.signalCode === null) proc.kill('SIGKILL');
    await exited; // reaped
  }
  for (const root of roots.splice(0)) await rm(root, { recursive: true, force: true });
});

async function tempDir(): Promise<string> {
  const root = await mkdtemp(join(tmpdir(), 'ckpt-lock-'));
  roots.push(root);
  return root;
}

/** Spawn a child that takes the lock of `dir` through FsStore; resolves once it holds it. */
async function spawnHolder(dir: string): Promise<Child> {
  const proc = spawn(process.execPath, ['--import', 'tsx', childScript, dir], {
    cwd: repoRoot,
    stdio: ['pipe', 'pipe', 'pipe'],
  });
  const exited = new Promise<void>((resolve) => proc.once('exit', () => resolve()));
  const child = { proc, exited };
  children.push(child);
  let out = '';
  let err = '';
  proc.stderr.on('data', (d: Buffer) => (err += d.toString()));
  await new Promise<void>((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`lock holder did not start in time: ${err}`)), 30_000);
    proc.stdout.on('data', (d: Buffer) => {
      out += d.toString();
      if (out.includes('ready')) {
        clearTimeout(timer);
        resolve();
      }
    });
    proc.once('exit', (code) => {
      clearTimeout(timer);
      reject(new Error(`lock holder exited with ${String(code)} before taking the lock: ${err}`));
    });
  });
  return child;
}

async function writeLock(dir: string, info: Partial<LockInfo> | string, ageMs = 0): Promise<string> {
  const path = join(dir, LOCK_FILE_NAME);
  const full: LockInfo | string =
    typeof info === 'string'
      ? info
      : { pid: process.pid, hostname: hostname(), token: 'someone-else', startedAt: new Date().toISOString(), procStart: null, ...info };
  await writeFile(path, typeof full === 'string' ? full : JSON.stringify(full));
  if (ageMs > 0) {
    const t = (Date.now() - ageMs) / 1000;
    await utimes(path, t, t);
  }
  return path;
}

async function lockInfoOf(dir: string): Promise<LockInfo | undefined> {
  return parseLockInfo(await readFile(join(dir, LOCK_FILE_NAME)));
}

describe('FsStore writer lock across processes', () => {
  it('a live child holding the lock → LOCKED naming its pid; after SIGKILL the stale lock is recovered', async () => {
    const dir = await tempDir();
    const child = await spawnHolder(dir);
    const pid = child.proc.pid!;
    const info = await lockInfoOf(dir);
    expect(info?.pid).toBe(pid);
    expect(info?.hostname).toBe(hostname());
    if (process.platform === 'linux') expect(info?.procStart).toBe(await readProcStart(nodeFsOps, pid));

    const store = new FsStore(dir);
    const err = await rejection(store.acquireWriter());
    expect(err.code).toBe(ErrorCodes.LOCKED);
    expect(err.message).toContain(`pid ${pid}`);
    expect(err.message).toMatch(/waitMs/);

    // A waiting writer gets the lock once the holder dies (and is reaped).
    const waiting = store.acquireWriter({ waitMs: 20_000 });
    setTimeout(() => child.proc.kill('SIGKILL'), 200);
    const lock = await waiting;
    await child.exited;
    expect((await lockInfoOf(dir))?.pid).toBe(process.pid);
    await lock.assertHeld();
    expect((await readdir(dir)).filter((n) => n.startsWith('.ckpt-lock.stale-'))).toEqual([]);
    await lock.release();
    expect(await readdir(dir)).toEqual([]);
  });

  it.runIf(process.platform === 'linux')('recovers at once the lock of a killed holder its parent has not reaped (a zombie)', async () => {
    const dir = await tempDir();
    // sh starts the holder in the background, then becomes `sleep`, which never
    // reaps it: once SIGKILLed the holder stays a zombie until sleep is killed
    // (afterEach kills and reaps it; the zombie is then reaped by init).
    const proc = spawn(
      'sh',
      ['-c', 'exec 3<&0; "$0" --import tsx "$1" "$2" <&3 & exec sleep 600', process.execPath, childScript, dir],
      { cwd: repoRoot, stdio: ['pipe', 'pipe', 'pipe'] },
    );
    const exited = new Promise<void>((resolve) => proc.once('exit', () => resolve()));
    children.push({ proc, exited });
    let out = '';
    const holderPid = await new Promise<number>((resolve, reject) => {
      const timer = setTimeout(() => reject(new Error('lock holder did not start in time')), 30_000);
      proc.stdout.on('data', (d: Buffer) => {
        out += d.toString();
        const m = /ready (\d+)/.exec(out);
        if (m !== null) {
          clearTimeout(timer);
          resolve(Number(m[1]));
        }
      });
    });
    expect((await lockInfoOf(dir))?.pid).toBe(holderPid);
    process.kill(holderPid, 'SIGKILL');
    let state = '';
    for (let i = 0; i < 1000 && state !== 'Z'; i++) {
      state = (await readProcState(nodeFsOps, holderPid)) ?? '';
      if (state !== 'Z') await new Promise((r) => setTimeout(r, 10));
    }
    expect(state).toBe('Z');
    expect(() => process.kill(holderPid, 0)).not.toThrow(); // kill(pid, 0) still sees it
    const lock = await new FsStore(dir).acquireWriter(); // waitMs 0
    expect((await lockInfoOf(dir))?.pid).toBe(process.pid);
    await lock.release();
    expect(await readdir(dir)).toEqual([]);
  });

  it('recovers the lock of a killed child without waiting', async () => {
    const dir = await tempDir();
    const child = await spawnHolder(dir);
    child.proc.kill('SIGKILL');
    await child.exited;
    const lock = await new FsStore(dir).acquireWriter();
    expect((await lockInfoOf(dir))?.pid).toBe(process.pid);
    await lock.release();
  });
});

describe('FsStore writer lock: stale and foreign lock files', () => {
  it.runIf(process.platform === 'linux')('treats a lock whose pid now belongs to another process as stale', async () => {
    const dir = await tempDir();
    // Our own pid is alive, but the recorded start time is not ours: pid reuse.
    await writeLock(dir, { pid: process.pid, procStart: '1' });
    const lock = await new FsStore(dir).acquireWriter();
    expect((await lockInfoOf(dir))?.token).not.toBe('someone-else');
    await lock.release();
  });

  it('treats a lock of a live pid with the same start time as live', async () => {
    const dir = await tempDir();
    await writeLock(dir, { pid: process.pid, procStart: await readProcStart(nodeFsOps, process.pid) });
    const err = await rejection(new FsStore(dir).acquireWriter());
    expect(err.code).toBe(ErrorCodes.LOCKED);
    expect(err.message).toContain(`pid ${process.pid}`);
  });

  it('treats a lock from another host as live and says so', async () => {
    const dir = await tempDir();
    await writeLock(dir, { hostname: 'some-other-host.example', pid: 999_999_999 }, 60_000);
    const err = await rejection(new FsStore(dir).acquireWriter());
    expect(err.code).toBe(ErrorCodes.LOCKED);
    expect(err.message).toContain('some-other-host.example');
    expect(err.message).toMatch(/another host/);
    expect(err.message).toContain(join(dir, LOCK_FILE_NAME));
    expect((await lockInfoOf(dir))?.token).toBe('someone-else');
  });

  it('treats a lock of a pid that does not exist as stale', async () => {
    const dir = await tempDir();
    await writeLock(dir, { pid: 2 ** 22 + 12_345 }); // above Linux's largest pid_max
    const lock = await new FsStore(dir).acquireWriter();
    await lock.release();
  });

  it(`recovers an unreadable lock file older than ${DEFAULT_UNREADABLE_STALE_MS} ms, not a fresh one`, async () => {
    const dir = await tempDir();
    await writeLock(dir, '{"pid": 12');
    const err = await rejection(new FsStore(dir).acquireWriter());
    expect(err.code).toBe(ErrorCodes.LOCKED);
    expect(err.message).toMatch(/cannot be read yet/);
    await writeLock(dir, '', DEFAULT_UNREADABLE_STALE_MS + 2_000); // empty: died between create and write
    const lock = await new FsStore(dir).acquireWriter();
    await lock.release();
    await writeLock(dir, 'garbage', DEFAULT_UNREADABLE_STALE_MS + 2_000);
    const again = await new FsStore(dir).acquireWriter();
    await again.release();
    expect(await readdir(dir)).toEqual([]);
  });

  it('honours a custom unreadableStaleMs', async () => {
    const dir = await tempDir();
    await writeLock(dir, 'garbage', 200);
    const lock = await FsWriterLock.acquire(dir, { unreadableStaleMs: 100 });
    await lock.release();
  });
});

describe('FsStore writer lock: ownership', () => {
  it('assertHeld fails with LOCKED once the lock file was replaced or removed; release leaves foreign locks alone', async () => {
    const dir = await tempDir();
    const store = new FsStore(dir);
    const lock = await store.acquireWriter();
    const sink = await store.create(lock);
    await sink.write(new Uint8Array(4));
    await writeLock(dir, { token: 'thief' });
    const lost = await rejection(lock.assertHeld());
    expect(lost.code).toBe(ErrorCodes.LOCKED);
    expect(lost.message).toMatch(/lost/);
    const commitErr = await rejection(sink.commit());
    expect(commitErr.code).toBe(ErrorCodes.LOCKED);
    expect(await readdir(dir)).toEqual([LOCK_FILE_NAME]); // temp file removed
    await lock.release();
    expect((await lockInfoOf(dir))?.token).toBe('thief');
    await rm(join(dir, LOCK_FILE_NAME));

    const second = await store.acquireWriter();
    await rm(join(dir, LOCK_FILE_NAME));
    expect((await rejection(second.assertHeld())).message).toMatch(/removed/);
    await second.release(); // nothing to remove, no error
  });

  it('when the stale lock was replaced by a new holder before the recovery token was taken, leaves the new lock alone and reports LOCKED', async () => {
    const dir = await tempDir();
    await writeLock(dir, { pid: 2 ** 22 + 12_345, token: 'dead' });
    const fs = new FaultyFs();
    const newHolder = JSON.stringify({
      pid: process.pid,
      hostname: hostname(),
      token: 'new-holder',
      startedAt: new Date().toISOString(),
      procStart: await readProcStart(nodeFsOps, process.pid),
    });
    const ops: string[] = [];
    fs.before = async (op, p) => {
      ops.push(`${op} ${p.slice(dir.length + 1)}`);
      if (op !== 'open' || !p.includes('.ckpt-lock.stale-')) return;
      fs.before = undefined;
      // Another process recovered the dead lock and took the lock just before our token.
      await rm(join(dir, LOCK_FILE_NAME));
      await writeFile(join(dir, LOCK_FILE_NAME), newHolder);
    };
    const err = await rejection(new FsStore(dir, { fs }).acquireWriter());
    expect(err.code).toBe(ErrorCodes.LOCKED);
    expect((await lockInfoOf(dir))?.token).toBe('new-holder');
    expect(await readdir(dir)).toEqual([LOCK_FILE_NAME]); // token removed, nothing moved aside
    expect(ops.filter((o) => o.startsWith('rename'))).toEqual([]);
  });

  it('a recovery token held by a live process makes others report LOCKED; one whose holder died is passed over', async () => {
    const dir = await tempDir();
    await writeLock(dir, { pid: 2 ** 22 + 12_345, token: 'dead' });
    const fs = new FaultyFs();
    const live = JSON.stringify({ pid: process.ppid, hostname: hostname(), token: 'recoverer', startedAt: new Date().toISOString(), procStart: null });
    const dead = JSON.stringify({ pid: 2 ** 22 + 54_321, hostname: hostname(), token: 'dead-recoverer', startedAt: new Date().toISOString(), procStart: null });
    let content = live;
    fs.before = async (op, p) => {
      if (op === 'open' && p.endsWith('.1') && p.includes('.ckpt-lock.stale-')) await writeFile(p, content, { flag: 'wx' }).catch(() => undefined);
    };
    const busy = await rejection(new FsStore(dir, { fs }).acquireWriter());
    expect(busy.code).toBe(ErrorCodes.LOCKED);
    expect(busy.message).toMatch(/recovering/);
    expect((await lockInfoOf(dir))?.token).toBe('dead');
    // The recoverer dies: its token (generation 1) is passed over with generation 2.
    for (const n of await readdir(dir)) if (n.includes('.ckpt-lock.stale-')) await rm(join(dir, n));
    content = dead;
    const lock = await new FsStore(dir, { fs }).acquireWriter();
    expect((await lockInfoOf(dir))?.pid).toBe(process.pid);
    await lock.release();
  });

  it('adopts its own lock when a recovering process moved it aside and put it back', async () => {
    const dir = await tempDir();
    const path = join(dir, LOCK_FILE_NAME);
    const aside = join(dir, 'moved-aside');
    const fs = new FaultyFs();
    let phase = 0;
    fs.before = async (op, p) => {
      if (p !== path) return;
      if (phase === 0 && op === 'stat') {
        // Right after our lock was written: another process moves it aside…
        phase = 1;
        await rename(path, aside);
      } else if (phase === 1 && op === 'open') {
        // …and puts it back just before our next attempt.
        phase = 2;
        await rename(aside, path);
      }
    };
    const lock = await new FsStore(dir, { fs }).acquireWriter();
    expect(phase).toBe(2);
    await lock.assertHeld();
    await lock.release();
    expect(await readdir(dir)).toEqual([]);
  });
});
