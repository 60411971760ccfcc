/**
 * A retention sweep killed (SIGKILL, a real child process) at each of its
 * fault points — after the plan, before each delete, after each unlink —
 * leaves every listed image restorable: nothing a remaining image refers to
 * is gone, and every remaining image verifies. References are injected
 * (test/helpers/inject-refs.ts) into images of a real FsStore.
 */
import { cp, mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { Checkpointer, FsStore } from '../../src/index.js';
import { ImageReader } from '../../src/image/reader.js';
import { reapChildren, startNodeChild, tsxArgs } from '../helpers/child-process.js';

const CHILD = fileURLToPath(new URL('./sweep-child.ts', import.meta.url));
const id = (n: number): string => String(n).padStart(12, '0');

// 1 full; 2 → 1; 3 → 1, 2; 4 full; 5 → 4; 6 → 4, 5; the image the child writes (7) → 4, 6.
// keepLast(1) keeps 7, pins 6, 5 and 4, deletes 3, 2, 1 — in that order.
const REFS: Record<string, string[]> = { [id(2)]: [id(1)], [id(3)]: [id(1), id(2)], [id(5)]: [id(4)], [id(6)]: [id(4), id(5)], '*': [id(4), id(6)] };

let root: string;
let template: string;

beforeAll(async () => {
  root = await mkdtemp(join(tmpdir(), 'ckpt-kill-sweep-'));
  template = join(root, 'template');
  const ckpt = new Checkpointer({ store: template, signals: false });
  ckpt.register({ id: 'p', snapshot: (ctx) => ({ step: ctx.step, data: new Uint8Array(4096).fill(ctx.step ?? 0) }), restore: () => undefined });
  for (let s = 1; s <= 6; s++) await ckpt.checkpoint({ step: s });
  await ckpt.close();
});

afterEach(async () => {
  await reapChildren();
});

afterAll(async () => {
  await rm(root, { recursive: true, force: true });
});

async function runChild(dir: string, killAt: string | undefined): Promise<{ signal: NodeJS.Signals | null; code: number | null; stdout: string[] }> {
  const stdout: string[] = [];
  const child = startNodeChild({
    args: tsxArgs(CHILD),
    env: { CKPT_DIR: dir, CKPT_REFS: JSON.stringify(REFS), ...(killAt === undefined ? {} : { CKPT_TEST_KILL_AT: killAt }) },
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
    const source = await store.open(x);
    try {
      const report = await (await ImageReader.open(source)).verify();
      expect(report.problems, `image ${x}`).toEqual([]);
    } finally {
      await source.close();
    }
  }
  return ids;
}

describe('a retention sweep killed at each fault point', () => {
  const points = ['retention-planned', 'retention-delete:1', 'after-unlink:1', 'retention-delete:2', 'after-unlink:2', 'retention-delete:3', 'after-unlink:3'];
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
    const warnings = run.stdout.map((l) => JSON.parse(l) as { warning?: string; message?: string }).filter((e) => e.warning !== undefined);
    expect(warnings.map((w) => w.warning)).toEqual(['CKPT_WARN_RETENTION_PINNED']);
    expect(warnings[0]!.message).toMatch(/000000000004.*000000000006/);
  });
});
