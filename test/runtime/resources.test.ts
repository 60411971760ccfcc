// Resources under loop(): afterRestore (registration order) before the first
// iteration; beforeCheckpoint in reverse order, afterCheckpoint in order at
// each checkpoint; a failing resource fails only that checkpoint (aggregated
// error), every paused resource is resumed, and the loop runs on.
import { describe, expect, it } from 'vitest';
import { Checkpointer, ErrorCodes, MemoryStore } from '../../src/index.js';
import type { CkptError, Resource } from '../../src/index.js';
import { imageSteps } from './helpers.js';

function setup(store: MemoryStore, failures: { before?: string; after?: string; afterAt?: number; snapshotAt?: number } = {}) {
  const log: string[] = [];
  const paused = new Set<string>();
  const ckpt = new Checkpointer({ store, signals: false });
  const box = { n: 0 };
  ckpt.register<{ n: number }>({
    id: 'p',
    snapshot: (ctx) => {
      log.push(`snapshot:${String(ctx.step)}`);
      if (ctx.step === failures.snapshotAt) throw new Error('provider broke');
      return { n: box.n };
    },
    restore: (s) => {
      log.push('restore');
      box.n = s.n;
    },
  });
  const resource = (id: string): Resource => ({
    id,
    beforeCheckpoint: (ctx) => {
      log.push(`before:${id}:${String(ctx.step)}`);
      paused.add(id);
      if (failures.before === id) throw new Error(`${id} cannot pause`);
    },
    afterCheckpoint: (ctx) => {
      log.push(`after:${id}:${ctx.ok ? 'ok' : 'failed'}`);
      paused.delete(id);
      if (failures.after === id && (failures.afterAt === undefined || ctx.step === failures.afterAt)) throw new Error(`${id} cannot resume`);
    },
    afterRestore: (ctx) => {
      log.push(`afterRestore:${id}:${String(ctx.image.step)}`);
    },
  });
  for (const id of ['R1', 'R2', 'R3']) ckpt.registerResource(resource(id));
  const errors: CkptError[] = [];
  ckpt.on('error', (e) => errors.push(e));
  return { ckpt, log, paused, box, errors };
}

describe('resources in loop()', () => {
  it('afterRestore in registration order before the first iteration; freeze reversed, thaw in order at each checkpoint', async () => {
    const store = new MemoryStore();
    const first = setup(store);
    for await (const _ of first.ckpt.loop({ until: 2, every: { steps: 2 } })) first.box.n++;
    expect(first.log).toEqual(['before:R3:2', 'before:R2:2', 'before:R1:2', 'snapshot:2', 'after:R1:ok', 'after:R2:ok', 'after:R3:ok']);
    await first.ckpt.close();

    const second = setup(store.reopen());
    const seen: string[][] = [];
    for await (const step of second.ckpt.loop({ until: 3 })) seen.push([String(step), ...second.log.splice(0)]);
    expect(seen).toEqual([['2', 'restore', 'afterRestore:R1:2', 'afterRestore:R2:2', 'afterRestore:R3:2']]);
    expect(second.log).toEqual(['before:R3:3', 'before:R2:3', 'before:R1:3', 'snapshot:3', 'after:R1:ok', 'after:R2:ok', 'after:R3:ok']);
    await second.ckpt.close();
  });

  it('a resource that cannot pause fails that checkpoint only: the ones paused are resumed, the loop goes on', async () => {
    const a = setup(new MemoryStore(), { before: 'R2' });
    const steps: number[] = [];
    let pausedDuringIterations = 0;
    for await (const step of a.ckpt.loop({ until: 5, every: { steps: 2 }, checkpointAtEnd: false })) {
      steps.push(step);
      pausedDuringIterations += a.paused.size;
      a.box.n++;
    }
    expect(steps).toEqual([0, 1, 2, 3, 4]);
    expect(pausedDuringIterations).toBe(0);
    expect(a.paused.size).toBe(0);
    // R3 paused, R2 failed (and is told so), R1 never paused; no snapshot.
    expect(a.log.slice(0, 4)).toEqual(['before:R3:2', 'before:R2:2', 'after:R2:failed', 'after:R3:failed']);
    expect(a.errors).toHaveLength(2); // steps 2 and 4
    for (const e of a.errors) {
      expect(e.code).toBe(ErrorCodes.SNAPSHOT_FAILED);
      expect(e.errors).toHaveLength(1);
      expect(e.message).toMatch(/R2 cannot pause/);
    }
    expect(a.log.filter((l) => l.startsWith('snapshot'))).toEqual([]);
    expect(await imageSteps(a.ckpt)).toEqual([]);
    await a.ckpt.close();
  });

  it('several failures in one checkpoint are aggregated into one error; the next checkpoint succeeds', async () => {
    const a = setup(new MemoryStore(), { after: 'R1', afterAt: 2, snapshotAt: 2 });
    const steps: number[] = [];
    for await (const step of a.ckpt.loop({ until: 4, every: { steps: 2 } })) {
      steps.push(step);
      a.box.n++;
    }
    expect(steps).toEqual([0, 1, 2, 3]);
    // Step 2: snapshot threw and R1's afterCheckpoint threw → one error with both causes.
    expect(a.errors).toHaveLength(1);
    expect(a.errors[0]!.code).toBe(ErrorCodes.SNAPSHOT_FAILED);
    expect(a.errors[0]!.errors?.map((e) => e.message)).toEqual([expect.stringMatching(/provider broke/), expect.stringMatching(/R1 cannot resume/)]);
    expect(a.paused.size).toBe(0);
    expect(a.log.slice(0, 7)).toEqual(['before:R3:2', 'before:R2:2', 'before:R1:2', 'snapshot:2', 'after:R1:failed', 'after:R2:failed', 'after:R3:failed']);
    expect(await imageSteps(a.ckpt)).toEqual(['4:null']);
    await a.ckpt.restore();
    expect(a.box.n).toBe(4);
    await a.ckpt.close();
  });
});

