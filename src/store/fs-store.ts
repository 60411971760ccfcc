/**
 * @module store/fs-store
 *
 * {@link FsStore}: the default store, one directory of image files.
 *
 * Layout of the directory:
 * - `<id>.ckpt` — a committed image (`000000000007.ckpt`); the only files `list()` shows;
 * - `.tmp-<id>-<pid>-<rand>.partial` — an image being written (or left by a crashed writer);
 * - `.ckpt-lock` — the writer lock (see `store/fs-lock`), and `.ckpt-lock.stale-*`
 *   leftovers of stale-lock recovery.
 *
 * The commit rule, by hand because fs-extra never fsyncs: write the temp file
 * sequentially (flushing it to disk in the background every
 * {@link FLUSH_EVERY_BYTES} written, so the final fsync has little left to
 * do), fsync it, close it, check the lock is still ours, rename it to
 * `<id>.ckpt` (refusing to replace an existing image), fsync the directory so
 * the rename itself survives a power loss. A crash at any point before the
 * rename leaves only a temp file, which `list()` ignores and `cleanup()`
 * removes; after the directory fsync the image is durable. If any step fails
 * the image is removed again, so "commit rejected" always means "no image".
 *
 * Every filesystem call goes through an injectable {@link FsOps}, so tests can
 * fail each step with ENOSPC, EIO, EACCES or short writes.
 */

import { randomBytes } from 'node:crypto';
import { basename, dirname, join, resolve } from 'node:path';
import { asError, CkptError, ErrorCodes } from '../errors.js';
import type { AcquireOptions, ImageSink, ImageSource, Store, StoreEntry, WriterLock } from './store.js';

export { openImageFileSource } from './fs-image-source.js';
import { errnoCode, nodeFsOps, statOpenFile, storeIoError } from './fs-ops.js';
import type { FsFile, FsOps } from './fs-ops.js';
import { DEFAULT_FILE_MODE, FsWriterLock, STALE_LOCK_PREFIX } from './fs-lock.js';
import { formatImageId, isImageId, nextImageId, parseImageId } from './image-ids.js';
import { NO_FS_STORE_HOOKS, type FsStoreHooks } from './fs-hooks.js';
import { FsImageSource } from './fs-image-source.js';
import { statSync } from 'node:fs';
import { MAGIC } from '../image/constants.js';
import { WarningCodes, type CkptWarning } from '../events.js';

/** Options for {@link FsStore}. */
export interface FsStoreOptions {
  /** Filesystem layer (default {@link nodeFsOps}, the real filesystem); tests inject faults through it. */
  readonly fs?: FsOps;
  /**
   * Observers of the durable path's steps (default: none). For tests that
   * must act at an exact moment of a commit; `faultPointHooks()` from
   * `ckpt/testing` kills the process at a chosen step.
   */
  readonly hooks?: FsStoreHooks;
  /**
   * Create the directory (and parents) when a writer first needs it, and treat
   * a missing directory as an empty store when listing. Default true. When
   * false, a missing directory is `CKPT_ERR_NOT_FOUND`.
   */
  readonly createDir?: boolean;
  /**
   * Called for directory entries that are named like an image but are not
   * one (a symlink loop, an unreadable entry, a file without the image
   * magic): they are skipped, never fatal. Default: `process.emitWarning`
   * with the code `CKPT_WARN_FOREIGN_ENTRY`. A Checkpointer routes these to
   * its `warning` event.
   */
  readonly onWarning?: (warning: CkptWarning) => void;
  /**
   * Permission bits of images and of the lock file. Default `0o600` (owner
   * only: images hold application state). Applied exactly, whatever the
   * umask; e.g. `0o640` lets the owner's group read images.
   */
  readonly mode?: number;
  /**
   * Permission bits of the store directory when FsStore creates it. Default
   * `0o700`. An existing directory is left as it is.
   */
  readonly dirMode?: number;
}

/** How often list() reads the directory again when every listed image vanished under it. */
const MAX_LIST_RETRIES = 100;

/** Default permission bits of a store directory FsStore creates: owner only. */
export const DEFAULT_DIR_MODE = 0o700;

