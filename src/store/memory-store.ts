/**
 * @module store/memory-store
 *
 * {@link MemoryStore}: a store that keeps images in memory, for tests. It
 * follows every rule of the `Store` contract exactly as {@link FsStore} does —
 * same ids, newest first, nothing visible before commit, one writer at a time
 * — so code tested against it behaves the same on disk. Bytes are copied on
 * write and on read: neither the writer's buffers nor a reader's results can
 * change a stored image.
 *
 * Several handles can share one storage ({@link MemoryStore.reopen}), which is
 * how tests play "another process": the handles see the same images and
 * compete for the same writer lock.
 */

import { asError, CkptError, ErrorCodes } from '../errors.js';
import type { AcquireOptions, ImageSink, ImageSource, Store, StoreEntry, WriterLock } from './store.js';
import { nextImageId, parseImageId } from './image-ids.js';
import { readRangeError } from './read-range.js';

/** Longest single timer Node accepts (setTimeout clamps larger values to 1 ms). */
const MAX_TIMER_MS = 2 ** 31 - 1;

/** The storage behind one or more MemoryStore handles. */
class MemoryBacking {
  /** Committed images by id. */
  readonly images = new Map<string, Uint8Array>();
  /** Ids given to sinks that have not settled yet. */
  readonly reserved = new Set<number>();
  /** The lock currently holding the writer role, if any. */
  holder: MemoryWriterLock | undefined;
  /** Callbacks of acquireWriter calls waiting for a release. */
  readonly waiters = new Set<() => void>();

  /** @param description - what MemoryStore handles on this storage call themselves */
  constructor(readonly description: string) {}

  /** Wake every waiter; they retry and one of them wins. */
  wake(): void {
    for (const w of [...this.waiters]) w();
  }
}

/** The writer lock of a MemoryStore storage. */
class MemoryWriterLock implements WriterLock {
  #released = false;

  constructor(readonly backing: MemoryBacking) {}

  assertHeld(): Promise<void> {
    if (this.#released || this.backing.holder !== this) {
      return Promise.reject(
        new CkptError(
          ErrorCodes.LOCKED,
          `The writer lock of ${this.backing.description} is not held (it was released); acquire it again.`,
        ),
      );
    }
    return Promise.resolve();
  }

  release(): Promise<void> {
    if (!this.#released) {
      this.#released = true;
      if (this.backing.holder === this) {
        this.backing.holder = undefined;
        this.backing.wake();
      }
    }
    return Promise.resolve();
  }
}

/** Reader over a committed in-memory image. */
class MemoryImageSource implements ImageSource {
  #closed = false;

  constructor(
    readonly id: string,
    private readonly bytes: Uint8Array,
  ) {}

  get size(): number {
    return this.bytes.byteLength;
  }

  read(offset: number, length: number): Promise<Uint8Array> {
    const err = readRangeError(this.id, this.size, this.#closed, offset, length);
    if (err !== undefined) return Promise.reject(err);
    return Promise.resolve(this.bytes.slice(offset, offset + length));
  }

  close(): Promise<void> {
    this.#closed = true;
    return Promise.resolve();
  }
}

/** Writer of one in-memory image. */
class MemoryImageSink implements ImageSink {
  #state: 'open' | 'committed' | 'aborted' | 'failed' = 'open';
  readonly #chunks: Uint8Array[] = [];

  constructor(
    readonly id: string,
    private readonly seq: number,
    private readonly backing: MemoryBacking,
    private readonly lock: MemoryWriterLock,
  ) {}

  write(chunk: Uint8Array): Promise<void> {
    if (this.#state !== 'open') return Promise.reject(this.#closedError('write to'));
    if (!(chunk instanceof Uint8Array)) {
      return Promise.reject(new CkptError(ErrorCodes.INVALID_ARGUMENT, `ImageSink.write() takes a Uint8Array.`));
    }
    this.#chunks.push(chunk.slice()); // copy: the caller may reuse its buffer
    return Promise.resolve();
  }

  async commit(): Promise<void> {
    if (this.#state !== 'open') throw this.#closedError('commit');
    try {
      await this.lock.assertHeld();
      if (this.backing.images.has(this.id)) {
        throw new CkptError(ErrorCodes.STORE_IO, `Cannot commit image ${this.id}: it already exists and images are never replaced.`, {
          image: this.id,
        });
      }
    } catch (err) {
      this.#state = 'failed';
      this.#settle();
      throw err;
    }
    const total = this.#chunks.reduce((n, c) => n + c.byteLength, 0);
    const bytes = new Uint8Array(total);
    let at = 0;
    for (const c of this.#chunks) {
      bytes.set(c, at);
      at += c.byteLength;
    }
    this.#chunks.length = 0;
    this.backing.images.set(this.id, bytes);
    this.#state = 'committed';
    this.#settle();
  }

  abort(): Promise<void> {
    if (this.#state === 'open') {
      this.#state = 'aborted';
      this.#chunks.length = 0;
      this.#settle();
    }
    return Promise.resolve();
  }

  #settle(): void {
    this.backing.reserved.delete(this.seq);
  }

  #closedError(what: string): CkptError {
    const was = this.#state === 'failed' ? 'failed to commit' : `already ${this.#state}`;
    return new CkptError(
      ErrorCodes.CLOSED,
      `Cannot ${what} image ${this.id}: it was ${was}. Start a new image with store.create(lock).`,
      { image: this.id },
    );
  }
}

/** Options for {@link MemoryStore}. */
export interface MemoryStoreOptions {
  /** A name for messages: the store's description becomes `memory:<name>` (default `memory`). Ignored with `shareWith`. */
  readonly name?: string;
  /** Share the images and the writer lock of this store instead of starting empty. */
  readonly shareWith?: MemoryStore;
}

/**
 * An in-memory store for tests, with the same semantics as FsStore. Nothing is
 * ever written to disk; everything is lost with the process.
 *
 * @example
 * const store = new MemoryStore();
 * const other = store.reopen(); // "another process" on the same storage
 */
export class MemoryStore implements Store {
  /** `memory` or `memory:<name>`. */
  readonly description: string;
  readonly #backing: MemoryBacking;

