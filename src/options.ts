/**
 * @module options
 *
 * The options a {@link Checkpointer} is created with and the options of its
 * calls (`checkpoint()`, `loop()`), and their validation: every option is
 * checked once, when it is given, and turned into the settings the runtime
 * modules use. A bad option fails with `CKPT_ERR_INVALID_ARGUMENT` naming the
 * option and what it accepts.
 */
import { availableParallelism } from 'node:os';
import { CkptError, ErrorCodes } from './errors.js';
import type { CkptWarning } from './events.js';
import {
  DEFAULT_BLOB_THRESHOLD,
  DEFAULT_COMPRESSION_LEVEL,
  DEFAULT_MAX_DEPTH,
  DEFAULT_MAX_SEGMENT_BYTES,
  DEFAULT_SEGMENT_SIZE,
} from './image/constants.js';
import type { MetaValue } from './image/index-model.js';
import type { ReadLimits, ReadOptions } from './image/reader.js';
import { keySource, type EncryptionOptions } from './crypto/keys.js';
import type { PersistMode } from './lifecycle/checkpoint-run.js';
import type { UnregisteredResourcesMode } from './lifecycle/open-resources.js';
import { toTriggerPolicies, type EveryOptions, type TriggerPolicy } from './lifecycle/policies.js';
import { signalSettings, type SignalOptions, type SignalSettings } from './lifecycle/signals.js';
import type { CheckpointContext } from './provider/provider.js';
import { toPolicies, type RetentionOptions, type RetentionPolicy } from './retention/policy.js';
import { FsStore } from './store/fs-store.js';
import { isS3Url } from './store/s3-url.js';
import { S3UrlStore } from './store/s3-url-store.js';
import type { Store } from './store/store.js';

/** Compression settings. */
export interface CompressionOptions {
  /** zstd level, 1 (fastest) to 19 (smallest); default 3. */
  readonly level?: number;
  /**
   * Worker threads that compress and decompress the segments of large images
   * — and seal and open them, in an encrypted image
   * (8 MiB of state and more; smaller ones stay on the calling thread, where
   * a thread round trip would cost more), in parallel with writing; default
   * `os.availableParallelism()`. `0`: everything on the calling thread.
   * Threads start at the first large image, never keep the process alive
   * while idle, and end with `close()`.
   */
  readonly threads?: number;
  /**
   * Of those threads, how many may work while the application runs: the
   * compression and write of an async persist after the app was let go, and
   * the preparation of its capture memory. Default
   * `os.availableParallelism() − 1` (at least 1, at most `threads`), so
   * background work leaves the app's own thread a core; 1 to `threads`.
   * While the app is held (a sync checkpoint, an async capture, a restore)
   * every thread works.
   */
  readonly backgroundThreads?: number;
}

/**
 * Incremental images (see `docs/incremental.md`): segments that did not
 * change since the previous image are stored by reference to the image that
 * holds their bytes, instead of being written again.
 */
export interface IncrementalOptions {
  /**
   * Every `fullEvery`-th image is written in full (1..1024, default 16): it
   * bounds how many images a restore reads and how many images one damaged
   * segment takes down. `1`: every image is full.
   */
  readonly fullEvery?: number;
  /**
   * How a changed segment is written: `'segments'` (default) in full;
   * `'xor'` as zstd(current XOR previous) of the large binary values (typed
   * arrays), which is small when few elements changed, even scattered ones.
   * `'xor'` keeps a copy of those values between checkpoints (+1× their size in memory).
   */
  readonly delta?: 'segments' | 'xor';
}

