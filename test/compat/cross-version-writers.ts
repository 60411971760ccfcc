/**
 * @module test/compat/cross-version-writers
 *
 * The two ways test/compat/cross-version.test.ts writes and reads its images:
 * segments compressed and decompressed on the worker pool, and on the main
 * thread (`threads: 0`). Each has its own store (a folder of that name) below
 * one directory per Node version.
 */
export const WRITERS = [
  { store: 'pool', threads: 2 },
  { store: 'main-thread', threads: 0 },
] as const;