  /** @param options - a name, or a store whose storage to share */
  constructor(options: MemoryStoreOptions = {}) {
    const shared = options.shareWith;
    this.#backing =
      shared !== undefined ? shared.#backing : new MemoryBacking(options.name === undefined ? 'memory' : `memory:${options.name}`);
    this.description = this.#backing.description;
  }

  /** A second handle on the same storage: sees the same images, competes for the same lock. */
  reopen(): MemoryStore {
    return new MemoryStore({ shareWith: this });
  }

  /** Committed images, newest first. */
  list(): Promise<StoreEntry[]> {
    const entries = [...this.#backing.images].map(([id, bytes]) => ({ id, size: bytes.byteLength }));
    entries.sort((a, b) => (a.id < b.id ? 1 : a.id > b.id ? -1 : 0));
    return Promise.resolve(entries);
  }

  /** Open a committed image. */
  open(id: string): Promise<ImageSource> {
    try {
      parseImageId(id);
    } catch (err) {
      return Promise.reject(asError(err));
    }
    const bytes = this.#backing.images.get(id);
    if (bytes === undefined) {
      return Promise.reject(new CkptError(ErrorCodes.NOT_FOUND, `No image ${id} in ${this.description}.`, { image: id }));
    }
    return Promise.resolve(new MemoryImageSource(id, bytes));
  }

  /** Take the storage's writer lock, waiting up to `waitMs` for a holder to release it. */
  async acquireWriter(options: AcquireOptions = {}): Promise<WriterLock> {
    const waitMs = options.waitMs ?? 0;
    if (typeof waitMs !== 'number' || Number.isNaN(waitMs) || waitMs < 0) {
      throw new CkptError(ErrorCodes.INVALID_ARGUMENT, `Invalid waitMs ${String(waitMs)}: it must be a number ≥ 0 (ms).`);
    }
    const backing = this.#backing;
    const started = Date.now();
    const deadline = started + waitMs;
    for (;;) {
      if (backing.holder === undefined) {
        const lock = new MemoryWriterLock(backing);
        backing.holder = lock;
        return lock;
      }
      const remaining = deadline - Date.now();
      if (remaining <= 0) {
        const waited = waitMs > 0 ? ` (waited ${Date.now() - started} ms)` : '';
        throw new CkptError(
          ErrorCodes.LOCKED,
          `Store ${this.description} is locked by another writer in this process; release that lock or pass waitMs${waited}.`,
        );
      }
      await new Promise<void>((resolve) => {
        const done = (): void => {
          clearTimeout(timer);
          backing.waiters.delete(done);
          resolve();
        };
        const timer = setTimeout(done, Math.min(remaining, MAX_TIMER_MS));
        backing.waiters.add(done);
      });
    }
  }

  /** Start the next image. Requires the writer lock. */
  async create(lock: WriterLock): Promise<ImageSink> {
    const held = await this.#checkLock(lock, 'create');
    const taken = [...this.#backing.reserved];
    for (const id of this.#backing.images.keys()) taken.push(parseImageId(id));
    const id = nextImageId(taken);
    const seq = parseImageId(id);
    this.#backing.reserved.add(seq);
    return new MemoryImageSink(id, seq, this.#backing, held);
  }

  /** Delete a committed image. Requires the writer lock. */
  async delete(lock: WriterLock, id: string): Promise<void> {
    parseImageId(id);
    await this.#checkLock(lock, 'delete');
    if (!this.#backing.images.delete(id)) {
      throw new CkptError(ErrorCodes.NOT_FOUND, `No image ${id} in ${this.description}.`, { image: id });
    }
  }

  /** Nothing is ever left over in memory; checks the lock and returns `[]`. */
  async cleanup(lock: WriterLock): Promise<string[]> {
    await this.#checkLock(lock, 'cleanup');
    return [];
  }

  async #checkLock(lock: WriterLock, what: string): Promise<MemoryWriterLock> {
    if (!(lock instanceof MemoryWriterLock) || lock.backing !== this.#backing) {
      throw new CkptError(
        ErrorCodes.INVALID_ARGUMENT,
        `${what}() needs the writer lock of ${this.description}, as returned by its acquireWriter().`,
      );
    }
    await lock.assertHeld();
    return lock;
  }
}
