/**
 * @module test/store/helpers/faulty-fs
 *
 * The one fault-injecting {@link FsOps} of the tests: it wraps a filesystem
 * layer (the default, {@link nodeFsOps}), numbers and records every call, and
 * makes chosen calls fail with a chosen errno code (ENOSPC, EIO, EACCES…) or
 * come back short. Two ways to choose the failing call, usable together:
 *
 * - by rule ({@link FaultyFs.faults}): every call of an operation, optionally
 *   only on matching paths and only a number of times (the store tests);
 * - by number ({@link FaultyFs.arm}): the n-th call since {@link FaultyFs.reset},
 *   once, from then on until {@link FaultyFs.disarm} (a broken disk), or as a
 *   short write followed by a failing one (the Checkpointer-level suites, which
 *   try every call index in turn).
 *
 * Writes and reads can also be shortened, and a hook can act between the
 * fault check and the real call, to simulate another process.
 */
import { nodeFsOps } from '../../../src/store/fs-ops.js';
import type { FsFile, FsOpenMode, FsOps, FsStat } from '../../../src/store/fs-ops.js';

/** The name of one {@link FsOps} operation. */
export type FsOpName = keyof FsOps;

/** A rule: which calls fail, with which code. */
export interface Fault {
  /** Which operation fails. */
  readonly op: FsOpName;
  /** errno code of the injected error. */
  readonly code: string;
  /** Only calls on a path for which this returns true (default: every path). */
  readonly match?: (path: string) => boolean;
  /** Fail only this many times (default: always). */
  times?: number;
}

/** One recorded call. */
export interface FsCall {
  /** Its number, counted from the last {@link FaultyFs.reset} (what {@link FaultyFs.arm} takes). */
  readonly n: number;
  readonly op: FsOpName;
  readonly path: string;
}

/** How the fault armed by {@link FaultyFs.arm} behaves. */
export type FaultMode =
  /** The call fails once with the errno code. */
  | 'once'
  /** The call and every later call (any operation) fail until disarm(): a broken disk. */
  | 'sticky'
  /** A write: half of it is written (a short write), then the next write call fails with the code. */
  | 'short-then-fail';

/** How to build a {@link FaultyFs}. */
export interface FaultyFsOptions {
  /** The layer wrapped (default {@link nodeFsOps}). */
  readonly inner?: FsOps;
  /**
   * Offer `fstat` (through the wrapped layer's, or its `stat` of the path).
   * Default false: without it stores fall back to `stat` of the path, so
   * that fallback is what they run.
   */
  readonly fstat?: boolean;
}

/** An errno-style error, as the real filesystem calls throw them. */
export function errnoError(code: string, op: string, path: string): NodeJS.ErrnoException {
  const err: NodeJS.ErrnoException = new Error(`${code}: injected fault, ${op} '${path}'`);
  err.code = code;
  err.syscall = op;
  err.path = path;
  return err;
}

/** A fault-injecting, call-recording {@link FsOps}. */
export class FaultyFs implements FsOps {
  /** Every call since the last {@link reset}, in order. */
  readonly calls: FsCall[] = [];
  /** Rules: the first that matches a call makes it fail. */
  faults: Fault[] = [];
  /** The errors thrown so far (so a test can find them in a `cause` chain). */
  readonly injected: NodeJS.ErrnoException[] = [];
  /** Largest number of bytes one write() call writes (short writes). */
  shortWriteMax: number | undefined;
  /** Largest number of bytes one read() call returns (short reads). */
  shortReadMax: number | undefined;
  /** Runs before each operation but close (after fault checks), to simulate another process acting in between. */
  before: ((op: FsOpName, path: string) => Promise<void>) | undefined;
  /** Present only with the `fstat` option (see {@link FaultyFsOptions.fstat}). */
  readonly fstat?: (file: FsFile) => Promise<FsStat>;

  readonly #inner: FsOps;
  #next = 0;
  #failAt: number | undefined;
  #code = 'EIO';
  #mode: FaultMode = 'once';
  #tripped = false;
  #failNextWrite = false;

  constructor(options: FaultyFsOptions = {}) {
    const inner = options.inner ?? nodeFsOps;
    this.#inner = inner;
    if (options.fstat === true) {
      this.fstat = async (file) => {
        await this.#enter('fstat', file.path);
        return inner.fstat !== undefined ? inner.fstat(file) : inner.stat(file.path);
      };
    }
  }

  /** Number of recorded calls, of operation `op` (default: any) on paths matching `match` (default: any). */
  count(op?: FsOpName, match?: (path: string) => boolean): number {
    return this.calls.filter((c) => (op === undefined || c.op === op) && (match === undefined || match(c.path))).length;
  }

