// persist: 'async' — the app runs again as soon as the state is captured;
// compression and writing continue in the background, in order, and a
// failure there is reported (event, next checkpoint(), close()), never lost.
import { afterEach, describe, expect, it } from 'vitest';
import { readdir } from 'node:fs/promises';
import { Checkpointer, ErrorCodes, FsStore } from '../../src/index.js';
import type { CheckpointInfo, CkptError , MemoryStore } from '../../src/index.js';
import { removeTempDirs, tempDir } from '../checkpointer/helpers.js';
import { ControlledStore, counterApp, deferred, expectCode, imageSteps, tick } from './helpers.js';

afterEach(removeTempDirs);

interface Big {
  arr: Float64Array;
  meta: { version: number; tags: string[] };
  small: Float64Array;
}

function bigApp(store: ControlledStore | MemoryStore | string, options: { blobThreshold?: number } = {}) {
  const ckpt = new Checkpointer({ store, persist: 'async', signals: false, ...options });
  const box: { state: Big } = {
    state: { arr: new Float64Array(1 << 17).map((_, i) => i * 0.5), meta: { version: 1, tags: ['a'] }, small: new Float64Array([1, 2, 3]) },
  };
  ckpt.register<Big>({
    id: 'big',
    snapshot: () => box.state,
    restore: (s) => {
      box.state = s;
    },
  });
  return { ckpt, box };
}

