import { describe, it, expect, afterEach } from 'vitest';
import { mkdtemp, mkdir, readdir, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { FsStore } from '../../src/store/fs-store.js';
import { LOCK_FILE_NAME, parseLockInfo } from '../../src/store/fs-lock.js';
import { ErrorCodes } from '../../src/errors.js';
import { expectCode } from '../helpers/errors.js';
import { runStoreConformance } from '../../src/testing/store-conformance.js';
import type { StoreHarness } from '../../src/testing/store-conformance.js';
import { FaultyFs } from './helpers/faulty-fs.js';

async function fsHarness(): Promise<StoreHarness> {
  const root = await mkdtemp(join(tmpdir(), 'ckpt-fs-store-'));
  // A directory that does not exist yet: exercises createDir.
  const dir = join(root, 'images');
  return {
    store: new FsStore(dir),
    reopen: () => Promise.resolve(new FsStore(dir)),
    dispose: () => rm(root, { recursive: true, force: true }),
  };
}

runStoreConformance(fsHarness, { describe, it }, { name: 'FsStore conformance' });

const roots: string[] = [];
async function tempDir(): Promise<string> {
  const root = await mkdtemp(join(tmpdir(), 'ckpt-fs-store-'));
  roots.push(root);
  return root;
}
afterEach(async () => {
  for (const root of roots.splice(0)) await rm(root, { recursive: true, force: true });
});

describe('FsStore', () => {
  it('stores committed images as <id>.ckpt and holds the lock in .ckpt-lock', async () => {
    const dir = await tempDir();
    const store = new FsStore(dir);
    expect(store.description).toBe(`fs:${dir}`);
    const lock = await store.acquireWriter();
    const info = parseLockInfo(await readFile(join(dir, LOCK_FILE_NAME)));
    expect(info?.pid).toBe(process.pid);
    const sink = await store.create(lock);
    expect(sink.id).toBe('000000000001');
    await sink.write(new Uint8Array([1, 2, 3]));
    await sink.commit();
    expect([...(await readFile(join(dir, '000000000001.ckpt')))]).toEqual([1, 2, 3]);
    await lock.release();
    expect(await readdir(dir)).toEqual(['000000000001.ckpt']);
  });

  it('does not list temp files, stray names or directories', async () => {
    const dir = await tempDir();
    const store = new FsStore(dir);
    const lock = await store.acquireWriter();
    const sink = await store.create(lock);
    await sink.write(new Uint8Array(10));
    const names = await readdir(dir);
    expect(names.some((n) => n.startsWith('.tmp-') && n.endsWith('.partial'))).toBe(true);
    await writeFile(join(dir, '.tmp-000000000009-1-abcd.partial'), 'x');
    await writeFile(join(dir, '000000000005.ckpt.bak'), 'x');
    await writeFile(join(dir, '000000000000.ckpt'), 'x');
    await writeFile(join(dir, '12345.ckpt'), 'x');
    await writeFile(join(dir, 'notes.txt'), 'x');
    await mkdir(join(dir, '000000000007.ckpt'));
    expect(await store.list()).toEqual([]);
    await expectCode(store.open('000000000007'), ErrorCodes.NOT_FOUND);
    // Temp and stray files do not influence ids.
    await sink.commit();
    expect(sink.id).toBe('000000000001');
    expect(await store.list()).toEqual([{ id: '000000000001', size: 10 }]);
    await lock.release();
  });

  it('cleanup removes temp files of crashed writers and stale-lock leftovers, nothing else', async () => {
    const dir = await tempDir();
    const store = new FsStore(dir);
    const lock = await store.acquireWriter();
    const sink = await store.create(lock);
    await sink.write(new Uint8Array(5));
    await sink.commit();
    const open = await store.create(lock);
    await writeFile(join(dir, '.tmp-000000000002-999999-dead.partial'), 'half an image');
    await writeFile(join(dir, '.ckpt-lock.stale-123-abc'), '{}');
    await writeFile(join(dir, 'keep.txt'), 'x');
    const removed = await store.cleanup(lock);
    expect(removed.sort()).toEqual(['.ckpt-lock.stale-123-abc', '.tmp-000000000002-999999-dead.partial']);
    const left = await readdir(dir);
    expect(left).toContain('000000000001.ckpt');
    expect(left).toContain('keep.txt');
    expect(left).toContain(LOCK_FILE_NAME);
    expect(left.filter((n) => n.endsWith('.partial'))).toHaveLength(1); // the open sink's
    await open.abort();
    expect((await readdir(dir)).filter((n) => n.endsWith('.partial'))).toEqual([]);
    expect(await store.cleanup(lock)).toEqual([]);
    await lock.release();
  });

  it('never replaces an existing image on commit', async () => {
    const dir = await tempDir();
    const store = new FsStore(dir);
    const lock = await store.acquireWriter();
    const sink = await store.create(lock);
    await sink.write(new Uint8Array([9]));
    // Someone writes the target behind the lock's back.
    await writeFile(join(dir, `${sink.id}.ckpt`), 'intruder');
    const err = await expectCode(sink.commit(), ErrorCodes.STORE_IO);
    expect(err.message).toMatch(/already exists/);
    expect(await readFile(join(dir, `${sink.id}.ckpt`), 'utf8')).toBe('intruder');
    expect((await readdir(dir)).filter((n) => n.endsWith('.partial'))).toEqual([]);
    await lock.release();
  });

  it('creates a missing directory (and its parents) only for a writer; createDir: false refuses', async () => {
    const root = await tempDir();
    const dir = join(root, 'a', 'b');
    const fs = new FaultyFs();
    const store = new FsStore(dir, { fs });
    expect(await store.list()).toEqual([]);
    await expectCode(store.open('000000000001'), ErrorCodes.NOT_FOUND);
    const lock = await store.acquireWriter();
    expect(await readdir(join(root, 'a'))).toEqual(['b']);
    // Parents of both new directories were fsynced.
    expect(fs.calls.filter((c) => c.op === 'fsyncDir').map((c) => c.path)).toEqual([join(root, 'a'), root]);
    await lock.release();

    const strict = new FsStore(join(root, 'missing'), { createDir: false });
    await expectCode(strict.list(), ErrorCodes.NOT_FOUND);
    await expectCode(strict.acquireWriter(), ErrorCodes.NOT_FOUND);
    await expectCode(strict.open('000000000001'), ErrorCodes.NOT_FOUND);
  });

  it('fsyncs the file before the rename and the directory after it', async () => {
    const dir = await tempDir();
    const fs = new FaultyFs();
    const store = new FsStore(dir, { fs });
    const lock = await store.acquireWriter();
    const sink = await store.create(lock);
    await sink.write(new Uint8Array(100));
    fs.calls.length = 0;
    await sink.commit();
    const steps = fs.calls
      .filter((c) => ['fsync', 'close', 'rename', 'fsyncDir'].includes(c.op))
      .map((c) => `${c.op} ${c.path.endsWith('.partial') ? 'temp' : c.path === dir ? 'dir' : c.path}`);
    expect(steps).toEqual(['fsync temp', 'close temp', 'rename temp', 'fsyncDir dir']);
    expect(fs.count('fsyncDir', (p) => p === dir)).toBe(1);
    // delete fsyncs the directory too
    await store.delete(lock, sink.id);
    expect(fs.count('fsyncDir', (p) => p === dir)).toBe(2);
    await lock.release();
  });

  it('rejects malformed ids and foreign locks with CKPT_ERR_INVALID_ARGUMENT', async () => {
    const dir = await tempDir();
    const store = new FsStore(dir);
    const other = new FsStore(join(dir, 'other'));
    const lock = await store.acquireWriter();
    for (const bad of ['1', '00000000001', '0000000000001', '000000000000', '00000000000a', '../000000001']) {
      await expectCode(store.open(bad), ErrorCodes.INVALID_ARGUMENT);
      await expectCode(store.delete(lock, bad), ErrorCodes.INVALID_ARGUMENT);
    }
    await expectCode(other.create(lock), ErrorCodes.INVALID_ARGUMENT);
    expect(() => new FsStore('')).toThrow(/directory/);
    await expectCode(store.acquireWriter({ waitMs: -1 }), ErrorCodes.INVALID_ARGUMENT);
    await lock.release();
  });

  it('accepts a lock taken through another handle on the same directory', async () => {
    const dir = await tempDir();
    const a = new FsStore(dir);
    const b = new FsStore(dir);
    const lock = await a.acquireWriter();
    const sink = await b.create(lock);
    await sink.write(new Uint8Array([1]));
    await sink.commit();
    expect(await a.list()).toEqual([{ id: sink.id, size: 1 }]);
    await lock.release();
  });

  it('reports a file that shrank under an open source as CKPT_ERR_CORRUPT', async () => {
    const dir = await tempDir();
    const store = new FsStore(dir);
    const lock = await store.acquireWriter();
    const sink = await store.create(lock);
    await sink.write(new Uint8Array(1000).fill(7));
    await sink.commit();
    const src = await store.open(sink.id);
    await writeFile(join(dir, `${sink.id}.ckpt`), new Uint8Array(10)); // truncate in place
    const err = await expectCode(src.read(0, 1000), ErrorCodes.CORRUPT);
    expect(err.message).toMatch(/truncated/);
    await src.close();
    await expectCode(src.read(0, 1), ErrorCodes.CLOSED);
    await lock.release();
  });
});
