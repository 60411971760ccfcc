/**
 * @module store/fs-lock
 *
 * The writer lock of a store directory: the file `<dir>/.ckpt-lock`, created
 * with O_EXCL (so exactly one creator wins) and holding JSON
 * `{ pid, hostname, token, startedAt, procStart }`, fsynced. One writer per
 * directory at a time; readers never look at it.
 *
 * **Stale locks.** A process that dies (crash, SIGKILL, power loss) leaves its
 * lock file behind. A lock is judged stale when its holder is on this host and
 * either its pid is gone (`kill(pid, 0)` → ESRCH) or the pid now belongs to a
 * different process: on Linux the lock records field 22 of `/proc/<pid>/stat`
 * (the process start time), which differs for a reused pid, or the process
 * is a zombie (state `Z` in `/proc/<pid>/stat`: killed, not yet reaped by its
 * parent; `kill(pid, 0)` still succeeds for it). A lock file that
 * cannot be parsed (its writer died between create and write) is stale once it
 * is older than a few seconds ({@link DEFAULT_UNREADABLE_STALE_MS}). A lock
 * from another hostname is always treated as live: ckpt cannot see processes
 * there, and says so in the error.
 *
 * **Recovery.** A stale lock is never moved aside and never deleted by more
 * than one process. The right to delete it is a recovery token, a file named
 * after the stale lock's identity (inode + content hash) and a generation,
 * created with O_EXCL: exactly one process gets it, looks at the lock again,
 * and unlinks it only if it is still the file judged stale (nobody else can
 * have changed it: creators need the path free, the holder is dead, other
 * recoverers are excluded by the token). Then every process retries the
 * O_EXCL create of the lock, and one wins. A recoverer that dies holding the
 * token is itself judged like a lock holder, and the next generation's token
 * (again O_EXCL) passes it over. A live holder's lock is never touched, so a
 * process can no longer find its own lock moved away and put back.
 *
 * **Limits.** `assertHeld` and the commit rename after it are two steps; a
 * stale lock is judged by its holder's pid on this host, so a lock from
 * another host is always live; an unreadable token or lock counts as stale by
 * age only; on a network filesystem without reliable O_EXCL (old NFS) the
 * lock is advisory only. Ids never collide silently even then: a commit
 * refuses to replace an existing image.
 */

import { createHash, randomBytes } from 'node:crypto';
import { hostname as osHostname } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { CkptError, ErrorCodes } from '../errors.js';
import type { WriterLock } from './store.js';
import { errnoCode, nodeFsOps, storeIoError } from './fs-ops.js';
import type { FsOps, FsStat } from './fs-ops.js';
import { NO_FS_STORE_HOOKS, type FsStoreHooks } from './fs-hooks.js';

/** Name of the lock file inside a store directory. */
export const LOCK_FILE_NAME = '.ckpt-lock';

/** Prefix of lock files moved aside during stale-lock recovery (removed by `cleanup`). */
export const STALE_LOCK_PREFIX = '.ckpt-lock.stale-';

/** Age after which an unreadable lock file (writer died before writing it) counts as stale, in ms. */
export const DEFAULT_UNREADABLE_STALE_MS = 5_000;

/** Default permission bits of the lock file and of images: owner read/write only. */
export const DEFAULT_FILE_MODE = 0o600;

/** Default interval between attempts while waiting for a busy lock, in ms. */
export const DEFAULT_LOCK_POLL_MS = 50;

/** Consecutive attempts that saw the lock file change under them before giving up for one poll interval. */
const MAX_QUICK_RETRIES = 20;

/** What a lock file holds. */
export interface LockInfo {
  /** Process id of the holder. */
  readonly pid: number;
  /** `os.hostname()` of the holder's machine. */
  readonly hostname: string;
  /** Random token identifying this acquisition; proves ownership on assert and release. */
  readonly token: string;
  /** When the lock was taken (ISO 8601). */
  readonly startedAt: string;
  /** Linux: field 22 of `/proc/<pid>/stat` (start time in clock ticks since boot); `null` elsewhere. */
  readonly procStart: string | null;
}