describe("persist: 'async'", () => {
  it('the loop runs on while the image is written; the next checkpoint waits for the previous persist', async () => {
    const store = new ControlledStore();
    const app = counterApp({ store, persist: 'async' });
    const gate = deferred();
    store.hold = gate.promise;
    const order: string[] = [];
    let step = 0;
    for await (const s of app.ckpt.loop({ until: 8, every: { steps: 2 } })) {
      step = s;
      order.push(`iter:${s}`);
      app.state.value.n++;
      await tick(5);
      // Release the first write only after the app went on for two iterations.
      if (s === 3) {
        order.push(store.log.join(','), app.log.join(','));
        gate.resolve();
      }
    }
    expect(step).toBe(7);
    // The first checkpoint (step 2) was captured, then iterations 2 and 3 ran while its write was held.
    expect(order.slice(0, 6)).toEqual(['iter:0', 'iter:1', 'iter:2', 'iter:3', 'write:000000000001', 'snapshot:2:null']);
    // The second (step 4) could not even snapshot until the first one was committed.
    expect(store.log.indexOf('commit:000000000001')).toBeLessThan(store.log.indexOf('write:000000000002'));
    expect(app.log).toEqual(['snapshot:2:null', 'snapshot:4:null', 'snapshot:6:null', 'snapshot:8:null']);
    // The policy checkpoint at `until` is the final one, and it is committed when the loop ends.
    expect(await imageSteps(app.ckpt)).toEqual(['2:null', '4:null', '6:null', '8:null']);
    await app.ckpt.close();
  });

  it('sync persist holds the loop until the image is written (the control case)', async () => {
    const store = new ControlledStore();
    const app = counterApp({ store, persist: 'sync' });
    store.writeDelayMs = 5;
    const seen: string[] = [];
    for await (const s of app.ckpt.loop({ until: 4, every: { steps: 2 } })) seen.push(`iter:${s}:${store.log.join(',')}`);
    expect(seen).toEqual(['iter:0:', 'iter:1:', 'iter:2:write:000000000001,commit:000000000001', 'iter:3:write:000000000001,commit:000000000001']);
    await app.ckpt.close();
  });

  for (const blobThreshold of [undefined, 1 << 30]) {
    it(`changes made right after capture do not reach the image (blobThreshold ${String(blobThreshold ?? 'default')})`, async () => {
      const store = new ControlledStore();
      const { ckpt, box } = bigApp(store, blobThreshold === undefined ? {} : { blobThreshold });
      const gate = deferred();
      store.hold = gate.promise;
      const original = box.state.arr.slice();
      ckpt.requestCheckpoint('t');
      expect(await ckpt.safepoint(1)).toEqual({ checkpointed: true, stop: false });
      // Back in the app before anything was written: mutate every part of the state in place.
      box.state.arr.fill(-1);
      box.state.small[0] = 99;
      box.state.meta.version = 2;
      box.state.meta.tags.push('b');
      await tick(20);
      expect(store.log).toEqual(['write:000000000001']); // the write started after the changes and is held
      box.state.arr.fill(-2);
      gate.resolve();
      await ckpt.close();

      const again = bigApp(store.inner as MemoryStore);
      await again.ckpt.restore();
      expect(again.box.state.arr).toEqual(original);
      expect(again.box.state.small).toEqual(new Float64Array([1, 2, 3]));
      expect(again.box.state.meta).toEqual({ version: 1, tags: ['a'] });
      await again.ckpt.close();
    });
  }

  it('a background persist failure goes to an error listener, and the loop keeps running', async () => {
    const store = new ControlledStore();
    const app = counterApp({ store, persist: 'async' });
    const errors: CkptError[] = [];
    app.ckpt.on('error', (e) => errors.push(e));
    store.failWrites = new Error('EIO: disk went away');
    const steps: number[] = [];
    for await (const s of app.ckpt.loop({ until: 6, every: { steps: 2 } })) {
      steps.push(s);
      if (s === 3) store.failWrites = undefined;
      await tick(2);
    }
    expect(steps).toEqual([0, 1, 2, 3, 4, 5]);
    expect(errors.length).toBeGreaterThanOrEqual(1);
    expect(errors[0]!.code).toBe(ErrorCodes.STORE_IO);
    expect(errors[0]!.message).toMatch(/disk went away/);
    // The failed image never appears; later ones do, the last one committed by the time the loop ends.
    const steps2 = await imageSteps(app.ckpt);
    expect(steps2).not.toContain('2:null');
    expect(steps2.at(-1)).toBe('6:null');
    await app.ckpt.close(); // nothing pending: the listener was told
  });

  it('a failed policy checkpoint at until is replaced by an end checkpoint', async () => {
    for (const persist of ['sync', 'async'] as const) {
      const store = new ControlledStore();
      const app = counterApp({ store, persist });
      const errors: CkptError[] = [];
      app.ckpt.on('error', (e) => {
        errors.push(e);
        store.failWrites = undefined;
      });
      for await (const s of app.ckpt.loop({ until: 4, every: { steps: 2 } })) {
        if (s !== 3) continue;
        await tick(20); // async: the step-2 image is written meanwhile
        store.failWrites = new Error('EIO');
      }
      expect(errors.map((e) => e.code)).toEqual([ErrorCodes.STORE_IO]);
      expect(await imageSteps(app.ckpt)).toEqual(['2:null', '4:end']);
      await app.ckpt.close();
    }
  });

  it('without a listener, the failure rejects the next checkpoint() once', async () => {
    const store = new ControlledStore();
    const app = counterApp({ store, persist: 'async' });
    store.failWrites = new Error('ENOSPC');
    app.ckpt.requestCheckpoint();
    expect((await app.ckpt.safepoint(1)).checkpointed).toBe(true);
    await tick(20);
    store.failWrites = undefined;
    const err = await expectCode(app.ckpt.checkpoint({ step: 2 }), ErrorCodes.STORE_IO);
    expect(err.message).toMatch(/ENOSPC/);
    expect((await app.ckpt.checkpoint({ step: 2 })).step).toBe(2);
    await app.ckpt.close();
  });

  it('without a listener, close() waits for the failing persist and rejects with it once', async () => {
    const store = new ControlledStore();
    const app = counterApp({ store, persist: 'async' });
    const gate = deferred();
    store.hold = gate.promise;
    store.failWrites = new Error('EIO');
    app.ckpt.requestCheckpoint();
    await app.ckpt.safepoint(1);
    let settled = false;
    const closing = app.ckpt.close().finally(() => (settled = true));
    await tick(20);
    expect(settled).toBe(false); // still waiting for the held write
    gate.resolve();
    const err = await expectCode(closing, ErrorCodes.STORE_IO);
    expect(err.message).toMatch(/EIO/);
    await app.ckpt.close(); // once
    expect(await store.list()).toEqual([]);
  });

  it('close() waits for a running background persist, which then is committed', async () => {
    const store = new ControlledStore();
    const app = counterApp({ store, persist: 'async' });
    const gate = deferred();
    store.hold = gate.promise;
    app.ckpt.requestCheckpoint('bg');
    await app.ckpt.safepoint(3);
    let closed = false;
    const closing = app.ckpt.close().then(() => (closed = true));
    await tick(20);
    expect(closed).toBe(false);
    expect(await store.list()).toEqual([]);
    gate.resolve();
    await closing;
    expect((await store.list()).map((e) => e.id)).toEqual(['000000000001']);
  });

  it('pauseMs (app held) is reported apart from totalMs, and is smaller in async mode for a slow-to-write state', async () => {
    const infos: Record<string, CheckpointInfo> = {};
    for (const persist of ['sync', 'async'] as const) {
      const dir = await tempDir('ckpt-runtime-async-');
      const ckpt = new Checkpointer({ store: dir, persist, signals: false });
      // 16 MiB of noise: incompressible, so zstd and the write take noticeable time.
      const noise = new Float64Array(1 << 21).map(() => Math.random());
      ckpt.register({ id: 'noise', snapshot: () => ({ noise }), restore: () => undefined });
      ckpt.on('checkpoint', (i) => (infos[persist] = i));
      // The first async checkpoint of a state this large is written before the app resumes (its capture
      // memory does not exist yet); the second one only copies. The last one's info is compared.
      const rounds = persist === 'async' ? 2 : 1;
      for (let step = 1; step <= rounds; step++) {
        ckpt.requestCheckpoint();
        await ckpt.safepoint(step);
      }
      await ckpt.close();
      expect((await readdir(dir)).filter((n) => n.endsWith('.ckpt'))).toHaveLength(rounds);
      expect((await new FsStore(dir).list()).length).toBe(rounds);
    }
    const { sync, async } = infos;
    expect(sync!.pauseMs).toBeGreaterThan(0);
    expect(async!.pauseMs).toBeGreaterThan(0);
    expect(async!.pauseMs).toBeLessThan(async!.totalMs);
    // The sync pause includes compressing and writing; the async one only the copy.
    expect(sync!.pauseMs).toBeGreaterThan(async!.pauseMs);
    console.log(`pauseMs/totalMs: sync ${sync!.pauseMs.toFixed(1)}/${sync!.totalMs.toFixed(1)}, async ${async!.pauseMs.toFixed(1)}/${async!.totalMs.toFixed(1)}`);
  });
});
