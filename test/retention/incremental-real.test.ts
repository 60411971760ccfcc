// Retention, compaction and restore fallback on real format-3 images written
// by an incremental Checkpointer: nothing a kept image refers to is deleted
// and every listed image restores to exactly the state it was taken from; a
// damaged or missing holder takes down every image that refers to it, and
// restore falls back to the newest image whose whole reference set verifies,
// naming the holder.
import { mkdtemp, rm, unlink } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { Checkpointer, compactImage, FsStore, type CheckpointerOptions, type CkptWarning } from '../../src/index.js';
import { openStoreImage } from '../../src/image/open-store.js';
import { damageSegment } from '../cli/helpers.js';
import { runCliInProcess } from '../helpers/cli-in-process.js';

let root: string;
beforeAll(async () => {
  root = await mkdtemp(join(tmpdir(), 'ckpt-ret-incr-'));
});
afterAll(async () => {
  await rm(root, { recursive: true, force: true });
});

const SEGMENT = 64 * 1024;
const LENGTH = 4 * 8192; // 4 segments of Float64

/** The grid's state at `step`: a few clustered cells changed per step (each step touches another segment). */
function gridAt(step: number): Float64Array {
  const g = new Float64Array(LENGTH);
  for (let s = 1; s <= step; s++) g.fill(s, (s % 4) * 8192, (s % 4) * 8192 + 50);
  return g;
}

function app(dir: string, options: Partial<CheckpointerOptions> = {}, warnings: CkptWarning[] = []): { ckpt: Checkpointer; restored: { grid?: Float64Array; step?: number } } {
  const restored: { grid?: Float64Array; step?: number } = {};
  let step = 0;
  const ckpt = new Checkpointer({ store: dir, incremental: { fullEvery: 4 }, segmentSize: SEGMENT, signals: false, ...options });
  ckpt.register({
    id: 'grid',
    snapshot: () => ({ step, grid: gridAt(step) }),
    restore: (s) => Object.assign(restored, s),
  });
  ckpt.on('warning', (w) => warnings.push(w));
  return { ckpt: Object.assign(ckpt, { setStep: (n: number) => (step = n) }), restored };
}

async function take(ckpt: Checkpointer, step: number): Promise<string> {
  (ckpt as Checkpointer & { setStep(n: number): void }).setStep(step);
  return (await ckpt.checkpoint({ step })).id;
}

async function refsOf(dir: string): Promise<Map<string, readonly string[]>> {
  const store = new FsStore(dir);
  const out = new Map<string, readonly string[]>();
  for (const e of await store.list()) {
    const r = await openStoreImage(store, e.id);
    out.set(e.id, r.refs);
    await r.close();
  }
  return out;
}

describe('retention with real incremental images', () => {
  it('keepLast(2): pinned holders stay, every listed image restores exactly, the store stays bounded by fullEvery', async () => {
    const dir = join(root, 'keep');
    const warnings: CkptWarning[] = [];
    const { ckpt, restored } = app(dir, { retention: { keepLast: 2 } }, warnings);
    let maxListed = 0;
    let sawPinned = false;
    for (let step = 1; step <= 10; step++) {
      await take(ckpt, step);
      const refs = await refsOf(dir);
      maxListed = Math.max(maxListed, refs.size);
      for (const [x, rs] of refs) for (const r of rs) expect(refs.has(r), `step ${step}: ${x} refers to deleted ${r}`).toBe(true);
      if (refs.size > 2) sawPinned = true;
      // Every listed image restores to exactly the state it was taken from.
      for (const x of refs.keys()) {
        const r = await ckpt.restore(x);
        expect(restored.grid, `image ${x}`).toEqual(gridAt(r!.image.step!));
        expect(restored.step).toBe(r!.image.step);
      }
    }
    await ckpt.close();
    expect(sawPinned).toBe(true);
    // keepLast(2) plus at most one chain since the last full image (fullEvery 4).
    expect(maxListed).toBeLessThanOrEqual(5);
    expect(warnings.some((w) => w.code === 'CKPT_WARN_RETENTION_PINNED')).toBe(true);
    expect(warnings.filter((w) => w.code === 'CKPT_WARN_RETENTION_FAILED')).toEqual([]);
  });

  it('compact: the newest incremental image becomes a full one; older images can all go and it restores the same state', async () => {
    const dir = join(root, 'compact');
    const { ckpt } = app(dir);
    for (let step = 1; step <= 3; step++) await take(ckpt, step);
    await ckpt.close();
    const store = new FsStore(dir);
    const lock = await store.acquireWriter();
    let written: string | null;
    try {
      const report = await compactImage(store, lock);
      expect(report.source).toBe('000000000003');
      expect(report.references).toEqual(['000000000001', '000000000002']);
      written = report.written;
    } finally {
      await lock.release();
    }
    expect((await refsOf(dir)).get(written!)).toEqual([]);
    // With the new full image kept, keepLast(1) lets every other image go.
    const { ckpt: after, restored } = app(dir, { retention: { keepLast: 1 } });
    await after.restore();
    expect(restored.grid).toEqual(gridAt(3));
    await take(after, 4);
    expect([...(await refsOf(dir)).keys()]).toEqual(['000000000005', '000000000004']);
    await after.restore('000000000004');
    expect(restored.grid).toEqual(gridAt(3));
    await after.close();
  });
});

