// FsStore hardening: entries named like images that are not images (symlink
// loops, stray files) never break list(), id allocation or checkpoints; a
// store path that is a file is refused up front; images, lock and directory
// are owner-only by default.
import { afterEach, describe, expect, it } from 'vitest';
import { mkdtemp, rm, stat, symlink, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { FsStore } from '../../src/store/fs-store.js';
import { MAGIC } from '../../src/image/constants.js';
import { Checkpointer } from '../../src/checkpointer.js';
import { ErrorCodes, isCkptError } from '../../src/errors.js';
import type { CkptWarning } from '../../src/events.js';

const roots: string[] = [];
async function tempDir(): Promise<string> {
  const root = await mkdtemp(join(tmpdir(), 'ckpt-fs-hardening-'));
  roots.push(root);
  return root;
}
afterEach(async () => {
  for (const root of roots.splice(0)) await rm(root, { recursive: true, force: true });
});

/** Commit one image whose bytes start with the image magic. */
async function commitImage(store: FsStore): Promise<string> {
  const lock = await store.acquireWriter();
  try {
    const sink = await store.create(lock);
    await sink.write(Uint8Array.of(...MAGIC, 1, 2, 3));
    await sink.commit();
    return sink.id;
  } finally {
    await lock.release();
  }
}

describe('FsStore: foreign directory entries', () => {
  it('a symlink loop named like an image is skipped with CKPT_WARN_FOREIGN_ENTRY; list() still shows the real images', async () => {
    const dir = await tempDir();
    const warnings: CkptWarning[] = [];
    const store = new FsStore(dir, { onWarning: (w) => void warnings.push(w) });
    const id = await commitImage(store);
    await symlink('000000000009.ckpt', join(dir, '000000000009.ckpt')); // points at itself: ELOOP
    const listed = await store.list();
    expect(listed.map((e) => e.id)).toEqual([id]);
    expect(warnings.map((w) => w.code)).toEqual(['CKPT_WARN_FOREIGN_ENTRY']);
    expect(warnings[0]?.message).toContain('000000000009.ckpt');
    await store.list(); // reported once per store handle, not on every listing
    expect(warnings.length).toBe(1);
    // Writing goes on past it.
    expect(await commitImage(store)).toBe('000000000002'); // ids continue from the real images
  });

  it('a stray empty file with the largest id does not exhaust the ids: checkpoints go on, with a warning', async () => {
    const dir = await tempDir();
    const warnings: CkptWarning[] = [];
    const store = new FsStore(dir, { onWarning: (w) => void warnings.push(w) });
    const first = await commitImage(store);
    await writeFile(join(dir, '999999999999.ckpt'), '');
    const second = await commitImage(store);
    expect(first).toBe('000000000001');
    expect(second).toBe('000000000002');
    expect(warnings.map((w) => w.code)).toContain('CKPT_WARN_FOREIGN_ENTRY');
    expect(warnings.some((w) => w.message.includes('999999999999.ckpt'))).toBe(true);
  });

  it('a foreign file at the next id is stepped over (a commit never replaces a file)', async () => {
    const dir = await tempDir();
    const store = new FsStore(dir, { onWarning: () => undefined });
    await commitImage(store);
    await writeFile(join(dir, '000000000003.ckpt'), 'not an image');
    await writeFile(join(dir, '000000000002.ckpt'), 'not an image either');
    expect(await commitImage(store)).toBe('000000000004');
  });

  it('the Checkpointer routes foreign-entry warnings to its warning event and keeps checkpointing', async () => {
    const dir = await tempDir();
    await writeFile(join(dir, '999999999999.ckpt'), '');
    const ckpt = new Checkpointer({ store: dir, signals: false });
    const codes: string[] = [];
    ckpt.on('warning', (w) => void codes.push(w.code));
    ckpt.register({ id: 'x', snapshot: () => 1, restore: () => undefined });
    const info = await ckpt.checkpoint();
    expect(info.id).toBe('000000000001');
    expect(codes).toContain('CKPT_WARN_FOREIGN_ENTRY');
    await ckpt.close();
  });
});

describe('FsStore: the store path', () => {
  it('a path that is a file is refused in the constructor with INVALID_ARGUMENT saying so', async () => {
    const dir = await tempDir();
    const file = join(dir, 'plain-file');
    await writeFile(file, 'x');
    let err: unknown;
    try {
      new FsStore(file);
    } catch (e) {
      err = e;
    }
    expect(isCkptError(err, ErrorCodes.INVALID_ARGUMENT)).toBe(true);
    expect(String(err)).toMatch(/is a file, not a directory/);
  });
});

describe('FsStore: permissions', () => {
  const perm = async (path: string): Promise<number> => (await stat(path)).mode & 0o777;

  it.runIf(process.platform !== 'win32')('the directory it creates is 0700, images and the lock are 0600 by default', async () => {
    const dir = join(await tempDir(), 'images');
    const store = new FsStore(dir);
    const lock = await store.acquireWriter();
    expect(await perm(dir)).toBe(0o700);
    expect(await perm(join(dir, '.ckpt-lock'))).toBe(0o600);
    const sink = await store.create(lock);
    await sink.write(Uint8Array.of(...MAGIC));
    await sink.commit();
    expect(await perm(join(dir, `${sink.id}.ckpt`))).toBe(0o600);
    await lock.release();
  });

  it.runIf(process.platform !== 'win32')('mode and dirMode widen the defaults exactly, whatever the umask', async () => {
    const dir = join(await tempDir(), 'shared');
    const old = process.umask(0o077); // would strip the group bits asked for
    try {
      const store = new FsStore(dir, { mode: 0o640, dirMode: 0o750 });
      const lock = await store.acquireWriter();
      const sink = await store.create(lock);
      await sink.write(Uint8Array.of(...MAGIC));
      await sink.commit();
      expect(await perm(dir)).toBe(0o750);
      expect(await perm(join(dir, '.ckpt-lock'))).toBe(0o640);
      expect(await perm(join(dir, `${sink.id}.ckpt`))).toBe(0o640);
      await lock.release();
    } finally {
      process.umask(old);
    }
  });

  it('a mode outside 0..0o777 is INVALID_ARGUMENT', async () => {
    const dir = await tempDir();
    for (const options of [{ mode: 0o1777 }, { dirMode: -1 }, { mode: 1.5 }]) {
      let err: unknown;
      try {
        new FsStore(dir, options);
      } catch (e) {
        err = e;
      }
      expect(isCkptError(err, ErrorCodes.INVALID_ARGUMENT), JSON.stringify(options)).toBe(true);
    }
  });
});
