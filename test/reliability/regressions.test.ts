/**
 * @module test/reliability/regressions
 *
 * Regression tests for the bugs the reliability suites found, each named
 * after what it pins (see docs/reliability.md, "Bugs found").
 */
import { afterEach, describe, expect, it } from 'vitest';
import { mkdtemp, readFile, readdir, rm, unlink, writeFile } from 'node:fs/promises';
import { hostname, tmpdir } from 'node:os';
import { join } from 'node:path';
import { Checkpointer, ErrorCodes, FsStore, isCkptError } from '../../src/index.js';
import type { Store } from '../../src/index.js';
import { FsWriterLock, LOCK_FILE_NAME, parseLockInfo } from '../../src/store/fs-lock.js';
import { nodeFsOps, type FsOps } from '../../src/store/fs-ops.js';
import { openImageFileSource } from '../../src/store/fs-store.js';
import { ImageReader } from '../../src/image/reader.js';
import { FaultyFs } from '../store/helpers/faulty-fs.js';

const dirs: string[] = [];
afterEach(async () => {
  for (const d of dirs.splice(0)) await rm(d, { recursive: true, force: true });
});

async function tempDir(): Promise<string> {
  const d = await mkdtemp(join(tmpdir(), 'ckpt-regress-'));
  dirs.push(d);
  return d;
}

async function codeOf(p: Promise<unknown>): Promise<string> {
  return p.then(
    () => 'ok',
    (e: unknown) => (isCkptError(e) ? e.code : `non-ckpt: ${String(e)}`),
  );
}

/** Index of the first call of `op` on a path ending in `suffix` in a clean run of `run`. */
async function callIndex(fs: FaultyFs, run: () => Promise<unknown>, op: string, suffix: string, nth = 0): Promise<number> {
  fs.reset();
  await run();
  const hits = fs.calls.filter((c) => c.op === op && c.path.endsWith(suffix));
  const call = hits[nth];
  if (call === undefined) throw new Error(`no ${op} on *${suffix} in ${fs.calls.map((c) => c.op).join(' ')}`);
  return call.n;
}

function counter(dir: string, fs?: FaultyFs): { ckpt: Checkpointer; state: { n: number }; warnings: string[] } {
  const ckpt = new Checkpointer({ store: new FsStore(dir, fs === undefined ? {} : { fs }), signals: false });
  const state = { n: 0 };
  const warnings: string[] = [];
  ckpt.register<{ n: number }>({ id: 'c', snapshot: () => ({ n: state.n }), restore: (s) => void (state.n = s.n) });
  ckpt.on('warning', (w) => void warnings.push(w.code));
  return { ckpt, state, warnings };
}

