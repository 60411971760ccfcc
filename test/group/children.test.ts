/**
 * @module test/group/children
 *
 * A checkpoint group of child processes (fork, IPC): restore round trip with
 * state larger than one IPC chunk, a loop that never yields seeing requests,
 * and the bad paths — a JSON channel refused, a child that throws in
 * snapshot(), exits during a checkpoint, is killed or throws outside one,
 * never joins (deadline), breaks the protocol, a SIGTERM sent to a child, a
 * child without IPC. Every child is reaped after each test.
 */
import { spawn } from 'node:child_process';
import { afterEach, describe, expect, it } from 'vitest';
import { CheckpointGroup, ErrorCodes, MemoryStore } from '../../src/index.js';
import { assertCkptError } from '../helpers/errors.js';
import { forkPart, reapChildParts, startChildGroup, terminateAll, tsWorker } from './helpers.js';

afterEach(async () => {
  await reapChildParts();
  await terminateAll();
});

describe('a group of child processes', () => {
  it('checkpoints every child into one image and restores each child its own state (larger than one IPC chunk)', async () => {
    const store = new MemoryStore();
    const big = 1_000_000; // 8 MB: two chunks
    const g = startChildGroup({ store }, [{ mode: 'counter', bigLength: big }, { mode: 'counter' }, { mode: 'counter' }]);
    await g.next((r) => r.type === 'restored' && r.part === 0);
    const info = await g.group.checkpoint();
    expect(info.epoch).toBe(1);
    expect(info.image.meta['ckpt.group.parts']).toBe(3);
    g.group.requestStop();
    const result = await g.run;
    expect(result.stopped).toBe(true);
    const ends = g.reports.filter((r) => r.type === 'end');
    expect(ends.map((r) => r.stopped)).toEqual([true, true, true]);
    for (const c of g.children) expect(c.exitCode, c.stderrText()).toBe(0);

    const again = startChildGroup({ store }, [{ mode: 'counter', bigLength: big }, { mode: 'counter' }, { mode: 'counter' }]);
    const restored = await Promise.all([0, 1, 2].map((i) => again.next((r) => r.type === 'restored' && r.part === i)));
    for (const [i, r] of restored.entries()) {
      const end = ends.find((e) => e.part === i)!;
      expect(r.n).toBe(end.n);
      expect(r.step).toBe(end.n);
    }
    const endBig = ends.find((e) => e.part === 0)!.bigSum;
    expect(restored[0]!.bigLength).toBe(big);
    expect(restored[0]!.bigSum).toBe(endBig);
    again.group.requestStop();
    expect((await again.run).restoredFrom?.id).toBe(result.last!.image.id);
  });

  it('a child whose loop never yields to its event loop sees each request and the stop', async () => {
    const store = new MemoryStore();
    const g = startChildGroup({ store }, [{ mode: 'spin', spinLimit: 1e12 }, { mode: 'counter' }]);
    await g.next((r) => r.type === 'restored' && r.part === 0);
    await g.group.checkpoint();
    await g.group.checkpoint();
    g.group.requestStop();
    const result = await g.run;
    expect(result.stopped).toBe(true);
    // Every request (2 checkpoints and the stop) was seen and captured by the synchronous loop.
    expect(g.reports.filter((r) => r.type === 'snap' && r.part === 0).map((r) => r.epoch)).toEqual([1, 2, 3]);
    expect(g.reports.filter((r) => r.type === 'spins' && r.part === 0).every((r) => r.seen === true)).toBe(true);
    expect(g.reports.find((r) => r.type === 'end' && r.part === 0)?.stopped).toBe(true);
  });

  it('a child forked with JSON serialization is refused: run() rejects naming the fix, the children are reaped', async () => {
    const g = startChildGroup({ store: new MemoryStore() }, [{ mode: 'counter' }, { mode: 'counter' }], { serialization: 'json' });
    const err = assertCkptError(await g.run.then(() => undefined, (e: unknown) => e), ErrorCodes.INVALID_ARGUMENT);
    expect(err.message).toContain("serialization: 'advanced'");
    for (const c of g.children) expect(c.exitCode !== null || c.signalCode !== null).toBe(true);
  });

  it('a child that throws in snapshot() fails that epoch only; the next one commits', async () => {
    const store = new MemoryStore();
    const g = startChildGroup({ store }, [{ mode: 'counter' }, { mode: 'counter', throwAtEpoch: 2 }]);
    const first = await g.group.checkpoint();
    const failed = assertCkptError(await g.group.checkpoint().then(() => undefined, (e: unknown) => e), ErrorCodes.SNAPSHOT_FAILED);
    expect(failed.message).toContain('part 1');
    expect(failed.message).toContain('no state at epoch 2');
    expect((await store.list()).map((e) => e.id)).toEqual([first.image.id]);
    expect((await g.group.checkpoint()).epoch).toBe(3);
    g.group.requestStop();
    expect((await g.run).stopped).toBe(true);
  });

  it('a child that exits during a group checkpoint fails it and ends the run; the older image stays the newest; the others are killed and reaped', async () => {
    const store = new MemoryStore();
    const g = startChildGroup({ store }, [{ mode: 'counter' }, { mode: 'counter', exitAtEpoch: 2 }, { mode: 'counter' }]);
    const first = await g.group.checkpoint();
    const err = assertCkptError(await g.group.checkpoint().then(() => undefined, (e: unknown) => e), ErrorCodes.PART_FAILED);
    expect(err.message).toMatch(/part 1 \(child process \d+\) exited with code 3 before finishing/);
    await expect(g.run).rejects.toBe(err);
    expect((await store.list()).map((e) => e.id)).toEqual([first.image.id]);
    expect(g.children[1]!.exitCode).toBe(3);
    for (const i of [0, 2]) expect(g.children[i]!.signalCode).toBe('SIGKILL');
  });

  it('a child killed outside a checkpoint ends run() with an error naming it and the signal', async () => {
    const g = startChildGroup({ store: new MemoryStore() }, [{ mode: 'counter' }, { mode: 'counter' }]);
    await g.next((r) => r.type === 'restored' && r.part === 1);
    g.children[1]!.kill('SIGKILL');
    const err = assertCkptError(await g.run.then(() => undefined, (e: unknown) => e), ErrorCodes.PART_FAILED);
    expect(err.message).toMatch(/part 1 \(child process \d+\) was killed by SIGKILL before finishing/);
    expect(g.children[0]!.signalCode).toBe('SIGKILL');
  });

  it('a child that throws outside a checkpoint ends run() with an error naming it', async () => {
    const g = startChildGroup({ store: new MemoryStore() }, [{ mode: 'counter' }, { mode: 'counter', dieAtStep: 10 }]);
    const err = assertCkptError(await g.run.then(() => undefined, (e: unknown) => e), ErrorCodes.PART_FAILED);
    expect(err.message).toMatch(/part 1 \(child process \d+\) exited with code 1 before finishing/);
    expect(g.children[1]!.stderrText()).toContain('broke at step 10');
  });

  it('SIGTERM sent to one child makes the coordinator take one group checkpoint and stop every part', async () => {
    const store = new MemoryStore();
    const g = startChildGroup({ store, signals: {} }, [{ mode: 'counter' }, { mode: 'counter' }, { mode: 'counter' }]);
    await Promise.all([0, 1, 2].map((i) => g.next((r) => r.type === 'restored' && r.part === i)));
    g.children[2]!.kill('SIGTERM');
    const result = await g.run;
    expect(result).toMatchObject({ stopped: true, reason: 'SIGTERM in part 2', exitCode: 143 });
    expect(result.last?.epoch).toBe(1);
    expect(g.reports.filter((r) => r.type === 'end').map((r) => r.stopped)).toEqual([true, true, true]);
    for (const c of g.children) expect(c.exitCode, c.stderrText()).toBe(0);
    expect((await store.list()).map((e) => e.id)).toEqual([result.last!.image.id]);
  });

  it('when every child finished: one last group checkpoint, the children exit 0', async () => {
    const store = new MemoryStore();
    const g = startChildGroup({ store }, [{ mode: 'counter', until: 200 }, { mode: 'counter', until: 300 }]);
    const result = await g.run;
    expect(result.stopped).toBe(false);
    expect(result.last?.image.step).toBe(200);
    for (const c of g.children) expect(c.exitCode, c.stderrText()).toBe(0);
  });

  it('a child that never joins fails each group checkpoint by the deadline, naming it; a stop that cannot be taken ends run() and the children are killed and reaped', async () => {
    const store = new MemoryStore();
    const g = startChildGroup({ store, deadlineMs: 1500 }, [{ mode: 'counter' }, { mode: 'idle' }]);
    await g.next((r) => r.type === 'waiting');
    const err = assertCkptError(await g.group.checkpoint().then(() => undefined, (e: unknown) => e), ErrorCodes.DEADLINE);
    expect(err.message).toContain('part 1 did not capture');
    expect(await store.list()).toEqual([]);
    g.group.requestStop();
    assertCkptError(await g.run.then(() => undefined, (e: unknown) => e), ErrorCodes.DEADLINE);
    // Part 0 captured the stop and may have ended on its own first; part 1 was killed. Both were reaped before run() rejected.
    expect(g.children[1]!.signalCode).toBe('SIGKILL');
    for (const c of g.children) expect(c.exitCode !== null || c.signalCode !== null).toBe(true);
  });

  it('a child that breaks the protocol ends run() with CKPT_ERR_PART_FAILED naming it', async () => {
    const g = startChildGroup({ store: new MemoryStore() }, [{ mode: 'counter' }, { mode: 'rogue' }]);
    const err = assertCkptError(await g.run.then(() => undefined, (e: unknown) => e), ErrorCodes.PART_FAILED);
    expect(err.message).toMatch(/part 1 \(child process \d+\) broke the group protocol: it sent a chunk of state nobody asked for/);
    for (const c of g.children) expect(c.signalCode).toBe('SIGKILL');
  });

  it('threads and child processes mix in one group: one image, each part restored from its own state', async () => {
    const store = new MemoryStore();
    const start = (): { group: CheckpointGroup; ends: Promise<{ n: number; step: number | null }[]> } => {
      const group = new CheckpointGroup({ store, signals: false });
      const worker = tsWorker(new URL('./part.ts', import.meta.url), { workerData: { mode: 'counter', until: 300 } });
      const child = forkPart({ mode: 'counter', until: 500 });
      const report = (target: { on(e: 'message', f: (m: unknown) => void): unknown }, unwrap: (m: unknown) => Record<string, unknown> | undefined) =>
        new Promise<{ n: number; step: number | null }>((resolve) => {
          let step: number | null = null;
          target.on('message', (m) => {
            const r = unwrap(m);
            if (r?.['type'] === 'restored') step = r['step'] as number | null;
            if (r?.['type'] === 'end') resolve({ n: r['n'] as number, step });
          });
        });
      const ends = Promise.all([report(worker, (m) => m as Record<string, unknown>), report(child, (m) => (m as { report?: Record<string, unknown> }).report)]);
      expect(group.addWorker(worker)).toBe(0);
      expect(group.addChild(child)).toBe(1);
      return { group, ends };
    };
    const first = start();
    const result = await first.group.run();
    expect(result.stopped).toBe(false);
    expect(result.last?.image.meta['ckpt.group.parts']).toBe(2);
    expect((await first.ends).map((e) => e.n)).toEqual([300, 500]);
    // The rerun restores both parts from the last image (each at its end) and finishes at once: no iteration runs
    // (no 'restored' report from the loop body), and the counts are the restored ones.
    const again = start();
    expect((await again.group.run()).restoredFrom?.id).toBe(result.last!.image.id);
    expect(await again.ends).toEqual([
      { n: 300, step: null },
      { n: 500, step: null },
    ]);
  });

  it('addChild() refuses a process without an IPC channel', async () => {
    const group = new CheckpointGroup({ store: new MemoryStore(), signals: false });
    const p = spawn(process.execPath, ['-e', ''], { stdio: 'ignore' });
    try {
      expect(() => group.addChild(p)).toThrow(/no IPC channel/);
    } finally {
      await new Promise((r) => (p.exitCode !== null ? r(undefined) : p.once('close', r)));
    }
  });
});
