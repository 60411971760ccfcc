/**
 * @module test/types/public-api
 *
 * Type tests of the public API, checked by vitest's typecheck mode (`vitest
 * run` counts them as tests; see vitest.config.ts) and by `npm run
 * typecheck`; never executed. A provider written the way the README and the
 * guide write one infers its state type, and the mistakes the compiler
 * should catch are caught: every `@ts-expect-error` fails the check if the
 * line stops being an error, so the negative cases pin the types too.
 */
import { describe, expectTypeOf, it } from 'vitest';
import { fork } from 'node:child_process';
import { Worker } from 'node:worker_threads';
import { CheckpointGroup, joinGroup, partOfKey, shardRange, type GroupParticipant, type GroupRunResult, type ShardRange, type ShardRestoreInfo, type ShardSpec } from '../../src/index.js';
import { isCkptError, ErrorCodes, type Checkpointer, type CheckpointerOptions, type CkptError, type ErrorCode, type Migration, type Provider } from '../../src/index.js';

declare const ckpt: Checkpointer;

describe('register<S>() infers the state type from snapshot', () => {
  it('flows the snapshot type into restore', () => {
    ckpt.register({
      id: 'counter',
      snapshot: () => ({ n: 1, name: 'x' }),
      restore: (s) => {
        expectTypeOf(s).toEqualTypeOf<{ n: number; name: string }>();
        // @ts-expect-error -- the inferred state has no such property
        void s.missing;
      },
    });
  });

  it('an async snapshot infers the resolved type', () => {
    ckpt.register({
      id: 'async',
      snapshot: async () => {
        await Promise.resolve();
        return [1, 2, 3];
      },
      restore: (s) => {
        expectTypeOf(s).toEqualTypeOf<number[]>();
      },
    });
  });

  it('an explicit type argument checks both hooks', () => {
    ckpt.register<{ readonly grid: Float64Array }>({
      id: 'explicit',
      snapshot: () => ({ grid: new Float64Array(4) }),
      restore: (s) => expectTypeOf(s.grid).toEqualTypeOf<Float64Array>(),
    });
    ckpt.register<{ readonly grid: Float64Array }>({
      id: 'explicit-wrong',
      // @ts-expect-error -- snapshot must return the declared state
      snapshot: () => ({ grid: [1, 2] }),
      restore: () => undefined,
    });
  });

  it('snapshot and restore must agree', () => {
    ckpt.register({
      id: 'mismatch',
      // @ts-expect-error -- restore expects a string, snapshot returns an object
      snapshot: () => ({ n: 1 }),
      restore: (s: string) => s.length,
    });
  });

  it('snapshot is required, and register returns an unregister function', () => {
    // @ts-expect-error -- snapshot is required
    ckpt.register({ id: 'broken', restore: () => undefined });
    expectTypeOf(ckpt.register({ id: 'ok', snapshot: () => 1, restore: () => undefined })).toEqualTypeOf<() => void>();
  });
});

describe('restore(state: S) may return anything', () => {
  it('an assignment arrow, a number, a promise', () => {
    let grid = new Float64Array(16);
    let step = 0;
    ckpt.register({ id: 'sim', snapshot: () => ({ grid, step }), restore: (s) => ({ grid, step } = s) });
    ckpt.register({ id: 'n', snapshot: () => 1, restore: (s) => s + 1 });
    ckpt.register({ id: 'p', snapshot: () => 'x', restore: (s) => Promise.resolve(s.length) });
    expectTypeOf<Provider<number>['restore']>().returns.toEqualTypeOf<unknown>();
  });
});

describe('typed migration chains', () => {
  interface StateV1 {
    readonly width: number;
  }
  interface StateV2 {
    readonly width: number;
    readonly unit: 'm';
  }
  interface StateV3 extends StateV2 {
    readonly height: number;
  }

  it('steps may annotate the older state; the provider is typed by the newest', () => {
    const toV2: Migration = (s: StateV1): StateV2 => ({ ...s, unit: 'm' });
    const toV3: Migration = (s: StateV2): StateV3 => ({ ...s, height: 0 });
    const provider: Provider<StateV3> = {
      id: 'migrated',
      version: 3,
      snapshot: () => ({ width: 3, unit: 'm', height: 1 }),
      restore: (s) => {
        expectTypeOf(s).toEqualTypeOf<StateV3>();
      },
      migrations: { 2: toV2, 3: toV3 },
    };
    ckpt.register(provider);
    expectTypeOf<Migration>().parameter(0).toEqualTypeOf<unknown>();
  });

  it('a migration table is keyed by version number and holds functions', () => {
    const provider: Provider<StateV2> = {
      id: 'bad-migrations',
      version: 2,
      snapshot: () => ({ width: 1, unit: 'm' }),
      restore: () => undefined,
      // @ts-expect-error -- a step must be a function
      migrations: { 2: 'rename width' },
    };
    void provider;
  });
});