  /** Restart numbering (and forget the recorded calls). */
  reset(): void {
    this.#next = 0;
    this.calls.length = 0;
  }

  /** Fail call number `n` (counted from the last reset). */
  arm(n: number, code: string, mode: FaultMode = 'once'): void {
    this.#failAt = n;
    this.#code = code;
    this.#mode = mode;
    this.#tripped = false;
    this.#failNextWrite = false;
  }

  /** Repair the disk (undo {@link arm}; the rules in {@link faults} stay). */
  disarm(): void {
    this.#failAt = undefined;
    this.#tripped = false;
    this.#failNextWrite = false;
  }

  /** True once the armed fault fired. */
  get tripped(): boolean {
    return this.#tripped;
  }

  /** Record the call; returns the error to throw, 'short' for a short write, or undefined. */
  #check(op: FsOpName, path: string): NodeJS.ErrnoException | 'short' | undefined {
    const n = this.#next++;
    this.calls.push({ n, op, path });
    const armed = this.#armed(n, op, path);
    if (armed !== undefined) return armed;
    for (const f of this.faults) {
      if (f.op !== op || (f.match !== undefined && !f.match(path))) continue;
      if (f.times !== undefined) {
        if (f.times <= 0) continue;
        f.times--;
      }
      return this.#error(f.code, op, path);
    }
    return undefined;
  }

  /** What the armed fault does to call `n`: the error to throw, 'short' for a short write, or nothing. */
  #armed(n: number, op: FsOpName, path: string): NodeJS.ErrnoException | 'short' | undefined {
    if (this.#failAt === undefined) return undefined;
    if (this.#mode === 'sticky' && this.#tripped) return this.#error(this.#code, op, path);
    if (op === 'write' && this.#failNextWrite) {
      this.#failNextWrite = false;
      return this.#error(this.#code, op, path);
    }
    if (n !== this.#failAt) return undefined;
    this.#tripped = true;
    if (this.#mode === 'short-then-fail' && op === 'write') {
      this.#failNextWrite = true;
      return 'short';
    }
    return this.#error(this.#code, op, path);
  }

  #error(code: string, op: FsOpName, path: string): NodeJS.ErrnoException {
    const e = errnoError(code, op, path);
    this.injected.push(e);
    return e;
  }

  /** Check the call: throw its fault, else run the `before` hook; true for a short write. */
  async #enter(op: FsOpName, path: string): Promise<boolean> {
    const f = this.#check(op, path);
    if (f !== undefined && f !== 'short') throw f;
    if (this.before !== undefined) await this.before(op, path);
    return f === 'short';
  }

  async open(path: string, mode: FsOpenMode, perm?: number): Promise<FsFile> {
    await this.#enter('open', path);
    return this.#inner.open(path, mode, perm);
  }
  async write(file: FsFile, data: Uint8Array, offset: number, length: number, position: number): Promise<number> {
    const short = await this.#enter('write', file.path);
    let n = this.shortWriteMax === undefined ? length : Math.min(length, this.shortWriteMax);
    if (short) n = Math.max(1, Math.floor(length / 2));
    return this.#inner.write(file, data, offset, n, position);
  }
  async read(file: FsFile, into: Uint8Array, offset: number, length: number, position: number): Promise<number> {
    await this.#enter('read', file.path);
    const n = this.shortReadMax === undefined ? length : Math.min(length, this.shortReadMax);
    return this.#inner.read(file, into, offset, n, position);
  }
  async fsync(file: FsFile): Promise<void> {
    await this.#enter('fsync', file.path);
    return this.#inner.fsync(file);
  }
  async close(file: FsFile): Promise<void> {
    // Like close(2) on Linux, a failing close still releases the descriptor.
    const f = this.#check('close', file.path);
    await this.#inner.close(file);
    if (f !== undefined && f !== 'short') throw f;
  }
  async rename(from: string, to: string): Promise<void> {
    await this.#enter('rename', from);
    return this.#inner.rename(from, to);
  }
  async unlink(path: string): Promise<void> {
    await this.#enter('unlink', path);
    return this.#inner.unlink(path);
  }
  async readdir(path: string): Promise<string[]> {
    await this.#enter('readdir', path);
    return this.#inner.readdir(path);
  }
  async stat(path: string): Promise<FsStat> {
    await this.#enter('stat', path);
    return this.#inner.stat(path);
  }
  async mkdir(path: string, perm?: number): Promise<string | undefined> {
    await this.#enter('mkdir', path);
    return this.#inner.mkdir(path, perm);
  }
  async readFile(path: string): Promise<Uint8Array> {
    await this.#enter('readFile', path);
    return this.#inner.readFile(path);
  }
  async fsyncDir(path: string): Promise<void> {
    await this.#enter('fsyncDir', path);
    return this.#inner.fsyncDir(path);
  }
}
