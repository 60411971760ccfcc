/**
 * @module checkpointer
 *
 * The `Checkpointer` facade: a registry of providers and resources, a store,
 * codec and retention settings, and the lifecycle of one checkpoint (the five
 * steps of DESIGN.md) and of one restore (newest valid image, fallback on
 * damage, migrations, restore in registration order). Checkpoints and restores
 * never overlap: calls are queued and run one at a time, in call order; each
 * `checkpoint()` call takes its own image. The phases themselves live in
 * `lifecycle/checkpoint-run.ts` and `lifecycle/restore-run.ts`.
 */
import { EventEmitter } from 'node:events';
import { availableParallelism } from 'node:os';
import { ClassRegistry } from './codec/class-registry.js';
import type { RestorePlan } from './convert/plan.js';
import { asError, CkptError, ErrorCodes, isCkptError } from './errors.js';
import {
  checkpointChannel,
  publish,
  restoreChannel,
  type CheckpointerEvents,
  type CkptWarning,
  WarningCodes,
} from './events.js';
import {
  DEFAULT_BLOB_THRESHOLD,
  DEFAULT_COMPRESSION_LEVEL,
  DEFAULT_MAX_DEPTH,
  DEFAULT_MAX_SEGMENT_BYTES,
  DEFAULT_SEGMENT_SIZE,
} from './image/constants.js';
import { imageInfo } from './image/image-info.js';
import { CaptureArena } from './image/capture.js';
import { ZstdPool } from './image/pool.js';
import { ImageReader, type ReadLimits } from './image/reader.js';
import { releaseEncoderMemory } from './codec/encode.js';
import { runCheckpoint, type CheckpointEnv, type PersistMode, type RunOptions } from './lifecycle/checkpoint-run.js';
import { checkMeta } from './lifecycle/meta.js';
import { planImage, runRestore, type RestoreEnv } from './lifecycle/restore-run.js';
import type { MetaValue } from './image/index-model.js';
import { toTriggerPolicies, type EveryOptions, type TriggerPolicy } from './lifecycle/policies.js';
import { SignalHandlers, signalSettings, type SignalOptions, type SignalSettings } from './lifecycle/signals.js';
import { Triggers } from './lifecycle/triggers.js';
import { Yielder } from './lifecycle/yielder.js';
import { afterCallerTurn, ObservedPromise } from './lifecycle/observed.js';
import { unregisteredHandles, unregisteredMessage, describeHandles, type UnregisteredResourcesMode } from './lifecycle/open-resources.js';
import { constants as osConstants } from 'node:os';
import type { CheckpointInfo, ImageInfo, RestoreResult } from './info.js';
import type { CheckpointContext, Provider, Resource } from './provider/provider.js';
import { Registry } from './provider/registry.js';
import { selectForDeletion, toPolicies, type RetentionOptions, type RetentionPolicy } from './retention/policy.js';
import { FsStore } from './store/fs-store.js';
import type { Store, WriterLock } from './store/store.js';

/** Compression settings. */
export interface CompressionOptions {
  /** zstd level, 1 (fastest) to 19 (smallest); default 3. */
  readonly level?: number;
  /**
   * Worker threads that compress and decompress the segments of large images
   * (8 MiB of state and more; smaller ones stay on the calling thread, where
   * a thread round trip would cost more), in parallel with writing; default
   * `os.availableParallelism()`. `0`: everything on the calling thread.
   * Threads start at the first large image, never keep the process alive
   * while idle, and end with `close()`.
   */
  readonly threads?: number;
}

