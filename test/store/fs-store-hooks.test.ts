// FsStore reports the steps of its durable path to injected hooks (this is
// how the crash suite kills a process at an exact step); the production
// store modules contain no test code and no module-wide mutable state.
import { describe, it, expect, afterEach } from 'vitest';
import { mkdtemp, readFile, readdir, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { FsStore } from '../../src/store/fs-store.js';
import { FS_STORE_STEPS, type FsStoreStep } from '../../src/store/fs-hooks.js';
import { FAULT_POINTS } from '../../src/lifecycle/fault-points.js';
import { isCkptError } from '../../src/errors.js';

const SRC = fileURLToPath(new URL('../../src/store/', import.meta.url));
const roots: string[] = [];
async function tempDir(): Promise<string> {
  const root = await mkdtemp(join(tmpdir(), 'ckpt-hooks-'));
  roots.push(root);
  return root;
}
afterEach(async () => {
  for (const r of roots.splice(0)) await rm(r, { recursive: true, force: true });
});

function recording(): { steps: FsStoreStep[]; hooks: { reached(step: FsStoreStep): void } } {
  const steps: FsStoreStep[] = [];
  return { steps, hooks: { reached: (step) => steps.push(step) } };
}

describe('FsStore hooks', () => {
  it('reports each step of lock, commit, delete and cleanup, in order', async () => {
    const dir = await tempDir();
    const { steps, hooks } = recording();
    const store = new FsStore(dir, { hooks });
    const lock = await store.acquireWriter();
    expect(steps.splice(0)).toEqual(['lock-created', 'lock-written']);
    const sink = await store.create(lock);
    await sink.write(new Uint8Array(10));
    await sink.write(new Uint8Array(20));
    await sink.commit();
    expect(steps.splice(0)).toEqual(['temp-created', 'segment-write', 'segment-write', 'after-fsync', 'before-rename', 'after-rename', 'after-dir-fsync']);
    await writeFile(join(dir, '.tmp-000000000009-1-abcd.partial'), 'left by a crash');
    expect(await store.cleanup(lock)).toEqual(['.tmp-000000000009-1-abcd.partial']);
    expect(steps.splice(0)).toEqual(['cleanup-unlink']);
    await store.delete(lock, sink.id);
    expect(steps.splice(0)).toEqual(['retention-delete', 'after-unlink']);
    await lock.release();
    expect(steps).toEqual([]);
  });

  it('an aborted image reaches no commit step; a hook that throws fails the commit and leaves no image', async () => {
    const dir = await tempDir();
    const { steps, hooks } = recording();
    const store = new FsStore(dir, {
      hooks: {
        reached(step) {
          hooks.reached(step);
          if (step === 'after-rename') throw new Error('stop here');
        },
      },
    });
    const lock = await store.acquireWriter();
    const aborted = await store.create(lock);
    await aborted.write(new Uint8Array(5));
    await aborted.abort();
    steps.length = 0;
    const sink = await store.create(lock);
    await sink.write(new Uint8Array(5));
    const err = await sink.commit().then(() => undefined, (e: unknown) => e);
    expect(isCkptError(err)).toBe(true);
    expect(steps).toEqual(['temp-created', 'segment-write', 'after-fsync', 'before-rename', 'after-rename']);
    expect(await store.list()).toEqual([]);
    await lock.release();
    expect(await readdir(dir)).toEqual([]);
  });

  it('every store step is a crash point of the same name', () => {
    for (const step of FS_STORE_STEPS) expect(FAULT_POINTS).toContain(step);
  });
});

describe('production store modules', () => {
  it('import no test-only fault points', async () => {
    const offenders: string[] = [];
    for (const name of await readdir(SRC)) {
      if (!name.endsWith('.ts')) continue;
      const text = await readFile(join(SRC, name), 'utf8');
      if (/fault-points/.test(text) || /\bfaultPoint\(/.test(text) || /CKPT_TEST_/.test(text)) offenders.push(name);
    }
    expect(offenders).toEqual([]);
  });

  it('fs-store keeps no module-wide mutable state (it belongs to each store)', async () => {
    const text = await readFile(join(SRC, 'fs-store.ts'), 'utf8');
    const topLevel = text.split('\n').filter((l) => /^(export )?(let|var) /.test(l) || /^(export )?const \w+\s*=\s*new (Set|Map|WeakMap|WeakSet)\b/.test(l));
    expect(topLevel).toEqual([]);
  });

  it('fs-lock keeps only its process-wide memory of its own left-behind files', async () => {
    const text = await readFile(join(SRC, 'fs-lock.ts'), 'utf8');
    const topLevel = text
      .split('\n')
      .filter((l) => /^(export )?(let|var) /.test(l) || /^(export )?const \w+\s*=\s*new (Set|Map|WeakMap|WeakSet)\b/.test(l))
      .map((l) => /^(?:export )?(?:let|var|const) (\w+)/.exec(l)?.[1]);
    expect(topLevel.sort()).toEqual(['leftTokens', 'orphans']);
  });
});
