import { describe, it, expect, vi } from 'vitest';
import { subscribe, unsubscribe } from 'node:diagnostics_channel';
import { Checkpointer, CkptError, ErrorCodes, MemoryStore } from '../../src/index.js';
import type { CheckpointChannelMessage, CheckpointInfo, CkptWarning, RestoreChannelMessage, RestoreResult, Store } from '../../src/index.js';
import { TestStore, expectCode, imageLayout } from './helpers.js';

function setup(store: Store = new MemoryStore()) {
  const box: { state: unknown; failSnapshot: boolean } = { state: { n: 1 }, failSnapshot: false };
  const ckpt = new Checkpointer({ store });
  ckpt.register({
    id: 'p',
    snapshot: () => {
      if (box.failSnapshot) throw new Error('snapshot broke');
      return box.state;
    },
    restore: (s) => {
      box.state = s;
    },
  });
  return { ckpt, box };
}

/** Collect messages of a diagnostics channel while `fn` runs. */
async function onChannel<M>(name: string, fn: () => Promise<void>): Promise<M[]> {
  const got: M[] = [];
  const listener = (message: unknown) => {
    got.push(message as M);
  };
  subscribe(name, listener);
  try {
    await fn();
  } finally {
    unsubscribe(name, listener);
  }
  return got;
}

describe('events', () => {
  it("emits 'checkpoint' with the returned info and 'restore' with the returned result", async () => {
    const { ckpt } = setup();
    const infos: CheckpointInfo[] = [];
    const results: RestoreResult[] = [];
    ckpt.on('checkpoint', (i) => infos.push(i));
    ckpt.on('restore', (r) => results.push(r));
    const info = await ckpt.checkpoint({ step: 4, label: 'l' });
    expect(infos).toHaveLength(1);
    expect(infos[0]).toBe(info);
    expect(infos[0]!.step).toBe(4);
    const result = await ckpt.restore();
    expect(results).toHaveLength(1);
    expect(results[0]).toBe(result);
  });

  it("no 'restore' event for an empty store, no 'checkpoint' event for a failed checkpoint", async () => {
    const { ckpt, box } = setup();
    const seen: string[] = [];
    ckpt.on('checkpoint', () => seen.push('checkpoint'));
    ckpt.on('restore', () => seen.push('restore'));
    expect(await ckpt.restore()).toBeUndefined();
    box.failSnapshot = true;
    await expectCode(ckpt.checkpoint(), ErrorCodes.SNAPSHOT_FAILED);
    expect(seen).toEqual([]);
  });

  it('once() fires once, off() stops a listener', async () => {
    const { ckpt } = setup();
    const onceFn = vi.fn();
    const onFn = vi.fn();
    ckpt.once('checkpoint', onceFn);
    ckpt.on('checkpoint', onFn);
    await ckpt.checkpoint();
    ckpt.off('checkpoint', onFn);
    await ckpt.checkpoint();
    expect(onceFn).toHaveBeenCalledTimes(1);
    expect(onFn).toHaveBeenCalledTimes(1);
  });

  it("a throwing 'checkpoint' listener breaks nothing: the checkpoint resolves, a warning says so, the next one works", async () => {
    const { ckpt, box } = setup();
    const warnings: CkptWarning[] = [];
    ckpt.on('warning', (w) => warnings.push(w));
    ckpt.on('checkpoint', () => {
      throw new Error('listener bug');
    });
    const info = await ckpt.checkpoint();
    expect(info.id).toBe('000000000001');
    expect(warnings).toHaveLength(1);
    expect(warnings[0]!.message).toContain("a 'checkpoint' listener threw: listener bug");
    expect(warnings[0]!.error?.message).toBe('listener bug');
    box.state = { n: 2 };
    expect((await ckpt.checkpoint()).id).toBe('000000000002');
    box.state = null;
    await ckpt.restore();
    expect(box.state).toEqual({ n: 2 });
  });

  it("a throwing 'restore' or 'warning' listener breaks nothing either", async () => {
    const store = new TestStore();
    const { ckpt, box } = setup(store);
    ckpt.on('restore', () => {
      throw new Error('restore listener bug');
    });
    ckpt.on('warning', () => {
      throw new Error('warning listener bug');
    });
    await ckpt.checkpoint();
    box.state = { n: 2 };
    const two = await ckpt.checkpoint();
    store.damage(two.id, (await imageLayout(store, two.id)).indexOffset);
    const result = await ckpt.restore(); // warns about the fallback; the warning listener throws
    expect(result?.fellBack).toBe(true);
    expect(box.state).toEqual({ n: 1 });
  });

  it("'error' is never emitted without a listener, and not for a failure the caller awaits", async () => {
    const { ckpt, box } = setup();
    box.failSnapshot = true;
    // Without a listener an emitted 'error' would throw ERR_UNHANDLED_ERROR instead of this rejection.
    const err = await expectCode(ckpt.checkpoint(), ErrorCodes.SNAPSHOT_FAILED);
    expect(err).toBeInstanceOf(CkptError);
    const onError = vi.fn();
    ckpt.on('error', onError);
    await expectCode(ckpt.checkpoint(), ErrorCodes.SNAPSHOT_FAILED);
    await expectCode(ckpt.restore('000000000042'), ErrorCodes.NOT_FOUND);
    expect(onError).not.toHaveBeenCalled();
  });
});

