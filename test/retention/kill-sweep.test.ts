/**
 * A retention sweep killed (SIGKILL, a real child process) at each of its
 * fault points — after the plan, before each delete, after each unlink —
 * leaves every listed image restorable: nothing a remaining image refers to
 * is gone, and every remaining image verifies (and, for real incremental
 * images, restores to exactly its state). References are injected
 * (test/helpers/inject-refs.ts) into format-2 images of a real FsStore, and
 * real in format-3 images written by an incremental Checkpointer.
 */
import { cp, mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { Checkpointer, FsStore } from '../../src/index.js';
import { ImageReader } from '../../src/image/reader.js';
import { openStoreImage } from '../../src/image/open-store.js';
import { reapChildren, startNodeChild, tsxArgs } from '../helpers/child-process.js';
import { gridAt } from './sweep-state.js';

const CHILD = fileURLToPath(new URL('./sweep-child.ts', import.meta.url));
const id = (n: number): string => String(n).padStart(12, '0');

// 1 full; 2 → 1; 3 → 1, 2; 4 full; 5 → 4; 6 → 4, 5; the image the child writes (7) → 4, 6.
// keepLast(1) keeps 7, pins 6, 5 and 4, deletes 3, 2, 1 — in that order.
const REFS: Record<string, string[]> = { [id(2)]: [id(1)], [id(3)]: [id(1), id(2)], [id(5)]: [id(4)], [id(6)]: [id(4), id(5)], '*': [id(4), id(6)] };

let root: string;
let template: string;
let incrTemplate: string;

/** Six images of steps 1..6 with the kill test's state (incremental: fullEvery 3 — 1 full, 2 → 1, 3 → 1 2, 4 full, 5 → 4, 6 → 4 5). */
async function makeTemplate(dir: string, incremental: boolean): Promise<void> {
  let step = 0;
  const ckpt = new Checkpointer({ store: dir, signals: false, ...(incremental ? { incremental: { fullEvery: 3 }, segmentSize: 64 * 1024 } : {}) });
  ckpt.register({ id: 'p', snapshot: () => ({ step, grid: gridAt(step) }), restore: () => undefined });
  for (step = 1; step <= 6; step++) await ckpt.checkpoint({ step });
  await ckpt.close();
}

beforeAll(async () => {
  root = await mkdtemp(join(tmpdir(), 'ckpt-kill-sweep-'));
  template = join(root, 'template');
  incrTemplate = join(root, 'template-incremental');
  await makeTemplate(template, false);
  await makeTemplate(incrTemplate, true);
});

afterEach(async () => {
  await reapChildren();
});

afterAll(async () => {
  await rm(root, { recursive: true, force: true });
});

async function runChild(dir: string, killAt: string | undefined, mode: 'inject' | 'incremental' = 'inject'): Promise<{ signal: NodeJS.Signals | null; code: number | null; stdout: string[] }> {
  const stdout: string[] = [];
  const child = startNodeChild({
    args: tsxArgs(CHILD),
    env: { CKPT_DIR: dir, CKPT_MODE: mode, CKPT_REFS: JSON.stringify(REFS), ...(killAt === undefined ? {} : { CKPT_TEST_KILL_AT: killAt }) },
    onStdoutLine: (l) => stdout.push(l),
  });
  child.killAfter(60_000);
  const exit = await child.exited;
  return { ...exit, stdout };
}

/** Every listed image: its (injected) references are listed, and it verifies. */
async function checkStore(dir: string): Promise<string[]> {
  const store = new FsStore(dir);
  const ids = (await store.list()).map((e) => e.id);
  for (const x of ids) {
    for (const r of REFS[x] ?? (x === id(7) ? REFS['*']! : [])) expect(ids, `${x} refers to ${r}`).toContain(r);
    const reader = await ImageReader.open(await store.open(x));
    try {
      const report = await reader.verify();
      expect(report.problems, `image ${x}`).toEqual([]);
    } finally {
      await reader.close();
    }
  }
  return ids;
}

describe('a retention sweep killed at each fault point', () => {
  // The points not covered here are by the real-image block below (a child takes seconds on a busy machine).
  const points = ['retention-delete:1', 'after-unlink:2', 'retention-delete:3'];
  it.each(points)('killed at %s: every listed image is restorable, deletions went newest first', async (point) => {
    const dir = join(root, point.replace(':', '-'));
    await cp(template, dir, { recursive: true });
    const run = await runChild(dir, point);
    expect(run.signal).toBe('SIGKILL');
    const ids = await checkStore(dir);
    // Kept and pinned images are all there; of the deleted ones, what is gone is a newest-first prefix.
    for (const n of [7, 6, 5, 4]) expect(ids).toContain(id(n));
    const gone = [3, 2, 1].filter((n) => !ids.includes(id(n)));
    expect(gone).toEqual([3, 2, 1].slice(0, gone.length));
    const k = Number(point.split(':')[1] ?? 0);
    expect(gone.length).toBe(point.startsWith('after-unlink') ? k : Math.max(0, k - 1));
    // The next writer finishes the job.
    const again = await runChild(dir, undefined);
    expect(again.code).toBe(0);
    expect(await checkStore(dir)).toEqual([id(8), id(6), id(5), id(4)]);
  });

  it('uninterrupted: keeps the newest, pins what it needs, warns once about the pinned images', async () => {
    const dir = join(root, 'whole');
    await cp(template, dir, { recursive: true });
    const run = await runChild(dir, undefined);
    expect(run.code).toBe(0);
    expect(await checkStore(dir)).toEqual([id(7), id(6), id(5), id(4)]);
    // Only retention's warnings: what else the child holds open on a busy machine is not this test's subject.
    const warnings = run.stdout
      .map((l) => JSON.parse(l) as { warning?: string; message?: string })
      .filter((e) => e.warning?.startsWith('CKPT_WARN_RETENTION') === true);
    expect(warnings.map((w) => w.warning)).toEqual(['CKPT_WARN_RETENTION_PINNED']);
    expect(warnings[0]!.message).toMatch(/000000000004.*000000000006/);
  });
});

/**
 * Every listed image of a store of real incremental images: each image it
 * refers to is listed, and it restores to exactly the state of its step.
 */
async function checkRealStore(dir: string): Promise<string[]> {
  const store = new FsStore(dir);
  const ids = (await store.list()).map((e) => e.id);
  for (const x of ids) {
    const reader = await openStoreImage(store, x);
    try {
      for (const r of reader.refs) expect(ids, `${x} refers to ${r}`).toContain(r);
      const state = (await reader.readProvider('p')) as { step: number; grid: Float64Array };
      expect(state.grid, `image ${x}`).toEqual(gridAt(state.step));
    } finally {
      await reader.close();
    }
  }
  return ids;
}

describe('a retention sweep over real incremental images killed at its fault points', () => {
  // The child restores 6 and writes 7 referring to it: keepLast(1) keeps 7, pins 6, 5, 4, deletes 3, 2, 1.
  const points = ['retention-planned', 'after-unlink:1', 'retention-delete:2', 'after-unlink:3'];
  it.each(points)('killed at %s: every listed image restores exactly, deletions went newest first', async (point) => {
    const dir = join(root, `incr-${point.replace(':', '-')}`);
    await cp(incrTemplate, dir, { recursive: true });
    const run = await runChild(dir, point, 'incremental');
    expect(run.signal).toBe('SIGKILL');
    const ids = await checkRealStore(dir);
    for (const n of [7, 6, 5, 4]) expect(ids).toContain(id(n));
    const gone = [3, 2, 1].filter((n) => !ids.includes(id(n)));
    expect(gone).toEqual([3, 2, 1].slice(0, gone.length));
    const k = Number(point.split(':')[1] ?? 0);
    expect(gone.length).toBe(point.startsWith('after-unlink') ? k : Math.max(0, k - 1));
    const seven = await openStoreImage(new FsStore(dir), id(7));
    expect(seven.refs).toEqual([id(4), id(5), id(6)]);
    await seven.close();
  });

  it('uninterrupted, then again: the store ends with the newest image and what it needs', async () => {
    const dir = join(root, 'incr-whole');
    await cp(incrTemplate, dir, { recursive: true });
    expect((await runChild(dir, undefined, 'incremental')).code).toBe(0);
    expect(await checkRealStore(dir)).toEqual([7, 6, 5, 4].map(id));
    expect((await runChild(dir, undefined, 'incremental')).code).toBe(0);
    // 8 is full (the chain reached fullEvery): nothing is pinned any more.
    expect(await checkRealStore(dir)).toEqual([id(8)]);
  });
});