/** Options of a {@link Checkpointer}. */
export interface CheckpointerOptions {
  /**
   * Where images live: a directory path (an {@link FsStore}), an
   * `s3://bucket/prefix/` URL (an `S3Store` from `ckpt/s3`, loaded on first
   * use; needs the peer dependency `@aws-sdk/client-s3`; region, endpoint and
   * credentials from the AWS SDK's usual environment — see docs/s3.md), or
   * any {@link Store}.
   */
  readonly store: string | Store;
  /** Which images to keep after each commit. Default: keep all. */
  readonly retention?: RetentionOptions | readonly RetentionPolicy[];
  /** zstd settings. */
  readonly compression?: CompressionOptions;
  /** Application name recorded in each image's manifest. */
  readonly app?: string;
  /** Raw bytes per segment (default 4 MiB; 64 KiB .. 64 MiB). */
  readonly segmentSize?: number;
  /** Binary values of at least this many bytes are stored as raw blob segments (default 64 KiB). */
  readonly blobThreshold?: number;
  /** Maximum nesting depth of a state (default 2000). */
  readonly maxDepth?: number;
  /**
   * Limits applied when reading images (defaults in `docs/reliability.md`).
   * A checkpoint whose image would exceed them fails with `CKPT_ERR_LIMIT`
   * naming the option, and nothing is written.
   */
  readonly limits?: ReadLimits;
  /**
   * How long to wait for the store's writer lock, in ms (default 0: fail at
   * once with `CKPT_ERR_LOCKED`). The lock is taken by `restore()` and
   * `loop()` before anything is restored, or else by the first checkpoint.
   */
  readonly lockWaitMs?: number;
  /**
   * Only restore, plan and list: never take the writer lock (so a running
   * writer does not block this process); `checkpoint()`, `loop()` and a
   * checkpoint at `safepoint()` fail with `CKPT_ERR_READ_ONLY`. Default false.
   */
  readonly readOnly?: boolean;
  /**
   * Open handles (sockets, servers, child processes, file handles) that no
   * registered resource owns, checked at each checkpoint: `'warn'` (default:
   * one `CKPT_WARN_UNREGISTERED_RESOURCES` warning when the set changes),
   * `'error'` (refuse the checkpoint with `CKPT_ERR_UNREGISTERED_RESOURCES`)
   * or `'off'`. See `docs/resources.md`.
   */
  readonly unregisteredResources?: UnregisteredResourcesMode;
  /** A provider in the image that is not registered: `'error'` (default) or `'ignore'`. */
  readonly unknownProviders?: 'error' | 'ignore';
  /** A registered provider missing from the image: `'error'` (default) or `'allow'` (its restore is not called). */
  readonly missingProviders?: 'error' | 'allow';
  /**
   * When image bytes are written relative to the application. `'sync'`
   * (default): the app is held until the image is written (no copy of large
   * arrays). `'async'`: the app runs again right after capture (large arrays
   * are copied once); compression and writing continue in the background.
   */
  readonly persist?: PersistMode;
  /** When `safepoint()` and `loop()` checkpoint by default (`loop({ every })` overrides). */
  readonly every?: EveryOptions | readonly TriggerPolicy[];
  /**
   * Signal handling, installed while `loop()` runs and from the first
   * `safepoint()` until `close()`. Default: SIGTERM/SIGINT stop, SIGUSR2
   * checkpoints. `false`: install nothing.
   */
  readonly signals?: SignalOptions | false;
  /** Longest the checkpoint taken on a stop may take, in ms; past it the stop fails with `CKPT_ERR_DEADLINE` (default: no limit). */
  readonly stopDeadlineMs?: number;
  /** A loop of synchronous iterations gives the event loop a turn at least this often, in ms (default 10). */
  readonly yieldEveryMs?: number;
  /**
   * Write only what changed since the previous image (`true`, or
   * {@link IncrementalOptions}); default false. Incremental images are written
   * in format 3. See `docs/incremental.md`.
   */
  readonly incremental?: boolean | IncrementalOptions;
  /**
   * Encrypt images at rest (AES-256-GCM, a fresh data key per image wrapped
   * by a keyring key, a passphrase or a KMS; format 4): `{ keys: { k2, k1 },
   * current: 'k2' }`, `{ passphrase }` or `{ kms: { wrap, unwrap } }`, with
   * `allowPlaintext` to read unencrypted images while migrating. Restore then
   * refuses plaintext images (`CKPT_ERR_NOT_ENCRYPTED`) and fails, never
   * falls back, when the key is wrong or missing (`CKPT_ERR_KEY`). With
   * `incremental`, images are format 5 and a referenced segment keeps the
   * key of the image that holds it. See `docs/encryption.md`.
   */
  readonly encryption?: EncryptionOptions;
}