/** Options of a {@link Checkpointer}. */
export interface CheckpointerOptions {
  /** Where images live: a directory path (an {@link FsStore}) or any {@link Store}. */
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

/** What {@link Checkpointer.safepoint} did. */
export interface SafepointResult {
  /** The checkpoint taken here, if any (in async persist mode: its capture; the commit may still be running). */
  readonly checkpointed: boolean;
  /** True when a stop was requested (signal or `requestStop`): a checkpoint was taken and the loop should end. */
  readonly stop: boolean;
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

/** A listener for the Checkpointer event `E`. */
export type CheckpointerListener<E extends keyof CheckpointerEvents> = (payload: CheckpointerEvents[E]) => void;

function invalid(message: string): CkptError {
  return new CkptError(ErrorCodes.INVALID_ARGUMENT, message);
}

function intInRange(v: unknown, name: string, min: number, max: number): number {
  if (typeof v !== 'number' || !Number.isSafeInteger(v) || v < min || v > max) {
    throw invalid(`${name} must be an integer from ${min} to ${max}, got ${String(v)}`);
  }
  return v;
}

/** How long close() waits for a stop checkpoint abandoned at its deadline. */
const ABANDONED_WAIT_MS = 2000;

/**
 * The facade an application creates: register providers, then `checkpoint()`
 * and `restore()`. See the module comment for the concurrency rule.
 *
 * @example
 * ```ts
 * const ckpt = new Checkpointer({ store: './checkpoints', retention: { keepLast: 3 } });
 * ckpt.register({ id: 'grid', snapshot: () => grid, restore: (s) => { grid = s; } });
 * await ckpt.restore();                 // undefined on the first run
 * await ckpt.checkpoint({ step: 1000 });
 * await ckpt.close();
 * ```
 */
export class Checkpointer {
  /** The store images are written to and read from. */
  readonly store: Store;
  readonly #registry = new Registry();
  readonly #classes = new ClassRegistry();
  readonly #events = new EventEmitter();
  readonly #policies: RetentionPolicy[];
  readonly #level: number;
  readonly #pool: ZstdPool | undefined;
  readonly #arena = new CaptureArena();
  readonly #segmentSize: number;
  readonly #blobThreshold: number;
  readonly #maxDepth: number;
  readonly #limits: ReadLimits;
  readonly #app: string | null;
  readonly #lockWaitMs: number;
  readonly #readOnly: boolean;
  readonly #unregisteredMode: UnregisteredResourcesMode;
  /** The unregistered handles reported last ('' = none), so each set is reported once. */
  #reportedHandles = '';
  /** Set by the first restore() call: later provider and class registrations are refused. */
  #restoreCalled = false;
  /** Warnings about a promise nobody awaited, given once per method. */
  readonly #notAwaitedWarned = new Set<string>();
  #stopped = false;
  readonly #unknownProviders: 'error' | 'ignore';
  readonly #missingProviders: 'error' | 'allow';
  readonly #persist: PersistMode;
  readonly #signalSettings: SignalSettings | undefined;
  readonly #stopDeadlineMs: number | undefined;
  readonly #yieldEveryMs: number;
  readonly #defaultTriggers: Triggers;
  #signalHandlers: SignalHandlers | undefined;
  #stopSignal: string | undefined;
  #requestLabel: string | null = null;
  #looping = false;
  /** Step of the last checkpoint taken at a safepoint, or of the image restored last: step policies count from it. */
  #lastCheckpointStep: number | null = null;
  /** Outcome of the last checkpoint taken at a safepoint (its commit may still run in async mode). */
  #lastRun: Promise<CheckpointInfo> | undefined;
  /** Whether the first safepoint() has started the default policies (and installed signal handlers). */
  #safepointsStarted = false;
  #yielder: Yielder | undefined;
  #pendingError: CkptError | undefined;
  /** A stop checkpoint missed its deadline and was abandoned. */
  #abandoned = false;
  #lock: WriterLock | undefined;
  /**
   * Leftovers may be in the store: set when the writer lock is taken and after
   * a failed checkpoint (whose temporary image may not have been removable
   * while the disk failed), cleared by a successful `store.cleanup()`.
   */
  #cleanupPending = false;

  /**
   * True when a checkpoint is due: a time policy fired, a signal arrived, or
   * `requestCheckpoint()`/`requestStop()` was called. A plain field, so
   * `if (ckpt.due) await ckpt.safepoint()` costs one property read. Read-only
   * for applications. Step policies are checked by `safepoint(step)` and `loop()`.
   */
  readonly due: boolean = false;
  #queue: Promise<unknown> = Promise.resolve();
  /** Checkpoints and restores called and not yet settled (queued or running). */
  #pending = 0;
  #closed = false;

