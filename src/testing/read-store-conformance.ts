/**
 * @module testing/read-store-conformance
 *
 * The conformance suite of the read contract (`ReadStore`): what a
 * read-only store (an archive, a bucket seen with read-only credentials)
 * must do, checked with the read side alone. The suite decides the images;
 * the factory puts them into storage by its own means (upload them, copy
 * files) and opens the store read-only over them. `runStoreConformance`
 * runs these cases too, on images committed through the write side.
 *
 * Checked: newest-first listing with the right sizes, exact reads at any
 * offset (and through `readInto` when present), bounds checks
 * (`CKPT_ERR_CORRUPT`), unknown ids (`CKPT_ERR_NOT_FOUND`), independent
 * concurrent readers, idempotent `close()`, and that a listing is a fresh
 * array the caller may change.
 */

import { strict as assert } from 'node:assert';
import { describeError, isCkptError } from '../errors.js';
import type { ErrorCode } from '../errors.js';
import type { ImageSource, ReadStore } from '../store/store.js';
import type { ConformanceRunner } from './store-conformance.js';
import { assertBytes, bytes } from './conformance-bytes.js';

/** A read-only store over the images the suite asked for. */
export interface ReadStoreHarness {
  /** The store under test. */
  readonly store: ReadStore;
  /** The id the store gives each requested image, in the order they were requested (oldest first). */
  readonly ids: readonly string[];
  /** Remove everything the harness created. Called once per case, also after failures. */
  dispose(): Promise<void>;
}

/**
 * Makes a store holding exactly `images` (their bytes, oldest first: each
 * must get a greater id than the one before). A store that can hold fewer
 * images declares it with {@link RunReadStoreConformanceOptions.maxImages}.
 */
export type ReadStoreFactory = (images: readonly Uint8Array[]) => Promise<ReadStoreHarness>;

/** One named check of the read contract. */
export interface ReadStoreConformanceCase {
  /** What is checked, phrased as a test name. */
  readonly name: string;
  /** How many images the case needs (a factory with fewer places skips it). */
  readonly images: number;
  /** Run the check on a store from `factory`; rejects with an `Error` on failure. */
  run(factory: ReadStoreFactory): Promise<void>;
}

/** Options for {@link runReadStoreConformance}. */
export interface RunReadStoreConformanceOptions {
  /** Name of the `describe` block (default `ReadStore conformance`). */
  readonly name?: string;
  /** Names of cases to leave out (say why in your test file). */
  readonly skip?: readonly string[];
  /** Most images the store can hold (e.g. 1 for a store of one file); cases that need more are left out. Default: no limit. */
  readonly maxImages?: number;
}

async function rejectsWith(action: () => Promise<unknown>, code: ErrorCode, what: string): Promise<void> {
  let error: unknown;
  try {
    await action();
  } catch (err) {
    error = err;
  }
  if (error === undefined) assert.fail(`${what}: expected a rejection with ${code}, but it succeeded`);
  if (!isCkptError(error)) assert.fail(`${what}: expected a CkptError with ${code}, got ${describeError(error)}`);
  if (error.code !== code) assert.fail(`${what}: expected ${code}, got ${error.code}: ${error.message}`);
}

/** Three images of different sizes (the sizes tell them apart in a listing). */
const IMAGES = [bytes(1000, 1), bytes(70_001, 2), bytes(3, 3)] as const;

function defineCase(name: string, images: number, body: (store: ReadStore, ids: readonly string[], data: readonly Uint8Array[]) => Promise<void>): ReadStoreConformanceCase {
  const data = IMAGES.slice(0, images);
  return {
    name,
    images,
    async run(factory: ReadStoreFactory): Promise<void> {
      const harness = await factory(data);
      try {
        assert.equal(harness.ids.length, data.length, `the factory must report one id per image (got ${harness.ids.length} for ${data.length})`);
        await body(harness.store, harness.ids, data);
      } finally {
        await harness.dispose();
      }
    },
  };
}

async function withSource<T>(store: ReadStore, id: string, use: (source: ImageSource) => Promise<T>): Promise<T> {
  const source = await store.open(id);
  try {
    return await use(source);
  } finally {
    await source.close();
  }
}

