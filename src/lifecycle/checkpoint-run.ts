/**
 * @module lifecycle/checkpoint-run
 *
 * One checkpoint, phase by phase (DESIGN.md's five steps): prepare → freeze →
 * snapshot/capture → (write) → resume → commit → committed → retention.
 *
 * Two persist modes decide when the application may run again:
 * - `sync`: large binary values are written straight from live memory, so
 *   the app stays held until the image bytes are written; resume hooks run
 *   after the write, before the commit.
 * - `async`: capture copies large binary values, resume hooks run right after
 *   capture, and compression, writing and commit continue in the background.
 *
 * `captured` resolves when the app may run again (it never rejects);
 * `committed` settles with the outcome.
 *
 * A checkpoint never commits an image its own read limits would refuse: a
 * state above `limits.maxStateBytes`, an image above `limits.maxImageBytes`,
 * more segments than `limits.maxSegments`, a segment size above
 * `limits.maxSegmentBytes` or an index above `limits.maxIndexBytes` fails
 * with `CKPT_ERR_LIMIT` naming the option, nothing is committed and earlier
 * images are untouched — instead of an image a fresh process rejects.
 */
import type { ClassLookup } from '../codec/types.js';
import type { StateEncoder } from '../codec/encode.js';
import { asError, CkptError, ErrorCodes, isCkptError } from '../errors.js';
import { WarningCodes, type CkptWarning } from '../events.js';
import { asyncCaptureNeedsWrite, captureState, detachCaptured, prepareArena, type CaptureArena } from '../image/capture.js';
import {
  DEFAULT_MAX_IMAGE_BYTES,
  DEFAULT_MAX_INDEX_BYTES,
  DEFAULT_MAX_SEGMENTS,
  DEFAULT_MAX_SEGMENT_BYTES,
  DEFAULT_MAX_STATE_BYTES,
  FORMAT_VERSION,
  HEADER_SIZE,
  TRAILER_SIZE,
} from '../image/constants.js';
import { infoFromIndex } from '../image/image-info.js';
import { writeImage, type CapturedProvider } from '../image/writer.js';
import { SegmentFlag, type ImageIndex, type MetaValue } from '../image/index-model.js';
import type { ZstdPool } from '../image/pool.js';
import type { SegmentPipeline } from '../image/segment-pipeline.js';
import type { ReadOptions } from '../image/reader.js';
import type { CheckpointInfo, ImageInfo } from '../info.js';
import type { CheckpointContext, Resource, ResumeContext } from '../provider/provider.js';
import type { RegisteredProvider } from '../provider/registry.js';
import type { ImageSink, Store, WriterLock } from '../store/store.js';
import { LIBRARY_NAME } from '../version.js';
import { faultPoint } from './fault-points.js';
import type { IncrementalChain } from './incremental-chain.js';
import type { IncrementalPlan } from '../image/incremental-plan.js';


/** How a checkpoint's bytes reach the store relative to the application. */
export type PersistMode = 'sync' | 'async';

/** What a checkpoint run needs from its Checkpointer. */
export interface CheckpointEnv {
  readonly store: Store;
  readonly providers: readonly RegisteredProvider[];
  readonly resources: readonly Resource[];
  readonly classes: ClassLookup;
  readonly level: number;
  readonly segmentSize: number;
  readonly blobThreshold: number;
  readonly maxDepth: number;
  readonly app: string | null;
  /** The limits this Checkpointer reads images with: what it writes must fit them. */
  readonly limits: ReadOptions;
  /** Worker threads that compress large images (none: the main thread compresses). */
  readonly pool?: ZstdPool;
  /** The main thread's segment pipeline (zstd contexts and output memory reused across images). */
  readonly pipeline?: SegmentPipeline;
  /** Reusable memory for the copies async persist makes at capture. */
  readonly arena?: CaptureArena;
  /** Pool threads that may work while the app runs (an async persist's write, preparing the arena); default all. */
  readonly backgroundThreads?: number;
  /** The encoder whose buffers are reused across checkpoints (default: the process-wide one). */
  readonly encoder?: StateEncoder;
  /** Incremental images: the chain that picks each image's parent (absent: every image is full, in the default format). */
  readonly incremental?: IncrementalChain;
  writerLock(): Promise<WriterLock>;
  warn(w: CkptWarning): void;
  /** Runs after a commit (retention), with the committed image's info. Must not throw. */
  afterCommit(committed: ImageInfo): Promise<void>;
}