describe('restore fallback over references', () => {
  // fullEvery 3: 1 full, 2 → 1, 3 → 1 2, 4 full, 5 → 4, 6 → 4 5.
  async function chain(name: string): Promise<string> {
    const dir = join(root, name);
    const { ckpt } = app(dir, { incremental: { fullEvery: 3 } });
    for (let step = 1; step <= 6; step++) await take(ckpt, step);
    await ckpt.close();
    const refs = await refsOf(dir);
    expect(refs.get('000000000006')).toEqual(['000000000004', '000000000005']);
    expect(refs.get('000000000004')).toEqual([]);
    expect(refs.get('000000000003')).toEqual(['000000000001', '000000000002']);
    return dir;
  }

  it('a damaged segment in a holder takes down every image that refers to it; restore picks the newest whose references verify and names the holder', async () => {
    const dir = await chain('damaged');
    // Segment 1 (the grid's first, changed at step 4 and not after): images 5 and 6 refer to it.
    const six = await openStoreImage(new FsStore(dir), '000000000006');
    expect(six.index.segments[1]!.ref).toEqual({ image: 0, segment: 1 });
    await six.close();
    await damageSegment(join(dir, '000000000004.ckpt'), 1);
    const warnings: CkptWarning[] = [];
    const { ckpt, restored } = app(dir, {}, warnings);
    const r = (await ckpt.restore())!;
    await ckpt.close();
    expect(r.image.id).toBe('000000000003');
    expect(restored.grid).toEqual(gridAt(3));
    expect(r.skipped.map((s) => [s.id, s.code, s.dependsOn])).toEqual([
      ['000000000006', 'CKPT_ERR_CORRUPT', '000000000004'],
      ['000000000005', 'CKPT_ERR_CORRUPT', '000000000004'],
      ['000000000004', 'CKPT_ERR_CORRUPT', undefined],
    ]);
    const skippedWarnings = warnings.filter((w) => w.code === 'CKPT_WARN_IMAGE_SKIPPED').map((w) => w.message);
    expect(skippedWarnings[0]).toMatch(/^image 000000000006 is unusable and was skipped because image 000000000004, which holds bytes it refers to, is unusable/);
    expect(skippedWarnings[2]).toMatch(/^image 000000000004 is unusable and was skipped; falling back/);
  });

  it('a missing holder: the images that refer to it are skipped with CKPT_ERR_MISSING_REFERENCE naming it', async () => {
    const dir = await chain('missing');
    await unlink(join(dir, '000000000004.ckpt'));
    const warnings: CkptWarning[] = [];
    const { ckpt, restored } = app(dir, {}, warnings);
    const r = (await ckpt.restore())!;
    await ckpt.close();
    expect(r.image.id).toBe('000000000003');
    expect(restored.grid).toEqual(gridAt(3));
    expect(r.skipped.map((s) => [s.id, s.code, s.dependsOn])).toEqual([
      ['000000000006', 'CKPT_ERR_MISSING_REFERENCE', '000000000004'],
      ['000000000005', 'CKPT_ERR_MISSING_REFERENCE', '000000000004'],
    ]);
    expect(warnings.find((w) => w.code === 'CKPT_WARN_IMAGE_SKIPPED')!.message).toMatch(/because image 000000000004, which holds bytes it refers to, is missing or replaced/);
  });
});

describe('the CLI on real incremental images', () => {
  it('ls shows kind, references and pinned; prune --dry-run --explain pins the holders of the newest image; compact releases them', async () => {
    const dir = join(root, 'cli');
    const { ckpt } = app(dir, { incremental: { fullEvery: 8 } });
    for (let step = 1; step <= 4; step++) await take(ckpt, step);
    await ckpt.close();
    const ls = JSON.parse((await runCliInProcess(['ls', dir, '--json'])).stdout) as { images: { id: string; kind: string; references: string[]; referencedBy: string[]; status: string }[]; restore: { pick: string } };
    expect(ls.restore.pick).toBe('000000000004');
    expect(ls.images.map((i) => [i.id, i.kind, i.status])).toEqual([
      ['000000000004', 'incr', 'ok'],
      ['000000000003', 'incr', 'ok'],
      ['000000000002', 'incr', 'ok'],
      ['000000000001', 'full', 'ok'],
    ]);
    expect(ls.images[3]!.referencedBy).toEqual(['000000000004', '000000000003', '000000000002']);
    const refs4 = ls.images[0]!.references;
    const prune = JSON.parse((await runCliInProcess(['prune', dir, '--keep-last', '1', '--dry-run', '--explain', '--json'])).stdout) as { pinned: string[]; wouldDelete: string[] };
    expect([...prune.pinned].sort()).toEqual([...refs4].sort());
    expect(prune.wouldDelete).toEqual(['000000000004', '000000000003', '000000000002', '000000000001'].filter((x) => x !== '000000000004' && !refs4.includes(x)));
    const compact = await runCliInProcess(['compact', dir]);
    expect(compact.code, compact.stderr).toBe(0);
    const after = JSON.parse((await runCliInProcess(['prune', dir, '--keep-last', '1', '--json'])).stdout) as { deleted: string[] };
    expect(after.deleted).toEqual(['000000000004', '000000000003', '000000000002', '000000000001']);
    const { ckpt: check, restored } = app(dir);
    expect((await check.restore())!.image.id).toBe('000000000005');
    expect(restored.grid).toEqual(gridAt(4));
    await check.close();
  });
});