describe('CheckpointerOptions rejects bad option types', () => {
  it('accepts the documented shapes', () => {
    expectTypeOf<{ store: string }>().toExtend<CheckpointerOptions>();
    expectTypeOf<{ store: string; readOnly: true; segmentSize: number; signals: false }>().toExtend<CheckpointerOptions>();
  });

  it('rejects wrong types, unknown modes and a missing store', () => {
    // @ts-expect-error -- store is required
    const a: CheckpointerOptions = {};
    // @ts-expect-error -- segmentSize is a number of bytes
    const b: CheckpointerOptions = { store: 'dir', segmentSize: '4MiB' };
    // @ts-expect-error -- not a mode
    const c: CheckpointerOptions = { store: 'dir', unknownProviders: 'skip' };
    // @ts-expect-error -- readOnly is a boolean
    const d: CheckpointerOptions = { store: 'dir', readOnly: 'yes' };
    // @ts-expect-error -- signals is options or false, not true
    const e: CheckpointerOptions = { store: 'dir', signals: true };
    // @ts-expect-error -- an optional option cannot be set to undefined (exactOptionalPropertyTypes)
    const f: CheckpointerOptions = { store: 'dir', maxDepth: undefined };
    void [a, b, c, d, e, f];
  });
});

describe('isCkptError narrows', () => {
  it('to CkptError, with the code typed', () => {
    const err: unknown = new Error('x');
    if (isCkptError(err)) {
      expectTypeOf(err).toEqualTypeOf<CkptError>();
      expectTypeOf(err.code).toEqualTypeOf<ErrorCode>();
      expectTypeOf(err.hint).toEqualTypeOf<string | undefined>();
      expectTypeOf(err.errors).toEqualTypeOf<readonly Error[] | undefined>();
    } else {
      expectTypeOf(err).toEqualTypeOf<unknown>();
    }
    if (isCkptError(err, ErrorCodes.LOCKED)) expectTypeOf(err).toEqualTypeOf<CkptError>();
    // @ts-expect-error -- only documented codes
    isCkptError(err, 'CKPT_ERR_NOPE');
  });
});

describe('checkpoint groups', () => {
  it('a part registers providers as a Checkpointer does: the snapshot type flows into restore', async () => {
    const part = await joinGroup();
    expectTypeOf(part).toEqualTypeOf<GroupParticipant>();
    part.register({
      id: 'cells',
      snapshot: () => ({ cells: [1, 2, 3], step: 0 }),
      restore: (s) => {
        expectTypeOf(s).toEqualTypeOf<{ cells: number[]; step: number }>();
      },
    });
    for await (const step of part.loop({ until: 10 })) expectTypeOf(step).toEqualTypeOf<number>();
    expectTypeOf(part.due).toEqualTypeOf<boolean>();
  });

  it('the group takes a store and a time policy, and run() says why it ended', async () => {
    const group = new CheckpointGroup({ store: './checkpoints', every: { seconds: 30 } });
    // @ts-expect-error -- a group checkpoints by time only: steps are each part's own
    void new CheckpointGroup({ store: './checkpoints', every: { steps: 10 } });
    const result = await group.run();
    expectTypeOf(result).toEqualTypeOf<GroupRunResult>();
    expectTypeOf(result.exitCode).toEqualTypeOf<number | undefined>();
  });

  it('parts are worker threads or forked child processes; each add returns the part index', () => {
    const group = new CheckpointGroup({ store: './checkpoints' });
    expectTypeOf(group.addChild(fork('./part.js', { serialization: 'advanced' }))).toEqualTypeOf<number>();
    expectTypeOf(group.addWorker(new Worker('./part.js'))).toEqualTypeOf<number>();
    // @ts-expect-error -- a child process, not its pid
    group.addChild(1234);
  });

  it('a part provider may declare its shard; restore() sees which elements or key groups it holds', async () => {
    const ckpt = await joinGroup();
    ckpt.register<Float64Array>({
      id: 'cells',
      shard: { kind: 'range', length: () => 4 },
      snapshot: () => new Float64Array(4),
      restore: (_s, ctx) => expectTypeOf(ctx.shard).toEqualTypeOf<ShardRestoreInfo | undefined>(),
    });
    ckpt.register<Map<string, number>>({ id: 'kv', shard: { kind: 'keyed', keyGroups: 256 }, snapshot: () => new Map(), restore: () => undefined });
    // @ts-expect-error -- shards are 'range' or 'keyed'
    ckpt.register({ id: 'x', shard: { kind: 'rows' }, snapshot: () => 1, restore: () => undefined });
    // @ts-expect-error -- keyGroups belongs to a keyed shard
    const bad: ShardSpec = { kind: 'range', keyGroups: 8 };
    void bad;
    expectTypeOf(ckpt.rangeOf(10)).toEqualTypeOf<ShardRange>();
    expectTypeOf(shardRange(10, 0, 2).start).toEqualTypeOf<number>();
    expectTypeOf(partOfKey('k', 4)).toEqualTypeOf<number>();
  });
});
