/**
 * @module lifecycle/jobs
 *
 * The checkpoints and restores of one Checkpointer as queued jobs: each runs
 * after the ones called before it (a {@link WorkQueue}), with what a run
 * needs around it — the open-handle check at the call, the writer lock,
 * `diagnostics_channel` messages, the `checkpoint`/`restore` events, error
 * wrapping, and the writer session told of a failed checkpoint. The phases
 * of a run are `checkpoint-run.ts` and `restore-run.ts`.
 */
import type { ClassLookup } from '../codec/types.js';
import type { StateEncoder } from '../codec/encode.js';
import { asError, CkptError, ErrorCodes, isCkptError } from '../errors.js';
import { checkpointChannel, publish, restoreChannel } from '../events.js';
import type { CaptureArena } from '../image/capture.js';
import type { ZstdPool } from '../image/pool.js';
import type { SegmentPipeline } from '../image/segment-pipeline.js';
import type { RestoreResult } from '../info.js';
import type { CheckpointerSettings } from '../options.js';
import type { CheckpointContext } from '../provider/provider.js';
import type { Registry } from '../provider/registry.js';
import { runCheckpoint, type CheckpointEnv, type CheckpointRun, type PersistMode, type RunOptions } from './checkpoint-run.js';
import type { EventSink } from './event-sink.js';
import type { OpenHandleCheck } from './open-resources.js';
import { runRestore, type RestoreEnv } from './restore-run.js';
import { WorkQueue } from './work-queue.js';
import type { IncrementalChain } from './incremental-chain.js';
import type { WriterSession } from './writer-session.js';

/** What the jobs of a Checkpointer work with. */
export interface JobsEnv {
  readonly settings: CheckpointerSettings;
  /** The registered providers and resources, read when each job starts. */
  readonly registry: Registry;
  readonly classes: ClassLookup;
  readonly pool: ZstdPool | undefined;
  /** Segments written on the main thread go through it: the pool's, or the Checkpointer's own. */
  readonly pipeline: SegmentPipeline;
  readonly arena: CaptureArena;
  /** This Checkpointer's value encoder (its buffers are reused from one checkpoint to the next). */
  readonly encoder: StateEncoder;
  readonly writer: WriterSession;
  readonly events: EventSink;
  readonly openHandles: OpenHandleCheck;
  /** Incremental images (absent when off). */
  readonly incremental?: IncrementalChain;
  /** Throws once the Checkpointer is closed (checked when each job starts). */
  checkOpen(): void;
  /** An image was restored (`step`: its step). */
  restored(step: number | null): void;
}

/** Queued checkpoints and restores of one Checkpointer. */
export class Jobs {
  readonly #env: JobsEnv;
  readonly #queue = new WorkQueue();

  /** @param env - the Checkpointer's parts the jobs use */
  constructor(env: JobsEnv) {
    this.#env = env;
  }

  /** Jobs called and not yet settled (queued or running). */
  get pending(): number {
    return this.#queue.pending;
  }

  /** Settles when every job queued so far has settled (never rejects). */
  get idle(): Promise<unknown> {
    return this.#queue.idle;
  }

  #enqueue<T>(fn: () => Promise<T>): Promise<T> {
    return this.#queue.enqueue(fn, () => this.#env.checkOpen());
  }

  /** Take the writer lock, as a job (a loop that does not restore first). */
  async lockWriter(): Promise<void> {
    await this.#enqueue(() => this.#env.writer.lock());
  }

  /**
   * Queue one checkpoint. `captured` resolves when the app may run again,
   * `committed` with the outcome. `beforeRun` runs when the job starts.
   */
  checkpoint(ctx: CheckpointContext, mode: PersistMode, runOptions: RunOptions = {}, beforeRun?: () => Promise<void>): CheckpointRun {
    const env = this.#env;
    let release!: (pauseMs: number) => void;
    const captured = new Promise<number>((resolve) => (release = resolve));
    try {
      env.openHandles.check(env.registry.resources);
    } catch (err) {
      release(0);
      return { captured, committed: Promise.reject(asError(err)) };
    }
    const committed = this.#enqueue(async () => {
      if (beforeRun !== undefined) await beforeRun();
      publish(checkpointChannel, { phase: 'start', step: ctx.step, label: ctx.label });
      const run = runCheckpoint(this.#checkpointEnv, ctx, mode, runOptions);
      void run.captured.then(release);
      try {
        const info = await run.committed;
        publish(checkpointChannel, { phase: 'end', info });
        env.events.emit('checkpoint', info);
        return info;
      } catch (err) {
        const e = isCkptError(err) ? err : new CkptError(ErrorCodes.SNAPSHOT_FAILED, `checkpoint failed: ${asError(err).message}`, { cause: err });
        await env.writer.checkpointFailed(e);
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

  /**
   * Queue one restore of the newest valid image (or `imageId`). Unless
   * read-only, the writer lock is taken first. `beforeRun` runs when the job starts.
   */
  restore(imageId: string | undefined, beforeRun: () => Promise<void>): Promise<RestoreResult | undefined> {
    const env = this.#env;
    return this.#enqueue(async () => {
      await beforeRun();
      // A writer takes the lock before restoring: a second writer fails here,
      // at once, instead of at its first checkpoint after redoing the work.
      if (!env.settings.readOnly) await env.writer.lockForRestore();
      publish(restoreChannel, { phase: 'start', imageId: imageId ?? null });
      try {
        const result = await runRestore(this.restoreEnv, imageId);
        // Step policies of app-written loops (safepoint(step)) count from the restored step.
        if (result !== undefined) env.restored(result.image.step);
        // The restored image is the next incremental image's parent.
        if (result !== undefined) env.incremental?.restoredFrom(result.image.id);
        publish(restoreChannel, { phase: 'end', result });
        if (result !== undefined) env.events.emit('restore', result);
        return result;
      } catch (err) {
        const e = isCkptError(err) ? err : new CkptError(ErrorCodes.RESTORE_FAILED, `restore failed: ${asError(err).message}`, { cause: err });
        publish(restoreChannel, { phase: 'error', error: e });
        throw e;
      }
    });
  }

  /** The view of the Checkpointer a checkpoint run works with. */
  get #checkpointEnv(): CheckpointEnv {
    const { settings: s, registry, pool, writer, events } = this.#env;
    return {
      store: s.store,
      providers: registry.providers,
      resources: registry.resources,
      classes: this.#env.classes,
      level: s.level,
      segmentSize: s.segmentSize,
      blobThreshold: s.blobThreshold,
      maxDepth: s.maxDepth,
      app: s.app,
      limits: s.limits,
      ...(pool === undefined ? {} : { pool }),
      pipeline: this.#env.pipeline,
      arena: this.#env.arena,
      backgroundThreads: s.backgroundThreads,
      encoder: this.#env.encoder,
      ...(this.#env.incremental === undefined ? {} : { incremental: this.#env.incremental }),
      writerLock: () => writer.lock(),
      warn: (w) => events.warn(w),
      afterCommit: (committed) => writer.applyRetention(committed),
    };
  }

  /** The view of the Checkpointer a restore (or a plan) works with. */
  get restoreEnv(): RestoreEnv {
    const { settings: s, registry, pool, events } = this.#env;
    return {
      store: s.store,
      registry,
      classes: this.#env.classes,
      limits: s.limits,
      ...(pool === undefined ? {} : { pool }),
      unknownProviders: s.unknownProviders,
      missingProviders: s.missingProviders,
      warn: (w) => events.warn(w),
    };
  }
}