  /** @param options - see {@link CheckpointerOptions} */
  constructor(options: CheckpointerOptions) {
    if (typeof options !== 'object' || options === null) throw invalid('new Checkpointer() needs options: { store: "./checkpoints" }');
    const s = options.store;
    if (typeof s === 'string') {
      if (s.length === 0) throw invalid('store must be a non-empty directory path or a Store');
      this.store = new FsStore(s, { onWarning: (w) => this.#warn(w) });
    } else if (typeof s === 'object' && s !== null && typeof s.list === 'function' && typeof s.create === 'function') {
      this.store = s;
    } else {
      throw invalid('store must be a directory path or a Store (FsStore, MemoryStore, …)');
    }
    this.#policies = toPolicies(options.retention);
    this.#level = intInRange(options.compression?.level ?? DEFAULT_COMPRESSION_LEVEL, 'compression.level', 1, 19);
    const threads = intInRange(options.compression?.threads ?? availableParallelism(), 'compression.threads', 0, 1024);
    this.#pool = threads === 0 ? undefined : new ZstdPool(threads);
    this.#segmentSize = intInRange(options.segmentSize ?? DEFAULT_SEGMENT_SIZE, 'segmentSize', 64 * 1024, DEFAULT_MAX_SEGMENT_BYTES);
    this.#blobThreshold = intInRange(options.blobThreshold ?? DEFAULT_BLOB_THRESHOLD, 'blobThreshold', 1, 2 ** 40);
    this.#maxDepth = intInRange(options.maxDepth ?? DEFAULT_MAX_DEPTH, 'maxDepth', 1, 100_000);
    // Reads must accept what this Checkpointer writes: with a maxDepth above the
    // read default, its own images would otherwise be rejected as corrupt.
    this.#limits = { maxDepth: Math.max(this.#maxDepth, DEFAULT_MAX_DEPTH), ...options.limits };
    if (options.app !== undefined && typeof options.app !== 'string') throw invalid('app must be a string');
    this.#app = options.app ?? null;
    this.#lockWaitMs = intInRange(options.lockWaitMs ?? 0, 'lockWaitMs', 0, 2 ** 31);
    const ro = options.readOnly ?? false;
    if (typeof ro !== 'boolean') throw invalid(`readOnly must be a boolean, got ${String(ro)}`);
    this.#readOnly = ro;
    const ur = options.unregisteredResources ?? 'warn';
    if (ur !== 'warn' && ur !== 'error' && ur !== 'off') throw invalid(`unregisteredResources must be 'warn', 'error' or 'off', got ${String(ur)}`);
    this.#unregisteredMode = ur;
    const up = options.unknownProviders ?? 'error';
    if (up !== 'error' && up !== 'ignore') throw invalid(`unknownProviders must be 'error' or 'ignore', got ${String(up)}`);
    this.#unknownProviders = up;
    const mp = options.missingProviders ?? 'error';
    if (mp !== 'error' && mp !== 'allow') throw invalid(`missingProviders must be 'error' or 'allow', got ${String(mp)}`);
    this.#missingProviders = mp;
    const persist = options.persist ?? 'sync';
    if (persist !== 'sync' && persist !== 'async') throw invalid(`persist must be 'sync' or 'async', got ${String(persist)}`);
    this.#persist = persist;
    this.#signalSettings = signalSettings(options.signals);
    this.#stopDeadlineMs = options.stopDeadlineMs === undefined ? undefined : intInRange(options.stopDeadlineMs, 'stopDeadlineMs', 1, 2 ** 31 - 1);
    this.#yieldEveryMs = intInRange(options.yieldEveryMs ?? 10, 'yieldEveryMs', 1, 60_000);
    this.#defaultTriggers = new Triggers(toTriggerPolicies(options.every), () => this.#setDue(true));
    // Arm time policies now (an unref'd timer that only flips `due`), so the
    // `if (ckpt.due) await ckpt.safepoint()` pattern works from the first iteration.
    this.#defaultTriggers.restart(0);
  }

  // ---------------------------------------------------------------- events

  /** Listen to an event. */
  on<E extends keyof CheckpointerEvents>(event: E, listener: CheckpointerListener<E>): this {
    this.#events.on(event, listener);
    return this;
  }

  /** Listen to an event once. */
  once<E extends keyof CheckpointerEvents>(event: E, listener: CheckpointerListener<E>): this {
    this.#events.once(event, listener);
    return this;
  }

  /** Stop listening. */
  off<E extends keyof CheckpointerEvents>(event: E, listener: CheckpointerListener<E>): this {
    this.#events.off(event, listener);
    return this;
  }

  #emit<E extends keyof CheckpointerEvents>(event: E, payload: CheckpointerEvents[E]): void {
    // An unhandled 'error' event would crash the app: emit it only when someone listens.
    if (event === 'error' && this.#events.listenerCount('error') === 0) return;
    try {
      this.#events.emit(event, payload);
    } catch (err) {
      // A throwing listener must not break a checkpoint that already committed.
      if (event !== 'warning') this.#warn({ code: WarningCodes.LISTENER_THREW, message: `a '${event}' listener threw: ${asError(err).message}`, error: asError(err) });
    }
  }

  #warn(w: CkptWarning): void {
    // Nobody listens: Node's convention for library warnings (stderr, with the
    // code; silenced by --no-warnings), so a fallback is never silent.
    if (this.#events.listenerCount('warning') === 0) {
      process.emitWarning(w.message, { type: 'CkptWarning', code: w.code });
      return;
    }
    this.#emit('warning', w);
  }

  /** After the caller's turn: warn (once per method) if the promise `p` returned by `what` was not awaited. */
  async #checkAwaited(p: ObservedPromise<unknown> | undefined, what: string): Promise<void> {
    if (p === undefined) return;
    await afterCallerTurn();
    if (p.observed || this.#notAwaitedWarned.has(what)) return;
    this.#notAwaitedWarned.add(what);
    this.#warn({
      code: WarningCodes.NOT_AWAITED,
      message:
        `${what} was called without await: it runs only when the caller yields, so ` +
        (what === 'restore()'
          ? 'the restored state overwrites whatever the program did after the call — await ckpt.restore() before using the state'
          : 'its image holds the state at that later moment, not at the call — await each ckpt.checkpoint()'),
    });
  }

  // ---------------------------------------------------------- registration

  #checkOpen(): void {
    if (this.#closed) throw new CkptError(ErrorCodes.CLOSED, 'this Checkpointer is closed; create a new one');
  }

  #checkIdle(what: string): void {
    this.#checkOpen();
    if (this.#pending > 0) throw new CkptError(ErrorCodes.BUSY, `cannot ${what} while a checkpoint or restore is pending or running; do it before the first checkpoint or between them`);
  }