/** A running checkpoint. */
export interface CheckpointRun {
  /** Resolves with the pause (ms) once the application may run again. Never rejects. */
  readonly captured: Promise<number>;
  /** Settles with the committed image, or the failure. */
  readonly committed: Promise<CheckpointInfo>;
}

/** Wrap a hook failure so it names the provider, keeping a CkptError's code. */
function hookFailure(what: string, err: unknown, provider?: string): CkptError {
  const cause = asError(err);
  const p = provider === undefined ? {} : { provider };
  if (isCkptError(cause)) {
    const named = provider !== undefined && !cause.message.includes(JSON.stringify(provider));
    return new CkptError(cause.code, named ? `provider ${JSON.stringify(provider)}: ${cause.message}` : cause.message, {
      ...p,
      cause: cause.cause,
      ...(cause.where === undefined ? {} : { where: cause.where }),
    });
  }
  return new CkptError(ErrorCodes.SNAPSHOT_FAILED, `${what}: ${cause.message}`, { cause, ...p });
}

function aggregate(failures: readonly Error[]): CkptError {
  const lines = failures.map((f) => `  - ${isCkptError(f) ? `[${f.code}] ` : ''}${f.message}`);
  return new CkptError(
    ErrorCodes.SNAPSHOT_FAILED,
    `checkpoint failed (${failures.length} error${failures.length === 1 ? '' : 's'}); no image was written, earlier images are untouched:\n${lines.join('\n')}`,
    { errors: failures, cause: failures[0] },
  );
}

function storeError(env: CheckpointEnv, err: unknown, doing: string): CkptError {
  if (isCkptError(err)) return err;
  return new CkptError(ErrorCodes.STORE_IO, `${doing} in ${env.store.description} failed: ${asError(err).message}`, { cause: err });
}

function limitError(message: string, provider?: string): CkptError {
  return new CkptError(ErrorCodes.LIMIT, `${message}; nothing was written, earlier images are untouched`, provider === undefined ? {} : { provider });
}

/**
 * The first read limit the captured image would break, before it is written:
 * per-provider and total state, segment size and segment count (every run is
 * cut into segments of `segmentSize`, an empty run into one).
 */
function capturedOverLimit(env: CheckpointEnv, captured: readonly CapturedProvider[]): CkptError | undefined {
  const l = env.limits;
  const maxSegmentBytes = l.maxSegmentBytes ?? DEFAULT_MAX_SEGMENT_BYTES;
  if (env.segmentSize > maxSegmentBytes) {
    return limitError(`segmentSize ${env.segmentSize} is above limits.maxSegmentBytes (${maxSegmentBytes}): no reader with these limits could read the image; lower segmentSize or raise limits.maxSegmentBytes`);
  }
  const maxState = l.maxStateBytes ?? DEFAULT_MAX_STATE_BYTES;
  const maxImage = l.maxImageBytes ?? DEFAULT_MAX_IMAGE_BYTES;
  const maxSegments = l.maxSegments ?? DEFAULT_MAX_SEGMENTS;
  let image = 0;
  let segments = 0;
  for (const p of captured) {
    let state = 0;
    for (const run of [p.encoded.stream, ...p.encoded.blobs.map((b) => b.bytes)]) {
      state += run.length;
      segments += Math.max(1, Math.ceil(run.length / env.segmentSize));
    }
    image += state;
    if (state > maxState) {
      return limitError(`checkpoint refused: provider ${JSON.stringify(p.id)} holds ${state} bytes of state, above limits.maxStateBytes (${maxState}), so restoring it would fail; raise limits.maxStateBytes (readers of this store need the same limit)`, p.id);
    }
  }
  if (image > maxImage) {
    return limitError(`checkpoint refused: the providers hold ${image} bytes of state together, above limits.maxImageBytes (${maxImage}), so restoring it would fail; raise limits.maxImageBytes (readers of this store need the same limit)`);
  }
  if (segments > maxSegments) {
    return limitError(`checkpoint refused: the image would have ${segments} segments, above limits.maxSegments (${maxSegments}), so restoring it would fail; raise segmentSize or limits.maxSegments (readers of this store need the same limit)`);
  }
  return undefined;
}

