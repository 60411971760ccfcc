/**
 * @module testing/migrations
 *
 * Test a provider's migration chain without a Checkpointer or a store: run
 * it on a state you give, or on the state stored in an image file (a golden
 * fixture from an older release of your app). The same planning and running
 * code as `restore()` is used, so a test that passes here restores there.
 */
import { ClassRegistry, type ClassConstructor } from '../codec/class-registry.js';
import { planMigration, runMigration } from '../convert/migrate.js';
import { CkptError, ErrorCodes } from '../errors.js';
import { openImageFile } from '../store/open-image-file.js';
import type { Provider } from '../provider/provider.js';
import { normalizeProvider } from '../provider/registry.js';

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

/** Options of {@link migrateFixture}. */
export interface MigrateFixtureOptions {
  /** Classes the stored state contains, with the names they were registered under. */
  readonly classes?: ReadonlyArray<readonly [ClassConstructor, string?]>;
}

/**
 * Read `provider`'s state (by its id or one of its aliases) from the image
 * file `imagePath` and run its migration chain from the stored version.
 *
 * ```ts
 * import { migrateFixture } from 'ckpt/testing';
 * const { state, steps } = await migrateFixture(particlesProvider, 'test/fixtures/app-v1.ckpt');
 * expect(steps).toEqual([2, 3]);
 * ```
 */
export async function migrateFixture<S>(provider: Provider<S>, imagePath: string, options: MigrateFixtureOptions = {}): Promise<MigrationRun<S>> {
  const p = normalizeProvider(provider);
  const classes = new ClassRegistry();
  for (const [ctor, name] of options.classes ?? []) classes.register(ctor, name);
  const img = await openImageFile(imagePath);
  try {
    const entry = [p.id, ...p.aliases].map((id) => img.provider(id)).find((e) => e !== undefined);
    if (entry === undefined) {
      throw new CkptError(ErrorCodes.NOT_FOUND, `${imagePath} has no state for provider ${JSON.stringify(p.id)}${p.aliases.length > 0 ? ` or its aliases ${p.aliases.join(', ')}` : ''}; it holds: ${img.providers.map((x) => x.id).join(', ')}`);
    }
    const state = await img.readProvider(entry.id, { classes });
    return await runMigrationChain(provider, state, entry.version);
  } finally {
    await img.close();
  }
}