describe('diagnostics channels', () => {
  it('ckpt:checkpoint publishes start and end, or start and error', async () => {
    const { ckpt, box } = setup();
    let info: CheckpointInfo | undefined;
    const ok = await onChannel<CheckpointChannelMessage>('ckpt:checkpoint', async () => {
      info = await ckpt.checkpoint({ step: 12, label: 'nightly' });
    });
    expect(ok).toEqual([
      { phase: 'start', step: 12, label: 'nightly' },
      { phase: 'end', info },
    ]);
    expect((ok[1] as { info: CheckpointInfo }).info).toBe(info);

    box.failSnapshot = true;
    let error: unknown;
    const failed = await onChannel<CheckpointChannelMessage>('ckpt:checkpoint', async () => {
      error = await ckpt.checkpoint().catch((e: unknown) => e);
    });
    expect(failed).toHaveLength(2);
    expect(failed[0]).toEqual({ phase: 'start', step: null, label: null });
    expect(failed[1]!.phase).toBe('error');
    expect((failed[1] as { error: CkptError }).error).toBe(error);
    expect((error as CkptError).code).toBe(ErrorCodes.SNAPSHOT_FAILED);
  });

  it('ckpt:restore publishes start and end (with undefined on an empty store), or start and error', async () => {
    const { ckpt } = setup();
    const empty = await onChannel<RestoreChannelMessage>('ckpt:restore', async () => {
      await ckpt.restore();
    });
    expect(empty).toEqual([
      { phase: 'start', imageId: null },
      { phase: 'end', result: undefined },
    ]);
    const info = await ckpt.checkpoint();
    let result: RestoreResult | undefined;
    const ok = await onChannel<RestoreChannelMessage>('ckpt:restore', async () => {
      result = await ckpt.restore(info.id);
    });
    expect(ok).toEqual([
      { phase: 'start', imageId: info.id },
      { phase: 'end', result },
    ]);
    expect(result?.image.id).toBe(info.id);
    const failed = await onChannel<RestoreChannelMessage>('ckpt:restore', async () => {
      await ckpt.restore('000000000009').catch(() => undefined);
    });
    expect(failed.map((m) => m.phase)).toEqual(['start', 'error']);
    expect((failed[1] as { error: CkptError }).error.code).toBe(ErrorCodes.NOT_FOUND);
  });

  it('a non-ckpt failure is published as a CkptError (RESTORE_FAILED wrapping the cause)', async () => {
    const ckpt = new Checkpointer({ store: new MemoryStore() });
    const boom = new Error('restore hook');
    ckpt.register({ id: 'p', snapshot: () => 1, restore: () => { throw boom; } });
    await ckpt.checkpoint();
    const msgs = await onChannel<RestoreChannelMessage>('ckpt:restore', async () => {
      await ckpt.restore().catch(() => undefined);
    });
    const last = msgs[msgs.length - 1] as { phase: string; error: CkptError };
    expect(last.phase).toBe('error');
    expect(last.error).toBeInstanceOf(CkptError);
    expect(last.error.code).toBe(ErrorCodes.RESTORE_FAILED);
    expect(last.error.cause).toBe(boom);
  });
});