/** The written index against `limits.maxIndexBytes` (segments lie back to back from the header to the index). */
function indexOverLimit(env: CheckpointEnv, bytes: number, segments: readonly { offset: number; storedLength: number; flags: number }[]): CkptError | undefined {
  // The image's own segments end where the index starts (rows by reference give their holder's offsets).
  let end = HEADER_SIZE;
  for (const s of segments) if ((s.flags & SegmentFlag.BY_REFERENCE) === 0) end = Math.max(end, s.offset + s.storedLength);
  const indexLength = bytes - TRAILER_SIZE - end;
  const max = env.limits.maxIndexBytes ?? DEFAULT_MAX_INDEX_BYTES;
  if (indexLength <= max) return undefined;
  return limitError(`checkpoint refused: the image's index is ${indexLength} bytes, above limits.maxIndexBytes (${max}), so restoring it would fail; raise limits.maxIndexBytes or segmentSize (readers of this store need the same limit)`);
}

/** Extra settings of one run. */
export interface RunOptions {
  /** Aborts the write between segments and before the commit (stop deadline). */
  readonly signal?: AbortSignal;
  /** User metadata recorded in the manifest. */
  readonly meta?: Readonly<Record<string, MetaValue>>;
}

/** Start one checkpoint. The caller serializes runs (one at a time per store writer). */
export function runCheckpoint(env: CheckpointEnv, ctx: CheckpointContext, mode: PersistMode, options: RunOptions = {}): CheckpointRun {
  let release!: (pauseMs: number) => void;
  const captured = new Promise<number>((resolve) => (release = resolve));
  const committed = execute(env, ctx, mode, options, release);
  // If execute fails before releasing, the app must still be let go.
  committed.then(
    () => undefined,
    () => release(0),
  );
  return { captured, committed };
}

