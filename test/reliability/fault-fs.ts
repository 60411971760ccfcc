// A fault-injecting FsOps for the Checkpointer-level storage-fault suite:
// every filesystem call FsStore and its lock make is numbered, and the call
// with a chosen number fails (once, or from then on: a disk that stays full
// or broken until it is "repaired"). Writes can also be cut short.
import { nodeFsOps } from '../../src/store/fs-ops.js';
import type { FsFile, FsOpenMode, FsOps, FsStat } from '../../src/store/fs-ops.js';

export type FsOpName = keyof FsOps;

/** One recorded call. */
export interface FsCall {
  readonly n: number;
  readonly op: FsOpName;
  readonly path: string;
}

/** How the armed fault behaves. */
export type FaultMode =
  /** The call fails once with the errno code. */
  | 'once'
  /** The call and every later call (any operation) fail until disarm(): a broken disk. */
  | 'sticky'
  /** A write: half of it is written (a short write), then the next write call fails with the code. */
  | 'short-then-fail';

export function errnoError(code: string, op: string, path: string): NodeJS.ErrnoException {
  const err: NodeJS.ErrnoException = new Error(`${code}: injected fault, ${op} '${path}'`);
  err.code = code;
  err.syscall = op;
  err.path = path;
  return err;
}

export class CountingFaultFs implements FsOps {
  readonly calls: FsCall[] = [];
  #next = 0;
  #failAt: number | undefined;
  #code = 'EIO';
  #mode: FaultMode = 'once';
  #tripped = false;
  #failNextWrite = false;
  /** The errors thrown so far (so a test can find them in a `cause` chain). */
  readonly injected: NodeJS.ErrnoException[] = [];
  /** Largest number of bytes one write() call writes, when set. */
  shortWriteMax: number | undefined;

  constructor(private readonly inner: FsOps = nodeFsOps) {}

  /** Number of calls made since the last reset. */
  get count(): number {
    return this.#next;
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

  /** Repair the disk. */
  disarm(): void {
    this.#failAt = undefined;
    this.#tripped = false;
    this.#failNextWrite = false;
  }

  /** True once the armed fault fired. */
  get tripped(): boolean {
    return this.#tripped;
  }

  /** Number the call; returns the error to throw, 'short' for a short write, or undefined. */
  #enter(op: FsOpName, path: string): NodeJS.ErrnoException | 'short' | undefined {
    const n = this.#next++;
    this.calls.push({ n, op, path });
    if (this.#failAt === undefined) return undefined;
    const fail = (): NodeJS.ErrnoException => {
      const e = errnoError(this.#code, op, path);
      this.injected.push(e);
      return e;
    };
    if (this.#mode === 'sticky' && this.#tripped) return fail();
    if (op === 'write' && this.#failNextWrite) {
      this.#failNextWrite = false;
      return fail();
    }
    if (n !== this.#failAt) return undefined;
    this.#tripped = true;
    if (this.#mode === 'short-then-fail') {
      if (op !== 'write') return fail();
      this.#failNextWrite = true;
      return 'short';
    }
    return fail();
  }

  async open(path: string, mode: FsOpenMode): Promise<FsFile> {
    const f = this.#enter('open', path);
    if (f !== undefined && f !== 'short') throw f;
    return this.inner.open(path, mode);
  }
  async write(file: FsFile, data: Uint8Array, offset: number, length: number, position: number): Promise<number> {
    const f = this.#enter('write', file.path);
    if (f !== undefined && f !== 'short') throw f;
    let n = this.shortWriteMax === undefined ? length : Math.min(length, this.shortWriteMax);
    if (f === 'short') n = Math.max(1, Math.floor(length / 2));
    return this.inner.write(file, data, offset, n, position);
  }
  async read(file: FsFile, into: Uint8Array, offset: number, length: number, position: number): Promise<number> {
    const f = this.#enter('read', file.path);
    if (f !== undefined && f !== 'short') throw f;
    return this.inner.read(file, into, offset, length, position);
  }
  async fsync(file: FsFile): Promise<void> {
    const f = this.#enter('fsync', file.path);
    if (f !== undefined && f !== 'short') throw f;
    return this.inner.fsync(file);
  }
  async close(file: FsFile): Promise<void> {
    // Like close(2) on Linux, a failing close still releases the descriptor.
    const f = this.#enter('close', file.path);
    await this.inner.close(file);
    if (f !== undefined && f !== 'short') throw f;
  }
  async rename(from: string, to: string): Promise<void> {
    const f = this.#enter('rename', from);
    if (f !== undefined && f !== 'short') throw f;
    return this.inner.rename(from, to);
  }
  async unlink(path: string): Promise<void> {
    const f = this.#enter('unlink', path);
    if (f !== undefined && f !== 'short') throw f;
    return this.inner.unlink(path);
  }
  async readdir(path: string): Promise<string[]> {
    const f = this.#enter('readdir', path);
    if (f !== undefined && f !== 'short') throw f;
    return this.inner.readdir(path);
  }
  async stat(path: string): Promise<FsStat> {
    const f = this.#enter('stat', path);
    if (f !== undefined && f !== 'short') throw f;
    return this.inner.stat(path);
  }
  async mkdir(path: string): Promise<string | undefined> {
    const f = this.#enter('mkdir', path);
    if (f !== undefined && f !== 'short') throw f;
    return this.inner.mkdir(path);
  }
  async readFile(path: string): Promise<Uint8Array> {
    const f = this.#enter('readFile', path);
    if (f !== undefined && f !== 'short') throw f;
    return this.inner.readFile(path);
  }
  async fstat(file: FsFile): Promise<FsStat> {
    const f = this.#enter('fstat', file.path);
    if (f !== undefined && f !== 'short') throw f;
    return this.inner.fstat !== undefined ? this.inner.fstat(file) : this.inner.stat(file.path);
  }
  async fsyncDir(path: string): Promise<void> {
    const f = this.#enter('fsyncDir', path);
    if (f !== undefined && f !== 'short') throw f;
    return this.inner.fsyncDir(path);
  }
}