describe('writer lock: own lock files left behind by a failing filesystem', () => {
  it('a lock file this process created but could not read back is adopted by the next acquire, not reported LOCKED by itself', async () => {
    const dir = await tempDir();
    const fs = new FaultyFs({ fstat: true });
    const at = await callIndex(fs, async () => (await FsWriterLock.acquire(dir, { fs })).release(), 'stat', LOCK_FILE_NAME);
    fs.reset();
    fs.arm(at, 'EIO');
    expect(await codeOf(FsWriterLock.acquire(dir, { fs }))).toBe(ErrorCodes.STORE_IO);
    fs.disarm();
    // The file is ours (this pid, this start time): before the fix this was
    // CKPT_ERR_LOCKED "locked by this process" until the process exited.
    const lock = await FsWriterLock.acquire(dir, { fs });
    expect(parseLockInfo(await readFile(join(dir, LOCK_FILE_NAME)))?.token).toBe(lock.info.token);
    await lock.release();
    expect(await readdir(dir)).toEqual([]);
  });

  it('an incomplete lock file this process could not remove is recovered at once, not after the 5 s unreadable-lock delay', async () => {
    const dir = await tempDir();
    const fs = new FaultyFs({ fstat: true });
    const at = await callIndex(fs, async () => (await FsWriterLock.acquire(dir, { fs })).release(), 'write', LOCK_FILE_NAME);
    fs.reset();
    fs.arm(at, 'EIO', 'sticky'); // the write fails, and so does the unlink after it
    expect(await codeOf(FsWriterLock.acquire(dir, { fs }))).toBe(ErrorCodes.STORE_IO);
    fs.disarm();
    expect(await readdir(dir)).toEqual([LOCK_FILE_NAME]);
    const t0 = Date.now();
    const lock = await FsWriterLock.acquire(dir, { fs });
    expect(Date.now() - t0).toBeLessThan(2000);
    await lock.release();
    expect((await readdir(dir)).filter((n) => n.startsWith('.ckpt-lock'))).toEqual([]);
  });

  it('a complete lock file of a failed acquire whose unlink failed is adopted (fsync failed, then unlink failed)', async () => {
    const dir = await tempDir();
    const fs = new FaultyFs({ fstat: true });
    const at = await callIndex(fs, async () => (await FsWriterLock.acquire(dir, { fs })).release(), 'fsync', LOCK_FILE_NAME);
    fs.reset();
    fs.arm(at, 'EIO', 'sticky');
    expect(await codeOf(FsWriterLock.acquire(dir, { fs }))).toBe(ErrorCodes.STORE_IO);
    fs.disarm();
    const lock = await FsWriterLock.acquire(dir, { fs });
    await lock.release();
    expect(await readdir(dir)).toEqual([]);
  });

  it('a lock file of another live process is still LOCKED (the adoption is only for this process’s own files)', async () => {
    const dir = await tempDir();
    await writeFile(join(dir, LOCK_FILE_NAME), JSON.stringify({ pid: 1, hostname: hostname(), token: 'init', startedAt: new Date().toISOString(), procStart: null }));
    expect(await codeOf(FsWriterLock.acquire(dir))).toBe(ErrorCodes.LOCKED);
  });
});

describe('Checkpointer: leftovers of failed checkpoints', () => {
  it('a temp file that could not be removed after a failed checkpoint is removed by the next checkpoint', async () => {
    const dir = await tempDir();
    const fs = new FaultyFs({ fstat: true });
    const { ckpt, state, warnings } = counter(dir, fs);
    await ckpt.checkpoint();
    const at = await callIndex(fs, () => ckpt.checkpoint(), 'fsync', '.partial');
    fs.reset();
    fs.arm(at, 'EIO', 'sticky'); // fsync fails, the unlink of the temp file too
    state.n = 1;
    expect(await codeOf(ckpt.checkpoint())).toBe(ErrorCodes.STORE_IO);
    fs.disarm();
    expect((await readdir(dir)).filter((n) => n.endsWith('.partial'))).toHaveLength(1);
    state.n = 2;
    await ckpt.checkpoint();
    // Before the fix the lock was cached and cleanup never ran again in this process.
    expect((await readdir(dir)).filter((n) => n.endsWith('.partial'))).toEqual([]);
    expect(warnings).toContain('CKPT_WARN_CLEANUP');
    await ckpt.close();
  });

  it('leftovers whose cleanup failed at the first checkpoint are removed by a later checkpoint', async () => {
    const leftover = '.tmp-000000000001-4000000-deadbeef.partial';
    // A dry run in a twin directory finds the cleanup's directory listing.
    const twin = await tempDir();
    await writeFile(join(twin, leftover), 'x');
    const dryFs = new FaultyFs({ fstat: true });
    const dry = counter(twin, dryFs);
    await dry.ckpt.checkpoint();
    await dry.ckpt.close();
    const at = dryFs.calls.find((c) => c.op === 'readdir')!.n;

    const dir = await tempDir();
    await writeFile(join(dir, leftover), 'x');
    const fs = new FaultyFs({ fstat: true });
    const { ckpt, warnings } = counter(dir, fs);
    fs.arm(at, 'EIO');
    await ckpt.checkpoint(); // cleanup fails: a warning, the checkpoint goes on
    fs.disarm();
    expect(warnings).toEqual(['CKPT_WARN_CLEANUP']);
    expect(await readdir(dir)).toContain(leftover);
    await ckpt.checkpoint();
    // Before the fix cleanup ran only when the lock was taken, never again.
    expect(await readdir(dir)).not.toContain(leftover);
    expect(warnings).toEqual(['CKPT_WARN_CLEANUP', 'CKPT_WARN_CLEANUP']);
    await ckpt.close();
  });

  it('the image of a commit whose directory fsync and removal failed is removed by the next checkpoint', async () => {
    const dir = await tempDir();
    const fs = new FaultyFs({ fstat: true });
    const { ckpt, state } = counter(dir, fs);
    await ckpt.checkpoint();
    const at = await callIndex(fs, () => ckpt.checkpoint(), 'fsyncDir', '');
    fs.reset();
    fs.arm(at, 'EIO', 'sticky');
    state.n = 7;
    const err = await ckpt.checkpoint().catch((e: unknown) => e);
    fs.disarm();
    expect(isCkptError(err, ErrorCodes.STORE_IO)).toBe(true);
    expect((err as Error).message).toMatch(/could not be removed again/);
    expect((await readdir(dir)).filter((n) => n.endsWith('.ckpt'))).toHaveLength(3);
    state.n = 8;
    const next = await ckpt.checkpoint();
    await ckpt.close();
    // The failed image (id 3) is gone; the new image took the free id.
    expect((await readdir(dir)).filter((n) => n.endsWith('.ckpt')).sort()).toEqual(['000000000001.ckpt', '000000000002.ckpt', `${next.id}.ckpt`]);
    const reader = counter(dir);
    await reader.ckpt.restore();
    expect(reader.state.n).toBe(8);
    await reader.ckpt.close();
  });
});

