/**
 * @module checkpointer
 *
 * The `Checkpointer` facade: what ckpt does, one public method each, delegating
 * to the modules that do it — options (`options.ts`), one checkpoint and one
 * restore (`lifecycle/checkpoint-run.ts`, `lifecycle/restore-run.ts`), the
 * writer lock, cleanup and retention (`lifecycle/writer-session.ts`), and the
 * run loop: due flag, triggers, requests, stop state, signals, `safepoint()`
 * and `loop()` (`lifecycle/run-loop.ts`). The facade itself keeps the
 * registry, the events and the queue that runs checkpoints and restores one
 * at a time, in call order. See docs/architecture.md.
 */
import { ClassRegistry } from './codec/class-registry.js';
import { StateEncoder } from './codec/encode.js';
import type { RestorePlan } from './convert/plan.js';
import { asError, CkptError, ErrorCodes } from './errors.js';
import type { CheckpointerEvents, CkptWarning } from './events.js';
import { CaptureArena } from './image/capture.js';
import type { MetaValue } from './image/index-model.js';
import { ZstdPool } from './image/pool.js';
import { SegmentPipeline } from './image/segment-pipeline.js';
import type { CheckpointInfo, ImageInfo, RestoreResult } from './info.js';
import { listImageInfos } from './lifecycle/image-list.js';
import { EventSink } from './lifecycle/event-sink.js';
import { Jobs } from './lifecycle/jobs.js';
import { checkMeta } from './lifecycle/meta.js';
import { NotAwaitedCheck, ObservedPromise } from './lifecycle/observed.js';
import { OpenHandleCheck } from './lifecycle/open-resources.js';
import { planImage } from './lifecycle/restore-run.js';
import { IncrementalChain } from './lifecycle/incremental-chain.js';
import { RunLoop, type SafepointResult } from './lifecycle/run-loop.js';
import { WriterSession } from './lifecycle/writer-session.js';
import { checkpointContext, checkpointerSettings, invalid, type CheckpointerOptions, type CheckpointerSettings, type CheckpointOptions, type LoopOptions } from './options.js';
import type { CheckpointContext, Provider, Resource } from './provider/provider.js';
import { Registry } from './provider/registry.js';
import { S3UrlStore } from './store/s3-url-store.js';
import type { Store } from './store/store.js';

export type { CheckpointerOptions, CheckpointOptions, CompressionOptions, LoopOptions } from './options.js';
export type { SafepointResult } from './lifecycle/run-loop.js';

/** A listener for the Checkpointer event `E`. */
export type CheckpointerListener<E extends keyof CheckpointerEvents> = (payload: CheckpointerEvents[E]) => void;

/** How long close() waits for a stop checkpoint abandoned at its deadline. */
const ABANDONED_WAIT_MS = 2000;