/** Options for {@link FsWriterLock.acquire}. */
export interface FsLockOptions {
  /** Filesystem layer (default {@link nodeFsOps}). */
  readonly fs?: FsOps;
  /** Observers of the steps `lock-created` and `lock-written` (default: none). */
  readonly hooks?: FsStoreHooks;
  /** How long to wait for a busy lock, in ms. 0 (default) fails at once. */
  readonly waitMs?: number;
  /** Interval between attempts while waiting, in ms (default {@link DEFAULT_LOCK_POLL_MS}). */
  readonly pollMs?: number;
  /** Age after which an unreadable lock file is stale, in ms (default {@link DEFAULT_UNREADABLE_STALE_MS}). */
  readonly unreadableStaleMs?: number;
  /** How to name the store in messages (default `fs:<dir>`). */
  readonly description?: string;
  /** Permission bits of the lock file (default 0o600: owner only). */
  readonly mode?: number;
}

/**
 * Parse the bytes of a lock file. Returns `undefined` for anything that is not
 * a complete, well-formed lock record (empty, truncated, foreign content).
 */
export function parseLockInfo(bytes: Uint8Array): LockInfo | undefined {
  let value: unknown;
  try {
    value = JSON.parse(Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength).toString('utf8'));
  } catch {
    return undefined;
  }
  if (typeof value !== 'object' || value === null) return undefined;
  const v = value as Record<string, unknown>;
  const { pid, hostname, token, startedAt } = v;
  const procStart = v['procStart'] ?? null;
  // A pid of 0 or below would make kill(pid, 0) probe a process group: reject it.
  if (typeof pid !== 'number' || !Number.isSafeInteger(pid) || pid <= 0) return undefined;
  if (typeof hostname !== 'string' || typeof token !== 'string' || token === '') return undefined;
  if (typeof startedAt !== 'string') return undefined;
  if (procStart !== null && typeof procStart !== 'string') return undefined;
  return { pid, hostname, token, startedAt, procStart };
}

/** What `/proc/<pid>/stat` says of a process: its state letter and start time. */
export interface ProcStat {
  /** Field 3: `R`, `S`, … `Z` for a zombie (which `kill(pid, 0)` still reports as alive). */
  readonly state: string;
  /** Field 22, the start time in clock ticks since boot, as text. */
  readonly start: string | null;
}

/**
 * Process `pid`'s state and start time from one reading of
 * `/proc/<pid>/stat` (Linux), or `null` when unknown (other platforms, no
 * such process, unreadable). Never throws.
 */
export async function readProcStat(fs: FsOps, pid: number): Promise<ProcStat | null> {
  if (process.platform !== 'linux') return null;
  try {
    const text = Buffer.from(await fs.readFile(`/proc/${pid}/stat`)).toString('utf8');
    // Field 2 (comm) is in parentheses and may itself contain spaces and ')':
    // count fields from after the last ')'. The text there starts with field 3.
    const close = text.lastIndexOf(')');
    if (close < 0) return null;
    const fields = text.slice(close + 1).trim().split(/\s+/);
    const state = fields[0];
    return state === undefined || state === '' ? null : { state, start: fields[22 - 3] ?? null };
  } catch {
    return null;
  }
}

/** The start time of process `pid` as recorded in the lock ({@link readProcStat}'s `start`), or `null` when unknown. Never throws. */
export async function readProcStart(fs: FsOps, pid: number): Promise<string | null> {
  return (await readProcStat(fs, pid))?.start ?? null;
}

/** The state letter of process `pid` ({@link readProcStat}'s `state`; `Z` for a zombie), or `null` when unknown. Never throws. */
export async function readProcState(fs: FsOps, pid: number): Promise<string | null> {
  return (await readProcStat(fs, pid))?.state ?? null;
}

/** `kill(pid, 0)`: true unless the process certainly does not exist (ESRCH). EPERM means it exists. */
function isProcessAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (err) {
    return errnoCode(err) !== 'ESRCH';
  }
}

function bytesEqual(a: Uint8Array, b: Uint8Array): boolean {
  return Buffer.from(a.buffer, a.byteOffset, a.byteLength).equals(Buffer.from(b.buffer, b.byteOffset, b.byteLength));
}

/** A lock file as seen at one moment. */
interface Observed {
  readonly raw: Uint8Array;
  readonly stat: FsStat;
}