/** Options of {@link Checkpointer.loop}. */
export interface LoopOptions {
  /** Run until this many steps have completed (default: forever). */
  readonly until?: number;
  /** When to checkpoint during this loop (default: the Checkpointer's `every`). */
  readonly every?: EveryOptions | readonly TriggerPolicy[];
  /** Restore the latest image before the first iteration and continue from its step (default true). */
  readonly restore?: boolean;
  /** Checkpoint once more when `until` is reached (default true), so a restart does not redo work. */
  readonly checkpointAtEnd?: boolean;
}

/** Options of one {@link Checkpointer.checkpoint} call. */
export interface CheckpointOptions {
  /** The application's step (loop iteration) at this checkpoint; recorded in the image. */
  readonly step?: number;
  /** A label (e.g. `"before-deploy"`); recorded in the image, and retention can keep labelled images. */
  readonly label?: string;
  /**
   * User metadata recorded in the image's manifest (`ImageInfo.meta`), e.g.
   * `{ gitSha: 'abc123', epoch: 3 }`: at most 64 keys; values are strings (≤ 1024
   * characters), finite numbers, booleans or null.
   */
  readonly meta?: Readonly<Record<string, MetaValue>>;
}

/** A `CKPT_ERR_INVALID_ARGUMENT` error. */
export function invalid(message: string): CkptError {
  return new CkptError(ErrorCodes.INVALID_ARGUMENT, message);
}

function intInRange(v: unknown, name: string, min: number, max: number): number {
  if (typeof v !== 'number' || !Number.isSafeInteger(v) || v < min || v > max) {
    throw invalid(`${name} must be an integer from ${min} to ${max}, got ${String(v)}`);
  }
  return v;
}

function oneOf<T extends string>(v: unknown, name: string, allowed: readonly T[]): T {
  if (allowed.includes(v as T)) return v as T;
  const list = allowed.map((a) => `'${a}'`);
  throw invalid(`${name} must be ${list.slice(0, -1).join(', ')} or ${list.at(-1)!}, got ${String(v)}`);
}

/**
 * `compression.backgroundThreads`, validated against `threads`: default one
 * core fewer than the machine has (the app's), at least 1, at most `threads`.
 */
function backgroundThreadsOf(v: unknown, threads: number): number {
  if (v === undefined) return Math.min(Math.max(1, threads), Math.max(1, availableParallelism() - 1));
  const n = intInRange(v, 'compression.backgroundThreads', 1, 1024);
  // With threads 0 nothing runs on threads: any valid count is moot.
  if (threads > 0 && n > threads) throw invalid(`compression.backgroundThreads must be at most compression.threads (${threads}), got ${n}; raise compression.threads or lower backgroundThreads`);
  return n;
}

