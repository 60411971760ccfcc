/**
 * @module test/group/reshard-threads
 *
 * Real worker threads: a group of 4 parts computes over an array (a `range`
 * shard) and a map (a `keyed` shard) and finishes at step 12; a group of 3
 * restores that image and goes on to step 24, a group of 6 restores that one
 * and goes on to step 30 — and the cells and accounts they end with are the
 * uninterrupted computation's, each part holding exactly what shardRange and
 * partOfKey give it. A group image whose parts are at different steps is
 * refused before any part runs.
 */
import { fork, type ChildProcess } from 'node:child_process';
import { afterEach, describe, expect, it } from 'vitest';
import type { Worker } from 'node:worker_threads';
import { CheckpointGroup, Checkpointer, ErrorCodes, MemoryStore, partOfKey, shardRange, type Store } from '../../src/index.js';
import { assertCkptError } from '../helpers/errors.js';
import { terminateAll, tsWorker } from './helpers.js';
import { expected } from './shard-sim.js';

const PART = new URL('./shard-part.ts', import.meta.url);
const TOTAL = 100_003;
const KEYS = 500;

interface Msg {
  readonly part: number;
  readonly type: 'restored' | 'done';
  readonly [key: string]: unknown;
}

const workers: Worker[] = [];
const children = new Set<ChildProcess>();
afterEach(async () => {
  await Promise.all(
    [...children].map((c) => new Promise<void>((resolve) => {
      c.once('exit', () => resolve());
      c.kill('SIGKILL');
    })),
  );
  await Promise.all(workers.splice(0).map((w) => w.terminate()));
  await terminateAll();
});

async function runGroup(store: Store, parts: number, until: number, as: 'threads' | 'children' = 'threads'): Promise<Msg[]> {
  const group = new CheckpointGroup({ store, signals: false });
  const msgs: Msg[] = [];
  const data = { total: TOTAL, keys: KEYS, until };
  for (let i = 0; i < parts; i++) {
    if (as === 'children') {
      const c = fork(PART.pathname, [JSON.stringify(data)], { execArgv: ['--import', 'tsx'], serialization: 'advanced', stdio: ['ignore', 'inherit', 'inherit', 'ipc'] });
      children.add(c);
      c.on('exit', () => children.delete(c));
      c.on('message', (m: { report?: Msg }) => m.report !== undefined && msgs.push(m.report));
      group.addChild(c);
      continue;
    }
    const w = tsWorker(PART, { workerData: data });
    workers.push(w);
    w.on('message', (m: Msg) => msgs.push(m));
    group.addWorker(w);
  }
  const result = await group.run();
  expect(result.stopped).toBe(false);
  return msgs;
}

function check(msgs: readonly Msg[], parts: number, steps: number): void {
  const want = expected(TOTAL, KEYS, steps);
  const cells: number[] = [];
  const accounts = new Map<string, number>();
  for (let j = 0; j < parts; j++) {
    const done = msgs.find((m) => m.part === j && m.type === 'done')!;
    expect(done.start).toBe(shardRange(TOTAL, j, parts).start);
    cells.push(...(done.cells as number[]));
    for (const [k, v] of done.accounts as [string, number][]) {
      expect(partOfKey(k, parts)).toBe(j);
      accounts.set(k, v);
    }
  }
  expect(cells).toEqual(want.cells);
  expect(accounts).toEqual(want.accounts);
}

describe('a group image restored into another number of worker threads', () => {
  it('4 → 3 → 6 parts: every part gets its range and keys, and the result is the uninterrupted one', { timeout: 120_000 }, async () => {
    const store = new MemoryStore();
    check(await runGroup(store, 4, 12), 4, 12);

    const three = await runGroup(store, 3, 24);
    for (let j = 0; j < 3; j++) {
      const r = shardRange(TOTAL, j, 3);
      expect(three.find((m) => m.part === j && m.type === 'restored')).toMatchObject({ step: 12, cells: r.end - r.start, shard: { kind: 'range', start: r.start, end: r.end, total: TOTAL } });
    }
    check(three, 3, 24);
    // The same count again: every part still learns where its elements lie in the whole.
    check(await runGroup(store, 3, 27), 3, 27);

    const six = await runGroup(store, 6, 30);
    expect(six.filter((m) => m.type === 'restored').every((m) => m.step === 27)).toBe(true);
    check(six, 6, 30);
    const reader = new Checkpointer({ store, readOnly: true });
    const images = await reader.list();
    await reader.close();
    expect(images.map((i) => i.meta['ckpt.group.parts'])).toEqual([6, 3, 3, 4]);
  });

  it('child processes: 2 → 3 parts, and back to 2 worker threads', { timeout: 120_000 }, async () => {
    const store = new MemoryStore();
    check(await runGroup(store, 2, 7, 'children'), 2, 7);
    check(await runGroup(store, 3, 15, 'children'), 3, 15);
    check(await runGroup(store, 2, 20), 2, 20);
    expect(children.size).toBe(0);
  });

  it('an image whose parts ended at different steps is refused before any part runs', { timeout: 60_000 }, async () => {
    const store = new MemoryStore();
    const group = new CheckpointGroup({ store, signals: false });
    for (const until of [5, 9]) {
      const w = tsWorker(PART, { workerData: { total: 1000, keys: 10, until } });
      workers.push(w);
      group.addWorker(w);
    }
    await group.run();
    const again = new CheckpointGroup({ store, signals: false });
    const seen: unknown[] = [];
    const three = [0, 1, 2].map(() => tsWorker(PART, { workerData: { total: 1000, keys: 10, until: 20 } }));
    for (const w of three) {
      workers.push(w);
      w.on('message', (m: unknown) => seen.push(m));
      again.addWorker(w);
    }
    const err = await again.run().then(
      () => undefined,
      (e: unknown) => e,
    );
    assertCkptError(err, ErrorCodes.GROUP_MISMATCH);
    expect((err as Error).message).toContain('different steps (5, 9)');
    expect(seen).toEqual([]);
    for (const w of three) expect(w.threadId).toBe(-1);
  });
});