/** Stat then read the lock file; `undefined` when it does not exist (any more). */
async function observe(fs: FsOps, path: string): Promise<Observed | undefined> {
  try {
    const stat = await fs.stat(path);
    const raw = await fs.readFile(path);
    return { raw, stat };
  } catch (err) {
    if (errnoCode(err) === 'ENOENT') return undefined;
    throw storeIoError('reading the writer lock', path, err);
  }
}

/**
 * Lock files this process created but neither confirmed nor removed, because
 * the filesystem failed right then (EIO on the read-back, a failed write and
 * a failed unlink…). By path. Without this memory the file would look like a
 * live lock of this very process (same pid, same start time) — or, when
 * incomplete, like a lock being created right now — and this process could
 * never take the lock again. `acquire` adopts such a file when it holds
 * exactly these bytes, and treats it as stale when it holds a prefix of them.
 *
 * Process-wide on purpose, like the pid and start time the lock file records:
 * the file is this process's, whichever store handle created it, and a
 * memory owned by one handle would leave every other handle in the process
 * (a new Checkpointer on the same directory) LOCKED by its own process.
 */
const orphans = new Map<string, { readonly info: LockInfo; readonly bytes: Uint8Array }>();

function isPrefixOf(a: Uint8Array, b: Uint8Array): boolean {
  return a.byteLength <= b.byteLength && bytesEqual(a, b.subarray(0, a.byteLength));
}

/**
 * Create `path` with O_EXCL holding `bytes`, fsynced. Returns false when the
 * path already exists. On a failure after creation the half-written file is
 * removed (best effort) before the error is thrown; if that fails too,
 * `leftBehind()` is called first: the file may still be at the path, holding
 * `bytes` or a prefix.
 */
async function createExclusive(
  fs: FsOps,
  hooks: FsStoreHooks,
  path: string,
  bytes: Uint8Array,
  perm: number,
  leftBehind: () => void,
): Promise<boolean> {
  let file;
  try {
    file = await fs.open(path, 'wx', perm);
  } catch (err) {
    if (errnoCode(err) === 'EEXIST') return false;
    throw storeIoError('creating the writer lock', path, err);
  }
  hooks.reached('lock-created');
  let step = 'writing the writer lock';
  try {
    let done = 0;
    while (done < bytes.byteLength) {
      const n = await fs.write(file, bytes, done, bytes.byteLength - done, done);
      if (n <= 0) throw new Error('write made no progress');
      done += n;
    }
    step = 'fsync of the writer lock';
    await fs.fsync(file);
    step = 'closing the writer lock';
    const f = file;
    file = undefined;
    await fs.close(f);
    hooks.reached('lock-written');
    return true;
  } catch (err) {
    if (file !== undefined) await fs.close(file).catch(() => undefined);
    const removed = await fs.unlink(path).then(
      () => true,
      (e: unknown) => errnoCode(e) === 'ENOENT',
    );
    if (!removed) leftBehind();
    throw storeIoError(step, path, err);
  }
}

type Verdict = { readonly stale: true; readonly reason: string } | { readonly stale: false; readonly message: string };

/**
 * The writer lock on one store directory. Obtain it with
 * {@link FsWriterLock.acquire} (stores do this in `acquireWriter`).
 */
export class FsWriterLock implements WriterLock {
  /** The directory this lock guards. */
  readonly dir: string;
  /** Path of the lock file. */
  readonly path: string;
  /** What this acquisition wrote into the lock file. */
  readonly info: LockInfo;
  readonly #fs: FsOps;
  readonly #description: string;
  #released = false;

  private constructor(dir: string, path: string, info: LockInfo, fs: FsOps, description: string) {
    this.dir = dir;
    this.path = path;
    this.info = info;
    this.#fs = fs;
    this.#description = description;
  }

  /** True once {@link FsWriterLock.release} was called. */
  get released(): boolean {
    return this.#released;
  }