describe('Checkpointer.restore() racing a writer that prunes', () => {
  it('an image pruned by another writer between list() and open() is not reported damaged: restore() re-lists and restores the newest image', async () => {
    const dir = await tempDir();
    // The writer ("another process": its own Checkpointer and store handle) keeps one image.
    const writer = new Checkpointer({ store: dir, retention: { keepLast: 1 }, signals: false });
    let n = 1;
    writer.register<number>({ id: 'c', snapshot: () => n, restore: () => undefined });
    await writer.checkpoint();
    // The reader's store commits a newer image (pruning the listed one) right before its first open().
    const fsStore = new FsStore(dir);
    let raced = false;
    const racing: Store = {
      description: fsStore.description,
      list: () => fsStore.list(),
      open: async (id: string) => {
        if (!raced) {
          raced = true;
          n = 2;
          await writer.checkpoint();
        }
        return fsStore.open(id);
      },
      acquireWriter: (o) => fsStore.acquireWriter(o),
      create: (l) => fsStore.create(l),
      delete: (l, id) => fsStore.delete(l, id),
      cleanup: (l) => fsStore.cleanup(l),
    };
    const reader = new Checkpointer({ store: racing, signals: false, readOnly: true });
    let restored = 0;
    const warnings: string[] = [];
    reader.register<number>({ id: 'c', snapshot: () => 0, restore: (s) => void (restored = s) });
    reader.on('warning', (w) => void warnings.push(w.code));
    // Before the fix: CKPT_ERR_NO_VALID_IMAGE, "all 1 image(s) failed verification", with a warning.
    const r = await reader.restore();
    expect(raced).toBe(true);
    expect(restored).toBe(2);
    expect(r?.fellBack).toBe(false);
    expect(r?.skipped).toEqual([]);
    expect(warnings).toEqual([]);
    await reader.close();
    await writer.close();
  });
});

describe('readers racing a writer that prunes', () => {
  it('openImageFile of an image deleted between its open and its stat reads the image it opened (fstat), or is NOT_FOUND — never STORE_IO', async () => {
    const dir = await tempDir();
    const { ckpt, state } = counter(dir);
    state.n = 41;
    const info = await ckpt.checkpoint();
    await ckpt.close();
    const path = join(dir, `${info.id}.ckpt`);
    // The writer prunes the file right after our open().
    const pruning: FsOps = {
      ...nodeFsOps,
      open: async (p, mode) => {
        const f = await nodeFsOps.open(p, mode);
        await unlink(p);
        return f;
      },
    };
    const source = await openImageFileSource(path, pruning);
    const reader = await ImageReader.open(source);
    expect(await reader.readProvider('c')).toEqual({ n: 41 });
    await reader.close();
    // A filesystem layer without fstat falls back to stat(path): NOT_FOUND.
    await writeFile(path, 'x');
    const noFstat: FsOps = { ...pruning };
    delete noFstat.fstat;
    expect(await codeOf(openImageFileSource(path, noFstat))).toBe(ErrorCodes.NOT_FOUND);
  });
});
