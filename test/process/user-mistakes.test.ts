// The new user's mistakes with real processes (child-loop.ts, a ckpt.loop()
// program on an FsStore): a second writer started on a running job's store
// fails at once, before its first iteration; after SIGTERM the program sees
// that it was stopped (stopped, stopReason, stopExitCode 143); a fallback past
// a damaged newest image is printed on stderr when the program has no
// 'warning' listener.
import { afterEach, describe, expect, it } from 'vitest';
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { FsStore } from '../../src/index.js';
import { reapChildren, startLoopChild, type LoopChild, type LoopEvent } from './spawn-loop.js';

const dirs: string[] = [];
afterEach(async () => {
  await reapChildren();
  for (const d of dirs.splice(0)) await rm(d, { recursive: true, force: true });
});

async function tempDir(): Promise<string> {
  const d = await mkdtemp(join(tmpdir(), 'ckpt-mistakes-'));
  dirs.push(d);
  return d;
}

function run(dir: string, env: Record<string, string | number> = {}): LoopChild {
  const e: Record<string, string> = { CKPT_DIR: dir, CKPT_SIZE: '2000', CKPT_ITER_MS: '1' };
  for (const [k, v] of Object.entries(env)) e[k] = String(v);
  return startLoopChild(e);
}

const is = (event: LoopEvent['event']) => (e: LoopEvent) => e.event === event;

describe('user mistakes in real processes', () => {
  it('a second writer on a running job fails at once with LOCKED naming lockWaitMs, before any iteration; the first is stopped by SIGTERM and says so', async () => {
    const dir = await tempDir();
    const first = run(dir, { CKPT_UNTIL: 10_000_000 });
    await first.waitFor(is('running'), 30_000);

    const second = run(dir, { CKPT_UNTIL: 100, CKPT_LOCK_WAIT_MS: 0 });
    const exit = await second.exited;
    expect(exit.code).not.toBe(0);
    expect(second.stderr).toContain('CKPT_ERR_LOCKED');
    expect(second.stderr).toContain('lockWaitMs');
    expect(second.stderr).toContain(`pid ${String(first.process.pid)}`);
    expect(second.events.filter((e) => e.event === 'running' || e.event === 'progress')).toEqual([]);

    first.signal('SIGTERM');
    const done = await first.waitFor(is('done'), 30_000);
    expect((await first.exited).code).toBe(0);
    expect(done.stopped).toBe(true);
    expect(done.stopReason).toBe('SIGTERM');
    expect(done.stopExitCode).toBe(143);
  });

  it('a run that reaches its end is not stopped', async () => {
    const dir = await tempDir();
    const child = run(dir, { CKPT_UNTIL: 20 });
    const done = await child.waitFor(is('done'), 30_000);
    expect([done.stopped, done.stopReason, done.stopExitCode]).toEqual([false, null, null]);
  });

  it('falling back past a damaged newest image is printed on stderr with its code when nobody listens', async () => {
    const dir = await tempDir();
    const a = run(dir, { CKPT_UNTIL: 40, CKPT_EVERY_STEPS: 10 });
    await a.waitFor(is('done'), 30_000);
    await a.exited;
    const [newest] = await new FsStore(dir).list();
    const path = join(dir, `${newest!.id}.ckpt`);
    const bytes = await readFile(path);
    bytes[Math.floor(bytes.length / 2)]! ^= 0xff;
    await writeFile(path, bytes);

    const b = run(dir, { CKPT_UNTIL: 40 });
    const restored = await b.waitFor(is('restored'), 30_000);
    await b.exited;
    expect(restored.fellBack).toBe(true);
    expect(b.stderr).toContain('[CKPT_WARN_IMAGE_SKIPPED] CkptWarning:');
  });
});
