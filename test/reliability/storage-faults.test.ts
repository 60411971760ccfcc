/**
 * @module test/reliability/storage-faults
 *
 * Storage faults seen from the Checkpointer: a Checkpointer over an FsStore
 * whose filesystem layer fails at every call index of one checkpoint — with
 * ENOSPC, EIO and EACCES, once or from then on (a disk that stays broken
 * until repaired), and with a short write followed by ENOSPC. For every case:
 *
 * - the checkpoint either rejects with CKPT_ERR_STORE_IO carrying the system
 *   error in its cause chain, or (a fault in cleanup or retention, after the
 *   commit) resolves with a warning;
 * - providers are resumed (ctx.ok false on failure) and the app keeps going:
 *   the next checkpoint, once the disk is repaired, succeeds;
 * - earlier images stay listed and restore to their own state, and a failed
 *   checkpoint leaves no visible image;
 * - after that next successful checkpoint no temp file or lock leftover remains.
 *
 * (FsStore-level faults are in test/store/fs-store-faults.test.ts; this is the
 * view from checkpoint().)
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { cp, mkdtemp, readdir, rm, writeFile } from 'node:fs/promises';
import { hostname, tmpdir } from 'node:os';
import { join } from 'node:path';
import { Checkpointer, FsStore, isCkptError } from '../../src/index.js';
import type { CkptError } from '../../src/index.js';
import { FaultyFs, type FaultMode } from '../store/helpers/faulty-fs.js';

interface State {
  v: string;
  grid: Float64Array;
}

let root: string;
let base: string;
let coldBase: string;
const BASE_STATES = new Map<string, string>();

function deadPid(): number {
  for (let pid = 4_000_000; pid > 100_000; pid -= 7919) {
    try {
      process.kill(pid, 0);
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code === 'ESRCH') return pid;
    }
  }
  throw new Error('no free pid found');
}

function makeCheckpointer(dir: string, fs?: FaultyFs, readOnly = false): { ckpt: Checkpointer; state: State; resumes: { ok: boolean; calls: number }[]; warnings: string[] } {
  const store = new FsStore(dir, fs === undefined ? {} : { fs });
  const ckpt = new Checkpointer({ store, retention: { keepLast: 2 }, segmentSize: 64 * 1024, signals: false, readOnly });
  const state: State = { v: 'three', grid: new Float64Array(20_000).map((_, i) => i * 0.5) };
  const resumes: { ok: boolean; calls: number }[] = [];
  const warnings: string[] = [];
  ckpt.register<State>({
    id: 'app',
    snapshot: () => ({ v: state.v, grid: state.grid }),
    restore: (s) => {
      state.v = s.v;
      state.grid = s.grid;
    },
    resume: (ctx) => void resumes.push({ ok: ctx.ok, calls: fs?.count() ?? 0 }),
  });
  ckpt.on('warning', (w) => void warnings.push(w.code));
  return { ckpt, state, resumes, warnings };
}

/** What image `id` of `dir` restores to (through the plain node filesystem). */
async function restoredValue(dir: string, id?: string): Promise<string | undefined> {
  const { ckpt, state } = makeCheckpointer(dir, undefined, true);
  state.v = '(not restored)';
  try {
    const r = await ckpt.restore(id);
    if (r === undefined) return undefined;
    if (r.fellBack) return `(fell back from ${r.skipped.map((s) => s.id).join(',')})`;
    return state.v;
  } finally {
    await ckpt.close();
  }
}

function images(names: readonly string[]): string[] {
  return names.filter((n) => /^\d{12}\.ckpt$/.test(n)).map((n) => n.slice(0, 12)).sort();
}

function causeChain(err: unknown): unknown[] {
  const out: unknown[] = [];
  let e: unknown = err;
  for (let i = 0; i < 10 && e !== undefined && e !== null; i++) {
    out.push(e);
    e = (e as { cause?: unknown }).cause;
  }
  return out;
}

interface Totals {
  scenarios: number;
  rejected: number;
  resolvedWithWarning: number;
  resolvedSilently: string[];
  faultsInjected: number;
  failures: number;
}

const totals: Totals = { scenarios: 0, rejected: 0, resolvedWithWarning: 0, resolvedSilently: [], faultsInjected: 0, failures: 0 };

/** Run `n` scenarios, a few at a time (they wait on fsync more than on the CPU). */
async function pool(n: number, run: (i: number) => Promise<string[]>): Promise<string[]> {
  const problems: string[] = [];
  let next = 0;
  await Promise.all(
    Array.from({ length: 4 }, async () => {
      while (next < n) {
        const found = await run(next++);
        totals.failures += found.length;
        problems.push(...found);
      }
    }),
  );
  return problems;
}