  /**
   * Register a state provider. Returns a function that unregisters it.
   * Fails on an invalid provider, a duplicate id/alias, or while a checkpoint or
   * restore is pending (called and not yet settled) with `CKPT_ERR_BUSY`.
   */
  register<S>(provider: Provider<S>): () => void {
    this.#checkIdle('register a provider');
    this.#checkNotRestored('provider', typeof provider === 'object' && provider !== null ? String((provider as { id?: unknown }).id) : '?');
    const p = this.#registry.addProvider(provider);
    return () => {
      // A stale handle (called again after the id was re-registered) must not
      // remove the newer provider: remove only the registration it was made for.
      if (this.#registry.lookup(p.id) !== p) return;
      this.#checkIdle('unregister a provider');
      this.#registry.removeProvider(p.id);
    };
  }

  /** Register something that cannot be checkpointed (socket, timer, device). See `docs/resources.md`. */
  registerResource(resource: Resource): void {
    this.#checkIdle('register a resource');
    this.#registry.addResource(resource);
  }

  /**
   * Register a class so its instances can be part of state and restore with
   * their prototype. Instances are saved as their own enumerable properties
   * and restored without calling the constructor.
   *
   * @param ctor - the class
   * @param name - stable name stored in images (default: `ctor.name`); keep it when renaming the class
   */
  registerClass(ctor: abstract new (...args: never[]) => unknown, name?: string): void {
    this.#checkIdle('register a class');
    this.#checkNotRestored('class', name ?? (typeof ctor === 'function' ? ctor.name : '?'));
    this.#classes.register(ctor, name);
  }

  /** Providers and classes must be known when an image is read: refuse them after restore() was called. */
  #checkNotRestored(what: 'provider' | 'class', id: string): void {
    if (!this.#restoreCalled) return;
    throw new CkptError(
      ErrorCodes.LATE_REGISTRATION,
      `${what} ${JSON.stringify(id)} was registered after restore()/loop() had restored: the next restart could not restore its state — register every provider and class before restore()/loop()`,
      what === 'provider' ? { provider: id } : {},
    );
  }

  /** Ids of registered providers, in registration order. */
  get providerIds(): string[] {
    return this.#registry.providers.map((p) => p.id);
  }

  // ------------------------------------------------------------- plumbing

  #enqueue<T>(fn: () => Promise<T>): Promise<T> {
    // Busy from the call on, not only while running: a queued checkpoint reads
    // the registry when it starts, so a registration made in between would
    // silently change what a checkpoint the caller already asked for contains.
    this.#pending++;
    const run = this.#queue.then(async () => {
      try {
        this.#checkOpen();
        return await fn();
      } finally {
        this.#pending--;
      }
    });
    this.#queue = run.catch(() => undefined);
    return run;
  }

  async #writerLock(): Promise<WriterLock> {
    let lock = this.#lock;
    if (lock === undefined) {
      try {
        lock = await this.store.acquireWriter({ waitMs: this.#lockWaitMs });
      } catch (err) {
        if (!isCkptError(err, ErrorCodes.LOCKED)) throw err;
        // The store's hint names acquireWriter({ waitMs }); a Checkpointer user sets options.
        const who = err.message.split(/(?<=[.;]) (?=[A-Z]|release|wait)/)[0] ?? err.message;
        throw new CkptError(
          ErrorCodes.LOCKED,
          `${who} Stop that writer, let this one wait for it (new Checkpointer({ lockWaitMs })${this.#lockWaitMs > 0 ? `, now ${this.#lockWaitMs} ms` : ''}), ` +
            `open this one with readOnly: true if it only restores or inspects, or use another store.`,
          { cause: err },
        );
      }
      this.#lock = lock;
      this.#cleanupPending = true;
    }
    // At the first checkpoint, and again after a failed one or a failed
    // cleanup: a temp file the store could not remove while the disk failed
    // must not stay until the process exits.
    if (this.#cleanupPending) {
      try {
        const removed = await this.store.cleanup(lock);
        this.#cleanupPending = false;
        if (removed.length > 0) this.#warn({ code: WarningCodes.CLEANUP, message: `removed ${removed.length} leftover temporary file(s) of an interrupted checkpoint from ${this.store.description}` });
      } catch (err) {
        this.#warn({ code: WarningCodes.CLEANUP, message: `could not clean up leftovers in ${this.store.description} (retried at the next checkpoint): ${asError(err).message}`, error: asError(err) });
      }
    }
    return lock;
  }

  /** The writer lock before a restore; a store that cannot be locked for writing (read-only media) says how to restore anyway. */
  async #lockForRestore(): Promise<void> {
    try {
      await this.#writerLock();
    } catch (err) {
      if (isCkptError(err) && err.code !== ErrorCodes.STORE_IO) throw err;
      throw new CkptError(
        ErrorCodes.STORE_IO,
        `could not take the writer lock of ${this.store.description}: ${asError(err).message} — restore() takes it first; to only restore or inspect, create the Checkpointer with readOnly: true`,
        { cause: err },
      );
    }
  }

  /**
   * After a LOCKED failure: if the cached writer lock was lost (its file removed
   * or taken over), forget it. Otherwise every later checkpoint would fail on
   * the dead lock forever; the next one now acquires the lock the normal way
   * (and gets LOCKED only if someone else really holds it).
   */
  async #forgetLostLock(): Promise<void> {
    const lock = this.#lock;
    if (lock === undefined) return;
    try {
      await lock.assertHeld();
    } catch (err) {
      if (!isCkptError(err, ErrorCodes.LOCKED)) return;
      this.#lock = undefined;
      await lock.release().catch(() => undefined); // never removes a lock file that is not ours
    }
  }

  // ------------------------------------------------------------ checkpoint

  /**
   * Take a checkpoint: prepare → freeze → snapshot (capture) → write →
   * resume → commit → committed → retention. Resolves once the image is
   * durable and committed. On failure, rejects with `CKPT_ERR_SNAPSHOT_FAILED`
   * (provider/resource errors in `errors`), `CKPT_ERR_STORE_IO` or
   * `CKPT_ERR_LOCKED`; earlier images are untouched and every provider and
   * resource is still resumed. If a previous background persist failed and
   * nobody has been told yet, rejects with that failure first.
   *
   * With `persist: 'sync'` (default), state returned by `snapshot()` must not
   * be mutated by other code until the promise resolves: large binary values
   * are written from the live memory. `loop()` and `safepoint()` guarantee this.
   */
  checkpoint(options: CheckpointOptions = {}): Promise<CheckpointInfo> {
    let ctx: CheckpointContext;
    let meta: Readonly<Record<string, MetaValue>> | undefined;
    try {
      ctx = this.#checkpointContext(options);
      meta = checkMeta(options.meta);
      this.#checkWritable('checkpoint()');
      this.#throwPendingError();
    } catch (err) {
      return Promise.reject(asError(err));
    }
    const out = { promise: undefined as ObservedPromise<CheckpointInfo> | undefined };
    const committed = this.#startCheckpoint(ctx, this.#persist, meta === undefined ? {} : { meta }, () => this.#checkAwaited(out.promise, 'checkpoint()')).committed;
    out.promise = ObservedPromise.of(committed);
    return out.promise;
  }

  #checkWritable(what: string): void {
    if (this.#readOnly) throw new CkptError(ErrorCodes.READ_ONLY, `${what} cannot checkpoint: this Checkpointer was created with readOnly: true (it only restores and inspects); create it without readOnly to write images`);
  }

  /**
   * Open handles no registered resource owns: warn once per set, or refuse
   * (`unregisteredResources: 'error'`). Checked at the call, before the freeze.
   */
  #checkOpenHandles(): void {
    if (this.#unregisteredMode === 'off') return;
    const counts = unregisteredHandles(this.#registry.resources);
    const desc = describeHandles(counts);
    if (desc === '') {
      this.#reportedHandles = '';
      return;
    }
    if (this.#unregisteredMode === 'error') throw new CkptError(ErrorCodes.UNREGISTERED_RESOURCES, `checkpoint refused: ${unregisteredMessage(counts)}`);
    if (desc === this.#reportedHandles) return;
    this.#reportedHandles = desc;
    this.#warn({ code: WarningCodes.UNREGISTERED_RESOURCES, message: unregisteredMessage(counts) });
  }

  #checkpointContext(options: CheckpointOptions): CheckpointContext {
    this.#checkOpen();
    if (typeof options !== 'object' || options === null) throw invalid('checkpoint() options must be an object');
    if (options.step !== undefined && (typeof options.step !== 'number' || !Number.isFinite(options.step))) throw invalid(`checkpoint(): step must be a finite number, got ${String(options.step)}`);
    if (options.label !== undefined && (typeof options.label !== 'string' || options.label.length > 256)) throw invalid('checkpoint(): label must be a string of at most 256 characters');
    return { step: options.step ?? null, label: options.label ?? null };
  }

  /** A background failure nobody has seen yet is thrown (once) by the next checkpoint() or close(). */
  #throwPendingError(): void {
    const e = this.#pendingError;
    if (e === undefined) return;
    this.#pendingError = undefined;
    throw e;
  }

  /**
   * Queue one checkpoint. `captured` resolves when the app may run again,
   * `committed` with the outcome. Runs are serialized with restores.
   */
  #startCheckpoint(
    ctx: CheckpointContext,
    mode: PersistMode,
    runOptions: RunOptions = {},
    beforeRun?: () => Promise<void>,
  ): { captured: Promise<number>; committed: Promise<CheckpointInfo> } {
    let release!: (pauseMs: number) => void;
    const captured = new Promise<number>((resolve) => (release = resolve));
    try {
      this.#checkOpenHandles();
    } catch (err) {
      release(0);
      return { captured, committed: Promise.reject(asError(err)) };
    }
    const committed = this.#enqueue(async () => {
      if (beforeRun !== undefined) await beforeRun();
      publish(checkpointChannel, { phase: 'start', step: ctx.step, label: ctx.label });
      const run = runCheckpoint(this.#env, ctx, mode, runOptions);
      void run.captured.then(release);
      try {
        const info = await run.committed;
        publish(checkpointChannel, { phase: 'end', info });
        this.#emit('checkpoint', info);
        return info;
      } catch (err) {
        const e = isCkptError(err) ? err : new CkptError(ErrorCodes.SNAPSHOT_FAILED, `checkpoint failed: ${asError(err).message}`, { cause: err });
        // Its temporary image may be left over (removal can fail like the write did).
        this.#cleanupPending = true;
        if (e.code === ErrorCodes.LOCKED) await this.#forgetLostLock();
        publish(checkpointChannel, { phase: 'error', error: e });
        throw e;
      }
    });
    // A run that never started (closed meanwhile) must still let the caller go.
    committed.then(
      () => undefined,
      () => release(0),
    );
    return { captured, committed };
  }

  /** The view of this Checkpointer a checkpoint run works with. */
  get #env(): CheckpointEnv {
    return {
      store: this.store,
      providers: this.#registry.providers,
      resources: this.#registry.resources,
      classes: this.#classes,
      level: this.#level,
      segmentSize: this.#segmentSize,
      blobThreshold: this.#blobThreshold,
      maxDepth: this.#maxDepth,
      app: this.#app,
      limits: this.#limits,
      ...(this.#pool === undefined ? {} : { pool: this.#pool }),
      arena: this.#arena,
      writerLock: () => this.#writerLock(),
      warn: (w) => this.#warn(w),
      afterCommit: () => this.#applyRetention(),
    };
  }

  async #applyRetention(): Promise<void> {
    if (this.#policies.length === 0 || this.#lock === undefined) return;
    try {
      const images = await this.#listInfos();
      for (const id of selectForDeletion(images, this.#policies)) {
        await this.store.delete(this.#lock, id);
      }
    } catch (err) {
      this.#warn({ code: WarningCodes.RETENTION_FAILED, message: `retention could not prune old images (the new image is committed): ${asError(err).message}`, error: asError(err) });
    }
  }

  // ----------------------------------------------------------------- list

  async #listInfos(): Promise<ImageInfo[]> {
    const out: ImageInfo[] = [];
    for (const entry of await this.store.list()) {
      try {
        const source = await this.store.open(entry.id);
        try {
          const reader = await ImageReader.open(source, this.#limits);
          out.push(imageInfo(reader));
        } finally {
          await source.close();
        }
      } catch (err) {
        if (!isCkptError(err)) throw err;
        // Not listed (and so never pruned): damaged, newer format, over a limit, or deleted meanwhile.
        if (err.code !== ErrorCodes.NOT_FOUND) {
          this.#warn({ code: WarningCodes.IMAGE_UNREADABLE, message: `image ${entry.id} in ${this.store.description} cannot be described and is left alone: ${err.message}`, error: err });
        }
      }
    }
    return out;
  }

  /**
   * Committed, readable images, newest first. Images that cannot be described
   * (damaged, newer format, over a limit) are left out with a
   * `CKPT_WARN_IMAGE_UNREADABLE` warning; retention never deletes them.
   */
  async list(): Promise<ImageInfo[]> {
    this.#checkOpen();
    return this.#listInfos();
  }

  // -------------------------------------------------------------- restore

  /**
   * Restore the newest valid image (or the image `imageId`). Resolves
   * `undefined` when the store holds no image at all. A damaged newest image is
   * reported (a `warning` event and `skipped` in the result) and the previous
   * one is used. Version, migration and provider-set problems fail closed:
   * nothing is restored and the error says what to do.
   *
   * Unless the Checkpointer is `readOnly`, the store's writer lock is taken
   * first (waiting up to `lockWaitMs`): with another writer running it fails
   * with `CKPT_ERR_LOCKED` before anything is restored. Register every
   * provider and class before calling it: later registrations fail with
   * `CKPT_ERR_LATE_REGISTRATION`. Await it: a call nobody awaits is reported
   * (`CKPT_WARN_NOT_AWAITED`).
   */
  restore(imageId?: string): Promise<RestoreResult | undefined> {
    try {
      this.#checkOpen();
      if (imageId !== undefined && typeof imageId !== 'string') throw invalid('restore(imageId): imageId must be a string');
    } catch (err) {
      return Promise.reject(asError(err));
    }
    this.#restoreCalled = true;
    const out = { promise: undefined as ObservedPromise<RestoreResult | undefined> | undefined };
    const run = this.#enqueue(async () => {
      await this.#checkAwaited(out.promise, 'restore()');
      // A writer takes the lock before restoring: a second writer fails here,
      // at once, instead of at its first checkpoint after redoing the work.
      if (!this.#readOnly) await this.#lockForRestore();
      publish(restoreChannel, { phase: 'start', imageId: imageId ?? null });
      try {
        const result = await runRestore(this.#restoreEnv, imageId);
        // Step policies of app-written loops (safepoint(step)) count from the restored step.
        if (result !== undefined) this.#lastCheckpointStep = result.image.step;
        publish(restoreChannel, { phase: 'end', result });
        if (result !== undefined) this.#emit('restore', result);
        return result;
      } catch (err) {
        const e = isCkptError(err) ? err : new CkptError(ErrorCodes.RESTORE_FAILED, `restore failed: ${asError(err).message}`, { cause: err });
        publish(restoreChannel, { phase: 'error', error: e });
        throw e;
      }
    });
    out.promise = ObservedPromise.of(run);
    return out.promise;
  }

  /**
   * The dry run of a restore: what restoring the image `imageId` (default: the
   * newest image whose metadata can be read) would do with the providers
   * registered now — per provider the saved id and version, the code's
   * version and the migration steps, and every blocking problem (the first of
   * `errors` is what `restore()` would throw). Reads only the image's index:
   * no state is decoded, no hook is called. Resolves `undefined` for an empty store.
   */
  plan(imageId?: string): Promise<RestorePlan | undefined> {
    try {
      this.#checkOpen();
      if (imageId !== undefined && typeof imageId !== 'string') throw invalid('plan(imageId): imageId must be a string');
    } catch (err) {
      return Promise.reject(asError(err));
    }
    return planImage(this.#restoreEnv, imageId);
  }

  /** The view of this Checkpointer a restore (or a plan) works with. */
  get #restoreEnv(): RestoreEnv {
    return {
      store: this.store,
      registry: this.#registry,
      classes: this.#classes,
      limits: this.#limits,
      ...(this.#pool === undefined ? {} : { pool: this.#pool }),
      unknownProviders: this.#unknownProviders,
      missingProviders: this.#missingProviders,
      warn: (w) => this.#warn(w),
    };
  }

  // -------------------------------------------------------------- runtime

  #setDue(value: boolean): void {
    (this as { due: boolean }).due = value;
  }

  /** Ask for a checkpoint at the next safepoint (`label` is recorded in the image). */
  requestCheckpoint(label?: string): void {
    this.#checkOpen();
    if (label !== undefined && typeof label !== 'string') throw invalid('requestCheckpoint(label): label must be a string');
    this.#requestLabel = label === undefined ? this.#requestLabel : label.slice(0, 256);
    this.#setDue(true);
  }

  /** Ask for a checkpoint at the next safepoint and then the end of the loop (what a stop signal does). */
  requestStop(reason = 'requested'): void {
    this.#checkOpen();
    this.#stopSignal ??= String(reason).slice(0, 200);
    this.#setDue(true);
  }

  /** True once a stop was requested (by a signal or `requestStop()`). */
  get stopping(): boolean {
    return this.#stopSignal !== undefined;
  }

  /**
   * True once a loop (or a `safepoint()`) ended because of a stop: its
   * checkpoint is committed, and the code after the loop runs because the
   * job was stopped, not because it finished. See `stopReason`, `stopExitCode`.
   */
  get stopped(): boolean {
    return this.#stopped;
  }

  /** Why the job stopped: the signal name (`'SIGTERM'`) or the `requestStop(reason)`; undefined until a stop is requested. */
  get stopReason(): string | undefined {
    return this.#stopSignal;
  }

  /**
   * The exit code to end the process with after a stop, undefined when not
   * stopped: `signals.exitCode` when set, else for a signal 128 + its number
   * (143 for SIGTERM, 130 for SIGINT: what shells and supervisors read as
   * "ended by that signal", so the job is not taken as finished), else
   * undefined (a `requestStop()`: the application decides).
   */
  get stopExitCode(): number | undefined {
    if (!this.#stopped) return undefined;
    const configured = this.#signalSettings?.exitCode;
    if (configured !== undefined) return configured;
    const sig = this.#stopSignal;
    const n = sig === undefined ? undefined : (osConstants.signals as Readonly<Record<string, number>>)[sig];
    return n === undefined ? undefined : 128 + n;
  }

  #installSignals(): boolean {
    if (this.#signalSettings === undefined || this.#signalHandlers !== undefined) return false;
    const isStopping = (): boolean => this.stopping;
    this.#signalHandlers = new SignalHandlers(this.#signalSettings, {
      onStop: (sig) => {
        this.#stopSignal ??= sig;
        this.#setDue(true);
      },
      onCheckpointSignal: (sig) => {
        this.#requestLabel = `signal:${sig}`;
        this.#setDue(true);
      },
      get stopping(): boolean {
        return isStopping();
      },
    });
    return true;
  }

  /**
   * Install the signal handlers now (they are otherwise installed by the first
   * `loop()` or `safepoint()`), e.g. for a loop that checks `ckpt.due` before
   * calling `safepoint()`. They stay until `close()`. No-op with `signals: false`.
   */
  handleSignals(): void {
    this.#checkOpen();
    this.#installSignals();
  }

  #removeSignals(): void {
    this.#signalHandlers?.dispose();
    this.#signalHandlers = undefined;
  }

  /**
   * A safe point in an application-written loop: takes a checkpoint if one is
   * due (time policy, signal, request, or a step policy when `step` is given),
   * and otherwise gives the event loop a turn every `yieldEveryMs` so signals
   * and timers are seen. Installs the signal handlers on first use (removed by
   * `close()`). In async persist mode it returns once the checkpoint is
   * captured. Returns `{ stop: true }` after the checkpoint for a stop request:
   * end the loop then.
   *
   * ```ts
   * for (let step = 0; step < n; step++) {
   *   work(step);
   *   if ((await ckpt.safepoint(step + 1)).stop) break;
   * }
   * ```
   */
  async safepoint(step?: number): Promise<SafepointResult> {
    this.#checkOpen();
    if (step !== undefined && (typeof step !== 'number' || !Number.isFinite(step))) throw invalid(`safepoint(step): step must be a finite number, got ${String(step)}`);
    if (!this.#safepointsStarted) {
      // Start the default policies here whatever the signal settings (with
      // `signals: false` they were never armed), counting from the start or the
      // restored image like loop() does — not from this first safepoint's step,
      // which would shift every step checkpoint by one iteration.
      this.#safepointsStarted = true;
      this.#installSignals();
      this.#defaultTriggers.restart(this.#lastCheckpointStep ?? 0);
    }
    if (!this.due && (step === undefined || step < this.#defaultTriggers.nextStep)) {
      this.#yielder ??= new Yielder(this.#yieldEveryMs);
      const turn = this.#yielder.tick();
      if (turn !== undefined) await turn;
      if (!this.due) return { checkpointed: false, stop: false };
    }
    this.#checkWritable('safepoint()');
    return this.#checkpointHere(step ?? null, this.#defaultTriggers);
  }

  /**
   * Take the checkpoint that is due at a safepoint. For a stop: wait until it
   * is committed (within the stop deadline) and report failure by throwing.
   * Otherwise: wait for capture only in async mode, and report a failure
   * through the `error` event (or, with no listener, the next checkpoint()/close()).
   */
  async #checkpointHere(step: number | null, triggers: Triggers): Promise<SafepointResult> {
    const stop = this.#stopSignal;
    const label = stop !== undefined ? `stop:${stop}` : this.#requestLabel;
    this.#setDue(false);
    this.#requestLabel = null;
    const ctx: CheckpointContext = { step, label };
    if (stop !== undefined) {
      await this.#stopCheckpoint(ctx);
      return { checkpointed: true, stop: true };
    }
    const run = this.#startCheckpoint(ctx, this.#persist);
    this.#lastRun = run.committed;
    run.committed.then(
      () => undefined,
      (err: unknown) => this.#reportBackground(err),
    );
    await (this.#persist === 'async' ? run.captured : run.committed.catch(() => undefined));
    // A checkpoint without a step (safepoint()) restarts time policies but
    // leaves step policies counting from the last known step, not from 0.
    if (step !== null) this.#lastCheckpointStep = step;
    triggers.restart(step ?? this.#lastCheckpointStep ?? 0);
    return { checkpointed: true, stop: false };
  }

  async #stopCheckpoint(ctx: CheckpointContext): Promise<void> {
    const deadline = this.#stopDeadlineMs;
    const abort = new AbortController();
    const run = this.#startCheckpoint(ctx, 'sync', { signal: abort.signal }).committed;
    if (deadline === undefined) {
      await run;
    } else {
      let timer: NodeJS.Timeout | undefined;
      const expired = new Promise<never>((_, reject) => {
        timer = setTimeout(() => {
          const err = new CkptError(ErrorCodes.DEADLINE, `the stop checkpoint did not finish within stopDeadlineMs (${deadline} ms); it was abandoned and the previous image is intact — raise stopDeadlineMs or make snapshot()/persist faster`);
          abort.abort(err);
          // close() must not wait for a run that may hang in a hook forever.
          this.#abandoned = true;
          reject(err);
        }, deadline);
      });
      run.catch(() => undefined);
      try {
        await Promise.race([run, expired]);
      } finally {
        clearTimeout(timer);
      }
    }
    this.#lastCheckpointStep = ctx.step;
    this.#stopped = true;
    const code = this.#signalSettings?.exitCode;
    if (code !== undefined) process.exitCode = code;
  }

  /** A failure no caller awaits: to `error` listeners, else kept for the next checkpoint()/close() and printed as a process warning. */
  #reportBackground(err: unknown): void {
    const e = isCkptError(err) ? err : new CkptError(ErrorCodes.SNAPSHOT_FAILED, `background checkpoint failed: ${asError(err).message}`, { cause: err });
    if (this.#events.listenerCount('error') > 0) {
      this.#emit('error', e);
      return;
    }
    this.#pendingError ??= e;
    process.emitWarning(e.message, { code: e.code });
  }

  /**
   * Run a loop whose every iteration boundary is a safepoint.
   *
   * ```ts
   * for await (const step of ckpt.loop({ until: 1_000_000, every: { steps: 1000, seconds: 60 } })) {
   *   simulate(step);
   * }
   * ```
   *
   * Restores the latest image first (unless `restore: false`) and continues
   * from its step: the step recorded in each image is the number of completed
   * iterations. Checkpoints when a policy, a signal or a request says so, never
   * mid-iteration; a stop signal checkpoints and ends the loop normally.
   * Iterations may be synchronous: the loop gives the event loop a turn every
   * `yieldEveryMs` so signals and timers are seen within that delay plus one iteration.
   * Only one loop runs at a time per Checkpointer.
   */
  async *loop(options: LoopOptions = {}): AsyncGenerator<number, void, undefined> {
    this.#checkOpen();
    if (typeof options !== 'object' || options === null) throw invalid('loop() options must be an object');
    const until = options.until ?? Infinity;
    if (typeof until !== 'number' || Number.isNaN(until) || until < 0 || (Number.isFinite(until) && !Number.isSafeInteger(until))) {
      throw invalid(`loop(): until must be a non-negative integer or Infinity, got ${String(until)}`);
    }
    if (this.#looping) throw new CkptError(ErrorCodes.BUSY, 'a loop() is already running on this Checkpointer; run one loop at a time');
    this.#checkWritable('loop()');
    const triggers = options.every === undefined ? this.#defaultTriggers : new Triggers(toTriggerPolicies(options.every), () => this.#setDue(true));
    this.#looping = true;
    const installed = this.#installSignals();
    try {
      let step = 0;
      // Take the writer lock before the first iteration (restore() does it too):
      // a second writer fails now, not after running the job unprotected.
      if (options.restore === false) await this.#enqueue(() => this.#writerLock());
      if (options.restore !== false) {
        const r = await this.restore();
        if (r !== undefined) step = r.image.step ?? 0;
      }
      this.#lastCheckpointStep = step;
      this.#lastRun = undefined;
      triggers.restart(step);
      const yielder = new Yielder(this.#yieldEveryMs);
      while (step < until) {
        if (this.#stopSignal !== undefined) {
          await this.#checkpointHere(step, triggers);
          return;
        }
        yield step;
        step++;
        if (step >= triggers.nextStep || this.due) {
          if ((await this.#checkpointHere(step, triggers)).stop) return;
        } else {
          const turn = yielder.tick();
          if (turn !== undefined) await turn;
        }
      }
      if (options.checkpointAtEnd !== false) {
        // A policy checkpoint at this very step counts as the final one only
        // once it is committed: in async mode it may still be persisting (the
        // loop must not end before the final image is durable), and if it
        // failed the end checkpoint is taken after all.
        let covered = this.#lastCheckpointStep === step;
        // (#checkpointHere sets #lastRun during the loop; the cast undoes TS's narrowing to the reset above.)
        const last = this.#lastRun as Promise<CheckpointInfo> | undefined;
        if (covered && last !== undefined) covered = await last.then(() => true, () => false);
        if (!covered) await this.#startCheckpoint({ step, label: 'end' }, 'sync').committed;
      }
    } finally {
      this.#looping = false;
      if (triggers !== this.#defaultTriggers) triggers.dispose();
      if (installed) this.#removeSignals();
    }
  }

  // ---------------------------------------------------------------- close

  /**
   * Wait for running work (including a background persist), remove signal
   * handlers and timers, release the store's writer lock, and refuse further
   * calls with `CKPT_ERR_CLOSED`. Rejects with a background failure that no
   * `error` listener and no later `checkpoint()` has reported. Idempotent.
   */
  async close(): Promise<void> {
    if (this.#closed) return;
    // After a stop deadline the abandoned run may never settle (a hung hook):
    // give its aborted write a moment to remove its temporary image, no more.
    if (!this.#abandoned) await this.#queue;
    else {
      let timer: NodeJS.Timeout | undefined;
      await Promise.race([this.#queue, new Promise((resolve) => (timer = setTimeout(resolve, ABANDONED_WAIT_MS)))]);
      clearTimeout(timer);
    }
    this.#closed = true;
    this.#removeSignals();
    this.#defaultTriggers.dispose();
    // No thread and no kept memory outlives the Checkpointer.
    await this.#pool?.close();
    this.#arena.clear();
    releaseEncoderMemory();
    const lock = this.#lock;
    this.#lock = undefined;
    if (lock !== undefined) await lock.release();
    this.#throwPendingError();
  }
}
