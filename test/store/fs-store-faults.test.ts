// Fault injection: every durable step of FsStore fails in turn (ENOSPC, EIO,
// EACCES, short writes) and must leave the store as it was.
import { describe, it, expect, beforeEach, afterEach } from 'vitest';
import { mkdtemp, readdir, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { FsStore } from '../../src/store/fs-store.js';
import { LOCK_FILE_NAME } from '../../src/store/fs-lock.js';
import { ErrorCodes } from '../../src/errors.js';
import { expectCode, rejection } from '../helpers/errors.js';
import type { WriterLock } from '../../src/store/store.js';
import { FaultyFs } from './helpers/faulty-fs.js';
import type { FsOpName } from './helpers/faulty-fs.js';

let dir: string;
let fs: FaultyFs;
let store: FsStore;
let lock: WriterLock;
let goodId: string;
const good = new Uint8Array(300).map((_, i) => i & 0xff);

beforeEach(async () => {
  dir = await mkdtemp(join(tmpdir(), 'ckpt-faults-'));
  fs = new FaultyFs();
  store = new FsStore(dir, { fs });
  lock = await store.acquireWriter();
  const sink = await store.create(lock);
  await sink.write(good);
  await sink.commit();
  goodId = sink.id;
});

afterEach(async () => {
  fs.faults = [];
  await lock.release();
  await rm(dir, { recursive: true, force: true });
});

/** The store still holds exactly the good image, readable, and no temp file. */
async function expectUntouched(): Promise<void> {
  const names = await readdir(dir);
  expect(names.filter((n) => n.endsWith('.partial'))).toEqual([]);
  expect(names.filter((n) => n.endsWith('.ckpt')).sort()).toEqual([`${goodId}.ckpt`]);
  expect(await store.list()).toEqual([{ id: goodId, size: good.length }]);
  const src = await store.open(goodId);
  expect(await src.read(0, good.length)).toEqual(good);
  await src.close();
}

/** After the fault is gone the store works again and the next id follows the good one. */
async function expectRecovers(): Promise<void> {
  fs.faults = [];
  const sink = await store.create(lock);
  expect(Number(sink.id)).toBe(Number(goodId) + 1);
  await sink.write(new Uint8Array([1, 2, 3]));
  await sink.commit();
  expect((await store.list()).map((e) => e.id)).toEqual([sink.id, goodId]);
}

const hints: Record<string, RegExp> = { ENOSPC: /disk full/, EIO: /I\/O error/, EACCES: /permission denied/ };
const isTemp = (p: string): boolean => p.endsWith('.partial');

const commitSteps: { op: FsOpName; match: (p: string) => boolean }[] = [
  { op: 'fsync', match: isTemp },
  { op: 'close', match: isTemp },
  { op: 'rename', match: isTemp },
  { op: 'fsyncDir', match: () => true },
];

describe('FsStore commit under injected faults', () => {
  for (const code of ['ENOSPC', 'EIO', 'EACCES']) {
    for (const step of commitSteps) {
      it(`${step.op} failing with ${code} rejects the commit with CKPT_ERR_STORE_IO and leaves no trace`, async () => {
        const sink = await store.create(lock);
        await sink.write(new Uint8Array(5000).fill(1));
        fs.faults = [{ op: step.op, code, match: step.match }];
        const err = await rejection(sink.commit());
        expect(err.code).toBe(ErrorCodes.STORE_IO);
        expect((err.cause as NodeJS.ErrnoException).code).toBe(code);
        expect(err.message).toMatch(hints[code]!);
        expect(err.message).toContain(step.op === 'fsyncDir' ? dir : '.partial');
        expect(err.image).toBe(sink.id);
        fs.faults = [];
        await expectUntouched();
        await sink.abort(); // no-op, never throws
        await expectCode(sink.commit(), ErrorCodes.CLOSED);
        await expectRecovers();
      });
    }

    it(`write failing with ${code} rejects write and commit with CKPT_ERR_STORE_IO and leaves no trace`, async () => {
      const sink = await store.create(lock);
      await sink.write(new Uint8Array(10));
      fs.faults = [{ op: 'write', code, match: isTemp }];
      const err = await rejection(sink.write(new Uint8Array(10)));
      expect(err.code).toBe(ErrorCodes.STORE_IO);
      expect((err.cause as NodeJS.ErrnoException).code).toBe(code);
      expect(err.message).toMatch(hints[code]!);
      fs.faults = [];
      // The sink stays failed even though the disk recovered: a gap in the image must not be committed.
      await expectCode(sink.write(new Uint8Array(1)), ErrorCodes.STORE_IO);
      const commitErr = await rejection(sink.commit());
      expect(commitErr.code).toBe(ErrorCodes.STORE_IO);
      expect(commitErr.cause).toBeDefined();
      await expectUntouched();
      await expectRecovers();
    });

    it(`creating the temp file failing with ${code} rejects create with CKPT_ERR_STORE_IO`, async () => {
      fs.faults = [{ op: 'open', code, match: isTemp }];
      const err = await rejection(store.create(lock));
      expect(err.code).toBe(ErrorCodes.STORE_IO);
      expect(err.message).toMatch(hints[code]!);
      await expectUntouched();
      await expectRecovers();
    });
  }

  it('loops on short writes and the image reads back exactly', async () => {
    fs.shortWriteMax = 7;
    const data = new Uint8Array(10_000).map((_, i) => (i * 31) & 0xff);
    const sink = await store.create(lock);
    await sink.write(data.subarray(0, 3333));
    await sink.write(data.subarray(3333));
    await sink.commit();
    expect(fs.count('write', isTemp)).toBeGreaterThanOrEqual(Math.ceil(10_000 / 7));
    fs.shortReadMax = 5;
    const src = await store.open(sink.id);
    expect(await src.read(0, data.length)).toEqual(data);
    expect(await src.read(4321, 99)).toEqual(data.subarray(4321, 4420));
    await src.close();
  });

  it('treats a write that makes no progress as CKPT_ERR_STORE_IO', async () => {
    fs.shortWriteMax = 0;
    const sink = await store.create(lock);
    const err = await rejection(sink.write(new Uint8Array(10)));
    expect(err.code).toBe(ErrorCodes.STORE_IO);
    fs.shortWriteMax = undefined;
    await rejection(sink.commit());
    await expectUntouched();
  });

  it('a read failing with EIO is CKPT_ERR_STORE_IO naming the image file', async () => {
    const src = await store.open(goodId);
    fs.faults = [{ op: 'read', code: 'EIO' }];
    const err = await rejection(src.read(0, 10));
    expect(err.code).toBe(ErrorCodes.STORE_IO);
    expect(err.message).toContain(`${goodId}.ckpt`);
    fs.faults = [];
    await src.close();
  });

  it('listing failing with EACCES is CKPT_ERR_STORE_IO', async () => {
    fs.faults = [{ op: 'readdir', code: 'EACCES' }];
    const err = await rejection(store.list());
    expect(err.code).toBe(ErrorCodes.STORE_IO);
    expect(err.message).toMatch(/permission denied/);
  });

  it('a failing lock check in commit is CKPT_ERR_LOCKED, and the temp file is removed', async () => {
    const sink = await store.create(lock);
    await sink.write(new Uint8Array(10));
    await lock.release();
    const err = await rejection(sink.commit());
    expect(err.code).toBe(ErrorCodes.LOCKED);
    await expectUntouched();
    lock = await store.acquireWriter();
  });

  it('writing the lock file failing with ENOSPC is CKPT_ERR_STORE_IO and leaves no lock file', async () => {
    const other = new FsStore(join(dir, 'sub'), { fs });
    fs.faults = [{ op: 'write', code: 'ENOSPC', match: (p) => p.endsWith(LOCK_FILE_NAME) }];
    const err = await rejection(other.acquireWriter());
    expect(err.code).toBe(ErrorCodes.STORE_IO);
    expect(err.message).toMatch(/disk full/);
    expect(await readdir(join(dir, 'sub'))).toEqual([]);
    fs.faults = [];
    const l = await other.acquireWriter();
    await l.release();
  });

  it('a failing delete is CKPT_ERR_STORE_IO and keeps the image', async () => {
    fs.faults = [{ op: 'unlink', code: 'EPERM', match: (p) => p.endsWith('.ckpt') }];
    const err = await rejection(store.delete(lock, goodId));
    expect(err.code).toBe(ErrorCodes.STORE_IO);
    expect(err.message).toMatch(/permission denied/);
    fs.faults = [];
    await expectUntouched();
  });
});