/** A permission option: an integer in [0, 0o777], or the default when absent. */
function checkMode(name: string, value: number | undefined, fallback: number): number {
  if (value === undefined) return fallback;
  if (typeof value !== 'number' || !Number.isInteger(value) || value < 0 || value > 0o777) {
    throw new CkptError(
      ErrorCodes.INVALID_ARGUMENT,
      `FsStore ${name} must be permission bits from 0 to 0o777 (e.g. 0o600); got ${String(value)}.`,
    );
  }
  return value;
}

/**
 * Errors that mean "this entry is not an image ckpt can use" rather than "the
 * disk failed": a symlink loop, a path through a non-directory, no permission
 * (a link into a private directory), a name too long. Anything else (EIO…)
 * fails the operation: an unreadable disk must never look like a missing image.
 */
function isForeignEntryError(err: unknown): boolean {
  const code = errnoCode(err);
  return code === 'ELOOP' || code === 'ENOTDIR' || code === 'EACCES' || code === 'EPERM' || code === 'ENAMETOOLONG' || code === 'ENOENT';
}

/** The default {@link FsStoreOptions.onWarning}: a process warning with the warning's code. */
function defaultWarning(warning: CkptWarning): void {
  process.emitWarning(warning.message, { code: warning.code });
}

/** `<id>.ckpt`: a committed image. */
const IMAGE_FILE_RE = /^(\d{12})\.ckpt$/;
const TEMP_PREFIX = '.tmp-';
const TEMP_SUFFIX = '.partial';

/** File name of the committed image `id` (`000000000001` → `000000000001.ckpt`). */
export function imageFileName(id: string): string {
  return `${id}.ckpt`;
}

/** True for the name of an in-progress (or abandoned) image file, `.tmp-*.partial`. */
export function isTempFileName(name: string): boolean {
  return name.startsWith(TEMP_PREFIX) && name.endsWith(TEMP_SUFFIX);
}

/** The image id in a committed image's file name, or undefined for any other name. */
function idOfFileName(name: string): string | undefined {
  const id = IMAGE_FILE_RE.exec(name)?.[1];
  return id !== undefined && isImageId(id) ? id : undefined;
}


type SinkState = 'open' | 'committing' | 'committed' | 'aborted' | 'failed';

/** What a sink tells the store that created it. */
interface SinkOwner {
  /** The sink committed, aborted or failed: its id and temp file are free again. */
  settled(lock: FsWriterLock, seq: number, tempPath: string): void;
  /** A commit failed after its rename and the image file could not be removed: `cleanup()` must remove it. */
  failedCommit(path: string): void;
}

/**
 * A sink starts an fsync of its temp file in the background each time this
 * many bytes were written since the last one began. Why: the page cache
 * otherwise holds the whole image until the commit's fsync, which then
 * waits for all of it at once, after everything else is done; flushed as
 * it goes, the disk works while later segments are still compressed. At
 * most one such fsync runs at a time, and a failed one fails the image
 * (after a failed fsync Linux may report the next one as a success).
 */
export const FLUSH_EVERY_BYTES = 16 * 1024 * 1024;

/** Writer of one temp file, committed by rename. */
class FsImageSink implements ImageSink {
  #state: SinkState = 'open';
  #position = 0;
  /** Writes run one after another even if the caller does not await each. */
  #chain: Promise<void> = Promise.resolve();
  #failure: CkptError | undefined;
  #fileOpen = true;
  #commit: Promise<void> | undefined;
  /** The background fsync running (it never rejects), or undefined. */
  #flush: Promise<void> | undefined;
  /** Bytes written since the last background fsync began. */
  #unflushed = 0;

  constructor(
    readonly id: string,
    private readonly seq: number,
    private readonly dir: string,
    private readonly tempPath: string,
    private readonly file: FsFile,
    private readonly fs: FsOps,
    private readonly lock: FsWriterLock,
    private readonly hooks: FsStoreHooks,
    private readonly owner: SinkOwner,
  ) {}

