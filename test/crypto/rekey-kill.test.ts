/**
 * `ckpt rekey` SIGKILLed (a real child process) while it rewrites a store's
 * images — at its crash points (`rekey-copied`: a temporary copy written,
 * not renamed; `rekey-renamed`: renamed, directory not fsynced; see
 * docs/reliability.md), and at random moments — leaves every image in place: the same ids, each one opening with
 * the old or the new key and holding its state, no temporary file listed.
 * Running the command again finishes the job; then the new key alone opens
 * every image and the old one opens none.
 */
import { mkdtemp, readdir, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { Checkpointer, FsStore } from '../../src/index.js';
import { ImageReader } from '../../src/image/reader.js';
import type { KeySource } from '../../src/crypto/keys.js';
import { ErrorCodes } from '../../src/errors.js';
import { reapChildren, startNodeChild } from '../helpers/child-process.js';
import { expectCode } from '../helpers/errors.js';
import { MAIN, ensureBuilt } from '../cli/helpers.js';
import { KEY_A, KEY_B, ring } from './helpers.js';

const IMAGES = 12;
const ROUNDS = 3;

let root: string;
let store: string;
let keyA: string;
let keyB: string;

function stateAt(step: number): { step: number; data: Float64Array } {
  return { step, data: Float64Array.from({ length: 16 * 1024 }, (_, i) => step * 1e6 + i) };
}

beforeAll(async () => {
  await ensureBuilt();
  root = await mkdtemp(join(tmpdir(), 'ckpt-rekey-kill-'));
  store = join(root, 'store');
  keyA = join(root, 'a.key');
  keyB = join(root, 'b.key');
  await writeFile(keyA, Buffer.from(KEY_A).toString('hex'));
  await writeFile(keyB, Buffer.from(KEY_B).toString('hex'));
  let step = 0;
  const ckpt = new Checkpointer({ store, signals: false, retention: { keepLast: 1000 }, encryption: { keys: { k1: KEY_A }, current: 'k1' } });
  ckpt.register({ id: 'p', snapshot: () => stateAt(step), restore: () => undefined });
  for (step = 1; step <= IMAGES; step++) await ckpt.checkpoint({ step });
  await ckpt.close();
});

afterEach(async () => {
  await reapChildren();
});

afterAll(async () => {
  await rm(root, { recursive: true, force: true });
});

/** Each listed image's key id, after checking it opens with `keys` and holds the state of its step. */
async function keyIds(keys: KeySource): Promise<Map<string, string>> {
  const fs = new FsStore(store);
  const out = new Map<string, string>();
  for (const e of await fs.list()) {
    const reader = await ImageReader.open(await fs.open(e.id), { keys });
    try {
      const state = (await reader.readProvider('p')) as { step: number; data: Float64Array };
      expect(state).toEqual(stateAt(reader.manifest.step ?? -1));
      out.set(e.id, reader.crypto!.key.keyId);
    } finally {
      await reader.close();
    }
  }
  return out;
}

/** Run `ckpt rekey` from key k1 to k2 (`killAt`: CKPT_TEST_KILL_AT; `afterMs`: a SIGKILL that many ms after the start). */
async function rekey(options: { killAt?: string; afterMs?: number } = {}): Promise<{ code: number | null; signal: NodeJS.Signals | null; stderr: string }> {
  const child = startNodeChild({
    args: [MAIN, 'rekey', store, '--from-key', keyA, '--to-key', keyB, '--to-key-id', 'k2'],
    ...(options.killAt === undefined ? {} : { env: { CKPT_TEST_KILL_AT: options.killAt } }),
  });
  if (options.afterMs !== undefined) child.killAfter(options.afterMs);
  const exit = await child.exited;
  return { ...exit, stderr: child.stderr };
}

const count = (ids: Map<string, string>, keyId: string): number => [...ids.values()].filter((k) => k === keyId).length;

describe('ckpt rekey killed part-way', () => {
  it('every image stays whole and opens with the old or the new key after a SIGKILL at each of its points and at random moments; running it again finishes', async () => {
    const both = ring({ k1: KEY_A, k2: KEY_B }, 'k2');
    const before = await keyIds(both);
    expect(before.size).toBe(IMAGES);
    expect(count(before, 'k1')).toBe(IMAGES);
    // A kill at `rekey-copied:n` leaves n − 1 more images rekeyed in that run (the n-th copy is not renamed yet);
    // at `rekey-renamed:n`, n more (renamed, the directory not fsynced: a process kill keeps the rename).
    let rekeyed = 0;
    const points: [string, number][] = [
      ['rekey-copied', 1],
      ['rekey-renamed', 3],
      ['rekey-copied', 2],
      ['rekey-renamed', 1],
    ];
    for (const [point, n] of points) {
      const r = await rekey({ killAt: `${point}:${n}` });
      expect(r.signal, r.stderr).toBe('SIGKILL');
      rekeyed += point === 'rekey-copied' ? n - 1 : n;
      const now = await keyIds(both);
      expect([...now.keys()]).toEqual([...before.keys()]);
      expect(count(now, 'k2')).toBe(rekeyed);
      expect(count(now, 'k1')).toBe(IMAGES - rekeyed);
    }
    // The killed copies were left behind as temporary files: never listed (keyIds read exactly the images above).
    expect((await readdir(store)).filter((n) => n.endsWith('.partial')).length).toBeGreaterThan(0);
    // Random moments: whatever each kill hit, the store stays whole and rekeying never goes backwards.
    for (let round = 0; round < ROUNDS; round++) {
      const r = await rekey({ afterMs: Math.floor(Math.random() * 300) });
      if (r.code !== 0) expect(r.signal, r.stderr).toBe('SIGKILL');
      const now = await keyIds(both);
      expect([...now.keys()]).toEqual([...before.keys()]);
      expect(count(now, 'k2')).toBeGreaterThanOrEqual(rekeyed);
      rekeyed = count(now, 'k2');
    }
    const last = await rekey();
    expect(last.code, last.stderr).toBe(0);
    // Finished: the new key alone opens every image, the old one none.
    const after = await keyIds(ring({ k2: KEY_B }, 'k2'));
    expect([...after.keys()]).toEqual([...before.keys()]);
    expect(count(after, 'k2')).toBe(IMAGES);
    const fs = new FsStore(store);
    await expectCode(
      (async () => {
        const reader = await ImageReader.open(await fs.open([...before.keys()][0]!), { keys: ring({ k1: KEY_A }, 'k1') });
        await reader.close();
      })(),
      ErrorCodes.KEY,
    );
  }, 180_000);
});
