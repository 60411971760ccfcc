/**
 * @module ckpt/testing
 *
 * Helpers for testing code that uses ckpt, and for authors of third-party
 * stores: the store conformance suite every `Store` must pass.
 */
export { runStoreConformance, storeConformanceCases } from './store-conformance.js';
export type {
  ConformanceRunner,
  RunStoreConformanceOptions,
  StoreConformanceCase,
  StoreFactory,
  StoreHarness,
} from './store-conformance.js';