  write(chunk: Uint8Array): Promise<void> {
    if (this.#state !== 'open') return Promise.reject(this.#closedError('write to'));
    if (!(chunk instanceof Uint8Array)) {
      return Promise.reject(new CkptError(ErrorCodes.INVALID_ARGUMENT, `ImageSink.write() takes a Uint8Array.`));
    }
    const done = this.#chain.then(() => this.#writeAll(chunk));
    this.#chain = done.catch(() => undefined);
    return done;
  }

  async #writeAll(chunk: Uint8Array): Promise<void> {
    if (this.#failure !== undefined) throw this.#failure;
    let done = 0;
    // write() may write fewer bytes than asked (signals, quotas, some network
    // filesystems): loop at explicit positions until the chunk is all out.
    while (done < chunk.byteLength) {
      let n: number;
      try {
        n = await this.fs.write(this.file, chunk, done, chunk.byteLength - done, this.#position);
        if (n <= 0) throw new Error(`write returned ${n}: no progress`);
      } catch (err) {
        this.#failure = storeIoError(`writing image ${this.id}`, this.tempPath, err, this.id);
        throw this.#failure;
      }
      done += n;
      this.#position += n;
      this.#unflushed += n;
      this.hooks.reached('segment-write');
    }
    if (this.#unflushed >= FLUSH_EVERY_BYTES && this.#flush === undefined) this.#startFlush();
  }

  /** Start an fsync of what was written so far, in the background (see {@link FLUSH_EVERY_BYTES}). */
  #startFlush(): void {
    this.#unflushed = 0;
    let started: Promise<void>;
    try {
      started = this.fs.fsync(this.file);
    } catch (err) {
      started = Promise.reject(asError(err)); // a layer that throws instead of rejecting
    }
    this.#flush = started.then(
      () => {
        this.#flush = undefined;
      },
      (err: unknown) => {
        this.#flush = undefined;
        this.#failure ??= storeIoError(`flushing image ${this.id} to disk`, this.tempPath, err, this.id);
      },
    );
  }

  /** Wait for the background fsync, if one runs (before the file is fsynced again or closed). */
  async #flushed(): Promise<void> {
    while (this.#flush !== undefined) await this.#flush;
  }

  commit(): Promise<void> {
    if (this.#state !== 'open') return Promise.reject(this.#closedError('commit'));
    this.#state = 'committing';
    this.#commit = this.#doCommit();
    return this.#commit;
  }

  async #doCommit(): Promise<void> {
    await this.#chain;
    await this.#flushed();
    const target = join(this.dir, imageFileName(this.id));
    let step = 'write';
    let path = this.tempPath;
    let renamed = false;
    try {
      if (this.#failure !== undefined) throw this.#failure;
      step = 'fsync';
      await this.fs.fsync(this.file);
      this.hooks.reached('after-fsync');
      step = 'close';
      this.#fileOpen = false;
      await this.fs.close(this.file);
      // As late as possible, so a writer that lost its lock does not publish.
      await this.lock.assertHeld();
      step = 'stat';
      path = target;
      if (await this.#exists(target)) {
        throw new CkptError(
          ErrorCodes.STORE_IO,
          `Cannot commit image ${this.id}: ${target} already exists and images are never replaced. ` +
            `Another writer used this store without holding its lock; check for a second process.`,
          { image: this.id },
        );
      }
      step = 'rename';
      path = `${this.tempPath} → ${target}`;
      this.hooks.reached('before-rename');
      await this.fs.rename(this.tempPath, target);
      renamed = true;
      this.hooks.reached('after-rename');
      step = 'directory fsync';
      path = this.dir;
      await this.fs.fsyncDir(this.dir);
      this.#state = 'committed';
      this.hooks.reached('after-dir-fsync');
    } catch (err) {
      this.#state = 'failed';
      await this.#flushed();
      if (this.#fileOpen) {
        this.#fileOpen = false;
        await this.fs.close(this.file).catch(() => undefined);
      }
      // "Commit rejected" must mean "no image": remove whatever we made,
      // including the renamed file when only the directory fsync failed.
      const leftover = renamed ? target : this.tempPath;
      const removed = await this.fs.unlink(leftover).then(
        () => true,
        (e: unknown) => errnoCode(e) === 'ENOENT',
      );
      const error = storeIoError(`committing image ${this.id}: ${step}`, path, err, this.id);
      if (!removed && renamed) {
        this.owner.failedCommit(target);
        throw new CkptError(
          ErrorCodes.STORE_IO,
          `${error.message} The image file could not be removed again, so image ${this.id} may or may not ` +
            `survive a crash; do not rely on it (the next cleanup() of this store removes it).`,
          { cause: err, image: this.id },
        );
      }
      throw error;
    } finally {
      this.#settle();
    }
  }

  async #exists(path: string): Promise<boolean> {
    try {
      await this.fs.stat(path);
      return true;
    } catch (err) {
      if (errnoCode(err) === 'ENOENT') return false;
      throw err;
    }
  }

  async abort(): Promise<void> {
    if (this.#state === 'committing') {
      await this.#commit?.catch(() => undefined);
      return;
    }
    if (this.#state !== 'open') return;
    this.#state = 'aborted';
    await this.#chain;
    await this.#flushed();
    if (this.#fileOpen) {
      this.#fileOpen = false;
      await this.fs.close(this.file).catch(() => undefined);
    }
    await this.fs.unlink(this.tempPath).catch(() => undefined);
    this.#settle();
  }

  /** Forget the reservation of this sink's id and temp file. */
  #settle(): void {
    this.owner.settled(this.lock, this.seq, this.tempPath);
  }

  #closedError(what: string): CkptError {
    const was = this.#state === 'open' ? 'open' : this.#state === 'failed' ? 'failed to commit' : `already ${this.#state}`;
    return new CkptError(
      ErrorCodes.CLOSED,
      `Cannot ${what} image ${this.id}: it was ${was}. Start a new image with store.create(lock).`,
      { image: this.id },
    );
  }
}

