/**
 * @module testing/store-conformance
 *
 * The conformance suite every `Store` must pass — ckpt's own (FsStore,
 * MemoryStore) and third-party ones alike. It includes the read-contract
 * cases of `testing/read-store-conformance` (which a read-only store runs
 * alone, with `runReadStoreConformance`). It checks the contract of
 * `store/store`, not an implementation: ids, newest-first listing, the commit
 * rule (nothing visible before commit, nothing after a failed or aborted one),
 * bounds-checked reads, the single-writer lock and its waiting, and big
 * multi-chunk images.
 *
 * It is framework-agnostic: {@link storeConformanceCases} is a plain list of
 * named async checks that throw an `Error` (from `node:assert/strict`) on
 * failure, and {@link runStoreConformance} registers them with any runner that
 * has `describe` and `it` (vitest, mocha, jest, node:test).
 */

import { strict as assert } from 'node:assert';
import { isCkptError, describeError, ErrorCodes } from '../errors.js';
import type { ErrorCode } from '../errors.js';
import type { ImageSink, Store, StoreEntry, WriterLock } from '../store/store.js';
import { readStoreConformanceCases, type ReadStoreFactory } from './read-store-conformance.js';
import { assertBytes, bytes } from './conformance-bytes.js';

/** One store under test, with a way to open the same storage again and to clean up. */
export interface StoreHarness {
  /** A fresh, empty store. */
  readonly store: Store;
  /**
   * A second handle on the same underlying storage, as another process would
   * open it: it must see the same committed images and compete for the same
   * writer lock.
   */
  reopen(): Promise<Store>;
  /** Remove everything the harness created. Called once per case, also after failures. */
  dispose(): Promise<void>;
}

/** Makes a new, empty store for each case. */
export type StoreFactory = () => Promise<StoreHarness>;

/** One named conformance check. */
export interface StoreConformanceCase {
  /** What is checked, phrased as a test name. */
  readonly name: string;
  /** Run the check on a fresh store from `factory`; rejects with an `Error` on failure. */
  run(factory: StoreFactory): Promise<void>;
}

/** The part of a test runner {@link runStoreConformance} needs (vitest, mocha, jest, node:test all fit). */
export interface ConformanceRunner {
  /** Group tests under a name. */
  readonly describe: (name: string, body: () => void) => unknown;
  /** Register one async test. */
  readonly it: (name: string, body: () => Promise<void>) => unknown;
}

/** Options for {@link runStoreConformance}. */
export interface RunStoreConformanceOptions {
  /** Name of the `describe` block (default `Store conformance`). */
  readonly name?: string;
  /** Names of cases to leave out (say why in your test file). */
  readonly skip?: readonly string[];
}

// ---------------------------------------------------------------- helpers

/** Await `action` and require a CkptError with one of `codes`. */
async function rejects(action: () => Promise<unknown>, codes: ErrorCode | readonly ErrorCode[], what: string): Promise<void> {
  const want: readonly ErrorCode[] = typeof codes === 'string' ? [codes] : codes;
  let error: unknown;
  let rejected = false;
  try {
    await action();
  } catch (err) {
    error = err;
    rejected = true;
  }
  if (!rejected) assert.fail(`${what}: expected a rejection with ${want.join(' or ')}, but it succeeded`);
  if (!isCkptError(error)) {
    const kind = error instanceof Error ? error.name : typeof error;
    assert.fail(`${what}: expected a CkptError with ${want.join(' or ')}, got ${kind}: ${describeError(error)}`);
  }
  if (!want.includes(error.code)) assert.fail(`${what}: expected ${want.join(' or ')}, got ${error.code}: ${error.message}`);
}

async function readAll(store: Store, id: string): Promise<Uint8Array> {
  const src = await store.open(id);
  try {
    return await src.read(0, src.size);
  } finally {
    await src.close();
  }
}

/** A case body gets the harness plus lock tracking, so every lock is released even when the case fails. */
interface Session {
  /** The store under test. */
  readonly store: Store;
  /** Another handle on the same storage. */
  readonly reopen: () => Promise<Store>;
  /** acquireWriter on `store` (default: the harness store), released automatically at the end. */
  readonly acquire: (store?: Store, waitMs?: number) => Promise<WriterLock>;
  /** Create, write `chunks`, commit; returns the new id. */
  readonly commitImage: (lock: WriterLock, ...chunks: Uint8Array[]) => Promise<string>;
}

