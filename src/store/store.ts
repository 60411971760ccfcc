/**
 * @module store/store
 *
 * The `Store` contract: where images live. Every store follows one commit
 * rule: an image is written under a temporary name, made durable, and only
 * then becomes visible under its id (atomically). Half-written images are never
 * listed or opened. One writer per store at a time, enforced by a writer lock;
 * listing and reading never need the lock. `ckpt/testing` exports a
 * conformance suite that every store (including third-party ones) must pass.
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

/** Options for {@link Store.acquireWriter}. */
export interface AcquireOptions {
  /** How long to wait for a busy lock, in ms. 0 (default) fails at once with `CKPT_ERR_LOCKED`. */
  readonly waitMs?: number;
}

/** Where images live. See the module comment for the rules every store follows. */
export interface Store {
  /** Human-readable location for messages (`fs:/var/ckpt`, `memory`). */
  readonly description: string;
  /** Committed images, newest first. Never lists temporary or half-written images. */
  list(): Promise<StoreEntry[]>;
  /** Open a committed image for reading. Unknown id: `CKPT_ERR_NOT_FOUND`. */
  open(id: string): Promise<ImageSource>;
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
