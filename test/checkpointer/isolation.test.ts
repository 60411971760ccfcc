import { describe, it, expect, afterEach } from 'vitest';
import { Checkpointer, FsStore, MemoryStore } from '../../src/index.js';
import type { CheckpointContext, Store } from '../../src/index.js';
import { removeTempDirs, tempDir } from './helpers.js';

afterEach(removeTempDirs);

const stores: [string, () => Promise<Store>][] = [
  ['MemoryStore', () => Promise.resolve(new MemoryStore())],
  ['FsStore', async () => new FsStore(await tempDir())],
];

describe.each(stores)('snapshot isolation (%s)', (_name, makeStore) => {
  it('mutating live state after checkpoint() resolves does not change the saved image', async () => {
    const store = await makeStore();
    const ckpt = new Checkpointer({ store });
    const small = new Float64Array([1, 2, 3]); // inline in the value stream
    const big = new Float64Array(256 * 1024); // 2 MiB: a raw blob segment (threshold 64 KiB)
    for (let i = 0; i < big.length; i++) big[i] = Math.sin(i) * 1000;
    const bigCopy = big.slice();
    const nested = { list: [1, 2, { deep: 'before' }], map: new Map([['k', 'before']]) };
    let state: unknown = { small, big, nested, buf: Buffer.alloc(200 * 1024, 7) };
    ckpt.register({ id: 'app', snapshot: () => state, restore: (s) => { state = s; } });
    const live = state as { small: Float64Array; big: Float64Array; nested: typeof nested; buf: Buffer };

    await ckpt.checkpoint();
    small[0] = -1;
    big.fill(42);
    live.buf.fill(0);
    (nested.list[2] as { deep: string }).deep = 'after';
    nested.list.push(99);
    nested.map.set('k', 'after');

    await ckpt.restore();
    const got = state as typeof live;
    expect(got).not.toBe(live);
    expect([...got.small]).toEqual([1, 2, 3]);
    expect(Buffer.from(got.big.buffer, got.big.byteOffset, got.big.byteLength).equals(Buffer.from(bigCopy.buffer))).toBe(true);
    expect(got.buf.every((b) => b === 7)).toBe(true);
    expect(got.buf.length).toBe(200 * 1024);
    expect(got.nested).toEqual({ list: [1, 2, { deep: 'before' }], map: new Map([['k', 'before']]) });
    // The restored arrays are fresh memory, not the live ones.
    expect(got.big.buffer).not.toBe(big.buffer);
  });

  it('restored state is independent of the image: mutating it does not change a second restore', async () => {
    const store = await makeStore();
    const ckpt = new Checkpointer({ store });
    let state: unknown = { arr: new Int32Array(100_000).fill(5), obj: { a: 1 } };
    ckpt.register({ id: 'app', snapshot: () => state, restore: (s) => { state = s; } });
    await ckpt.checkpoint();
    await ckpt.restore();
    const first = state as { arr: Int32Array; obj: { a: number } };
    first.arr.fill(-1);
    first.obj.a = 2;
    await ckpt.restore();
    const second = state as typeof first;
    expect(second.arr.every((v) => v === 5)).toBe(true);
    expect(second.obj.a).toBe(1);
  });
});

describe('checkpoints never overlap', () => {
  it('concurrent checkpoint() calls queue, each runs its whole lifecycle alone and writes its own image, in call order', async () => {
    const store = new MemoryStore();
    const ckpt = new Checkpointer({ store });
    const log: string[] = [];
    let counter = 0;
    const delay = () => new Promise((r) => setTimeout(r, 3));
    ckpt.register({
      id: 'p',
      prepare: async (ctx: CheckpointContext) => {
        log.push(`prepare:${String(ctx.step)}`);
        await delay();
      },
      snapshot: async (ctx: CheckpointContext) => {
        log.push(`snapshot:${String(ctx.step)}`);
        await delay();
        return { step: ctx.step, seq: ++counter };
      },
      resume: async (ctx) => {
        await delay();
        log.push(`resume:${String(ctx.step)}`);
      },
      committed: (info) => {
        log.push(`committed:${String(info.step)}`);
      },
      restore: () => undefined,
    });
    const calls = [1, 2, 3, 4].map((step) => ckpt.checkpoint({ step }));
    const infos = await Promise.all(calls);
    expect(infos.map((i) => i.id)).toEqual(['000000000001', '000000000002', '000000000003', '000000000004']);
    expect(infos.map((i) => i.step)).toEqual([1, 2, 3, 4]);
    expect(log).toEqual([1, 2, 3, 4].flatMap((n) => [`prepare:${n}`, `snapshot:${n}`, `resume:${n}`, `committed:${n}`]));

    // Each image holds the state its own snapshot returned.
    let restored: unknown;
    const reader = new Checkpointer({ store, readOnly: true });
    reader.register({ id: 'p', snapshot: () => null, restore: (s) => { restored = s; } });
    for (const [i, info] of infos.entries()) {
      await reader.restore(info.id);
      expect(restored).toEqual({ step: i + 1, seq: i + 1 });
    }
  });

  it('a failing checkpoint in the queue does not block or spoil the next ones', async () => {
    const ckpt = new Checkpointer({ store: new MemoryStore() });
    ckpt.register({
      id: 'p',
      snapshot: (ctx: CheckpointContext) => {
        if (ctx.step === 2) throw new Error('step 2 fails');
        return ctx.step;
      },
      restore: () => undefined,
    });
    const results = await Promise.allSettled([1, 2, 3].map((step) => ckpt.checkpoint({ step })));
    expect(results.map((r) => r.status)).toEqual(['fulfilled', 'rejected', 'fulfilled']);
    const ok = results.filter((r): r is PromiseFulfilledResult<Awaited<ReturnType<typeof ckpt.checkpoint>>> => r.status === 'fulfilled');
    expect(ok.map((r) => r.value.step)).toEqual([1, 3]);
    expect((await ckpt.list()).map((i) => i.step)).toEqual([3, 1]);
  });
});
