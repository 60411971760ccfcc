/**
 * @module store/fs-ops
 *
 * The filesystem layer under {@link FsStore} and its writer lock: an
 * injectable interface, {@link FsOps}, with exactly the operations they need,
 * a default implementation over `node:fs/promises` ({@link nodeFsOps}), and the
 * translation of failed operations into `CKPT_ERR_STORE_IO` errors with a hint.
 *
 * Why an interface: every durable step (open, write, fsync, close, rename,
 * fsync of the directory…) is a place where a real disk can fail with ENOSPC,
 * EIO, EACCES or a short write. Routing every call through one small object
 * lets tests wrap the default and inject each of those failures at each step,
 * which a real filesystem cannot be made to do on demand.
 *
 * The durable path is written by hand here on purpose: fs-extra's helpers
 * never fsync.
 */

import { chmod, open as fsOpen, readdir, rename, unlink, stat, mkdir, readFile } from 'node:fs/promises';
import type { FileHandle } from 'node:fs/promises';
import { CkptError, ErrorCodes, describeError } from '../errors.js';

/** An open file. Opaque: only the {@link FsOps} that opened it may use it. */
export interface FsFile {
  /** The path it was opened with, for messages (and for fault-injection filters). */
  readonly path: string;
}

/**
 * How {@link FsOps.open} opens a file: `r` read-only (must exist); `wx`
 * write-only, created, failing with EEXIST if the path already exists.
 */
export type FsOpenMode = 'r' | 'wx';

/** What {@link FsOps.stat} reports: plain data, so fakes are easy to write. */
export interface FsStat {
  /** Size in bytes. */
  readonly size: number;
  /** Last modification time, ms since the epoch. */
  readonly mtimeMs: number;
  /** Inode number (0 where the platform has none); identifies a file across renames. */
  readonly ino: number;
  /** A regular file. */
  readonly isFile: boolean;
  /** A directory. */
  readonly isDirectory: boolean;
}

/**
 * Every filesystem operation FsStore and its lock perform. Errors are thrown
 * as Node throws them (an `Error` with `code` such as `ENOENT`); callers
 * translate them. Positions are explicit everywhere, so a retried or short
 * write never depends on a hidden file offset.
 */
export interface FsOps {
  /**
   * Open `path` (see {@link FsOpenMode}). A new file gets the permission bits
   * `perm` exactly, whatever the umask, when given; 0o666 minus the umask otherwise.
   */
  open(path: string, mode: FsOpenMode, perm?: number): Promise<FsFile>;
  /**
   * Write up to `length` bytes of `data` starting at `data[offset]` to the file
   * at byte `position`. Returns how many bytes were written, which may be fewer
   * than asked (callers loop).
   */
  write(file: FsFile, data: Uint8Array, offset: number, length: number, position: number): Promise<number>;
  /**
   * Read up to `length` bytes at file byte `position` into `into[offset…]`.
   * Returns how many bytes were read; 0 means end of file (callers loop).
   */
  read(file: FsFile, into: Uint8Array, offset: number, length: number, position: number): Promise<number>;
  /** Flush the file's data and metadata to stable storage. */
  fsync(file: FsFile): Promise<void>;
  /** Close the file (waits for operations still in flight on it). */
  close(file: FsFile): Promise<void>;
  /** Rename `from` to `to` (atomic within one filesystem; replaces `to` if it exists). */
  rename(from: string, to: string): Promise<void>;
  /** Remove a file. */
  unlink(path: string): Promise<void>;
  /** Names (not paths) of a directory's entries. */
  readdir(path: string): Promise<string[]>;
  /** Facts about a path (follows symlinks). */
  stat(path: string): Promise<FsStat>;
  /**
   * Create a directory and any missing parents. Returns the first directory it
   * had to create, or `undefined` when `path` already existed. With `perm`,
   * every directory it creates gets those permission bits (minus the umask)
   * and `path` itself gets exactly `perm` when it was created.
   */
  mkdir(path: string, perm?: number): Promise<string | undefined>;
  /** A whole (small) file's bytes. */
  readFile(path: string): Promise<Uint8Array>;
  /**
   * Flush a directory's entries (a rename, create or unlink inside it) to
   * stable storage. Without this a committed rename can vanish after a power loss.
   */
  fsyncDir(path: string): Promise<void>;
  /**
   * Facts about an open file (`fstat`). Optional: without it stores fall back
   * to {@link FsOps.stat} of the path, which can race with a deletion (another
   * process pruning the image between open and stat).
   */
  fstat?(file: FsFile): Promise<FsStat>;
}

/** Facts about the open `file`: fstat when the layer has it, else stat of its path. */
export async function statOpenFile(fs: FsOps, file: FsFile): Promise<FsStat> {
  return fs.fstat !== undefined ? fs.fstat(file) : fs.stat(file.path);
}

/** The FsFile of {@link nodeFsOps}: a path plus the Node file handle. */
class NodeFsFile implements FsFile {
  constructor(
    readonly path: string,
    readonly handle: FileHandle,
  ) {}
}

function handleOf(file: FsFile): FileHandle {
  if (file instanceof NodeFsFile) return file.handle;
  throw new CkptError(
    ErrorCodes.INVALID_ARGUMENT,
    `File ${file.path} was not opened by nodeFsOps; a wrapping FsOps must pass the FsFile it got from the wrapped one.`,
  );
}