  /**
   * Take the writer lock of `dir` (which must exist), recovering a stale one.
   *
   * @throws CkptError `CKPT_ERR_LOCKED` when a live process holds it (after `waitMs`),
   *   `CKPT_ERR_STORE_IO` when the lock file cannot be created or read,
   *   `CKPT_ERR_INVALID_ARGUMENT` for a bad `waitMs`
   */
  static async acquire(directory: string, options: FsLockOptions = {}): Promise<FsWriterLock> {
    const dir = resolve(directory);
    const fs = options.fs ?? nodeFsOps;
    const hooks = options.hooks ?? NO_FS_STORE_HOOKS;
    const waitMs = options.waitMs ?? 0;
    if (typeof waitMs !== 'number' || Number.isNaN(waitMs) || waitMs < 0) {
      throw new CkptError(ErrorCodes.INVALID_ARGUMENT, `Invalid waitMs ${String(waitMs)}: it must be a number ≥ 0 (ms).`);
    }
    const pollMs = Math.max(1, options.pollMs ?? DEFAULT_LOCK_POLL_MS);
    const unreadableStaleMs = options.unreadableStaleMs ?? DEFAULT_UNREADABLE_STALE_MS;
    const description = options.description ?? `fs:${dir}`;
    const perm = options.mode ?? DEFAULT_FILE_MODE;
    const path = join(dir, LOCK_FILE_NAME);
    const host = osHostname();
    const procStart = await readProcStart(fs, process.pid);
    const started = Date.now();
    const deadline = started + waitMs;
    let quickRetries = 0;
    // Locks we created but could not confirm (moved aside by a recovering
    // process, which may put them back). If one turns up at the path later it
    // is ours: adopt it rather than wait forever on our own token.
    const unconfirmed = new Map<string, LockInfo>();

    for (;;) {
      let busy: string;
      if (quickRetries >= MAX_QUICK_RETRIES) {
        busy = `The writer lock ${path} of ${description} kept changing while ckpt tried to take it (other processes are competing for it).`;
        quickRetries = 0;
      } else {
        const info: LockInfo = {
          pid: process.pid,
          hostname: host,
          token: randomBytes(16).toString('hex'),
          startedAt: new Date().toISOString(),
          procStart,
        };
        const bytes = Buffer.from(JSON.stringify(info) + '\n', 'utf8');
        const created = await createExclusive(fs, hooks, path, bytes, perm, () => orphans.set(path, { info, bytes }));
        if (created) {
          // Confirm the file at the path is ours: a process recovering the
          // previous (stale) lock could have moved ours aside in the instant
          // between our create and write. Then it is not ours: just try again.
          let now: Observed | undefined;
          try {
            now = await observe(fs, path);
          } catch (err) {
            // Our lock file exists but cannot be read back: remember it, so a
            // later attempt (once the disk works again) adopts it.
            orphans.set(path, { info, bytes });
            throw err;
          }
          if (now !== undefined && parseLockInfo(now.raw)?.token === info.token) {
            return new FsWriterLock(dir, path, info, fs, description);
          }
          unconfirmed.set(info.token, info);
          quickRetries++;
          continue;
        }
        const observed = await observe(fs, path);
        if (observed === undefined) {
          quickRetries++; // released between our create and our read
          continue;
        }
        const mine = unconfirmed.get(parseLockInfo(observed.raw)?.token ?? '');
        if (mine !== undefined) return new FsWriterLock(dir, path, mine, fs, description);
        const orphan = orphans.get(path);
        if (orphan !== undefined && bytesEqual(observed.raw, orphan.bytes)) {
          orphans.delete(path);
          return new FsWriterLock(dir, path, orphan.info, fs, description);
        }
        const incomplete = orphan !== undefined && isPrefixOf(observed.raw, orphan.bytes);
        const verdict: Verdict = incomplete
          ? { stale: true, reason: 'an incomplete lock file this process created when the filesystem failed' }
          : await judge(fs, path, description, observed, host, unreadableStaleMs);
        if (verdict.stale) {
          const outcome = await recoverStale(fs, hooks, path, observed, bytes, host, unreadableStaleMs, perm);
          if (incomplete) orphans.delete(path);
          if (outcome === 'recovered') {
            quickRetries++;
            continue;
          }
          busy = `Another process is recovering the stale writer lock ${path} of ${description} (${verdict.reason}); retry, or wait with acquireWriter({ waitMs }).`;
        } else {
          busy = verdict.message;
        }
      }
      const remaining = deadline - Date.now();
      if (remaining <= 0) {
        const waited = waitMs > 0 ? ` (waited ${Date.now() - started} ms)` : '';
        throw new CkptError(ErrorCodes.LOCKED, busy + waited);
      }
      quickRetries = 0;
      await sleep(Math.min(pollMs, remaining));
    }
  }

