/**
 * @module convert/migrate
 *
 * Per-provider migration chains: state saved at schema version v is brought
 * to the code's version V by running steps v+1 … V in order. Planning is
 * separate from running so a dry run can report every problem without
 * touching state.
 */
import { CkptError, ErrorCodes } from '../errors.js';
import type { Provider } from '../provider/provider.js';
import { normalizeProvider, type RegisteredProvider } from '../provider/registry.js';

/** The outcome of planning one provider's migration. */
export type MigrationPlan =
  | { readonly ok: true; readonly steps: readonly number[] }
  | { readonly ok: false; readonly error: CkptError };

/** Plan the steps that take `p`'s state from `from` to `p.version`. */
export function planMigration(p: RegisteredProvider, from: number, image?: string): MigrationPlan {
  const where = image === undefined ? {} : { image };
  if (from > p.version) {
    return {
      ok: false,
      error: new CkptError(
        ErrorCodes.VERSION_NEWER,
        `provider ${JSON.stringify(p.id)}: the image holds state version ${from}, newer than this code's version ${p.version}; deploy code that knows version ${from} (or newer) to restore it`,
        { provider: p.id, ...where },
      ),
    };
  }
  const steps: number[] = [];
  for (let to = from + 1; to <= p.version; to++) {
    if (!p.migrations.has(to)) {
      return {
        ok: false,
        error: new CkptError(
          ErrorCodes.NO_MIGRATION,
          `provider ${JSON.stringify(p.id)}: no migration from version ${to - 1} to ${to} (image has version ${from}, code has ${p.version}); add migrations[${to}] to the provider`,
          { provider: p.id, ...where },
        ),
      };
    }
    steps.push(to);
  }
  return { ok: true, steps };
}

/** Run planned steps in order. A throwing step → `CKPT_ERR_MIGRATION_FAILED`. */
export async function runMigration(p: RegisteredProvider, state: unknown, from: number, steps: readonly number[]): Promise<unknown> {
  let s = state;
  for (const to of steps) {
    const step = p.migrations.get(to)!;
    try {
      s = await step(s, { id: p.id, from: to - 1, to });
    } catch (cause) {
      throw new CkptError(ErrorCodes.MIGRATION_FAILED, `provider ${JSON.stringify(p.id)}: migration ${to - 1} → ${to} threw: ${cause instanceof Error ? cause.message : String(cause)}`, { provider: p.id, cause });
    }
  }
  void from;
  return s;
}

/** The outcome of running a migration chain. */
export interface MigrationRun<S> {
  /** The migrated state (what `restore()` would receive). */
  readonly state: S;
  /** The version migrated from. */
  readonly from: number;
  /** The provider's version. */
  readonly to: number;
  /** The steps that ran, in order (target versions). */
  readonly steps: readonly number[];
}

/**
 * Run `provider`'s migrations on `state` saved at version `from`. Throws the
 * same `CKPT_ERR_NO_MIGRATION` / `CKPT_ERR_VERSION_NEWER` /
 * `CKPT_ERR_MIGRATION_FAILED` a restore would.
 */
export async function runMigrationChain<S>(provider: Provider<S>, state: unknown, from: number): Promise<MigrationRun<S>> {
  const p = normalizeProvider(provider);
  if (!Number.isSafeInteger(from) || from < 1) throw new CkptError(ErrorCodes.INVALID_ARGUMENT, `from must be a positive integer version, got ${String(from)}`);
  const plan = planMigration(p, from);
  if (!plan.ok) throw plan.error;
  const migrated = await runMigration(p, state, from, plan.steps);
  return { state: migrated as S, from, to: p.version, steps: plan.steps };
}
