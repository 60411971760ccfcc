// A fault-injecting FsOps for tests: wraps the default filesystem layer,
// records every call, and fails chosen operations with chosen error codes
// (ENOSPC, EIO, EACCES…) or shortens writes and reads.
import { nodeFsOps } from '../../../src/store/fs-ops.js';
import type { FsFile, FsOps, FsOpenMode, FsStat } from '../../../src/store/fs-ops.js';

export type FsOpName = keyof FsOps;

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

export interface Call {
  readonly op: FsOpName;
  readonly path: string;
}

export function errnoError(code: string, op: string, path: string): NodeJS.ErrnoException {
  const err: NodeJS.ErrnoException = new Error(`${code}: injected fault, ${op} '${path}'`);
  err.code = code;
  err.syscall = op;
  err.path = path;
  return err;
}

export class FaultyFs implements FsOps {
  readonly calls: Call[] = [];
  faults: Fault[] = [];
  /** Largest number of bytes one write() call writes (short writes). */
  shortWriteMax: number | undefined;
  /** Largest number of bytes one read() call returns (short reads). */
  shortReadMax: number | undefined;
  /** Runs before each operation (after fault checks), to simulate another process acting in between. */
  before: ((op: FsOpName, path: string) => Promise<void>) | undefined;

  constructor(private readonly inner: FsOps = nodeFsOps) {}

  count(op: FsOpName, match?: (path: string) => boolean): number {
    return this.calls.filter((c) => c.op === op && (match === undefined || match(c.path))).length;
  }

  async #enter(op: FsOpName, path: string): Promise<void> {
    const err = this.#fault(op, path);
    if (err !== undefined) throw err;
    if (this.before !== undefined) await this.before(op, path);
  }

  #fault(op: FsOpName, path: string): NodeJS.ErrnoException | undefined {
    this.calls.push({ op, path });
    for (const f of this.faults) {
      if (f.op !== op || (f.match !== undefined && !f.match(path))) continue;
      if (f.times !== undefined) {
        if (f.times <= 0) continue;
        f.times--;
      }
      return errnoError(f.code, op, path);
    }
    return undefined;
  }

  async open(path: string, mode: FsOpenMode): Promise<FsFile> {
    await this.#enter('open', path);
    return this.inner.open(path, mode);
  }
  async write(file: FsFile, data: Uint8Array, offset: number, length: number, position: number): Promise<number> {
    await this.#enter('write', file.path);
    const n = this.shortWriteMax === undefined ? length : Math.min(length, this.shortWriteMax);
    return this.inner.write(file, data, offset, n, position);
  }
  async read(file: FsFile, into: Uint8Array, offset: number, length: number, position: number): Promise<number> {
    await this.#enter('read', file.path);
    const n = this.shortReadMax === undefined ? length : Math.min(length, this.shortReadMax);
    return this.inner.read(file, into, offset, n, position);
  }
  async fsync(file: FsFile): Promise<void> {
    await this.#enter('fsync', file.path);
    return this.inner.fsync(file);
  }
  async close(file: FsFile): Promise<void> {
    // Like close(2) on Linux, a failing close still releases the descriptor.
    const err = this.#fault('close', file.path);
    await this.inner.close(file);
    if (err !== undefined) throw err;
  }
  async rename(from: string, to: string): Promise<void> {
    await this.#enter('rename', from);
    return this.inner.rename(from, to);
  }
  async unlink(path: string): Promise<void> {
    await this.#enter('unlink', path);
    return this.inner.unlink(path);
  }
  async readdir(path: string): Promise<string[]> {
    await this.#enter('readdir', path);
    return this.inner.readdir(path);
  }
  async stat(path: string): Promise<FsStat> {
    await this.#enter('stat', path);
    return this.inner.stat(path);
  }
  async mkdir(path: string): Promise<string | undefined> {
    await this.#enter('mkdir', path);
    return this.inner.mkdir(path);
  }
  async readFile(path: string): Promise<Uint8Array> {
    await this.#enter('readFile', path);
    return this.inner.readFile(path);
  }
  async fsyncDir(path: string): Promise<void> {
    await this.#enter('fsyncDir', path);
    return this.inner.fsyncDir(path);
  }
}
