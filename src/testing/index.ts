/**
 * @module ckpt/testing
 *
 * Helpers for testing code that uses ckpt, and for authors of third-party
 * stores: the store conformance suite every `Store` must pass (and its read
 * part alone, for read-only stores: `runReadStoreConformance`), and
 * helpers that run a provider's migration chain on a state or a fixture image,
 * the filesystem layer `FsStore` writes through (`FsStoreOptions.fs`),
 * which tests replace to inject storage faults, and `faultPointHooks()`
 * (`FsStoreOptions.hooks`), which kills a process at an exact step of a
 * commit for crash tests.
 */
export { runStoreConformance, storeConformanceCases } from './store-conformance.js';
export type {
  ConformanceRunner,
  RunStoreConformanceOptions,
  StoreConformanceCase,
  StoreFactory,
  StoreHarness,
} from './store-conformance.js';
export { readStoreConformanceCases, runReadStoreConformance } from './read-store-conformance.js';
export type {
  ReadStoreConformanceCase,
  ReadStoreFactory,
  ReadStoreHarness,
  RunReadStoreConformanceOptions,
} from './read-store-conformance.js';
export { migrateFixture, runMigrationChain } from './migrations.js';
export type { MigrateFixtureOptions, MigrationRun } from './migrations.js';
export type { ClassConstructor } from '../codec/class-registry.js';
export { nodeFsOps } from '../store/fs-ops.js';
export type { FsFile, FsOpenMode, FsOps, FsStat } from '../store/fs-ops.js';
export { faultPointHooks } from './fault-point-hooks.js';