/**
 * One checkpoint with call `at` failing; returns problems found (empty: all
 * rules held). `cold`: the Checkpointer is new (takes the lock, recovers a
 * stale lock and cleans up leftovers during this checkpoint).
 */
async function scenario(cold: boolean, at: number | undefined, code: string, mode: FaultMode): Promise<{ problems: string[]; calls: number; ops: string[] }> {
  const dir = await mkdtemp(join(root, 'case-'));
  await cp(cold ? coldBase : base, dir, { recursive: true });
  const fs = new FaultyFs({ fstat: true });
  const { ckpt, state, resumes, warnings } = makeCheckpointer(dir, fs);
  const problems: string[] = [];
  const expected = new Map(BASE_STATES);
  const phantoms: string[] = [];
  try {
    if (!cold) {
      const info = await ckpt.checkpoint();
      expected.set(info.id, 'three');
    }
    const before = images(await readdir(dir));
    state.v = 'four';
    resumes.length = 0;
    warnings.length = 0;
    fs.reset();
    if (at !== undefined) fs.arm(at, code, mode);
    const outcome = await ckpt.checkpoint().then(
      (info) => ({ info, err: undefined }),
      (err: unknown) => ({ info: undefined, err }),
    );
    const calls = fs.count();
    const tripped = fs.tripped;
    const call = at === undefined ? undefined : fs.calls[at];
    const label = call === undefined ? 'no fault' : `${call.op}(${call.path.slice(dir.length + 1) || '.'})`;
    fs.disarm();
    const ops = fs.calls.map((c) => c.op);
    if (at !== undefined && !tripped) return { problems, calls, ops };
    if (at !== undefined) {
      totals.scenarios++;
      totals.faultsInjected += fs.injected.length;
    }
    const after = images(await readdir(dir));
    if (outcome.err !== undefined) {
      if (at !== undefined) totals.rejected++;
      const err = outcome.err as CkptError;
      if (!isCkptError(err)) problems.push(`${label}: rejected with a non-ckpt error ${String(err)}`);
      else if (err.code !== 'CKPT_ERR_STORE_IO') problems.push(`${label}: rejected with ${err.code}, expected CKPT_ERR_STORE_IO: ${err.message}`);
      if (!causeChain(err).some((e) => fs.injected.includes(e as NodeJS.ErrnoException))) problems.push(`${label}: the system error is not in the cause chain`);
      // Resume runs once, before the commit (docs/lifecycle.md): ok is false
      // when the fault came before it (lock, write), true when it hit the commit.
      const r = resumes[0];
      if (resumes.length !== 1 || r === undefined) problems.push(`${label}: resume() ran ${resumes.length} times`);
      else if (at !== undefined && at < r.calls && r.ok) problems.push(`${label}: resume() was told ok although call ${at} failed before it`);
      else if (at !== undefined && at >= r.calls && !r.ok) problems.push(`${label}: resume() was told ok: false although the fault came after it`);
      // No visible trace of the failed checkpoint; earlier images intact. One
      // exception: the rename happened, the directory fsync failed and the disk
      // refused to remove the file again — the error says so, and the next
      // successful checkpoint removes it (checked below).
      const extra = after.filter((id) => !before.includes(id));
      if (before.some((id) => !after.includes(id))) problems.push(`${label}: images ${before.join(',')} became ${after.join(',')} after a failed checkpoint`);
      if (extra.length > 0) {
        if (isCkptError(err) && /could not be removed again/.test(err.message)) phantoms.push(...extra);
        else problems.push(`${label}: a failed checkpoint left image(s) ${extra.join(',')}`);
      }
    } else {
      const info = outcome.info!;
      expected.set(info.id, 'four');
      if (!after.includes(info.id)) problems.push(`${label}: resolved with ${info.id}, which is not in the store`);
      if (at === undefined) {
        // the clean run that counts the calls
      } else if (warnings.length > 0) totals.resolvedWithWarning++;
      else totals.resolvedSilently.push(label);
    }
    for (const id of after) {
      if (phantoms.includes(id)) continue;
      const v = await restoredValue(dir, id);
      if (v !== expected.get(id)) problems.push(`${label}: image ${id} restores ${String(v)}, expected ${String(expected.get(id))}`);
    }
    // The app keeps running: the disk is repaired, the next checkpoint works.
    state.v = 'five';
    const next = await ckpt.checkpoint().then(
      (info) => info,
      (err: unknown) => {
        problems.push(`${label}: the checkpoint after the repair failed: ${String(err)}`);
        return undefined;
      },
    );
    const names = await readdir(dir);
    // The image of the failed commit is gone (its id may be reused by the new image).
    for (const id of phantoms) if (names.includes(`${id}.ckpt`) && id !== next?.id) problems.push(`${label}: image ${id} of the failed commit is still there after the next checkpoint`);
    const leftovers = names.filter((n) => n.endsWith('.partial') || n.startsWith('.ckpt-lock.stale-'));
    if (leftovers.length > 0) problems.push(`${label}: leftovers after the next successful checkpoint: ${leftovers.join(', ')}`);
    if (next !== undefined && (await restoredValue(dir)) !== 'five') problems.push(`${label}: the newest image does not restore the last state`);
    await ckpt.close();
    if ((await readdir(dir)).includes('.ckpt-lock')) problems.push(`${label}: lock file left after close()`);
    return { problems, calls, ops };
  } finally {
    await ckpt.close().catch(() => undefined);
    await rm(dir, { recursive: true, force: true });
  }
}

