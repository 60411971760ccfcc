/**
 * @module test/types/provider-inference
 *
 * Compile-time tests, checked by `npm run typecheck` (never executed): a
 * provider written the way the README and the guide write one infers its
 * state type, and the mistakes the compiler should catch are caught. Every
 * `@ts-expect-error` below fails the type-check if the line stops being an
 * error, so the negative cases pin the types too.
 */
import type { Checkpointer, Migration, Provider } from '../../src/index.js';

declare const ckpt: Checkpointer;

/** `A` and `B` are the same type (fails to compile otherwise). */
type Equal<A, B> = (<T>() => T extends A ? 1 : 2) extends <T>() => T extends B ? 1 : 2 ? true : false;
function assertType<T extends true>(): T | undefined {
  return undefined;
}

// An assignment arrow returns the assigned object: restore may return anything.
let grid = new Float64Array(16);
let step = 0;
ckpt.register({
  id: 'sim',
  snapshot: () => ({ grid, step }),
  restore: (s) => ({ grid, step } = s),
});

// The state type is inferred from snapshot and flows into restore's parameter.
ckpt.register({
  id: 'counter',
  snapshot: () => ({ n: 1, name: 'x' }),
  restore: (s) => {
    assertType<Equal<typeof s, { n: number; name: string }>>();
    void s.n;
    // @ts-expect-error -- the inferred state has no such property
    void s.missing;
  },
});

// An async snapshot infers the resolved type.
ckpt.register({
  id: 'async',
  snapshot: async () => {
    await Promise.resolve();
    return [1, 2, 3];
  },
  restore: (s) => {
    assertType<Equal<typeof s, number[]>>();
    return s.length;
  },
});

// snapshot and restore must agree.
ckpt.register({
  id: 'mismatch',
  // @ts-expect-error -- restore expects a string, snapshot returns an object
  snapshot: () => ({ n: 1 }),
  restore: (s: string) => s.length,
});

// Migrations may annotate the older state's shape; the chain reads as written.
interface StateV1 { readonly width: number }
interface StateV2 { readonly width: number; readonly unit: 'm' }
const toV2: Migration = (s: StateV1): StateV2 => ({ ...s, unit: 'm' });
const provider: Provider<StateV2> = {
  id: 'migrated',
  version: 2,
  snapshot: () => ({ width: 3, unit: 'm' }),
  restore: (s) => {
    assertType<Equal<typeof s, StateV2>>();
    return s.width;
  },
  migrations: { 2: toV2, 3: (s: StateV2) => ({ ...s, height: 0 }) },
};
ckpt.register(provider);

// A provider without snapshot is not a provider.
// @ts-expect-error -- snapshot is required
ckpt.register({ id: 'broken', restore: () => undefined });