/**
 * The default {@link FsOps}, over `node:fs/promises`. Directory fsync opens the
 * directory read-only and fsyncs it (POSIX); on Windows, where directories
 * cannot be opened that way and renames are journaled by NTFS, it is a no-op.
 */
export const nodeFsOps: FsOps = Object.freeze({
  async open(path: string, mode: FsOpenMode, perm?: number): Promise<FsFile> {
    const handle = await fsOpen(path, mode, perm ?? 0o666);
    if (mode === 'wx' && perm !== undefined && process.platform !== 'win32') {
      // The umask may have removed bits the caller asked for (a widened mode).
      await handle.chmod(perm).catch(async (err: unknown) => {
        await handle.close().catch(() => undefined);
        throw err;
      });
    }
    return new NodeFsFile(path, handle);
  },
  async write(file: FsFile, data: Uint8Array, offset: number, length: number, position: number): Promise<number> {
    const { bytesWritten } = await handleOf(file).write(data, offset, length, position);
    return bytesWritten;
  },
  async read(file: FsFile, into: Uint8Array, offset: number, length: number, position: number): Promise<number> {
    const { bytesRead } = await handleOf(file).read(into, offset, length, position);
    return bytesRead;
  },
  async fsync(file: FsFile): Promise<void> {
    await handleOf(file).sync();
  },
  async close(file: FsFile): Promise<void> {
    await handleOf(file).close();
  },
  async rename(from: string, to: string): Promise<void> {
    await rename(from, to);
  },
  async unlink(path: string): Promise<void> {
    await unlink(path);
  },
  async readdir(path: string): Promise<string[]> {
    return readdir(path);
  },
  async stat(path: string): Promise<FsStat> {
    const s = await stat(path);
    return { size: s.size, mtimeMs: s.mtimeMs, ino: s.ino, isFile: s.isFile(), isDirectory: s.isDirectory() };
  },
  async mkdir(path: string, perm?: number): Promise<string | undefined> {
    const created = await mkdir(path, perm === undefined ? { recursive: true } : { recursive: true, mode: perm });
    if (created !== undefined && perm !== undefined && process.platform !== 'win32') await chmod(path, perm);
    return created;
  },
  async readFile(path: string): Promise<Uint8Array> {
    return readFile(path);
  },
  async fstat(file: FsFile): Promise<FsStat> {
    const s = await handleOf(file).stat();
    return { size: s.size, mtimeMs: s.mtimeMs, ino: s.ino, isFile: s.isFile(), isDirectory: s.isDirectory() };
  },
  async fsyncDir(path: string): Promise<void> {
    if (process.platform === 'win32') return;
    const handle = await fsOpen(path, 'r');
    try {
      await handle.sync();
    } finally {
      await handle.close();
    }
  },
});

/** The `code` of a Node system error (`ENOENT`, `ENOSPC`…), if `err` has one. */
export function errnoCode(err: unknown): string | undefined {
  if (typeof err === 'object' && err !== null && 'code' in err) {
    const code = err.code;
    if (typeof code === 'string') return code;
  }
  return undefined;
}

/** What to tell the user for the common error codes of a failed filesystem operation. */
export function fsErrorHint(code: string | undefined): string | undefined {
  switch (code) {
    case 'ENOSPC':
      return 'disk full: free space on that filesystem (or keep fewer images) and retry';
    case 'EDQUOT':
      return 'disk quota exceeded: free space or raise the quota and retry';
    case 'EACCES':
    case 'EPERM':
      return 'permission denied: check the owner and mode of the directory and its files';
    case 'EROFS':
      return 'the filesystem is read-only: use a writable directory or remount it read-write';
    case 'EIO':
      return 'low-level I/O error: the disk or network filesystem may be failing; check the system log (dmesg)';
    case 'EMFILE':
    case 'ENFILE':
      return 'too many open files: close unused handles or raise the limit (ulimit -n)';
    case 'ENOTDIR':
      return 'a path component is not a directory';
    case 'EISDIR':
      return 'the path is a directory';
    default:
      return undefined;
  }
}

/**
 * Turn a failed filesystem operation into a `CKPT_ERR_STORE_IO` error whose
 * message names the operation, the path, the system error and a hint, with
 * the original error as `cause`. A CkptError passes through unchanged.
 *
 * @param operation - what was attempted (`fsync`, `rename to 000000000003.ckpt`…)
 * @param path - the path it was attempted on
 * @param err - what the operation threw
 * @param image - the image concerned, if any
 */
export function storeIoError(operation: string, path: string, err: unknown, image?: string): CkptError {
  if (err instanceof CkptError) return err;
  const code = errnoCode(err);
  const hint = fsErrorHint(code);
  const message =
    `Store I/O failed: ${operation} of ${path} failed: ${describeError(err)}` + (hint === undefined ? '.' : ` (${hint}).`);
  return new CkptError(ErrorCodes.STORE_IO, message, { cause: err, ...(image === undefined ? {} : { image }), ...(hint === undefined ? { hint: 'check the path, its permissions and the disk' } : {}) });
}