function defineCase(name: string, body: (s: Session) => Promise<void>): StoreConformanceCase {
  return {
    name,
    async run(factory: StoreFactory): Promise<void> {
      const harness = await factory();
      const locks: WriterLock[] = [];
      const session: Session = {
        store: harness.store,
        reopen: () => harness.reopen(),
        acquire: async (store = harness.store, waitMs?: number): Promise<WriterLock> => {
          const lock = await store.acquireWriter(waitMs === undefined ? {} : { waitMs });
          locks.push(lock);
          return lock;
        },
        commitImage: async (lock: WriterLock, ...chunks: Uint8Array[]): Promise<string> => {
          const sink = await harness.store.create(lock);
          for (const c of chunks) await sink.write(c);
          await sink.commit();
          return sink.id;
        },
      };
      try {
        await body(session);
      } finally {
        for (const lock of locks) await lock.release().catch(() => undefined);
        await harness.dispose();
      }
    },
  };
}

const MiB = 1024 * 1024;

// ------------------------------------------------------------------ cases

/**
 * Every conformance check, in a stable order. Each case gets a fresh store
 * from the factory and disposes of it afterwards.
 */
export const storeConformanceCases: readonly StoreConformanceCase[] = Object.freeze([
  defineCase('lists nothing when empty', async ({ store, reopen }) => {
    assert.deepEqual(await store.list(), [], `${store.description}: a new store must list no images`);
    assert.deepEqual(await (await reopen()).list(), [], 'a reopened new store must list no images');
    assert.equal(typeof store.description, 'string');
  }),

  defineCase('reads a committed image back byte for byte', async ({ store, acquire }) => {
    const lock = await acquire();
    const data = bytes(1000, 7);
    const sink = await store.create(lock);
    assert.equal(typeof sink.id, 'string', 'sink.id must be a string');
    await sink.write(data.subarray(0, 100));
    await sink.write(new Uint8Array(0));
    await sink.write(data.subarray(100));
    await sink.commit();
    assert.deepEqual(await store.list(), [{ id: sink.id, size: 1000 }], 'list() after one commit');
    const src = await store.open(sink.id);
    assert.equal(src.id, sink.id, 'source.id');
    assert.equal(src.size, 1000, 'source.size');
    assertBytes(await src.read(0, 1000), data, 'whole image');
    assertBytes(await src.read(10, 5), data.subarray(10, 15), 'read(10, 5)');
    assertBytes(await src.read(999, 1), data.subarray(999), 'last byte');
    await src.close();
    await src.close(); // idempotent
  }),

  defineCase('never lists or opens an uncommitted image', async ({ store, reopen, acquire }) => {
    const lock = await acquire();
    const sink = await store.create(lock);
    await sink.write(bytes(64));
    const other = await reopen();
    assert.deepEqual(await store.list(), [], 'an uncommitted image must not be listed');
    assert.deepEqual(await other.list(), [], 'an uncommitted image must not be listed by another handle');
    await rejects(() => store.open(sink.id), ErrorCodes.NOT_FOUND, 'open() of an uncommitted image');
    await sink.commit();
    assert.deepEqual(await other.list(), [{ id: sink.id, size: 64 }], 'visible after commit');
  }),

  defineCase('never lists an aborted image', async ({ store, reopen, acquire, commitImage }) => {
    const lock = await acquire();
    const sink = await store.create(lock);
    await sink.write(bytes(300));
    await sink.abort();
    await sink.abort(); // idempotent
    assert.deepEqual(await store.list(), [], 'an aborted image must not be listed');
    assert.deepEqual(await (await reopen()).list(), [], 'an aborted image must not be listed by another handle');
    await rejects(() => store.open(sink.id), ErrorCodes.NOT_FOUND, 'open() of an aborted image');
    const id = await commitImage(lock, bytes(5));
    assert.deepEqual(await store.list(), [{ id, size: 5 }], 'only the committed image is listed, never the aborted one');
    assertBytes(await readAll(store, id), bytes(5), 'the image committed after an abort');
  }),

  defineCase('assigns increasing ids and lists newest first', async ({ store, acquire, commitImage }) => {
    const lock = await acquire();
    const ids: string[] = [];
    for (let n = 1; n <= 4; n++) ids.push(await commitImage(lock, bytes(n, n)));
    for (let i = 1; i < ids.length; i++) {
      assert.ok(ids[i - 1]! < ids[i]!, `ids must increase: ${ids[i - 1]} then ${ids[i]}`);
    }
    const expected: StoreEntry[] = ids.map((id, i) => ({ id, size: i + 1 })).reverse();
    assert.deepEqual(await store.list(), expected, 'list() must be newest first with the right sizes');
    for (const [i, id] of ids.entries()) assertBytes(await readAll(store, id), bytes(i + 1, i + 1), `image ${id}`);
  }),

  defineCase('rejects reads outside the image with CKPT_ERR_CORRUPT', async ({ store, acquire, commitImage }) => {
    const lock = await acquire();
    const id = await commitImage(lock, bytes(100));
    const src = await store.open(id);
    try {
      for (const [offset, length] of [
        [90, 11],
        [100, 1],
        [0, 101],
        [-1, 2],
        [1e12, 1],
      ] as const) {
        await rejects(() => src.read(offset, length), ErrorCodes.CORRUPT, `read(${offset}, ${length}) of a 100-byte image`);
      }
      assertBytes(await src.read(50, 50), bytes(100).subarray(50), 'a valid read after failed ones');
    } finally {
      await src.close();
    }
  }),

  defineCase('readInto (when the source has it) reads exactly what read() does, and checks like read()', async ({ store, acquire, commitImage }) => {
    const lock = await acquire();
    const data = bytes(5000, 3);
    const id = await commitImage(lock, data);
    const src = await store.open(id);
    try {
      if (src.readInto === undefined) return; // optional
      const into = new Uint8Array(6000).fill(0xee);
      await src.readInto(100, into.subarray(10, 1010));
      assertBytes(into.subarray(10, 1010), data.subarray(100, 1100), 'readInto(100, 1000 bytes)');
      assert.equal(into[9], 0xee, 'readInto must not write before its target');
      assert.equal(into[1010], 0xee, 'readInto must not write past its target');
      await src.readInto(0, into.subarray(0, 5000));
      assertBytes(into.subarray(0, 5000), data, 'readInto of the whole image');
      await src.readInto(5000, into.subarray(0, 0));
      for (const [offset, length] of [
        [4990, 11],
        [5000, 1],
        [-1, 2],
      ] as const) {
        await rejects(() => src.readInto!(offset, new Uint8Array(length)), ErrorCodes.CORRUPT, `readInto(${offset}, ${length} bytes) of a 5000-byte image`);
      }
    } finally {
      await src.close();
    }
    await rejects(() => src.readInto!(0, new Uint8Array(1)), ErrorCodes.CLOSED, 'readInto() after close()');
  }),

  defineCase('fails with CKPT_ERR_NOT_FOUND when opening an unknown id', async ({ store, acquire, commitImage }) => {
    const lock = await acquire();
    const id = await commitImage(lock, bytes(10));
    await store.delete(lock, id);
    await rejects(() => store.open(id), ErrorCodes.NOT_FOUND, 'open() of an id that does not exist');
  }),

  defineCase('deletes one image and keeps the others', async ({ store, reopen, acquire, commitImage }) => {
    const lock = await acquire();
    const a = await commitImage(lock, bytes(11, 1));
    const b = await commitImage(lock, bytes(12, 2));
    const c = await commitImage(lock, bytes(13, 3));
    await store.delete(lock, b);
    const expected = [
      { id: c, size: 13 },
      { id: a, size: 11 },
    ];
    assert.deepEqual(await store.list(), expected, 'list() after delete');
    assert.deepEqual(await (await reopen()).list(), expected, 'list() of another handle after delete');
    await rejects(() => store.open(b), ErrorCodes.NOT_FOUND, 'open() of a deleted image');
    await rejects(() => store.delete(lock, b), ErrorCodes.NOT_FOUND, 'delete() of a deleted image');
    assertBytes(await readAll(store, a), bytes(11, 1), 'remaining image a');
    assertBytes(await readAll(store, c), bytes(13, 3), 'remaining image c');
  }),

  defineCase('requires the writer lock for create, delete and cleanup', async ({ store, acquire, commitImage }) => {
    const lock = await acquire();
    const id = await commitImage(lock, bytes(20));
    await lock.release();
    await lock.release(); // idempotent
    await rejects(() => lock.assertHeld(), ErrorCodes.LOCKED, 'assertHeld() after release');
    await rejects(() => store.create(lock), ErrorCodes.LOCKED, 'create() with a released lock');
    await rejects(() => store.delete(lock, id), ErrorCodes.LOCKED, 'delete() with a released lock');
    await rejects(() => store.cleanup(lock), ErrorCodes.LOCKED, 'cleanup() with a released lock');
    const fake: WriterLock = { assertHeld: () => Promise.resolve(), release: () => Promise.resolve() };
    const either = [ErrorCodes.LOCKED, ErrorCodes.INVALID_ARGUMENT];
    await rejects(() => store.create(fake), either, 'create() with an object that is not this store’s lock');
    await rejects(() => store.delete(fake, id), either, 'delete() with an object that is not this store’s lock');
    await rejects(() => store.cleanup(fake), either, 'cleanup() with an object that is not this store’s lock');
    assert.deepEqual(await store.list(), [{ id, size: 20 }], 'the image survives refused deletes');
  }),

  defineCase('allows one writer at a time', async ({ store, reopen, acquire }) => {
    const other = await reopen();
    const first = await acquire(store);
    await rejects(() => acquire(other), ErrorCodes.LOCKED, 'acquireWriter() on another handle while the lock is held');
    await rejects(() => acquire(store), ErrorCodes.LOCKED, 'a second acquireWriter() on the same handle');
    await first.assertHeld();
    await first.release();
    const second = await acquire(other);
    await second.assertHeld();
    await rejects(() => acquire(store), ErrorCodes.LOCKED, 'acquireWriter() while the other handle holds the lock');
    await second.release();
  }),

  defineCase('waits up to waitMs for the writer lock', async ({ store, reopen, acquire, commitImage }) => {
    const other = await reopen();
    const first = await acquire(store);
    const started = Date.now();
    const timer = setTimeout(() => void first.release(), 200);
    let second: WriterLock;
    try {
      second = await acquire(other, 10_000);
    } finally {
      clearTimeout(timer);
    }
    const waited = Date.now() - started;
    assert.ok(waited >= 150, `acquireWriter({ waitMs }) returned after ${waited} ms, before the holder released at 200 ms`);
    assert.ok(waited < 5_000, `acquireWriter({ waitMs }) took ${waited} ms after the holder released at 200 ms`);
    const id = await commitImage(second, bytes(3));
    assert.equal((await store.list())[0]?.id, id, 'the waiting writer can commit');
    const t0 = Date.now();
    await rejects(() => acquire(store, 150), ErrorCodes.LOCKED, 'acquireWriter({ waitMs: 150 }) while the lock stays held');
    const gaveUp = Date.now() - t0;
    assert.ok(gaveUp >= 100, `acquireWriter({ waitMs: 150 }) gave up after ${gaveUp} ms`);
  }),

  defineCase('shows committed images to a reopened handle', async ({ store, reopen, acquire, commitImage }) => {
    const lock = await acquire();
    const a = await commitImage(lock, bytes(4096, 9));
    await lock.release();
    const other = await reopen();
    assert.deepEqual(await other.list(), [{ id: a, size: 4096 }], 'list() of a reopened handle');
    assertBytes(await readAll(other, a), bytes(4096, 9), 'image read through a reopened handle');
    const otherLock = await acquire(other);
    const sink = await other.create(otherLock);
    await sink.write(bytes(8, 8));
    await sink.commit();
    assert.ok(sink.id > a, `an image committed through the other handle gets a greater id (${sink.id} after ${a})`);
    assert.deepEqual(
      (await store.list()).map((e) => e.id),
      [sink.id, a],
      'the first handle sees the image committed by the other',
    );
  }),

  defineCase('rejects use of a sink after commit or abort with CKPT_ERR_CLOSED', async ({ store, acquire }) => {
    const lock = await acquire();
    const committed = await store.create(lock);
    await committed.write(bytes(10));
    await committed.commit();
    await rejects(() => committed.write(bytes(1)), ErrorCodes.CLOSED, 'write() after commit()');
    await rejects(() => committed.commit(), ErrorCodes.CLOSED, 'a second commit()');
    await committed.abort(); // no effect on a committed image
    assert.deepEqual(await store.list(), [{ id: committed.id, size: 10 }], 'abort() after commit() keeps the image');
    const aborted = await store.create(lock);
    await aborted.write(bytes(10));
    await aborted.abort();
    await rejects(() => aborted.write(bytes(1)), ErrorCodes.CLOSED, 'write() after abort()');
    await rejects(() => aborted.commit(), ErrorCodes.CLOSED, 'commit() after abort()');
  }),

  defineCase('refuses to commit after the lock was released', async ({ store, acquire, commitImage }) => {
    const lock = await acquire();
    const sink = await store.create(lock);
    await sink.write(bytes(50));
    await lock.release();
    await rejects(() => sink.commit(), ErrorCodes.LOCKED, 'commit() after the writer lock was released');
    await sink.abort();
    assert.deepEqual(await store.list(), [], 'an image whose commit was refused must not exist');
    const again = await acquire();
    const id = await commitImage(again, bytes(6));
    assert.deepEqual(await store.list(), [{ id, size: 6 }], 'a new writer commits normally afterwards');
  }),

  defineCase('gives open sinks distinct ids', async ({ store, acquire }) => {
    const lock = await acquire();
    const [a, b] = await Promise.all([store.create(lock), store.create(lock)]);
    assert.notEqual(a.id, b.id, 'two sinks open at once must get different ids');
    await b.write(bytes(2, 2));
    await b.commit();
    await a.write(bytes(1, 1));
    await a.commit();
    const list = await store.list();
    assert.deepEqual(
      new Set(list.map((e) => e.id)),
      new Set([a.id, b.id]),
      'both images are listed whatever order they committed in',
    );
    assertBytes(await readAll(store, a.id), bytes(1, 1), 'first sink');
    assertBytes(await readAll(store, b.id), bytes(2, 2), 'second sink');
  }),

  defineCase('cleanup keeps committed images and the holder’s open sinks', async ({ store, acquire, commitImage }) => {
    const lock = await acquire();
    const id = await commitImage(lock, bytes(30));
    const open: ImageSink = await store.create(lock);
    await open.write(bytes(40, 4));
    const removed = await store.cleanup(lock);
    assert.ok(Array.isArray(removed), 'cleanup() returns an array of what it removed');
    await open.write(bytes(2, 5));
    await open.commit();
    const list = await store.list();
    assert.deepEqual(list, [
      { id: open.id, size: 42 },
      { id, size: 30 },
    ]);
  }),

  defineCase('keeps stored bytes independent of caller buffers', async ({ store, acquire }) => {
    const lock = await acquire();
    const chunk = bytes(256, 3);
    const original = chunk.slice();
    const sink = await store.create(lock);
    await sink.write(chunk);
    chunk.fill(0xff); // the sink may not keep a reference after write() resolved
    await sink.commit();
    const src = await store.open(sink.id);
    try {
      const first = await src.read(0, 256);
      assertBytes(first, original, 'image after the writer reused its buffer');
      first.fill(0);
      assertBytes(await src.read(0, 256), original, 'image after a reader changed a returned buffer');
    } finally {
      await src.close();
    }
  }),

  defineCase('round-trips a 20 MiB image written in odd-size chunks', async ({ store, acquire }) => {
    const lock = await acquire();
    const data = bytes(20 * MiB, 42);
    const sizes = [1, 7, 13, 4093, 65_537, 3, 1_048_573, 999_983, 2 * MiB + 11, 131_071];
    const sink = await store.create(lock);
    let at = 0;
    for (let i = 0; at < data.length; i++) {
      const n = Math.min(sizes[i % sizes.length]!, data.length - at);
      await sink.write(data.subarray(at, at + n));
      at += n;
    }
    await sink.commit();
    assert.deepEqual(await store.list(), [{ id: sink.id, size: data.length }]);
    const src = await store.open(sink.id);
    try {
      const step = MiB + 7;
      for (let off = 0; off < data.length; off += step) {
        const n = Math.min(step, data.length - off);
        assertBytes(await src.read(off, n), data.subarray(off, off + n), `bytes ${off}..${off + n}`);
      }
      assertBytes(await src.read(0, data.length), data, 'the whole 20 MiB image in one read');
    } finally {
      await src.close();
    }
  }),

  defineCase('serves concurrent reads of one source', async ({ store, acquire, commitImage }) => {
    const lock = await acquire();
    const data = bytes(256 * 1024, 11);
    const id = await commitImage(lock, data);
    const src = await store.open(id);
    try {
      const ranges = Array.from({ length: 64 }, (_, i) => {
        const offset = (i * 40_961) % (data.length - 5000);
        return [offset, 1 + ((i * 997) % 5000)] as const;
      });
      const results = await Promise.all(ranges.map(([o, n]) => src.read(o, n)));
      for (const [i, [o, n]] of ranges.entries()) {
        assertBytes(results[i]!, data.subarray(o, o + n), `concurrent read ${i} (${n} bytes at ${o})`);
      }
    } finally {
      await src.close();
    }
  }),

  defineCase('never lists nothing while an image exists, while another handle commits and prunes (keep the newest only)', async ({ store, reopen, acquire, commitImage }) => {
    const writer = await reopen();
    const lock = await acquire(writer);
    let previous = await commitImage(lock, bytes(32, 1));
    let done = false;
    let empty = 0;
    let lists = 0;
    // The reader lists as fast as it can while the writer commits a new image
    // and deletes the previous one, 100 times: there is always one committed image.
    const reader = (async () => {
      while (!done) {
        lists++;
        if ((await store.list()).length === 0) empty++;
      }
    })();
    try {
      for (let i = 0; i < 100; i++) {
        const next = await commitImage(lock, bytes(32, i));
        await writer.delete(lock, previous);
        previous = next;
      }
    } finally {
      done = true;
      await reader;
    }
    assert.ok(lists > 0, 'the reader listed at least once');
    assert.equal(empty, 0, `${store.description}: list() came back empty ${empty} of ${lists} times while an image existed`);
  }),
]);