/** {@link CheckpointerOptions}, validated, with every default applied. */
export interface CheckpointerSettings {
  readonly store: Store;
  readonly retention: readonly RetentionPolicy[];
  readonly level: number;
  /** Compression threads (0: none, everything on the calling thread). */
  readonly threads: number;
  /** Of those, the threads that may work while the app runs (≥ 1, ≤ threads unless threads is 0). */
  readonly backgroundThreads: number;
  readonly segmentSize: number;
  readonly blobThreshold: number;
  readonly maxDepth: number;
  /** Read limits, and the keys of encrypted images (`encryption`). */
  readonly limits: ReadOptions;
  readonly app: string | null;
  readonly lockWaitMs: number;
  readonly readOnly: boolean;
  readonly unregisteredResources: UnregisteredResourcesMode;
  readonly unknownProviders: 'error' | 'ignore';
  readonly missingProviders: 'error' | 'allow';
  readonly persist: PersistMode;
  /** The default trigger policies (`every`). */
  readonly every: readonly TriggerPolicy[];
  /** Signal handling; undefined with `signals: false`. */
  readonly signals: SignalSettings | undefined;
  readonly stopDeadlineMs: number | undefined;
  readonly yieldEveryMs: number;
  /** Incremental images; undefined when off. */
  readonly incremental: IncrementalSettings | undefined;
}

/** {@link IncrementalOptions}, validated, with the defaults applied. */
export interface IncrementalSettings {
  readonly fullEvery: number;
  readonly delta: 'segments' | 'xor';
}

/** Default {@link IncrementalOptions.fullEvery}. */
export const DEFAULT_FULL_EVERY = 16;

/** Validate the `incremental` option. */
export function incrementalSettings(v: unknown): IncrementalSettings | undefined {
  if (v === undefined || v === false) return undefined;
  if (v === true) return { fullEvery: DEFAULT_FULL_EVERY, delta: 'segments' };
  if (typeof v !== 'object' || v === null || Array.isArray(v)) {
    throw invalid(`incremental must be true, false or { fullEvery?: number, delta?: 'segments' | 'xor' }, got ${Array.isArray(v) ? 'an array' : v === null ? 'null' : typeof v}`);
  }
  const o = v as Record<string, unknown>;
  for (const k of Object.keys(o)) {
    if (k !== 'fullEvery' && k !== 'delta') throw invalid(`incremental: unknown option ${JSON.stringify(k)} (known: fullEvery, delta)`);
  }
  const fullEvery = intInRange(o['fullEvery'] ?? DEFAULT_FULL_EVERY, 'incremental.fullEvery', 1, 1024);
  const delta = oneOf(o['delta'] ?? 'segments', 'incremental.delta', ['segments', 'xor'] as const);
  return { fullEvery, delta };
}

/**
 * Validate the options of `new Checkpointer()` and apply the defaults. A
 * directory path becomes an {@link FsStore} whose warnings go to `warn`.
 */
