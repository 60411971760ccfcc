/**
 * @module testing/migrations
 *
 * Test a provider's migration chain without a Checkpointer or a store: run
 * it on a state you give, or on the state stored in an image file (a golden
 * fixture from an older release of your app). The same planning and running
 * code as `restore()` is used, so a test that passes here restores there.
 */
import { ClassRegistry, type ClassConstructor } from '../codec/class-registry.js';
import { runMigrationChain, type MigrationRun } from '../convert/migrate.js';
import { CkptError, ErrorCodes } from '../errors.js';
import { openImageFile } from '../store/open-image-file.js';
import type { Provider } from '../provider/provider.js';
import { normalizeProvider } from '../provider/registry.js';

export { runMigrationChain, type MigrationRun };

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