  /**
   * Check that the lock file still holds this acquisition's token.
   *
   * @throws CkptError `CKPT_ERR_LOCKED` when it was released, removed or taken
   *   over; `CKPT_ERR_STORE_IO` when the lock file cannot be read
   */
  async assertHeld(): Promise<void> {
    if (this.#released) {
      throw new CkptError(
        ErrorCodes.LOCKED,
        `The writer lock of ${this.#description} was released; acquire it again (store.acquireWriter()) before writing.`,
      );
    }
    let raw: Uint8Array;
    try {
      raw = await this.#fs.readFile(this.path);
    } catch (err) {
      if (errnoCode(err) === 'ENOENT') {
        throw new CkptError(
          ErrorCodes.LOCKED,
          `The writer lock of ${this.#description} was lost: ${this.path} was removed by someone else. ` +
            `Stop writing to this store and acquire the lock again.`,
        );
      }
      throw storeIoError('reading the writer lock', this.path, err);
    }
    const current = parseLockInfo(raw);
    if (current?.token !== this.info.token) {
      const owner =
        current === undefined
          ? 'now holds unreadable content'
          : `now belongs to pid ${current.pid} on host ${current.hostname} (since ${current.startedAt})`;
      throw new CkptError(
        ErrorCodes.LOCKED,
        `The writer lock of ${this.#description} was lost: ${this.path} ${owner}. ` +
          `Another process judged this lock stale or removed it. Stop writing to this store and acquire the lock again.`,
      );
    }
  }

