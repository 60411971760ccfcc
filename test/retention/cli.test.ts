// `ckpt ls` KIND/REFS/PINNED and `ckpt prune --explain` on a real store whose
// images are made to refer to each other (injected references; the CLI runs
// in this process so it reads them).
import { copyFile, readdir } from 'node:fs/promises';
import { afterAll, afterEach, beforeEach, describe, expect, it } from 'vitest';
import { cleanupDirs, golden, imagePath, makeStore, tempDir } from '../cli/helpers.js';
import { runCliInProcess } from '../helpers/cli-in-process.js';
import { injectRefs } from '../helpers/inject-refs.js';

const id = (n: number): string => String(n).padStart(12, '0');
// 1 full; 2 → 1; 3 → 1, 2; 4 full; 5 → 4; 6 → 4, 5.
const REFS = new Map<string, string[]>([
  [id(2), [id(1)]],
  [id(3), [id(1), id(2)]],
  [id(5), [id(4)]],
  [id(6), [id(4), id(5)]],
]);

let undo: () => void;
beforeEach(() => {
  undo = injectRefs(REFS);
});
afterEach(() => undo());
afterAll(cleanupDirs);

async function store(): Promise<string> {
  const dir = await tempDir();
  await makeStore(dir, 6);
  return dir;
}

async function files(dir: string): Promise<string[]> {
  return (await readdir(dir)).filter((n) => /^\d{12}\.ckpt$/.test(n)).map((n) => n.slice(0, 12)).sort().reverse();
}

interface LsImage {
  id: string;
  kind: string | null;
  references: string[] | null;
  referencedBy: string[];
  pinned: boolean;
}

interface PruneImage {
  id: string;
  action: string;
  reason: string | null;
  kind: string | null;
  keptBy: string[];
  pinnedBy: string[];
  why?: string;
}

describe('ckpt ls: kind, references, pinned', () => {
  it('shows full/incr, how many images each refers to and which refer to it', async () => {
    const dir = await store();
    const r = await runCliInProcess(['ls', dir, '--quick']);
    expect(r.code, r.stderr).toBe(0);
    expect(r.stdout).toMatch(/ID\s+STEP\s+LABEL\s+CREATED\s+SIZE\s+KIND\s+REFS\s+PINNED\s+PROVIDERS/);
    const row = (n: number): string => r.stdout.split('\n').find((l) => l.includes(id(n)) && !l.includes('restore()'))!;
    expect(row(6)).toMatch(/\bincr\s+2\s+-\s/);
    expect(row(5)).toMatch(/\bincr\s+1\s+by 000000000006\s/);
    expect(row(4)).toMatch(/\bfull\s+0\s+by 2\s/);
    expect(row(1)).toMatch(/\bfull\s+0\s+by 2\s/);
    const j = JSON.parse((await runCliInProcess(['ls', dir, '--quick', '--json'])).stdout) as { images: LsImage[] };
    const by = new Map(j.images.map((i) => [i.id, i]));
    expect(by.get(id(6))).toMatchObject({ kind: 'incr', references: [id(4), id(5)], referencedBy: [], pinned: false });
    expect(by.get(id(1))).toMatchObject({ kind: 'full', references: [], referencedBy: [id(3), id(2)], pinned: true });
  });

  it('an image whose index cannot be read has no kind', async () => {
    const dir = await store();
    await copyFile(golden(2, 'broken-newer-format'), imagePath(dir, id(7)));
    const j = JSON.parse((await runCliInProcess(['ls', dir, '--quick', '--json'])).stdout) as { images: LsImage[] };
    expect(j.images[0]).toMatchObject({ id: id(7), kind: null, references: null });
  });
});

describe('ckpt prune --explain', () => {
  it('--dry-run --explain says per image why it is kept, pinned or deleted; deletes nothing', async () => {
    const dir = await store();
    const r = await runCliInProcess(['prune', dir, '--keep-last', '1', '--dry-run', '--explain']);
    expect(r.code, r.stderr).toBe(0);
    const line = (n: number): string => r.stdout.split('\n').find((l) => l.includes(id(n)))!;
    expect(line(6)).toMatch(/^\s*keep\s.*incr\s+kept by keepLast\(1\); newest image; newest valid image \(restore\(\) picks it\)$/);
    expect(line(5)).toMatch(/^\s*pinned\s.*pinned: no policy keeps it, but kept image 000000000006 refers to it$/);
    expect(line(4)).toMatch(/^\s*pinned\s.*full\s+pinned: no policy keeps it, but kept images 000000000006, 000000000005 refer to it$/);
    for (const n of [3, 2, 1]) expect(line(n)).toMatch(/^\s*would delete\s.*no policy keeps it and no kept image refers to it$/);
    expect(r.stdout).toMatch(/2 images pinned: no policy keeps them, but a kept image needs them; 'ckpt compact /);
    expect(r.stdout).toMatch(/would delete 3 images/);
    expect(await files(dir)).toEqual([6, 5, 4, 3, 2, 1].map(id));
  });

  it('--json --explain: action, pinnedBy, why per image; wouldDelete newest first', async () => {
    const dir = await store();
    const r = await runCliInProcess(['prune', dir, '--keep-last', '1', '--dry-run', '--explain', '--json']);
    const j = JSON.parse(r.stdout) as { images: PruneImage[]; wouldDelete: string[]; pinned: string[] };
    expect(j.wouldDelete).toEqual([id(3), id(2), id(1)]);
    expect(j.pinned).toEqual([id(5), id(4)]);
    const by = new Map(j.images.map((i) => [i.id, i]));
    expect(by.get(id(6))).toMatchObject({ action: 'keep', reason: 'newest', keptBy: ['keepLast(1)'], pinnedBy: [] });
    expect(by.get(id(4))).toMatchObject({ action: 'pinned', reason: 'pinned', kind: 'full', pinnedBy: [id(6), id(5)] });
    expect(by.get(id(4))!.why).toMatch(/refer to it/);
    expect(by.get(id(1))).toMatchObject({ action: 'delete', reason: null });
  });

  it('without --dry-run: deletes only what nothing kept refers to; without --explain a pinned row names its referrers', async () => {
    const dir = await store();
    const r = await runCliInProcess(['prune', dir, '--keep-last', '2']);
    expect(r.code, r.stderr).toBe(0);
    expect(r.stdout.split('\n').find((l) => l.includes(id(4)))).toMatch(/pinned by 000000000006, 000000000005$/);
    expect(r.stdout).toContain('(--explain says which)');
    expect(await files(dir)).toEqual([6, 5, 4].map(id));
  });

  it('an image that cannot be read here (newer format) keeps every older image: its references are unknown', async () => {
    const dir = await store();
    await copyFile(golden(2, 'broken-newer-format'), imagePath(dir, id(7)));
    const r = await runCliInProcess(['prune', dir, '--keep-last', '1', '--explain', '--json']);
    const j = JSON.parse(r.stdout) as { images: PruneImage[]; deleted: string[] };
    expect(j.deleted).toEqual([]);
    expect(j.images.find((i) => i.id === id(7))).toMatchObject({ action: 'keep', reason: 'unreadable' });
    expect(j.images.find((i) => i.id === id(1))!.why).toMatch(/references of newer image 000000000007 cannot be read/);
    expect(await files(dir)).toHaveLength(7);
  });
});
