// Concurrency across processes: a writer child (writer-child.ts) checkpoints
// in a loop while this process
// - tries to write to the same store → CKPT_ERR_LOCKED naming the writer, or
//   waits with lockWaitMs and takes over when the writer closes;
// - recovers the stale lock of a writer killed with SIGKILL, restoring its
//   newest image and removing its leftovers;
// - reads while the writer writes and prunes: FsStore.list(), openImageFile(),
//   Checkpointer.list() and restore() never see a damaged or half-written image.
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { spawn, type ChildProcess } from 'node:child_process';
import { mkdtemp, readdir, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { Checkpointer, ErrorCodes, FsStore, isCkptError } from '../../src/index.js';
import { openImageFile } from '../../src/format/index.js';
import { childCommand, type ChildCommand } from './child-command.js';

const CHILD = fileURLToPath(new URL('./writer-child.ts', import.meta.url));

interface WriterEvent {
  e: 'ready' | 'committed' | 'closed' | 'error';
  pid?: number;
  id?: string;
  n?: number;
  restored?: string | null;
  code?: string;
  message?: string;
}

interface Writer {
  readonly proc: ChildProcess;
  readonly events: WriterEvent[];
  readonly exited: Promise<{ code: number | null; signal: NodeJS.Signals | null }>;
  waitFor(pred: (e: WriterEvent) => boolean, timeoutMs?: number): Promise<WriterEvent>;
  stderr(): string;
}

let cmd: ChildCommand;
const writers: Writer[] = [];
const roots: string[] = [];

beforeAll(async () => {
  cmd = await childCommand(CHILD);
});
afterAll(async () => {
  await cmd.dispose();
});
afterEach(async () => {
  for (const w of writers.splice(0)) {
    if (w.proc.exitCode === null && w.proc.signalCode === null) w.proc.kill('SIGKILL');
    await w.exited;
  }
  for (const r of roots.splice(0)) await rm(r, { recursive: true, force: true });
});

async function tempDir(): Promise<string> {
  const d = await mkdtemp(join(tmpdir(), 'ckpt-concurrency-'));
  roots.push(d);
  return d;
}

function startWriter(dir: string, env: Record<string, string> = {}): Writer {
  const proc = spawn(cmd.command, [...cmd.args], { stdio: ['pipe', 'pipe', 'pipe'], env: { ...process.env, CKPT_DIR: dir, ...env } });
  const events: WriterEvent[] = [];
  const waiters: { pred: (e: WriterEvent) => boolean; resolve: (e: WriterEvent) => void }[] = [];
  let out = '';
  let err = '';
  proc.stderr.on('data', (d: Buffer) => (err += d.toString()));
  proc.stdout.on('data', (d: Buffer) => {
    out += d.toString();
    let nl;
    while ((nl = out.indexOf('\n')) >= 0) {
      const ev = JSON.parse(out.slice(0, nl)) as WriterEvent;
      out = out.slice(nl + 1);
      events.push(ev);
      for (const w of waiters.splice(0)) {
        if (w.pred(ev)) w.resolve(ev);
        else waiters.push(w);
      }
    }
  });
  const exited = new Promise<{ code: number | null; signal: NodeJS.Signals | null }>((resolve) => proc.once('close', (code, signal) => resolve({ code, signal })));
  const w: Writer = {
    proc,
    events,
    exited,
    stderr: () => err,
    waitFor(pred, timeoutMs = 30_000) {
      const seen = events.find(pred);
      if (seen !== undefined) return Promise.resolve(seen);
      return new Promise((resolve, reject) => {
        const timer = setTimeout(() => reject(new Error(`writer: timed out; events ${JSON.stringify(events.slice(-3))}; stderr ${err}`)), timeoutMs);
        waiters.push({
          pred,
          resolve: (e) => {
            clearTimeout(timer);
            resolve(e);
          },
        });
        void exited.then((x) => {
          clearTimeout(timer);
          reject(new Error(`writer exited ${JSON.stringify(x)} first; events ${JSON.stringify(events.slice(-3))}; stderr ${err}`));
        });
      });
    },
  };
  writers.push(w);
  return w;
}

/** A Checkpointer in this process over the writer's directory, with the same provider. */
function local(dir: string, options: { lockWaitMs?: number; readOnly?: boolean } = {}): { ckpt: Checkpointer; state: { n: number; data: Float64Array }; warnings: string[] } {
  const ckpt = new Checkpointer({ store: dir, retention: { keepLast: 2 }, signals: false, ...options });
  const state: { n: number; data: Float64Array } = { n: -1, data: new Float64Array(0) };
  const warnings: string[] = [];
  ckpt.register<{ n: number; data: Float64Array }>({
    id: 'data',
    snapshot: () => ({ n: state.n, data: state.data }),
    restore: (s) => {
      state.n = s.n;
      state.data = s.data;
    },
  });
  ckpt.on('warning', (w) => void warnings.push(w.code));
  return { ckpt, state, warnings };
}

/** The image's state is whole: every element of the array equals the counter. */
function consistent(s: { n: number; data: Float64Array }): boolean {
  return s.data.length > 0 && s.data.every((x) => x === s.n);
}

describe('two processes on one store', () => {
  it('the second writer gets CKPT_ERR_LOCKED naming the first; it can list and restore meanwhile', async () => {
    const dir = await tempDir();
    const writer = startWriter(dir, { CKPT_INTERVAL_MS: '20' });
    const ready = await writer.waitFor((e) => e.e === 'ready');
    await writer.waitFor((e) => e.e === 'committed');
    const { ckpt, state } = local(dir);
    state.n = 1000;
    state.data = new Float64Array(10).fill(1000);
    const err = await ckpt.checkpoint().catch((e: unknown) => e);
    expect(isCkptError(err, ErrorCodes.LOCKED), String(err)).toBe(true);
    expect((err as Error).message).toContain(`pid ${ready.pid!}`);
    expect((await ckpt.list()).length).toBeGreaterThan(0);
    // A writer's restore() takes the lock first: LOCKED too. A read-only one restores.
    expect(isCkptError(await ckpt.restore().catch((e: unknown) => e), ErrorCodes.LOCKED)).toBe(true);
    await ckpt.close();
    const reader = local(dir, { readOnly: true });
    const r = await reader.ckpt.restore();
    expect(r?.fellBack).toBe(false);
    expect(consistent(reader.state)).toBe(true);
    await reader.ckpt.close();
    writer.proc.stdin!.end();
    expect(await writer.exited).toEqual({ code: 0, signal: null });
  });

  it('with lockWaitMs the second writer waits and takes over when the first closes', async () => {
    const dir = await tempDir();
    const writer = startWriter(dir, { CKPT_INTERVAL_MS: '10' });
    await writer.waitFor((e) => e.e === 'committed');
    const { ckpt, state } = local(dir, { lockWaitMs: 20_000 });
    state.n = 5000;
    state.data = new Float64Array(10).fill(5000);
    const pending = ckpt.checkpoint();
    let settled = false;
    void pending.then(
      () => (settled = true),
      () => (settled = true),
    );
    await new Promise((r) => setTimeout(r, 300));
    expect(settled).toBe(false); // still waiting for the lock
    writer.proc.stdin!.end();
    const closed = await writer.waitFor((e) => e.e === 'closed');
    const info = await pending;
    const last = writer.events.filter((e) => e.e === 'committed').at(-1)!;
    expect(info.id > last.id!).toBe(true);
    expect(closed.n).toBe(last.n);
    await ckpt.close();
    const check = local(dir);
    await check.ckpt.restore();
    expect(check.state.n).toBe(5000);
    await check.ckpt.close();
  });

  it('the stale lock of a writer killed with SIGKILL is recovered at once; its newest image restores whole', async () => {
    const dir = await tempDir();
    const writer = startWriter(dir, { CKPT_INTERVAL_MS: '0' });
    await writer.waitFor((e) => (e.n ?? 0) >= 5);
    writer.proc.kill('SIGKILL');
    expect((await writer.exited).signal).toBe('SIGKILL');
    expect(await readdir(dir)).toContain('.ckpt-lock');
    const { ckpt, state, warnings } = local(dir);
    const r = await ckpt.restore();
    const lastSeen = writer.events.filter((e) => e.e === 'committed').at(-1)!;
    expect(r?.fellBack).toBe(false);
    expect(r!.image.id >= lastSeen.id!).toBe(true);
    expect(consistent(state)).toBe(true);
    state.n++;
    state.data.fill(state.n);
    await ckpt.checkpoint(); // lockWaitMs 0: the stale lock must not block
    expect(warnings.filter((w) => w !== 'CKPT_WARN_CLEANUP')).toEqual([]);
    await ckpt.close();
    const names = await readdir(dir);
    expect(names.filter((n) => n.endsWith('.partial') || n.startsWith('.ckpt-lock'))).toEqual([]);
  });

  it('readers see only whole, committed images while a writer writes and prunes (list, openImageFile, Checkpointer.list and restore)', async () => {
    const dir = await tempDir();
    const writer = startWriter(dir, { CKPT_INTERVAL_MS: '0', CKPT_KEEP: '2', CKPT_SIZE: '40000' });
    await writer.waitFor((e) => e.e === 'committed');
    const store = new FsStore(dir);
    const { ckpt, state, warnings } = local(dir, { readOnly: true });
    const counts = { listed: 0, opened: 0, vanished: 0, restores: 0, ckptLists: 0 };
    const problems: string[] = [];
    const until = Date.now() + 2500;
    while (Date.now() < until) {
      for (const entry of await store.list()) {
        counts.listed++;
        try {
          const img = await openImageFile(join(dir, `${entry.id}.ckpt`));
          try {
            const s = (await img.readProvider('data')) as { n: number; data: Float64Array };
            if (!consistent(s)) problems.push(`image ${entry.id} is torn`);
            counts.opened++;
          } finally {
            await img.close();
          }
        } catch (err) {
          // Pruned between list() and open (or while reading): NOT_FOUND, never damage.
          if (isCkptError(err, ErrorCodes.NOT_FOUND)) counts.vanished++;
          else problems.push(`image ${entry.id}: ${String(err)}`);
        }
      }
      counts.ckptLists += (await ckpt.list()).length > 0 ? 1 : 0;
      try {
        const r = await ckpt.restore();
        counts.restores++;
        if (r === undefined || !consistent(state)) problems.push('restore gave no or a torn state');
        else if (r.fellBack) problems.push(`restore fell back past ${JSON.stringify(r.skipped)}`);
      } catch (err) {
        problems.push(`restore: ${String(err)}`);
      }
    }
    writer.proc.stdin!.end();
    expect(await writer.exited).toEqual({ code: 0, signal: null });
    await ckpt.close();
    expect(problems).toEqual([]);
    expect(warnings).toEqual([]);
    expect(counts.opened).toBeGreaterThan(10);
    expect(counts.restores).toBeGreaterThan(10);
    expect(writer.events.filter((e) => e.e === 'committed').length).toBeGreaterThan(10);
    console.log(`concurrency: ${writer.events.filter((e) => e.e === 'committed').length} images written while reading: ${JSON.stringify(counts)}`);
  }, 30_000);

  it('under keepLast(1) a listing never comes back empty and restore() never says "empty store" while a writer commits and prunes', async () => {
    const dir = await tempDir();
    const writer = startWriter(dir, { CKPT_INTERVAL_MS: '0', CKPT_KEEP: '1', CKPT_SIZE: '500' });
    await writer.waitFor((e) => e.e === 'committed');
    const store = new FsStore(dir);
    const { ckpt } = local(dir);
    const counts = { lists: 0, emptyLists: 0, restores: 0, emptyRestores: 0, restoreErrors: 0 };
    const commitsBefore = writer.events.filter((e) => e.e === 'committed').length;
    for (let i = 0; i < 4000; i++) {
      counts.lists++;
      if ((await store.list()).length === 0) counts.emptyLists++;
      if (i % 8 === 0) {
        counts.restores++;
        try {
          if ((await ckpt.restore()) === undefined) counts.emptyRestores++;
        } catch {
          counts.restoreErrors++;
        }
      }
    }
    const commitsDuring = writer.events.filter((e) => e.e === 'committed').length - commitsBefore;
    writer.proc.stdin!.end();
    expect(await writer.exited).toEqual({ code: 0, signal: null });
    await ckpt.close();
    console.log(`keepLast(1) race: ${commitsDuring} commits while reading: ${JSON.stringify(counts)}`);
    expect(commitsDuring).toBeGreaterThan(20); // the writer really raced the reads
    expect(counts.emptyLists).toBe(0);
    expect(counts.emptyRestores).toBe(0);
  }, 120_000);
});