async function execute(env: CheckpointEnv, ctx: CheckpointContext, mode: PersistMode, options: RunOptions, release: (pauseMs: number) => void): Promise<CheckpointInfo> {
  const signal = options.signal;
  const t0 = performance.now();
  const providers = [...env.providers];
  const resources = [...env.resources];
  const failures: Error[] = [];
  const fail = (what: string, err: unknown, provider?: string): void => void failures.push(hookFailure(what, err, provider));

  // 1. pre-dump: the app still runs.
  for (const p of providers) {
    if (p.provider.prepare === undefined) continue;
    try {
      await p.provider.prepare(ctx);
    } catch (err) {
      fail(`provider ${JSON.stringify(p.id)} prepare() failed`, err, p.id);
    }
  }

  faultPoint('after-prepare');

  // 2. freeze: resources in reverse registration order; stop at the first failure.
  const tPause = performance.now();
  const frozen: Resource[] = [];
  if (failures.length === 0) {
    for (const r of [...resources].reverse()) {
      try {
        await r.beforeCheckpoint?.(ctx);
        frozen.push(r);
      } catch (err) {
        fail(`resource ${JSON.stringify(r.id)} beforeCheckpoint() failed`, err);
        // It may have released part of what it holds before throwing: it is
        // thawed (afterCheckpoint with ok=false) like the resources frozen before it.
        frozen.push(r);
        break;
      }
    }
  }

  // 3. dump: snapshot and capture each provider at the frozen point.
  const capturedProviders: CapturedProvider[] = [];
  if (failures.length === 0) {
    for (const p of providers) {
      try {
        const state = await p.provider.snapshot(ctx);
        const encoded = captureState(
          state,
          {
            tree: p.tree,
            classes: env.classes,
            blobThreshold: env.blobThreshold,
            maxDepth: env.maxDepth,
            // The reader's BigInt limit: a BigInt this Checkpointer could not read back is refused here.
            ...(env.limits.maxBigIntBytes === undefined ? {} : { maxBigIntBytes: env.limits.maxBigIntBytes }),
            // Values at these paths are written as undefined (never saved).
            ...(p.secret.length === 0 ? {} : { secret: p.secret }),
          },
          // Large binary values are copied (async) once every provider is captured: see below.
          { mode: 'sync', pool: env.pool, arena: env.arena, segmentSize: env.segmentSize, level: env.level, key: p.id, ...(env.encoder === undefined ? {} : { encoder: env.encoder }) },
        );
        capturedProviders.push({ id: p.id, version: p.version, tree: p.tree, encoded });
      } catch (err) {
        fail(`provider ${JSON.stringify(p.id)} snapshot failed`, err, p.id);
      }
    }
  }

  // Async persist copies large binary values into the capture arena. When
  // the arena has no memory for a large copy yet (the first async checkpoint,
  // a grown state), this one is written before the app runs again, without
  // a copy, and the arena is prepared in the background for the next one:
  // see asyncCaptureNeedsWrite.
  let persist: PersistMode = mode;
  let prepareAfterWrite = false;
  if (mode === 'async' && failures.length === 0) {
    if (asyncCaptureNeedsWrite(capturedProviders.map((p) => p.encoded), env.arena)) {
      persist = 'sync';
      prepareAfterWrite = true;
    } else {
      for (let i = 0; i < capturedProviders.length; i++) {
        const p = capturedProviders[i]!;
        try {
          capturedProviders[i] = { ...p, encoded: detachCaptured(p.encoded, env.arena, env.pool, p.id) };
        } catch (err) {
          fail(`provider ${JSON.stringify(p.id)}: copying its state for the background write failed`, err, p.id);
        }
      }
    }
  }

  faultPoint('after-capture');

  let sink: ImageSink | undefined;
  let written: ImageInfo | undefined;
  let plan: IncrementalPlan | undefined;
  let writtenIndex: ImageIndex | undefined;
  const chain = env.incremental;
  // An image the read limits would refuse is not written at all.
  let writeError: CkptError | undefined = failures.length === 0 ? capturedOverLimit(env, capturedProviders) : undefined;
  if (writeError !== undefined) for (const p of capturedProviders) p.encoded.release?.();
  const write = async (background: boolean): Promise<void> => {
    try {
      const lock = await env.writerLock();
      // The parent is chosen after the pause (async persist): comparing costs the app nothing.
      plan = chain === undefined ? undefined : await chain.next(env.store, env.limits);
      sink = await env.store.create(lock);
      const res = await writeImage(
        sink,
        {
          imageId: sink.id,
          app: env.app,
          createdAt: new Date().toISOString(),
          step: ctx.step,
          label: ctx.label,
          library: LIBRARY_NAME,
          node: process.version,
          platform: `${process.platform}-${process.arch}`,
          ...(options.meta === undefined ? {} : { meta: options.meta }),
        },
        capturedProviders,
        {
          level: env.level,
          segmentSize: env.segmentSize,
          blobThreshold: env.blobThreshold,
          ...(signal === undefined ? {} : { signal }),
          ...(env.pool === undefined ? {} : { pool: env.pool }),
          ...(env.pipeline === undefined ? {} : { pipeline: env.pipeline }),
          ...(plan === undefined ? {} : { incremental: { plan, ...(chain?.bases === undefined ? {} : { bases: chain.bases }) } }),
          ...(env.limits.keys === undefined ? {} : { encryption: env.limits.keys }),
          // While the app runs, leave its core(s) alone.
          ...(background && env.backgroundThreads !== undefined ? { threads: env.backgroundThreads } : {}),
        },
      );
      const overIndex = indexOverLimit(env, res.bytes, res.index.segments);
      if (overIndex !== undefined) throw overIndex;
      written = infoFromIndex(res.index, res.bytes, plan === undefined && env.limits.keys === undefined ? FORMAT_VERSION : res.formatVersion);
      writtenIndex = res.index;
      faultPoint('after-write');
    } catch (err) {
      writeError = storeError(env, err, 'writing the image');
    }
  };

  // Synchronous mode: blobs are views on live memory, so write before resuming.
  if (persist === 'sync' && failures.length === 0 && writeError === undefined) await write(false);

  // 4. resume: providers and resources are told, whatever happened so far.
  const firstError = writeError ?? failures[0];
  const rctx: ResumeContext = firstError === undefined ? { ...ctx, ok: true } : { ...ctx, ok: false, error: firstError };
  for (const r of frozen.reverse()) {
    try {
      await r.afterCheckpoint?.(rctx);
    } catch (err) {
      fail(`resource ${JSON.stringify(r.id)} afterCheckpoint() failed`, err);
    }
  }
  for (const p of providers) {
    try {
      await p.provider.resume?.(rctx);
    } catch (err) {
      fail(`provider ${JSON.stringify(p.id)} resume() failed`, err, p.id);
    }
  }
  const pauseMs = performance.now() - tPause;
  release(pauseMs);

  // The async checkpoint written before resuming: its copies' memory is prepared now, while the app runs.
  if (prepareAfterWrite && env.arena !== undefined) prepareArena(capturedProviders.map((p) => p.encoded), env.arena, env.pool, env.backgroundThreads ?? env.pool?.size ?? 1);

  // Asynchronous mode: the app runs again; compress and write in the background.
  if (persist === 'async' && failures.length === 0 && writeError === undefined) await write(true);

  // 5. post-dump: commit, or abort and report.
  if (writeError !== undefined || failures.length > 0 || sink === undefined || written === undefined) {
    if (plan !== undefined) chain?.failed();
    if (sink !== undefined) await sink.abort().catch(() => undefined);
    if (writeError !== undefined) {
      for (const f of failures) env.warn({ code: WarningCodes.HOOK_FAILED, message: f.message, error: f });
      throw writeError;
    }
    throw aggregate(failures);
  }
  const done: ImageSink = sink;
  faultPoint('before-commit');
  try {
    if (signal?.aborted === true) throw signal.reason;
    await done.commit();
  } catch (err) {
    if (plan !== undefined) chain?.failed();
    await done.abort().catch(() => undefined);
    throw storeError(env, err, 'committing the image');
  }
  if (plan !== undefined && writtenIndex !== undefined) chain?.committed(plan, writtenIndex);

  faultPoint('after-commit');

  // Synchronous mode holds the application until the commit: that is its pause.
  const held = persist === 'sync' ? performance.now() - tPause : pauseMs;
  const references = (writtenIndex?.refs ?? []).map((r) => r.imageId);
  const info: CheckpointInfo = {
    ...written,
    pauseMs: held,
    totalMs: performance.now() - t0,
    kind: references.length > 0 ? 'incremental' : 'full',
    bytesWritten: written.bytes,
    bytesReferenced: plan?.bytesReferenced ?? 0,
    references,
  };
  for (const p of providers) {
    if (p.provider.committed === undefined) continue;
    try {
      await p.provider.committed(info);
    } catch (err) {
      env.warn({ code: WarningCodes.HOOK_FAILED, message: `provider ${JSON.stringify(p.id)} committed() hook failed (the image is committed): ${asError(err).message}`, error: asError(err) });
    }
  }
  faultPoint('before-retention');
  await env.afterCommit(written);
  faultPoint('after-retention');
  return { ...info, totalMs: performance.now() - t0 };
}