/** Every check of the read contract, in a stable order. */
export const readStoreConformanceCases: readonly ReadStoreConformanceCase[] = Object.freeze([
  defineCase('lists the images newest first, with their sizes', 3, async (store, ids, data) => {
    assert.equal(typeof store.description, 'string', 'description must be a string');
    for (let i = 1; i < ids.length; i++) assert.ok(ids[i - 1]! < ids[i]!, `ids must increase with age: ${ids[i - 1]} then ${ids[i]}`);
    const listed = await store.list();
    assert.deepEqual(
      listed.map((e) => ({ id: e.id, size: e.size })),
      ids.map((id, i) => ({ id, size: data[i]!.byteLength })).reverse(),
      `${store.description}: list() must give every image once, newest first, with its size`,
    );
  }),
  defineCase('gives a fresh listing each time (the caller may change it)', 1, async (store) => {
    const first = await store.list();
    first.length = 0;
    assert.equal((await store.list()).length, 1, 'emptying a returned listing must not change the next one');
  }),
  defineCase('reads every image back exactly, whole and in parts', 3, async (store, ids, data) => {
    for (const [i, id] of ids.entries()) {
      const want = data[i]!;
      await withSource(store, id, async (source) => {
        assert.equal(source.id, id, 'source.id');
        assert.equal(source.size, want.byteLength, 'source.size');
        assertBytes(await source.read(0, source.size), want, `image ${id}, whole`);
        const mid = Math.floor(want.byteLength / 2);
        assertBytes(await source.read(mid, want.byteLength - mid), want.subarray(mid), `image ${id}, second half`);
        assertBytes(await source.read(mid, 0), new Uint8Array(0), `image ${id}, empty read`);
      });
    }
  }),
  defineCase('readInto, when present, fills the given buffer exactly', 2, async (store, ids, data) => {
    const id = ids[1]!;
    const want = data[1]!;
    await withSource(store, id, async (source) => {
      if (source.readInto === undefined) return; // optional
      const into = new Uint8Array(5000).fill(0xee);
      await source.readInto(123, into);
      assertBytes(into, want.subarray(123, 5123), 'readInto at 123');
    });
  }),
  defineCase('rejects reads outside the image with CKPT_ERR_CORRUPT', 1, async (store, ids, data) => {
    const size = data[0]!.byteLength;
    await withSource(store, ids[0]!, async (source) => {
      await rejectsWith(() => source.read(size - 10, 11), 'CKPT_ERR_CORRUPT', 'a read past the end');
      await rejectsWith(() => source.read(-1, 1), 'CKPT_ERR_CORRUPT', 'a read at a negative offset');
      await rejectsWith(() => source.read(0.5, 1), 'CKPT_ERR_CORRUPT', 'a read at a fractional offset');
    });
  }),
  defineCase('opening an unknown id is CKPT_ERR_NOT_FOUND', 1, async (store, ids) => {
    const unknown = ids[0] === '999999999999' ? '999999999998' : '999999999999';
    await rejectsWith(() => store.open(unknown), 'CKPT_ERR_NOT_FOUND', `open(${unknown})`);
  }),
  defineCase('readers of one image are independent; close() is idempotent', 1, async (store, ids, data) => {
    const a = await store.open(ids[0]!);
    const b = await store.open(ids[0]!);
    try {
      const [x, y] = await Promise.all([a.read(0, 100), b.read(500, 100)]);
      assertBytes(x, data[0]!.subarray(0, 100), 'first reader');
      assertBytes(y, data[0]!.subarray(500, 600), 'second reader');
      await a.close();
      await a.close();
      assertBytes(await b.read(0, 10), data[0]!.subarray(0, 10), 'the second reader after the first closed');
    } finally {
      await a.close();
      await b.close();
    }
  }),
]);

/**
 * Register the read-contract conformance cases with a test runner. For a
 * read-only store; a full `Store` gets them from `runStoreConformance`.
 *
 * @example
 * import { describe, it } from 'vitest';
 * runReadStoreConformance(async (images) => {
 *   const dir = await mkdtemp(join(tmpdir(), 'ckpt-'));
 *   const ids = await copyIntoArchive(dir, images); // your own upload/copy
 *   return { store: new ArchiveStore(dir), ids, dispose: () => rm(dir, { recursive: true, force: true }) };
 * }, { describe, it });
 *
 * @param factory - makes a store holding the images it is given
 * @param runner - the runner's `describe` and `it`
 * @param options - suite name, cases to skip, how many images the store can hold
 */
export function runReadStoreConformance(factory: ReadStoreFactory, runner: ConformanceRunner, options: RunReadStoreConformanceOptions = {}): void {
  const { describe, it } = runner;
  const skip = new Set(options.skip ?? []);
  const max = options.maxImages ?? Number.POSITIVE_INFINITY;
  describe(options.name ?? 'ReadStore conformance', () => {
    for (const c of readStoreConformanceCases) {
      if (!skip.has(c.name) && c.images <= max) it(c.name, () => c.run(factory));
    }
  });
}
