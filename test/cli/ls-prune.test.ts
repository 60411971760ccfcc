// `ckpt ls` and `ckpt prune` on stores made by a real Checkpointer: what
// restore() would pick (checked against restore() itself), damaged and newer
// images, retention that never loses the last valid image, and the writer lock.
import { copyFile, readdir, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { FsStore } from '../../src/index.js';
import { appCheckpointer, cleanupDirs, damageSegment, ensureBuilt, golden, hasStack, imagePath, json, makeStore, runCli, tempDir, truncateFile } from './helpers.js';

beforeAll(ensureBuilt);
afterAll(cleanupDirs);

interface LsJson {
  store: string;
  images: { id: string; step: number | null; label: string | null; status: string; verified: boolean; restorePick: boolean; providers?: { id: string; version: number }[]; problems: { code: string }[] }[];
  restore: { pick: string | null; verified: boolean; error: { code: string } | null };
}

async function restorePick(dir: string): Promise<string | undefined> {
  const { ckpt } = appCheckpointer(dir);
  try {
    return (await ckpt.restore())?.image.id;
  } finally {
    await ckpt.close();
  }
}

describe('ckpt ls', () => {
  it('lists images newest first with step, label, size and providers; marks the pick', async () => {
    const dir = await tempDir();
    const ids = await makeStore(dir, 3);
    const r = await runCli(['ls', dir]);
    expect(r.code).toBe(0);
    expect(r.stderr).toBe('');
    const rows = r.stdout.split('\n').filter((l) => /\d{12}/.test(l) && !l.includes('restore()'));
    expect(rows.map((l) => /(\d{12})/.exec(l)![1])).toEqual([...ids].reverse());
    expect(rows[0]).toMatch(/^\*\s+000000000003\s+300\s+nightly\s+\d{4}-\d\d-\d\d \d\d:\d\d:\d\dZ\s+\d+(\.\d+)? KiB\s+full\s+0\s+-\s+grid@1 config@2$/);
    expect(rows[2]).toMatch(/^ \s+000000000001\s+100\s+-\s+/);
    expect(r.stdout).toContain('* restore() would pick 000000000003 (fully checked)');
    const j = json<LsJson>(await runCli(['ls', dir, '--json']));
    expect(j.images.map((i) => [i.id, i.step, i.label, i.restorePick])).toEqual([
      ['000000000003', 300, 'nightly', true],
      ['000000000002', 200, null, false],
      ['000000000001', 100, null, false],
    ]);
    expect(j.images[0]!.providers!.map((p) => p.id)).toEqual(['grid', 'config']);
    expect(j.restore).toEqual({ pick: '000000000003', verified: true, error: null });
  });

  it('damaged newest images: marked "!", and the pick is what restore() really restores', async () => {
    const dir = await tempDir();
    const ids = await makeStore(dir, 4);
    await damageSegment(imagePath(dir, ids[3]!), 2); // data damage: only the full check finds it
    await truncateFile(imagePath(dir, ids[2]!), 1000); // quick check finds it
    const [r, j] = await Promise.all([runCli(['ls', dir]), runCli(['ls', dir, '--json'])]);
    expect(r.code).toBe(0);
    expect(r.stdout).toMatch(/^!\s+000000000004\s+400/m);
    expect(r.stdout).toMatch(/^!\s+000000000003\s+\?\s+\?/m);
    expect(r.stdout).toMatch(/└ CKPT_ERR_CORRUPT at segment 2: /);
    expect(r.stdout).toMatch(/^\*\s+000000000002\s+200/m);
    expect(r.stdout).toContain("2 images fail a check; 'ckpt verify");
    const ls = json<LsJson>(j);
    expect(ls.images.map((i) => i.status)).toEqual(['damaged', 'damaged', 'ok', 'ok']);
    expect(ls.restore.pick).toBe('000000000002');
    expect(await restorePick(dir)).toBe(ls.restore.pick);
  });

  it('--quick reads only metadata: the pick is the newest readable image, marked unverified', async () => {
    const dir = await tempDir();
    const ids = await makeStore(dir, 2);
    await damageSegment(imagePath(dir, ids[1]!), 2);
    const r = await runCli(['ls', dir, '--quick', '--json']);
    expect(json<LsJson>(r).restore).toEqual({ pick: ids[1], verified: false, error: null });
    const human = await runCli(['ls', dir, '--quick']);
    expect(human.stdout).toContain('(quick check only; its data was not read)');
  });

  it('an image newer than this ckpt: marked "?", and restore() would fail on it', async () => {
    const dir = await tempDir();
    await makeStore(dir, 1);
    await copyFile(golden(2, 'broken-newer-format'), imagePath(dir, '000000000005'));
    const r = await runCli(['ls', dir]);
    expect(r.stdout).toMatch(/^\?\s+000000000005/m);
    expect(r.stdout).toContain('restore() would fail on 000000000005: CKPT_ERR_FORMAT_NEWER');
    const j = json<LsJson>(await runCli(['ls', dir, '--json']));
    expect(j.restore).toMatchObject({ pick: null, error: { code: 'CKPT_ERR_FORMAT_NEWER' } });
    expect(j.images[0]!.status).toBe('newer');
  });

  it('bad input: missing → 4, not a store → 4, a file → 1; an empty store is fine', async () => {
    const empty = await tempDir();
    const notStore = await tempDir();
    await writeFile(join(notStore, 'backup.ckpt'), 'x');
    const [missing, other, file, emptyRun] = await Promise.all([
      runCli(['ls', join(empty, 'nope')]),
      runCli(['ls', notStore]),
      runCli(['ls', golden(2, 'values')]),
      runCli(['ls', empty]),
    ]);
    expect(missing.code).toBe(4);
    expect(missing.stderr).toMatch(/nope: no such file or directory; check the store directory path\n$/);
    expect(other.code).toBe(4);
    expect(other.stderr).toMatch(/is not a ckpt store: .*image-like files \(backup\.ckpt\): look at one with 'ckpt inspect .*backup\.ckpt'\n$/);
    expect(file.code).toBe(1);
    expect(file.stderr).toMatch(/is a file; 'ckpt ls' takes a store directory .*'ckpt inspect /);
    for (const r of [missing, other, file]) {
      expect(r.stdout).toBe('');
      expect(r.stderr.trimEnd().split('\n')).toHaveLength(1);
      expect(hasStack(r.stderr)).toBe(false);
    }
    expect(emptyRun.code).toBe(0);
    expect(emptyRun.stdout).toContain('no committed images; restore() would start fresh');
  });
});

interface PruneJson {
  dryRun: boolean;
  newestValid: string | null;
  images: { id: string; action: string; reason: string | null; status: string }[];
  deleted: string[];
  wouldDelete: string[];
  leftoversRemoved: string[];
}

async function committed(dir: string): Promise<string[]> {
  return (await readdir(dir)).filter((n) => /^\d{12}\.ckpt$/.test(n)).map((n) => n.slice(0, 12)).sort();
}

describe('ckpt prune', () => {
  it('--keep-last N deletes the older images, removes leftovers, releases the lock', async () => {
    const dir = await tempDir();
    const ids = await makeStore(dir, 5);
    await writeFile(join(dir, '.tmp-000000000006-99999-dead.partial'), 'half-written');
    const dry = json<PruneJson>(await runCli(['prune', dir, '--keep-last', '2', '--dry-run', '--json']));
    expect(dry.wouldDelete).toEqual([ids[2], ids[1], ids[0]]);
    expect(await committed(dir)).toEqual(ids);
    const r = await runCli(['prune', dir, '--keep-last', '2', '--json']);
    expect(r.code).toBe(0);
    const j = json<PruneJson>(r);
    expect(j.deleted).toEqual([ids[2], ids[1], ids[0]]);
    expect(j.leftoversRemoved).toEqual(['.tmp-000000000006-99999-dead.partial']);
    expect(await committed(dir)).toEqual([ids[3], ids[4]]);
    expect((await readdir(dir)).filter((n) => n.startsWith('.'))).toEqual([]);
  });

  it('never deletes the newest valid image, nor one it cannot read', async () => {
    const dir = await tempDir();
    const ids = await makeStore(dir, 5);
    await damageSegment(imagePath(dir, ids[4]!), 1);
    await damageSegment(imagePath(dir, ids[3]!), 4);
    await truncateFile(imagePath(dir, ids[1]!), 200);
    const r = await runCli(['prune', dir, '--keep-last', '1']);
    expect(r.code, r.stderr).toBe(0);
    expect(r.stdout).toMatch(/keep\s+000000000005\s+step 500 .*newest image \(damaged\)/);
    expect(r.stdout).toMatch(/deleted\s+000000000004\s+step 400/);
    expect(r.stdout).toMatch(/keep\s+000000000003\s+step 300 .*newest valid image \(restore\(\) picks it\)/);
    expect(r.stdout).toMatch(/keep\s+000000000002\s+-\s+\?.*cannot be read: never pruned/);
    expect(r.stdout).toMatch(/deleted\s+000000000001\s+step 100/);
    expect(await committed(dir)).toEqual([ids[1], ids[2], ids[4]]);
    expect(await restorePick(dir)).toBe(ids[2]);
  });

  it('more policies: --keep-labelled keeps the labelled image', async () => {
    const dir = await tempDir();
    const ids = await makeStore(dir, 4);
    const j = json<PruneJson>(await runCli(['prune', dir, '--keep-last', '1', '--keep-labelled', '--json']));
    expect(j.deleted).toEqual([ids[1], ids[0]]);
    expect(await committed(dir)).toEqual([ids[2], ids[3]]);
  });

  it('a running writer holds the lock: exit 5, one line, nothing deleted; --wait-ms waits for it', async () => {
    const dir = await tempDir();
    const ids = await makeStore(dir, 3);
    const lock = await new FsStore(dir).acquireWriter();
    let released = false;
    try {
      const r = await runCli(['prune', dir, '--keep-last', '1']);
      expect(r.code).toBe(5);
      expect(r.stdout).toBe('');
      expect(r.stderr).toMatch(new RegExp(`^ckpt: store .* is locked by a running writer \\(pid ${process.pid} on host .*\\); prune changed nothing — stop the writer, or retry later \\(--wait-ms MS waits for the lock\\)\\n$`));
      expect(await committed(dir)).toEqual(ids);
      const json5 = await runCli(['prune', dir, '--keep-last', '1', '--json']);
      expect(json<{ error: { code: string; exitCode: number } }>(json5).error).toMatchObject({ code: 'CKPT_ERR_LOCKED', exitCode: 5 });
      const waiting = runCli(['prune', dir, '--keep-last', '1', '--wait-ms', '10000']);
      setTimeout(() => {
        released = true;
        void lock.release();
      }, 700);
      const w = await waiting;
      expect(w.code, w.stderr).toBe(0);
      expect(await committed(dir)).toEqual([ids[2]]);
    } finally {
      if (!released) await lock.release();
    }
  });

  it('needs a policy; a store path that is a file is refused', async () => {
    const [none, file] = await Promise.all([runCli(['prune', await tempDir()]), runCli(['prune', golden(1, 'values'), '--keep-last', '1'])]);
    expect(none.code).toBe(1);
    expect(none.stderr).toMatch(/say what to keep: --keep-last N/);
    expect(file.code).toBe(1);
  });
});