/**
 * Register every conformance case with a test runner.
 *
 * @example
 * import { describe, it } from 'vitest';
 * runStoreConformance(async () => {
 *   const dir = await mkdtemp(join(tmpdir(), 'ckpt-'));
 *   return { store: new FsStore(dir), reopen: async () => new FsStore(dir), dispose: () => rm(dir, { recursive: true, force: true }) };
 * }, { describe, it });
 *
 * @param factory - makes a fresh, empty store per case
 * @param runner - the runner's `describe` and `it`
 * @param options - suite name, cases to skip
 */
export function runStoreConformance(factory: StoreFactory, runner: ConformanceRunner, options: RunStoreConformanceOptions = {}): void {
  const { describe, it } = runner;
  const skip = new Set(options.skip ?? []);
  describe(options.name ?? 'Store conformance', () => {
    for (const c of storeConformanceCases) {
      if (!skip.has(c.name)) it(c.name, () => c.run(factory));
    }
    const reading = readFactoryOf(factory);
    for (const c of readStoreConformanceCases) {
      if (!skip.has(c.name)) it(`read contract: ${c.name}`, () => c.run(reading));
    }
  });
}

/** The read cases on a full store: the images are committed through its write side, then read through a second handle. */
function readFactoryOf(factory: StoreFactory): ReadStoreFactory {
  return async (images) => {
    const harness = await factory();
    try {
      const lock = await harness.store.acquireWriter();
      const ids: string[] = [];
      try {
        for (const image of images) {
          const sink = await harness.store.create(lock);
          await sink.write(image);
          await sink.commit();
          ids.push(sink.id);
        }
      } finally {
        await lock.release();
      }
      return { store: await harness.reopen(), ids, dispose: () => harness.dispose() };
    } catch (err) {
      await harness.dispose().catch(() => undefined);
      throw err;
    }
  };
}