  /**
   * Release the lock: delete the lock file if it still holds this
   * acquisition's token (never someone else's). Idempotent.
   *
   * @throws CkptError `CKPT_ERR_STORE_IO` when the lock file cannot be read or
   *   removed (the lock then stays on disk until this process exits and it turns stale)
   */
  async release(): Promise<void> {
    if (this.#released) return;
    this.#released = true;
    let raw: Uint8Array;
    try {
      raw = await this.#fs.readFile(this.path);
    } catch (err) {
      if (errnoCode(err) === 'ENOENT') return;
      throw storeIoError('reading the writer lock', this.path, err);
    }
    if (parseLockInfo(raw)?.token !== this.info.token) return;
    try {
      await this.#fs.unlink(this.path);
    } catch (err) {
      if (errnoCode(err) === 'ENOENT') return;
      throw storeIoError('removing the writer lock', this.path, err);
    }
  }
}

/** Decide whether an observed lock file is stale, and if not, what to tell the user. */
async function judge(
  fs: FsOps,
  path: string,
  description: string,
  observed: Observed,
  host: string,
  unreadableStaleMs: number,
): Promise<Verdict> {
  const info = parseLockInfo(observed.raw);
  if (info === undefined) {
    // Its writer may have died between create and write — or may be between
    // them right now. Only age tells the two apart.
    const age = Math.round(Date.now() - observed.stat.mtimeMs);
    if (age >= unreadableStaleMs) return { stale: true, reason: `unreadable lock file, ${age} ms old` };
    return {
      stale: false,
      message:
        `The writer lock ${path} of ${description} cannot be read yet (it is ${Math.max(age, 0)} ms old; a writer may be ` +
        `creating it right now). Retry in a few seconds; if no checkpointer uses this store, delete the file.`,
    };
  }
  const holder = `pid ${info.pid} on host ${info.hostname} (since ${info.startedAt})`;
  if (info.hostname !== host) {
    return {
      stale: false,
      message:
        `Store ${description} is locked by ${holder}. ckpt cannot tell whether a process on another host is alive, ` +
        `so it treats the lock as live. If that process is gone, delete ${path}.`,
    };
  }
  if (!isProcessAlive(info.pid)) return { stale: true, reason: `pid ${info.pid} is not running` };
  const stat = await readProcStat(fs, info.pid);
  if (stat?.state === 'Z') {
    return { stale: true, reason: `pid ${info.pid} has exited (a zombie its parent has not reaped yet)` };
  }
  if (info.procStart !== null) {
    const now = stat?.start ?? null;
    if (now !== null && now !== info.procStart) {
      return { stale: true, reason: `pid ${info.pid} now belongs to another process` };
    }
  }
  const who = info.pid === process.pid ? `this process (pid ${info.pid}; another store handle or Checkpointer here)` : holder;
  return {
    stale: false,
    message:
      `Store ${description} is locked by ${who}: another writer is using it. Stop that writer or release its lock, ` +
      `wait for it (acquireWriter({ waitMs })), or use a different directory.`,
  };
}

/**
 * Recovery-token files this process created and could not remove again (the
 * disk failed). No recovery of ours runs on them any more, so they are dead
 * leftovers, not a live recoverer (the same pid would look alive forever).
 * Process-wide for the same reason as {@link orphans}.
 */
const leftTokens = new Set<string>();

/** Most recovery generations tried for one stale lock before reporting it busy (each needs a dead recoverer). */
const MAX_RECOVERY_GENERATIONS = 64;

/**
 * Remove a lock file judged stale, so that exactly one process does it.
 *
 * The right to remove a given stale lock is a recovery token: a file named
 * after that lock's identity (inode and content hash) and a generation,
 * `.ckpt-lock.stale-<identity>.<gen>`, created with O_EXCL and holding the
 * recoverer's own lock record. Whoever creates it looks at the lock again and
 * unlinks it only if it is still the very file judged stale. Nobody else can
 * change that file meanwhile: creators need the path free, its holder is
 * dead, and every other recoverer of it is excluded by the token. A token
 * whose holder died in turn (crash mid-recovery) is passed over by creating
 * the next generation — again with O_EXCL, so one process gets it. Nothing is
 * ever moved aside, so a live holder's lock is never touched.
 *
 * `recovered`: the stale lock is gone (we removed it, or it was already
 * replaced). `busy`: another live process is recovering it right now.
 */
async function recoverStale(
  fs: FsOps,
  hooks: FsStoreHooks,
  path: string,
  judged: Observed,
  me: Uint8Array,
  host: string,
  unreadableStaleMs: number,
  perm: number,
): Promise<'recovered' | 'busy'> {
  const identity = `${judged.stat.ino}-${createHash('sha256').update(judged.raw).digest('hex').slice(0, 16)}`;
  const tokenPath = (gen: number): string => join(dirname(path), `${STALE_LOCK_PREFIX}${identity}.${gen}`);
  let held = 0;
  for (let gen = 1; gen <= MAX_RECOVERY_GENERATIONS && held === 0; gen++) {
    const token = tokenPath(gen);
    const created = await createExclusive(fs, hooks, token, me, perm, () => leftTokens.add(token));
    if (created) {
      held = gen;
      break;
    }
    if (leftTokens.has(tokenPath(gen))) continue; // our own dead leftover: pass it over
    const other = await observe(fs, tokenPath(gen));
    if (other === undefined) {
      gen--; // removed by a recoverer that finished: try this generation again
      const now = await observe(fs, path);
      if (now === undefined || !sameFile(now, judged)) return 'recovered';
      continue;
    }
    const verdict = await judge(fs, tokenPath(gen), 'a stale-lock recovery', other, host, unreadableStaleMs);
    if (!verdict.stale) return 'busy';
  }
  if (held === 0) return 'busy';
  try {
    const now = await observe(fs, path);
    if (now !== undefined && sameFile(now, judged)) {
      await fs.unlink(path).catch((err: unknown) => {
        if (errnoCode(err) !== 'ENOENT') throw storeIoError('removing a stale writer lock', path, err);
      });
    }
    return 'recovered';
  } finally {
    // The stale lock is gone for good, so its tokens mean nothing any more
    // (leftovers are removed by cleanup()).
    for (let gen = held; gen >= 1; gen--) {
      const t = tokenPath(gen);
      const removed = await fs.unlink(t).then(
        () => true,
        (e: unknown) => errnoCode(e) === 'ENOENT',
      );
      if (removed) leftTokens.delete(t);
      else if (gen === held) leftTokens.add(t);
    }
  }
}

/** The same lock file as observed before: same bytes, inode, size and mtime. */
function sameFile(a: Observed, b: Observed): boolean {
  return bytesEqual(a.raw, b.raw) && a.stat.ino === b.stat.ino && a.stat.size === b.stat.size && a.stat.mtimeMs === b.stat.mtimeMs;
}