/**
 * The default store: a directory of image files, written with the commit rule
 * (temp file, fsync, rename, directory fsync) and guarded by a lock file with
 * stale-lock recovery.
 *
 * Layout of the directory: `<id>.ckpt` committed images
 * (`000000000007.ckpt`, the only files `list()` shows); `.tmp-<id>-<pid>-<rand>.partial`
 * an image being written, or left by a crashed writer (`cleanup()` removes
 * it); `.ckpt-lock` the writer lock, and `.ckpt-lock.stale-*` leftovers of
 * stale-lock recovery. Other files are left alone; one named like an image
 * but not one is skipped with a `CKPT_WARN_FOREIGN_ENTRY` warning. Details,
 * including what survives a crash at each step: `docs/stores.md`.
 */
export class FsStore implements Store {
  /** Absolute path of the store directory. */
  readonly dir: string;
  /** `fs:<absolute dir>`. */
  readonly description: string;
  readonly #fs: FsOps;
  readonly #createDir: boolean;
  readonly #onWarning: (warning: CkptWarning) => void;
  readonly #warned = new Set<string>();
  readonly #mode: number;
  readonly #dirMode: number;
  readonly #hooks: FsStoreHooks;
  /**
   * Per writer lock: ids handed to sinks that have not committed or aborted
   * yet (the next id must skip them, or two open sinks of one writer would
   * get the same id), and their temp files (`cleanup()` must not remove them).
   */
  readonly #open = new WeakMap<FsWriterLock, { readonly ids: Set<number>; readonly temps: Set<string> }>();
  /**
   * Image files whose commit failed after the rename (the directory fsync
   * failed) and which could not be removed again then. The commit rejected,
   * so the image must not exist: `cleanup()` removes them once the disk works.
   */
  readonly #failedCommits = new Set<string>();
  /** How sinks report back to this store. */
  readonly #sinkOwner: SinkOwner = {
    settled: (lock, seq, tempPath) => {
      const open = this.#open.get(lock);
      open?.ids.delete(seq);
      open?.temps.delete(tempPath);
    },
    failedCommit: (path) => {
      this.#failedCommits.add(path);
    },
  };

  /**
   * @param dir - the store directory (resolved against the current directory now)
   * @param options - filesystem layer and whether to create the directory
   * @throws CkptError `CKPT_ERR_INVALID_ARGUMENT` for an empty `dir`
   */
  constructor(dir: string, options: FsStoreOptions = {}) {
    if (typeof dir !== 'string' || dir === '') {
      throw new CkptError(ErrorCodes.INVALID_ARGUMENT, `FsStore needs a directory path; got ${JSON.stringify(dir)}.`);
    }
    this.dir = resolve(dir);
    this.description = `fs:${this.dir}`;
    this.#fs = options.fs ?? nodeFsOps;
    this.#createDir = options.createDir ?? true;
    this.#onWarning = options.onWarning ?? defaultWarning;
    this.#hooks = options.hooks ?? NO_FS_STORE_HOOKS;
    this.#mode = checkMode('mode', options.mode, DEFAULT_FILE_MODE);
    this.#dirMode = checkMode('dirMode', options.dirMode, DEFAULT_DIR_MODE);
    let isDir: boolean | undefined;
    try {
      isDir = statSync(this.dir).isDirectory();
    } catch {
      isDir = undefined; // missing (created later) or not inspectable now: checked again on use
    }
    if (isDir === false) {
      throw new CkptError(
        ErrorCodes.INVALID_ARGUMENT,
        `Store path ${this.dir} is a file, not a directory. Pass the path of a directory (it is created if missing).`,
      );
    }
  }

  /** Report a skipped directory entry (once per name and reason per store handle). */
  #warnForeign(name: string, why: string, cause?: unknown): void {
    const key = `${name}\0${why}`;
    if (this.#warned.has(key)) return;
    this.#warned.add(key);
    const message = `${this.description}: skipped ${name}: ${why}. It is not a ckpt image; move it out of the store directory.`;
    this.#onWarning(cause === undefined ? { code: WarningCodes.FOREIGN_ENTRY, message } : { code: WarningCodes.FOREIGN_ENTRY, message, error: asError(cause) });
  }

  /**
   * True when the file `name` starts with the image magic; false when it
   * certainly is no image (shorter than the magic, other bytes, a symlink
   * loop, a directory, gone).
   *
   * @throws CkptError `CKPT_ERR_STORE_IO` when it cannot be read (EIO…): an
   *   unreadable disk never makes a real image look foreign
   */
  async #hasMagic(name: string): Promise<boolean> {
    const path = join(this.dir, name);
    let file: FsFile;
    try {
      file = await this.#fs.open(path, 'r');
    } catch (err) {
      if (isForeignEntryError(err)) return false;
      throw storeIoError('checking the image magic', path, err);
    }
    try {
      const head = new Uint8Array(MAGIC.length);
      let done = 0;
      while (done < head.length) {
        const n = await this.#fs.read(file, head, done, head.length - done, done);
        if (n <= 0) return false;
        done += n;
      }
      return head.every((b, i) => b === MAGIC[i]);
    } catch (err) {
      if (errnoCode(err) === 'EISDIR') return false;
      throw storeIoError('checking the image magic', path, err);
    } finally {
      await this.#fs.close(file).catch(() => undefined);
    }
  }

  /**
   * Committed images, newest first. Needs no lock. Entries named like an
   * image that cannot be stat'ed (symlink loop, permission) or are not
   * regular files are skipped with a `CKPT_WARN_FOREIGN_ENTRY` warning. When
   * every listed image vanished while it was being listed (another process
   * committed a newer one and pruned the old), the directory is read again:
   * the listing never misses every committed image while one exists.
   *
   * @throws CkptError `CKPT_ERR_STORE_IO` when images kept vanishing through
   *   100 readings (never an empty listing instead)
   */
  async list(): Promise<StoreEntry[]> {
    for (let attempt = 0; ; attempt++) {
      const names = await this.#readdir();
      if (names === undefined) return [];
      let vanished = 0;
      const entries = await Promise.all(
        names.map(async (name): Promise<StoreEntry | undefined> => {
          const id = idOfFileName(name);
          if (id === undefined) return undefined;
          const path = join(this.dir, name);
          try {
            const st = await this.#fs.stat(path);
            if (st.isFile) return { id, size: st.size };
            this.#warnForeign(name, 'not a regular file');
            return undefined;
          } catch (err) {
            if (errnoCode(err) === 'ENOENT') {
              vanished++; // deleted while we listed (or a dangling symlink, which stays away)
              return undefined;
            }
            if (!isForeignEntryError(err)) throw storeIoError('stat', path, err, id);
            this.#warnForeign(name, `cannot be read (${errnoCode(err) ?? asError(err).message})`, err);
            return undefined;
          }
        }),
      );
      const found = entries.filter((e): e is StoreEntry => e !== undefined);
      if (found.length > 0 || vanished === 0) return found.sort((a, b) => (a.id < b.id ? 1 : a.id > b.id ? -1 : 0));
      // Everything listed vanished: a writer renamed a newer image into place
      // after our readdir and pruned these. Read the directory again.
      if (attempt >= MAX_LIST_RETRIES) {
        throw new CkptError(
          ErrorCodes.STORE_IO,
          `Listing ${this.description}: every image vanished while it was listed, ${MAX_LIST_RETRIES + 1} times in a row ` +
            `(another process is writing and pruning, or a dangling symlink is named like an image). Retry; remove dangling links.`,
        );
      }
    }
  }

  /** Open a committed image. Needs no lock. */
  async open(id: string): Promise<ImageSource> {
    parseImageId(id);
    const path = join(this.dir, imageFileName(id));
    let file: FsFile;
    try {
      file = await this.#fs.open(path, 'r');
    } catch (err) {
      const code = errnoCode(err);
      if (code === 'ENOENT' || code === 'ENOTDIR') throw this.#notFound(id, err);
      throw storeIoError(`opening image ${id}`, path, err, id);
    }
    try {
      const st = await statOpenFile(this.#fs, file);
      // list() shows regular files only; a directory with an image name is not an image.
      if (!st.isFile) throw this.#notFound(id, undefined);
      return new FsImageSource(id, st.size, file, this.#fs);
    } catch (err) {
      await this.#fs.close(file).catch(() => undefined);
      if (errnoCode(err) === 'ENOENT') throw this.#notFound(id, err);
      throw storeIoError(`opening image ${id}: stat`, path, err, id);
    }
  }

  /** Take the directory's writer lock (creating the directory when allowed). */
  async acquireWriter(options: AcquireOptions = {}): Promise<WriterLock> {
    await this.#ensureDir();
    return FsWriterLock.acquire(this.dir, {
      fs: this.#fs,
      hooks: this.#hooks,
      description: this.description,
      mode: this.#mode,
      ...(options.waitMs === undefined ? {} : { waitMs: options.waitMs }),
    });
  }

  /** Start the next image in a temp file. Requires the writer lock. */
  async create(lock: WriterLock): Promise<ImageSink> {
    const held = await this.#checkLock(lock, 'create');
    const names = await this.#readdir();
    let open = this.#open.get(held);
    if (open === undefined) {
      open = { ids: new Set(), temps: new Set() };
      this.#open.set(held, open);
    }
    const reserved = open.ids;
    // No await between computing the id and reserving it: two concurrent
    // create() calls on one lock cannot pick the same id.
    // Id allocation looks at real images only: an entry named like an image
    // without the image magic (a stray empty file…) must not push the next id
    // up to the limit. Checked from the highest id down until a real image.
    const named = new Set<number>();
    for (const name of names ?? []) {
      const id = idOfFileName(name);
      if (id !== undefined) named.add(parseImageId(id));
    }
    const desc = [...named].sort((a, b) => b - a);
    let newest = 0;
    for (const seq of desc) {
      if (await this.#hasMagic(imageFileName(formatImageId(seq)))) {
        newest = seq;
        break;
      }
      this.#warnForeign(imageFileName(formatImageId(seq)), 'it does not start with the ckpt image magic; ids are allocated past it');
    }
    const taken: number[] = [...reserved, newest];
    let id = nextImageId(taken);
    // Skip names a foreign entry occupies (a commit never replaces a file).
    while (named.has(parseImageId(id))) id = nextImageId([parseImageId(id)]);
    const seq = parseImageId(id);
    reserved.add(seq);
    const tempPath = join(this.dir, `${TEMP_PREFIX}${id}-${process.pid}-${randomBytes(4).toString('hex')}${TEMP_SUFFIX}`);
    open.temps.add(tempPath);
    try {
      const file = await this.#fs.open(tempPath, 'wx', this.#mode);
      this.#hooks.reached('temp-created');
      return new FsImageSink(id, seq, this.dir, tempPath, file, this.#fs, held, this.#hooks, this.#sinkOwner);
    } catch (err) {
      reserved.delete(seq);
      open.temps.delete(tempPath);
      throw storeIoError(`creating image ${id}`, tempPath, err, id);
    }
  }

  /** Delete a committed image. Requires the writer lock. */
  async delete(lock: WriterLock, id: string): Promise<void> {
    parseImageId(id);
    await this.#checkLock(lock, 'delete');
    const path = join(this.dir, imageFileName(id));
    this.#hooks.reached('retention-delete');
    try {
      await this.#fs.unlink(path);
    } catch (err) {
      if (errnoCode(err) === 'ENOENT') throw this.#notFound(id, err);
      throw storeIoError(`deleting image ${id}`, path, err, id);
    }
    this.#hooks.reached('after-unlink');
    try {
      await this.#fs.fsyncDir(this.dir);
    } catch (err) {
      const e = storeIoError(`deleting image ${id}: fsync of the directory`, this.dir, err, id);
      throw new CkptError(ErrorCodes.STORE_IO, `${e.message} The image is gone now but may reappear after a crash.`, {
        cause: err,
        image: id,
      });
    }
  }

  /**
   * Remove temp files of crashed writers and stale-lock leftovers, and image
   * files of commits of this store handle that failed after their rename and
   * could not be removed then. Requires the writer lock (so no other process can be
   * writing a temp file). Temp files of sinks still open under this lock are
   * kept. Returns the removed file names.
   */
  async cleanup(lock: WriterLock): Promise<string[]> {
    const held = await this.#checkLock(lock, 'cleanup');
    const names = (await this.#readdir()) ?? [];
    const openTemps = this.#open.get(held)?.temps;
    const removed: string[] = [];
    let images = 0;
    for (const path of this.#failedCommits) {
      if (dirname(path) !== this.dir) continue;
      try {
        await this.#fs.unlink(path);
        removed.push(basename(path));
        images++;
      } catch (err) {
        if (errnoCode(err) !== 'ENOENT') throw storeIoError('cleanup: removing the image of a failed commit', path, err);
      }
      this.#failedCommits.delete(path);
    }
    // Like delete(): make the removal of an image durable.
    if (images > 0) await this.#fs.fsyncDir(this.dir).catch(() => undefined);
    for (const name of names) {
      const path = join(this.dir, name);
      const leftover = (isTempFileName(name) && openTemps?.has(path) !== true) || name.startsWith(STALE_LOCK_PREFIX);
      if (!leftover) continue;
      try {
        await this.#fs.unlink(path);
        removed.push(name);
        this.#hooks.reached('cleanup-unlink');
      } catch (err) {
        if (errnoCode(err) !== 'ENOENT') throw storeIoError('cleanup: removing', path, err);
      }
    }
    return removed;
  }

  /** Entry names of the directory, or undefined when it does not exist and createDir allows that. */
  async #readdir(): Promise<string[] | undefined> {
    try {
      return await this.#fs.readdir(this.dir);
    } catch (err) {
      if (errnoCode(err) === 'ENOENT') {
        if (this.#createDir) return undefined;
        throw new CkptError(
          ErrorCodes.NOT_FOUND,
          `Store directory ${this.dir} does not exist (createDir is false). Create it or fix the path.`,
          { cause: err },
        );
      }
      throw storeIoError('listing', this.dir, err);
    }
  }

  async #ensureDir(): Promise<void> {
    if (!this.#createDir) {
      try {
        const st = await this.#fs.stat(this.dir);
        if (st.isDirectory) return;
        throw new CkptError(ErrorCodes.STORE_IO, `Store path ${this.dir} exists but is not a directory.`);
      } catch (err) {
        if (err instanceof CkptError) throw err;
        if (errnoCode(err) === 'ENOENT') {
          throw new CkptError(
            ErrorCodes.NOT_FOUND,
            `Store directory ${this.dir} does not exist (createDir is false). Create it or fix the path.`,
            { cause: err },
          );
        }
        throw storeIoError('stat', this.dir, err);
      }
    }
    let created: string | undefined;
    try {
      created = await this.#fs.mkdir(this.dir, this.#dirMode);
    } catch (err) {
      throw storeIoError('creating the store directory', this.dir, err);
    }
    if (created === undefined) return;
    // New directory entries are as volatile as renames: fsync the parent of
    // every directory we created, so the store itself survives a power loss.
    let p = this.dir;
    for (;;) {
      const parent = dirname(p);
      try {
        await this.#fs.fsyncDir(parent);
      } catch (err) {
        throw storeIoError('fsync of a new directory', parent, err);
      }
      if (p === resolve(created) || parent === p) break;
      p = parent;
    }
  }

  async #checkLock(lock: WriterLock, what: string): Promise<FsWriterLock> {
    if (!(lock instanceof FsWriterLock) || lock.dir !== this.dir) {
      throw new CkptError(
        ErrorCodes.INVALID_ARGUMENT,
        `${what}() needs the writer lock of ${this.description}, as returned by its acquireWriter().`,
      );
    }
    await lock.assertHeld();
    return lock;
  }

  #notFound(id: string, cause: unknown): CkptError {
    return new CkptError(
      ErrorCodes.NOT_FOUND,
      `No image ${id} in ${this.description}.`,
      cause === undefined ? { image: id } : { cause, image: id },
    );
  }
}
