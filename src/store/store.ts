/**
 * @module store/store
 *
 * The store contracts: where images live. Two roles, two contracts:
 * {@link ReadStore} (list and open committed images; all that restore
 * planning and the read-only CLI commands need) and {@link WriteStore} (the
 * writer lock, new images, deletion, cleanup). A {@link Store} is both, and is
 * what a Checkpointer writes to; a read-only store (an archive, a bucket seen
 * with read-only credentials, one image file) implements {@link ReadStore}
 * alone. Every writable store follows one commit rule: an image is written
 * under a temporary name, made durable, and only then becomes visible under
 * its id (atomically). Half-written images are never listed or opened. One
 * writer per store at a time, enforced by a writer lock; listing and reading
 * never need the lock. `ckpt/testing` exports conformance suites for both
 * contracts. See `docs/stores.md`.
 */

/** A committed image as the store sees it: an id and a size. */
export interface StoreEntry {
  /** Image id, assigned by the store. Ids sort: a greater id is a newer image. */
  readonly id: string;
  /** Size of the image in bytes. */
  readonly size: number;
}

/** Random-access reader over one committed image. */
export interface ImageSource {
  /** The image id. */
  readonly id: string;
  /** Total size in bytes. */
  readonly size: number;
  /**
   * Read exactly `length` bytes at `offset`. Reading outside `[0, size)` fails
   * with `CKPT_ERR_CORRUPT`; an I/O failure with `CKPT_ERR_STORE_IO`.
   */
  read(offset: number, length: number): Promise<Uint8Array>;
  /**
   * Optional: read exactly `into.length` bytes at `offset` into `into`, with
   * the same checks and errors as {@link ImageSource.read}. Readers use it
   * when present to read segments straight into memory they reuse — a fresh
   * buffer per segment costs a page fault per 4 KiB, which on some machines
   * is slower than the read itself.
   */
  readInto?(offset: number, into: Uint8Array): Promise<void>;
  /** Release the underlying handle. Idempotent. */
  close(): Promise<void>;
}

/** Writer for one new image. Nothing is visible until {@link ImageSink.commit} resolves. */
export interface ImageSink {
  /** The id the image will have once committed. */
  readonly id: string;
  /** Append bytes. The sink may keep a reference until the returned promise settles. */
  write(chunk: Uint8Array): Promise<void>;
  /**
   * Make the image durable and visible atomically (file store: fsync, rename,
   * fsync directory). If this rejects, the image does not exist.
   */
  commit(): Promise<void>;
  /** Discard the partial image. Idempotent; never throws for an already aborted sink. */
  abort(): Promise<void>;
}

/** The store's single-writer lock, held by one Checkpointer at a time. */
export interface WriterLock {
  /** Fails with `CKPT_ERR_LOCKED` if the lock was lost (stolen, removed). */
  assertHeld(): Promise<void>;
  /** Release the lock. Idempotent. */
  release(): Promise<void>;
}

/** Options for {@link WriteStore.acquireWriter}. */
export interface AcquireOptions {
  /** How long to wait for a busy lock, in ms. 0 (default) fails at once with `CKPT_ERR_LOCKED`. */
  readonly waitMs?: number;
}

/**
 * The read side of a store: list and open committed images. Needs no lock,
 * never changes the storage. Implement this alone for a read-only store (it
 * can then be inspected by the `ckpt` CLI and planned against, but not
 * written to); `runReadStoreConformance` from `ckpt/testing` checks it.
 *
 * Rules: only committed images are listed (never temporary or half-written
 * ones); ids sort as strings, a greater id being a newer image; an image that
 * vanished between `list()` and `open()` is `CKPT_ERR_NOT_FOUND`; every I/O
 * failure is `CKPT_ERR_STORE_IO`. See `docs/stores.md`.
 */
export interface ReadStore {
  /** Human-readable location for messages (`fs:/var/ckpt`, `memory`). */
  readonly description: string;
  /** Committed images, newest first. Never lists temporary or half-written images. */
  list(): Promise<StoreEntry[]>;
  /** Open a committed image for reading. Unknown id: `CKPT_ERR_NOT_FOUND`. */
  open(id: string): Promise<ImageSource>;
}

/**
 * The write side of a store: the single-writer lock, new images, deletion
 * and cleanup. Every method but `acquireWriter` needs the lock it returned.
 *
 * The commit rule: an image is written under a temporary name, made durable,
 * and only then becomes visible under its id, atomically; a commit that
 * rejects leaves no image. Ids are assigned by the store, each greater than
 * every id it holds. A crashed writer's lock is recovered, its temporary
 * leftovers removed by `cleanup()`. See `docs/stores.md`.
 */
export interface WriteStore {
  /** Human-readable location for messages (`fs:/var/ckpt`, `memory`). */
  readonly description: string;
  /**
   * Take the writer lock. A lock held by a live process fails with
   * `CKPT_ERR_LOCKED` (after `waitMs`); a stale lock (its process is gone) is recovered.
   */
  acquireWriter(options?: AcquireOptions): Promise<WriterLock>;
  /** Start a new image with the next id. Requires the writer lock. */
  create(lock: WriterLock): Promise<ImageSink>;
  /** Delete a committed image. Requires the writer lock. Unknown id: `CKPT_ERR_NOT_FOUND`. */
  delete(lock: WriterLock, id: string): Promise<void>;
  /** Remove temporary leftovers of crashed writers. Requires the writer lock. Returns what was removed. */
  cleanup(lock: WriterLock): Promise<string[]>;
}

/**
 * Where images live, read and written: both {@link ReadStore} and
 * {@link WriteStore}. This is what a Checkpointer takes (`FsStore`,
 * `MemoryStore`, or your own; `runStoreConformance` from `ckpt/testing`
 * checks it). The rules every store follows are on the two contracts and in
 * `docs/stores.md`.
 */
export interface Store extends ReadStore, WriteStore {
  /** Human-readable location for messages (`fs:/var/ckpt`, `memory`). */
  readonly description: string;
}
