/**
 * @module test/group/failures
 *
 * What fails a group checkpoint and what ends a group's run, with real
 * worker threads: a part whose snapshot throws fails that epoch only (the
 * older image stays the newest, the next epoch commits); a part that dies
 * during a checkpoint fails it and ends the run; a part that misses
 * the deadline fails the epoch naming it; an image of another part count is
 * refused before any part runs; a part that dies outside a checkpoint ends
 * the run with an error naming it, and the other workers are terminated.
 */
import { afterEach, describe, expect, it } from 'vitest';
import { CheckpointGroup, ErrorCodes, MemoryStore } from '../../src/index.js';
import { assertCkptError } from '../helpers/errors.js';
import { startGroup, terminateAll } from './helpers.js';

afterEach(terminateAll);

describe('group checkpoint failures', () => {
  it('a part that throws in snapshot() fails that epoch; the older image stays the newest and the next epoch commits', async () => {
    const store = new MemoryStore();
    const g = startGroup({ store }, [{ mode: 'counter' }, { mode: 'counter', throwAtEpoch: 2 }, { mode: 'counter' }]);
    const first = await g.group.checkpoint();
    const failed = await g.group.checkpoint().then(
      () => undefined,
      (err: unknown) => err,
    );
    assertCkptError(failed, ErrorCodes.SNAPSHOT_FAILED);
    expect((failed as Error).message).toContain('part 1');
    expect((failed as Error).message).toContain('no state at epoch 2');
    // Nothing was committed for epoch 2.
    expect((await store.list()).map((e) => e.id)).toEqual([first.image.id]);
    // The part carried on and the next epoch commits with every part.
    const third = await g.group.checkpoint();
    expect(third.epoch).toBe(3);
    expect(third.image.meta['ckpt.group.epoch']).toBe(3);
    g.group.requestStop();
    expect((await g.run).stopped).toBe(true);
    expect((await store.list()).map((e) => e.id)).toEqual([expect.any(String), third.image.id, first.image.id]);
  });

  it('a part that dies during a group checkpoint fails it and ends the run; the older image stays the newest', async () => {
    const store = new MemoryStore();
    const g = startGroup({ store }, [{ mode: 'counter' }, { mode: 'counter', exitAtEpoch: 2 }]);
    const first = await g.group.checkpoint();
    const err = assertCkptError(
      await g.group.checkpoint().then(
        () => undefined,
        (e: unknown) => e,
      ),
      ErrorCodes.PART_FAILED,
    );
    expect(err.message).toMatch(/part 1 \(worker thread \d+\) exited with code 3 before finishing/);
    await expect(g.run).rejects.toBe(err);
    expect((await store.list()).map((e) => e.id)).toEqual([first.image.id]);
    for (const w of g.workers) expect(w.threadId).toBe(-1);
  });

  it('a part that misses the deadline fails the epoch, naming the part', async () => {
    const store = new MemoryStore();
    const g = startGroup({ store, deadlineMs: 500 }, [{ mode: 'counter' }, { mode: 'slow', blockMs: 5000 }]);
    await Promise.all([0, 1].map((part) => g.next((r) => r.part === part && r.type === 'restored')));
    const err = await g.group.checkpoint().then(
      () => undefined,
      (e: unknown) => e,
    );
    assertCkptError(err, ErrorCodes.DEADLINE);
    // Part 1 is named (part 0 is too, only if this machine held it back for 500 ms).
    const late = /parts? ([0-9, ]+) did not capture within 500 ms/.exec((err as Error).message);
    expect(late?.[1]?.split(', ')).toContain('1');
    expect(await store.list()).toEqual([]);
    for (const w of g.workers) await w.terminate();
    await expect(g.run).rejects.toMatchObject({ code: ErrorCodes.PART_FAILED });
  });

  it('an image of another part count whose providers are not sharded is refused before any part runs', async () => {
    const store = new MemoryStore();
    const three = startGroup({ store }, [{ mode: 'counter', until: 10 }, { mode: 'counter', until: 10 }, { mode: 'counter', until: 10 }]);
    await three.run;
    const two = startGroup({ store }, [{ mode: 'counter', until: 10 }, { mode: 'counter', until: 10 }]);
    const err = await two.run.then(
      () => undefined,
      (e: unknown) => e,
    );
    assertCkptError(err, ErrorCodes.GROUP_MISMATCH);
    expect((err as Error).message).toMatch(/holds 3 parts and this group has 2: .*provider "counter" is not sharded/);
    // No part ran: none reported anything, and the workers are gone.
    expect(two.reports).toEqual([]);
    for (const w of two.workers) expect(w.threadId).toBe(-1);
  });

  it('a part that dies outside a checkpoint ends the run naming it; the others are terminated', async () => {
    const store = new MemoryStore();
    const g = startGroup({ store }, [{ mode: 'counter' }, { mode: 'counter', dieAtStep: 500 }]);
    const err = await g.run.then(
      () => undefined,
      (e: unknown) => e,
    );
    assertCkptError(err, ErrorCodes.PART_FAILED);
    expect((err as Error).message).toMatch(/part 1 \(worker thread \d+\) threw: part 1 broke at step 500/);
    for (const w of g.workers) expect(w.threadId).toBe(-1);
  });

  it('checks its options and its calls', () => {
    const store = new MemoryStore();
    expect(() => new CheckpointGroup({ store, every: { seconds: 0 } })).toThrow(/every.seconds must be a positive number/);
    expect(() => new CheckpointGroup({ store, deadlineMs: -1 })).toThrow(/deadlineMs/);
    // The coordinator's Checkpointer options are checked when the group is made, before any worker waits.
    expect(() => new CheckpointGroup({ store, compression: { level: 99 } })).toThrow(/compression.level/);
    const group = new CheckpointGroup({ store });
    expect(() => group.addWorker({} as never)).toThrow(/Worker/);
    return expect(group.run()).rejects.toMatchObject({ code: ErrorCodes.INVALID_ARGUMENT });
  });
});