export function checkpointerSettings(options: CheckpointerOptions, warn: (w: CkptWarning) => void): CheckpointerSettings {
  if (typeof options !== 'object' || options === null) throw invalid('new Checkpointer() needs options: { store: "./checkpoints" }');
  const s = options.store;
  let store: Store;
  if (typeof s === 'string') {
    if (s.length === 0) throw invalid('store must be a non-empty directory path or a Store');
    store = isS3Url(s) ? new S3UrlStore(s) : new FsStore(s, { onWarning: warn });
  } else if (typeof s === 'object' && s !== null && typeof s.list === 'function' && typeof s.create === 'function') {
    store = s;
  } else {
    throw invalid('store must be a directory path or a Store (FsStore, MemoryStore, …)');
  }
  const retention = toPolicies(options.retention);
  const level = intInRange(options.compression?.level ?? DEFAULT_COMPRESSION_LEVEL, 'compression.level', 1, 19);
  const threads = intInRange(options.compression?.threads ?? availableParallelism(), 'compression.threads', 0, 1024);
  const backgroundThreads = backgroundThreadsOf(options.compression?.backgroundThreads, threads);
  const segmentSize = intInRange(options.segmentSize ?? DEFAULT_SEGMENT_SIZE, 'segmentSize', 64 * 1024, DEFAULT_MAX_SEGMENT_BYTES);
  const blobThreshold = intInRange(options.blobThreshold ?? DEFAULT_BLOB_THRESHOLD, 'blobThreshold', 1, 2 ** 40);
  const maxDepth = intInRange(options.maxDepth ?? DEFAULT_MAX_DEPTH, 'maxDepth', 1, 100_000);
  // Reads must accept what this Checkpointer writes: with a maxDepth above the
  // read default, its own images would otherwise be rejected as corrupt.
  let limits: ReadOptions = { maxDepth: Math.max(maxDepth, DEFAULT_MAX_DEPTH), ...options.limits };
  if (options.app !== undefined && typeof options.app !== 'string') throw invalid('app must be a string');
  const app = options.app ?? null;
  const lockWaitMs = intInRange(options.lockWaitMs ?? 0, 'lockWaitMs', 0, 2 ** 31);
  const readOnly = options.readOnly ?? false;
  if (typeof readOnly !== 'boolean') throw invalid(`readOnly must be a boolean, got ${String(readOnly)}`);
  const unregisteredResources = oneOf(options.unregisteredResources ?? 'warn', 'unregisteredResources', ['warn', 'error', 'off'] as const);
  const unknownProviders = oneOf(options.unknownProviders ?? 'error', 'unknownProviders', ['error', 'ignore'] as const);
  const missingProviders = oneOf(options.missingProviders ?? 'error', 'missingProviders', ['error', 'allow'] as const);
  const persist = oneOf(options.persist ?? 'sync', 'persist', ['sync', 'async'] as const);
  const signals = signalSettings(options.signals);
  const stopDeadlineMs = options.stopDeadlineMs === undefined ? undefined : intInRange(options.stopDeadlineMs, 'stopDeadlineMs', 1, 2 ** 31 - 1);
  const yieldEveryMs = intInRange(options.yieldEveryMs ?? 10, 'yieldEveryMs', 1, 60_000);
  const every = toTriggerPolicies(options.every);
  const incremental = incrementalSettings(options.incremental);
  const keys = options.encryption === undefined ? undefined : keySource(options.encryption);
  if (keys !== undefined) limits = { ...limits, keys };
  return {
    store, retention, level, threads, backgroundThreads, segmentSize, blobThreshold, maxDepth, limits, app, lockWaitMs, readOnly,
    unregisteredResources, unknownProviders, missingProviders, persist, every, signals, stopDeadlineMs, yieldEveryMs,
    incremental,
  };
}

/** {@link LoopOptions}, validated. */
export interface LoopSettings {
  /** Steps to run to (Infinity: forever). */
  readonly until: number;
  /** This loop's own `every` (checked when the loop starts); undefined: the Checkpointer's. */
  readonly every: EveryOptions | readonly TriggerPolicy[] | undefined;
  readonly restore: boolean;
  readonly checkpointAtEnd: boolean;
}

/** Validate the options of `loop()`. */
export function loopSettings(options: LoopOptions): LoopSettings {
  if (typeof options !== 'object' || options === null) throw invalid('loop() options must be an object');
  const until = options.until ?? Infinity;
  if (typeof until !== 'number' || Number.isNaN(until) || until < 0 || (Number.isFinite(until) && !Number.isSafeInteger(until))) {
    throw invalid(`loop(): until must be a non-negative integer or Infinity, got ${String(until)}`);
  }
  return {
    until,
    every: options.every,
    restore: options.restore !== false,
    checkpointAtEnd: options.checkpointAtEnd !== false,
  };
}

/** Validate the step and label of `checkpoint()` into the context its hooks see. */
export function checkpointContext(options: CheckpointOptions): CheckpointContext {
  if (typeof options !== 'object' || options === null) throw invalid('checkpoint() options must be an object');
  if (options.step !== undefined && (typeof options.step !== 'number' || !Number.isFinite(options.step))) throw invalid(`checkpoint(): step must be a finite number, got ${String(options.step)}`);
  if (options.label !== undefined && (typeof options.label !== 'string' || options.label.length > 256)) throw invalid('checkpoint(): label must be a string of at most 256 characters');
  return { step: options.step ?? null, label: options.label ?? null };
}