beforeAll(async () => {
  root = await mkdtemp(join(tmpdir(), 'ckpt-storage-faults-'));
  base = join(root, 'base');
  const { ckpt, state } = makeCheckpointer(base);
  state.v = 'one';
  BASE_STATES.set((await ckpt.checkpoint()).id, 'one');
  state.v = 'two';
  BASE_STATES.set((await ckpt.checkpoint()).id, 'two');
  await ckpt.close();
  // Cold start: a crashed writer left a temp file and its (stale) lock.
  coldBase = join(root, 'cold');
  await cp(base, coldBase, { recursive: true });
  const pid = deadPid();
  await writeFile(join(coldBase, `.tmp-000000000003-${pid}-0badf00d.partial`), Buffer.alloc(100, 7));
  await writeFile(join(coldBase, '.ckpt-lock'), JSON.stringify({ pid, hostname: hostname(), token: 'dead', startedAt: new Date(0).toISOString(), procStart: null }));
});

afterAll(async () => {
  await rm(root, { recursive: true, force: true });
  // One line with the figures of this suite.
  console.log(
    `storage faults: ${totals.scenarios} faulty checkpoints (${totals.faultsInjected} faults injected), ${totals.rejected} rejected with CKPT_ERR_STORE_IO, ` +
      `${totals.resolvedWithWarning} committed with a warning, ${totals.resolvedSilently.length} absorbed silently, ${totals.failures} failures`,
  );
});

describe('Checkpointer over a faulty FsStore: every fs call of a checkpoint fails in turn', () => {
  for (const cold of [false, true]) {
    const phase = cold ? 'first checkpoint (lock, stale-lock recovery, cleanup)' : 'later checkpoint';
    it(`${phase}: ENOSPC, EIO, EACCES once at each call index`, async () => {
      const clean = await scenario(cold, undefined, 'EIO', 'once');
      expect(clean.problems).toEqual([]);
      expect(clean.calls).toBeGreaterThan(15);
      const codes = ['ENOSPC', 'EIO', 'EACCES'];
      const problems = await pool(clean.calls * codes.length, async (i) => (await scenario(cold, Math.floor(i / 3), codes[i % 3]!, 'once')).problems);
      expect(problems).toEqual([]);
    }, 120_000);

    it(`${phase}: a disk that stays broken (EIO from call n on) until repaired`, async () => {
      const clean = await scenario(cold, undefined, 'EIO', 'once');
      const problems = await pool(clean.calls, async (at) => (await scenario(cold, at, 'EIO', 'sticky')).problems);
      expect(problems).toEqual([]);
    }, 120_000);

    it(`${phase}: a short write followed by ENOSPC at each write`, async () => {
      const clean = await scenario(cold, undefined, 'EIO', 'once');
      const writes = clean.ops.flatMap((op, at) => (op === 'write' ? [at] : []));
      const problems = await pool(writes.length, async (i) => (await scenario(cold, writes[i], 'ENOSPC', 'short-then-fail')).problems);
      expect(problems).toEqual([]);
    }, 120_000);
  }

  it('short writes everywhere (at most 7 bytes per write) still give exact, restorable images', async () => {
    const dir = await mkdtemp(join(root, 'short-'));
    const fs = new FaultyFs({ fstat: true });
    fs.shortWriteMax = 7;
    const { ckpt, state } = makeCheckpointer(dir, fs);
    try {
      state.v = 'short';
      await ckpt.checkpoint();
      await ckpt.close();
      expect(fs.calls.filter((c) => c.op === 'write').length).toBeGreaterThan(1000);
      expect(await restoredValue(dir)).toBe('short');
    } finally {
      await ckpt.close();
      await rm(dir, { recursive: true, force: true });
    }
  });
});