/**
 * The facade an application creates: register providers, then `checkpoint()`
 * and `restore()` (or run a `loop()`). Checkpoints and restores never
 * overlap: calls are queued and run one at a time, in call order, and each
 * `checkpoint()` call takes its own image. See docs/guide.md and docs/lifecycle.md.
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
  /**
   * True when a checkpoint is due: a time policy fired, a signal arrived, or
   * `requestCheckpoint()`/`requestStop()` was called. A plain field, so
   * `if (ckpt.due) await ckpt.safepoint()` costs one property read. Read-only
   * for applications. Step policies are checked by `safepoint(step)` and `loop()`.
   */
  readonly due: boolean = false;
  readonly #settings: CheckpointerSettings;
  readonly #registry = new Registry();
  readonly #classes = new ClassRegistry();
  readonly #events = new EventSink();
  readonly #pool: ZstdPool | undefined;
  readonly #arena = new CaptureArena();
  readonly #incremental: IncrementalChain | undefined;
  readonly #encoder = new StateEncoder();
  readonly #writer: WriterSession;
  readonly #runLoop: RunLoop;
  readonly #jobs: Jobs;
  readonly #notAwaited: NotAwaitedCheck;
  /** Set by the first restore() call: later provider and class registrations are refused. */
  #restoreCalled = false;
  #closed = false;

  /** @param options - see {@link CheckpointerOptions} */
  constructor(options: CheckpointerOptions) {
    const warn = (w: CkptWarning): void => this.#events.warn(w);
    const s = checkpointerSettings(options, warn);
    this.#settings = s;
    this.store = s.store;
    this.#pool = s.threads === 0 ? undefined : new ZstdPool(s.threads);
    const pipeline = this.#pool?.pipeline ?? new SegmentPipeline();
    this.#incremental = s.incremental === undefined ? undefined : new IncrementalChain(s.incremental);
    this.#writer = new WriterSession({ store: s.store, lockWaitMs: s.lockWaitMs, retention: s.retention, limits: s.limits, warn });
    this.#jobs = new Jobs({
      settings: s,
      registry: this.#registry,
      classes: this.#classes,
      pool: this.#pool,
      pipeline,
      arena: this.#arena,
      encoder: this.#encoder,
      writer: this.#writer,
      events: this.#events,
      openHandles: new OpenHandleCheck(s.unregisteredResources, warn),
      ...(this.#incremental === undefined ? {} : { incremental: this.#incremental }),
      checkOpen: () => this.#checkOpen(),
      restored: (step) => this.#runLoop.restored(step),
    });
    this.#notAwaited = new NotAwaitedCheck(warn);
    this.#runLoop = new RunLoop(
      {
        checkOpen: () => this.#checkOpen(),
        checkWritable: (what) => this.#checkWritable(what),
        checkpoint: (ctx, mode, runOptions) => this.#jobs.checkpoint(ctx, mode, runOptions),
        restore: async () => (await this.restore())?.image.step ?? 0,
        lockWriter: () => this.#jobs.lockWriter(),
        reportBackground: (err) => this.#events.reportBackground(err),
      },
      s,
      this,
    );
  }

  // ---------------------------------------------------------------- events

  /** Listen to an event. */
  on<E extends keyof CheckpointerEvents>(event: E, listener: CheckpointerListener<E>): this {
    this.#events.emitter.on(event, listener);
    return this;
  }

  /** Listen to an event once. */
  once<E extends keyof CheckpointerEvents>(event: E, listener: CheckpointerListener<E>): this {
    this.#events.emitter.once(event, listener);
    return this;
  }

  /** Stop listening. */
  off<E extends keyof CheckpointerEvents>(event: E, listener: CheckpointerListener<E>): this {
    this.#events.emitter.off(event, listener);
    return this;
  }

  // ---------------------------------------------------------- registration

  #checkOpen(): void {
    if (this.#closed) throw new CkptError(ErrorCodes.CLOSED, 'this Checkpointer is closed; create a new one');
  }

  #checkIdle(what: string): void {
    this.#checkOpen();
    if (this.#jobs.pending > 0) throw new CkptError(ErrorCodes.BUSY, `cannot ${what} while a checkpoint or restore is pending or running; do it before the first checkpoint or between them`);
  }

  #checkWritable(what: string): void {
    if (this.#settings.readOnly) throw new CkptError(ErrorCodes.READ_ONLY, `${what} cannot checkpoint: this Checkpointer was created with readOnly: true (it only restores and inspects); create it without readOnly to write images`);
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
      this.#checkOpen();
      ctx = checkpointContext(options);
      meta = checkMeta(options.meta);
      this.#checkWritable('checkpoint()');
      this.#events.throwPending();
    } catch (err) {
      return Promise.reject(asError(err));
    }
    const out = { promise: undefined as ObservedPromise<CheckpointInfo> | undefined };
    const committed = this.#jobs.checkpoint(ctx, this.#settings.persist, meta === undefined ? {} : { meta }, () => this.#notAwaited.check(out.promise, 'checkpoint()')).committed;
    out.promise = ObservedPromise.of(committed);
    return out.promise;
  }

  // ----------------------------------------------------------------- list

  /**
   * Committed, readable images, newest first. Images that cannot be described
   * (damaged, newer format, over a limit) are left out with a
   * `CKPT_WARN_IMAGE_UNREADABLE` warning; retention never deletes them.
   */
  async list(): Promise<ImageInfo[]> {
    this.#checkOpen();
    return listImageInfos({ store: this.store, limits: this.#settings.limits, warn: (w) => this.#events.warn(w) });
  }

  // -------------------------------------------------------------- restore

  /**
   * Restore the newest valid image (or the image `imageId`). Resolves
   * `undefined` when the store holds no image at all. A damaged newest image is
   * reported (a `warning` event and `skipped` in the result) and the previous
   * one is used. Version, migration and provider-set problems fail closed:
   * nothing is restored and the error says what to do. Providers are restored
   * one at a time, in registration order; a failure after the first hook ran
   * (a hook that throws, a class not registered in a later provider's state)
   * names the providers already restored — the application state is then
   * partly restored. A later provider's state that cannot be read falls back
   * to the older image, restoring every provider again.
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
    const run = this.#jobs.restore(imageId, () => this.#notAwaited.check(out.promise, 'restore()'));
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
    return planImage(this.#jobs.restoreEnv, imageId);
  }

  // -------------------------------------------------------------- runtime

  /** Ask for a checkpoint at the next safepoint (`label` is recorded in the image). */
  requestCheckpoint(label?: string): void {
    this.#checkOpen();
    if (label !== undefined && typeof label !== 'string') throw invalid('requestCheckpoint(label): label must be a string');
    this.#runLoop.requestCheckpoint(label?.slice(0, 256));
  }

  /** Ask for a checkpoint at the next safepoint and then the end of the loop (what a stop signal does). */
  requestStop(reason = 'requested'): void {
    this.#checkOpen();
    this.#runLoop.requestStop(String(reason).slice(0, 200));
  }

  /** True once a stop was requested (by a signal or `requestStop()`). */
  get stopping(): boolean {
    return this.#runLoop.stop.stopping;
  }

  /**
   * True once a loop (or a `safepoint()`) ended because of a stop: its
   * checkpoint is committed, and the code after the loop runs because the
   * job was stopped, not because it finished. See `stopReason`, `stopExitCode`.
   */
  get stopped(): boolean {
    return this.#runLoop.stop.stopped;
  }

  /** Why the job stopped: the signal name (`'SIGTERM'`) or the `requestStop(reason)`; undefined until a stop is requested. */
  get stopReason(): string | undefined {
    return this.#runLoop.stop.reason;
  }

  /**
   * The exit code to end the process with after a stop, undefined when not
   * stopped: `signals.exitCode` when set, else for a signal 128 + its number
   * (143 for SIGTERM, 130 for SIGINT: what shells and supervisors read as
   * "ended by that signal", so the job is not taken as finished), else
   * undefined (a `requestStop()`: the application decides).
   */
  get stopExitCode(): number | undefined {
    return this.#runLoop.stop.exitCode;
  }

  /**
   * Install the signal handlers now (they are otherwise installed by the first
   * `loop()` or `safepoint()`), e.g. for a loop that checks `ckpt.due` before
   * calling `safepoint()`. They stay until `close()`. No-op with `signals: false`.
   */
  handleSignals(): void {
    this.#checkOpen();
    this.#runLoop.installSignals();
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
  safepoint(step?: number): Promise<SafepointResult> {
    return this.#runLoop.safepoint(step);
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
  loop(options: LoopOptions = {}): AsyncGenerator<number, void, undefined> {
    return this.#runLoop.loop(options);
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
    if (!this.#runLoop.abandoned) await this.#jobs.idle;
    else {
      let timer: NodeJS.Timeout | undefined;
      await Promise.race([this.#jobs.idle, new Promise((resolve) => (timer = setTimeout(resolve, ABANDONED_WAIT_MS)))]);
      clearTimeout(timer);
    }
    this.#closed = true;
    this.#runLoop.dispose();
    // No thread and no kept memory outlives the Checkpointer.
    await this.#pool?.close();
    this.#arena.clear();
    this.#incremental?.clear();
    this.#encoder.releaseMemory();
    await this.#writer.release();
    // A store made from an s3:// string is ours: close its client's connections.
    if (this.#settings.store instanceof S3UrlStore) await this.#settings.store.dispose();
    this.#events.throwPending();
  }
}
