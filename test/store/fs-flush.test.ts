/**
 * @module test/store/fs-flush
 *
 * FsStore's background flushing: a large image is fsynced as it is written
 * (so the commit's fsync has little left), never while it is closed, and a
 * failed background fsync fails the image instead of being forgotten.
 */
import { mkdtemp, readdir, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { ErrorCodes, isCkptError } from '../../src/errors.js';
import { nodeFsOps, type FsFile, type FsOps } from '../../src/store/fs-ops.js';
import { FLUSH_EVERY_BYTES, FsStore } from '../../src/store/fs-store.js';

const roots: string[] = [];
afterEach(async () => {
  for (const root of roots.splice(0)) await rm(root, { recursive: true, force: true });
});

/**
 * The real filesystem, recording fsyncs and closes of temp image files (not
 * the lock file) in order, with fsync number `failAt` (1-based) failing with EIO.
 */
function recordingFs(failAt = 0): { fs: FsOps; log: string[] } {
  const log: string[] = [];
  let fsyncs = 0;
  let running = 0;
  const fs: FsOps = {
    ...nodeFsOps,
    async fsync(file: FsFile): Promise<void> {
      if (!file.path.endsWith('.partial')) return nodeFsOps.fsync(file);
      const n = ++fsyncs;
      running++;
      log.push(`fsync ${n}`);
      try {
        // Slow enough that writes and the commit surely come while it runs.
        await new Promise((r) => setTimeout(r, 30));
        if (n === failAt) throw Object.assign(new Error('EIO: i/o error, fsync'), { code: 'EIO' });
        await nodeFsOps.fsync(file);
      } finally {
        running--;
      }
    },
    async close(file: FsFile): Promise<void> {
      if (!file.path.endsWith('.partial')) return nodeFsOps.close(file);
      log.push(running > 0 ? 'close while an fsync runs' : 'close');
      await nodeFsOps.close(file);
    },
  };
  return { fs, log };
}

/** `chunks` chunks of 1 MiB, each filled with its number. */
function chunk(i: number): Uint8Array {
  return new Uint8Array(1024 * 1024).fill(i & 0xff);
}

/**
 * Write `chunks` MiB into a new image. `commit` settles as the image does: a
 * failed background fsync surfaces at the next write or at the commit,
 * whichever comes first on a busy machine (the sink is then aborted).
 */
async function writeImage(store: FsStore, chunks: number): Promise<{ id: string; commit: Promise<void> }> {
  const lock = await store.acquireWriter();
  const sink = await store.create(lock);
  try {
    for (let i = 0; i < chunks; i++) await sink.write(chunk(i));
  } catch (err) {
    await sink.abort();
    await lock.release();
    return { id: sink.id, commit: Promise.reject(err instanceof Error ? err : new Error(String(err))) };
  }
  const commit = sink.commit().finally(() => lock.release());
  return { id: sink.id, commit };
}

describe('FsStore background flush', () => {
  it('fsyncs a large image while it is written, and never closes it under a running fsync', async () => {
    const root = await mkdtemp(join(tmpdir(), 'ckpt-flush-'));
    roots.push(root);
    const { fs, log } = recordingFs();
    const store = new FsStore(root, { fs });
    const chunks = (3 * FLUSH_EVERY_BYTES) / (1024 * 1024) + 3;
    const { id, commit } = await writeImage(store, chunks);
    // Before the commit, at least one fsync already ran or runs.
    expect(log.filter((l) => l.startsWith('fsync')).length).toBeGreaterThanOrEqual(1);
    await commit;
    expect(log).not.toContain('close while an fsync runs');
    expect(log.filter((l) => l.startsWith('fsync')).length).toBeGreaterThanOrEqual(2);
    const bytes = await readFile(join(root, `${id}.ckpt`));
    expect(bytes.length).toBe(chunks * 1024 * 1024);
    for (let i = 0; i < chunks; i++) expect(bytes[i * 1024 * 1024 + 777]).toBe(i & 0xff);
  });

  it('a failed background fsync fails the commit with CKPT_ERR_STORE_IO and leaves no file', async () => {
    const root = await mkdtemp(join(tmpdir(), 'ckpt-flush-'));
    roots.push(root);
    const { fs, log } = recordingFs(1);
    const store = new FsStore(root, { fs });
    const { commit } = await writeImage(store, FLUSH_EVERY_BYTES / (1024 * 1024) + 2);
    const err: unknown = await commit.then(
      () => undefined,
      (e: unknown) => e,
    );
    expect(isCkptError(err) && err.code === ErrorCodes.STORE_IO).toBe(true);
    expect(String((err as Error).message)).toMatch(/flushing image .* to disk/);
    expect(log).not.toContain('close while an fsync runs');
    expect(await readdir(root)).toEqual([]);
    expect(await store.list()).toEqual([]);
  });

  it('abort() waits for a running background fsync before it closes the file', async () => {
    const root = await mkdtemp(join(tmpdir(), 'ckpt-flush-'));
    roots.push(root);
    const { fs, log } = recordingFs();
    const store = new FsStore(root, { fs });
    const lock = await store.acquireWriter();
    const sink = await store.create(lock);
    for (let i = 0; i < FLUSH_EVERY_BYTES / (1024 * 1024); i++) await sink.write(chunk(i));
    expect(log).toContain('fsync 1');
    await sink.abort();
    await lock.release();
    expect(log).toEqual(['fsync 1', 'close']);
    expect(await readdir(root)).toEqual([]);
  });

  it('a layer whose fsync throws instead of rejecting fails the image the same way', async () => {
    const root = await mkdtemp(join(tmpdir(), 'ckpt-flush-'));
    roots.push(root);
    let thrown = 0;
    const fs: FsOps = {
      ...nodeFsOps,
      fsync(file: FsFile): Promise<void> {
        if (file.path.endsWith('.partial') && thrown++ === 0) throw Object.assign(new Error('EIO: i/o error, fsync'), { code: 'EIO' });
        return nodeFsOps.fsync(file);
      },
    };
    const store = new FsStore(root, { fs });
    const lock = await store.acquireWriter();
    const sink = await store.create(lock);
    // The failure is seen by the next write() or, at the latest, by commit().
    const err: unknown = await (async () => {
      for (let i = 0; i < FLUSH_EVERY_BYTES / (1024 * 1024) + 2; i++) await sink.write(chunk(i));
      await sink.commit();
    })().then(
      () => undefined,
      (e: unknown) => e,
    );
    await sink.abort();
    await lock.release();
    expect(thrown).toBeGreaterThan(0);
    expect(isCkptError(err) && err.code === ErrorCodes.STORE_IO).toBe(true);
    expect(String((err as Error).message)).toMatch(/flushing image/);
    expect(await readdir(root)).toEqual([]);
  });
});
