/**
 * @module lifecycle/restore-run
 *
 * One restore, phase by phase: pick → plan → check → decode → migrate →
 * restore hooks → afterRestore, one provider's state in memory at a time.
 *
 * - Pick: images are tried newest first (or only the image asked for). An
 *   image listed a moment ago and gone when opened was pruned by a writer in
 *   another process: the store is listed again (a bounded number of times)
 *   and the restore goes on from there. A damaged or unreadable image is
 *   skipped with a warning and the next older one is tried; version,
 *   migration and provider-set problems are not damage and fail closed.
 * - Plan: before any state is decoded, the image's index is checked against
 *   the providers registered now, so those problems fail fast.
 * - Check: every needed provider is checked against the read limits and
 *   every segment of the image against its checksum, streaming the stored
 *   bytes (nothing decompressed or decoded), so a damaged image is skipped
 *   before any application hook runs.
 * - Decode before the first hook: the states of providers that need a
 *   migration (a failing migration restores nothing, as before) and the state
 *   of the first provider to restore. A failure here still skips the image.
 * - Apply: migrations run, then each provider in registration order has its
 *   state decoded (if not yet), its `restore()` called and the reference
 *   dropped before the next one is decoded; then each resource's
 *   `afterRestore()`. Peak memory is one provider's state (plus migrated
 *   ones), not the whole image.
 * - A provider whose state fails to decode after an earlier provider was
 *   restored — possible only for an image whose checksums hold, i.e. written
 *   wrong or forged, or holding a value over a decode-time limit such as
 *   `maxBigIntBytes` — keeps the reader's code (CORRUPT, LIMIT…), so
 *   `restore()` still falls back: the next older image is restored whole,
 *   every provider's `restore()` called again with its state (the providers
 *   restored from the skipped image are overwritten; the warning names
 *   them). Restoring an image named by id does not fall back: the error
 *   names the providers already restored (the application is partly
 *   restored). Any other code (e.g. `CKPT_ERR_UNKNOWN_CLASS`) is thrown as
 *   it is, with the same facts.
 *
 * The caller serializes restores with checkpoints and owns events,
 * diagnostics_channel publishing and error wrapping.
 */
import type { ClassLookup } from '../codec/types.js';
import { runMigration } from '../convert/migrate.js';
import { planRestore, type RestorePlan } from '../convert/plan.js';
import { asError, CkptError, ErrorCodes, isCkptError } from '../errors.js';
import { WarningCodes, type CkptWarning } from '../events.js';
import { imageInfo } from '../image/image-info.js';
import type { ZstdPool } from '../image/pool.js';
import { attachHolderSource } from '../image/open-store.js';
import { ImageReader, readError, useReaderPool, type ReadOptions } from '../image/reader.js';
import type { ImageInfo, MigrationRecord, RestoreResult, SkippedImage } from '../info.js';
import type { RegisteredProvider, Registry } from '../provider/registry.js';
import type { ReadStore } from '../store/store.js';

/** What a restore (or its dry run, the plan) needs from its Checkpointer. */
export interface RestoreEnv {
  /** Where the images are read from: restoring and planning only read. */
  readonly store: ReadStore;
  /** The registered providers and resources, read live at each phase. */
  readonly registry: Registry;
  readonly classes: ClassLookup;
  /** Limits applied when reading images. */
  readonly limits: ReadOptions;
  /** Worker threads that decompress large images (none: the main thread decompresses). */
  readonly pool?: ZstdPool;
  /** A provider in the image that is not registered: an error, or its state is dropped. */
  readonly unknownProviders: 'error' | 'ignore';
  /** A registered provider missing from the image: an error, or its restore is not called. */
  readonly missingProviders: 'error' | 'allow';
  warn(w: CkptWarning): void;
}

/** How often restore() lists the store again when listed images vanish under it (pruned by another writer). */
const MAX_RELISTS = 10;

/**
 * Errors that mean "this image is damaged or unreadable" — restore falls back
 * past them. LIMIT is among them: an image this process cannot read within its
 * read limits (a forged size, or a state too large for them) is skipped with
 * a warning that names the limit, as damage is.
 */
export const FALLBACK_CODES: ReadonlySet<string> = new Set<string>([ErrorCodes.CORRUPT, ErrorCodes.NOT_FOUND, ErrorCodes.STORE_IO, ErrorCodes.LIMIT, ErrorCodes.MISSING_REFERENCE]);

/**
 * Restore the newest valid image, or the image `imageId` (no fallback then).
 * Resolves `undefined` when the store holds no image at all; rejects with
 * `CKPT_ERR_NO_VALID_IMAGE` when every image is damaged. The caller
 * serializes runs (one restore or checkpoint at a time).
 */
export async function runRestore(env: RestoreEnv, imageId: string | undefined): Promise<RestoreResult | undefined> {
  if (imageId !== undefined) return restoreImage(env, imageId, [], false);
  let listing = (await env.store.list()).map((e) => e.id);
  if (listing.length === 0) return undefined;
  const skipped: SkippedImage[] = [];
  const tried = new Set<string>();
  let relists = 0;
  // Set once a newer image failed after some of its providers were restored:
  // the image restore falls back to must restore them all again.
  let partly: PartlyRestored | undefined;
  for (;;) {
    const id = listing.find((x) => !tried.has(x)); // newest not tried yet
    if (id === undefined) break;
    tried.add(id);
    try {
      return await restoreImage(env, id, skipped, true, partly);
    } catch (err) {
      const late = isCkptError(err) ? lateFailures.get(err) : undefined;
      if (late !== undefined) {
        partly = { images: [...(partly?.images ?? []), id], providers: [...new Set([...(partly?.providers ?? []), ...late])] };
      }
      if (isCkptError(err, ErrorCodes.NOT_FOUND) && relists < MAX_RELISTS && late === undefined) {
        // Listed a moment ago and gone now: a writer in another process
        // pruned it (retention never deletes the newest image, so a newer
        // one exists). That is not damage: list again and go on from there.
        relists++;
        tried.delete(id);
        listing = (await env.store.list()).map((e) => e.id).filter((x) => x !== id);
        if (listing.length === 0 && skipped.length === 0 && partly === undefined) return undefined;
        continue;
      }
      if (isCkptError(err) && FALLBACK_CODES.has(err.code)) {
        // Bytes it refers to, held by another image, are damaged or gone: that image takes this one down.
        const via = err.image !== undefined && err.image !== id ? err.image : undefined;
        skipped.push({ id, code: err.code, message: err.message, ...(via === undefined ? {} : { dependsOn: via }) });
        const why = via === undefined ? '' : ` because image ${via}, which holds bytes it refers to, is ${err.code === ErrorCodes.MISSING_REFERENCE ? 'missing or replaced' : 'unusable'}`;
        env.warn({ code: WarningCodes.IMAGE_SKIPPED, message: `image ${id} is unusable and was skipped${why}; falling back to an older image: ${err.message}`, error: err });
        continue;
      }
      throw partly === undefined || !isCkptError(err) || err.code === ErrorCodes.RESTORE_FAILED ? err : partlyRestoredError(err, partly);
    }
  }
  const none = new CkptError(
    ErrorCodes.NO_VALID_IMAGE,
    `no valid image in ${env.store.description}: all ${skipped.length} image(s) failed verification (${skipped.map((s) => `${s.id}: ${s.code}${s.dependsOn === undefined ? '' : ` in image ${s.dependsOn} it refers to`}`).join('; ')}); inspect them with 'ckpt verify' — to start fresh, move them away`,
    { errors: skipped.map((s) => new CkptError(s.code as CkptError['code'], s.message, { image: s.id })) },
  );
  throw partly === undefined ? none : partlyRestoredError(none, partly);
}

/** Providers restored from images that then failed: a fallback must restore them again. */
interface PartlyRestored {
  /** The images they were restored from (newest first). */
  readonly images: readonly string[];
  readonly providers: readonly string[];
}

/** Late failures (after some providers were restored), with the providers restored. */
const lateFailures = new WeakMap<CkptError, readonly string[]>();

/** `err`, saying that the application state is partly restored (and from where). */
function partlyRestoredError(err: CkptError, partly: PartlyRestored): CkptError {
  return new CkptError(
    err.code,
    `${err.message}. The application state is partly restored: ${partly.providers.join(', ')} from image ${partly.images.join(', ')} (which failed after that) — fix this and restart the program`,
    { cause: err, ...(err.image === undefined ? {} : { image: err.image }), ...(err.provider === undefined ? {} : { provider: err.provider }) },
  );
}

/**
 * The dry run of a restore: the plan for the image `imageId` (default: the
 * newest image whose index can be read) with the providers registered now.
 * Reads only the image's index. Resolves `undefined` for an empty store.
 */
export async function planImage(env: RestoreEnv, imageId: string | undefined): Promise<RestorePlan | undefined> {
  const ids = imageId !== undefined ? [imageId] : (await env.store.list()).map((e) => e.id);
  let lastError: CkptError | undefined;
  for (const id of ids) {
    try {
      const source = await env.store.open(id);
      try {
        const reader = await ImageReader.open(source, env.limits);
        return planRestore(id, reader.index, env.registry, { unknownProviders: env.unknownProviders, missingProviders: env.missingProviders });
      } finally {
        await source.close();
      }
    } catch (err) {
      // Like restore(): past a damaged newest image to the previous one.
      if (imageId !== undefined || !isCkptError(err) || !FALLBACK_CODES.has(err.code)) throw err;
      lastError = err;
    }
  }
  if (lastError !== undefined) throw lastError;
  return undefined;
}

/** The plan of one image applied to the providers registered now. */
interface Needed {
  readonly byProvider: Map<RegisteredProvider, { savedId: string; version: number }>;
  readonly plans: Map<RegisteredProvider, readonly number[]>;
  /** Warnings to emit if this image is the one restored. */
  readonly notes: readonly CkptWarning[];
}

function neededOf(env: RestoreEnv, id: string, plan: RestorePlan): Needed {
  const byProvider = new Map<RegisteredProvider, { savedId: string; version: number }>();
  const plans = new Map<RegisteredProvider, readonly number[]>();
  const notes: CkptWarning[] = [];
  for (const pp of plan.providers) {
    if (pp.action === 'drop') {
      notes.push({ code: WarningCodes.STATE_DROPPED, message: `image ${id}: state of provider ${JSON.stringify(pp.id)} was dropped because no provider is registered for it (unknownProviders: 'ignore')` });
    } else if (pp.action === 'skip') {
      notes.push({ code: WarningCodes.NOT_RESTORED, message: `image ${id} has no state for provider ${JSON.stringify(pp.id)}; its restore() was not called (missingProviders: 'allow')` });
    } else {
      const p = env.registry.lookup(pp.id)!;
      byProvider.set(p, { savedId: pp.savedId!, version: pp.from! });
      plans.set(p, pp.steps);
    }
  }
  return { byProvider, plans, notes };
}

/**
 * Restore image `id`: check it whole, then decode and restore one provider
 * at a time (see the module comment). Every failure of ckpt's own reading is
 * thrown with the reader's code, so the caller may fall back past damage
 * (`fallsBack`: it will, and says so in the message of a failure after the
 * first hook ran). `skipped` are the newer images fallen back past;
 * `partly`: providers restored from a newer image that failed after that —
 * this image must hold every one of them (else the application would run on
 * a mix of two images: refused, nothing more restored).
 */
async function restoreImage(env: RestoreEnv, id: string, skipped: SkippedImage[], fallsBack: boolean, partly?: PartlyRestored): Promise<RestoreResult> {
  const source = await env.store.open(id);
  // The reader once open: closing it closes the source and every holder it opened.
  let opened: ImageReader | undefined;
  try {
    let reader: ImageReader;
    let info: ImageInfo;
    let needed: Needed;
    let order: RegisteredProvider[];
    const states = new Map<RegisteredProvider, unknown>();
    try {
      reader = await ImageReader.open(source, env.limits);
      opened = reader;
      // Incremental images read the segments they refer to from their holders in this store.
      attachHolderSource(reader, env.store, env.limits);
      useReaderPool(reader, env.pool);
      info = imageInfo(reader);
      // Plan before reading any state: provider-set and version problems fail closed, fast.
      const plan = planRestore(id, reader.index, env.registry, { unknownProviders: env.unknownProviders, missingProviders: env.missingProviders });
      if (!plan.ok) throw plan.errors[0]!;
      needed = neededOf(env, id, plan);
      const { byProvider, plans } = needed;
      const missing = (partly?.providers ?? []).filter((pid) => ![...byProvider.keys()].some((p) => p.id === pid));
      if (partly !== undefined && missing.length > 0) {
        // Not a fallback code: the caller says the state is partly restored.
        throw new CkptError(
          ErrorCodes.MISSING_PROVIDER,
          `image ${id} holds no state for ${missing.map((m) => JSON.stringify(m)).join(', ')}, already restored from image ${partly.images.join(', ')}: restoring it would leave the application on a mix of two images, so nothing more is restored; move the failing image out of the store (ckpt verify names the problem)`,
          { image: id, provider: missing[0]! },
        );
      }
      order = env.registry.providers.filter((p) => byProvider.has(p));
      // Decoded before the first hook: states to migrate, and the first to restore.
      const first = order.filter((p) => plans.get(p)!.length > 0 || p === order[0]);
      // Check every other segment before any state is decoded or any hook
      // runs (the states read first are checked as they are read, still
      // before any hook).
      await reader.checkSegments(
        [...byProvider.values()].map((v) => v.savedId),
        first.map((p) => byProvider.get(p)!.savedId),
      );
      for (const p of first) states.set(p, await reader.readProvider(byProvider.get(p)!.savedId, { classes: env.classes }));
    } catch (err) {
      // Whatever escapes ckpt's own reading is a ckpt code (never a raw RangeError).
      throw readError(err, id, undefined);
    }
    const { byProvider, plans, notes } = needed;
    for (const n of notes) env.warn(n);
    const migrated: MigrationRecord[] = [];
    for (const p of order) {
      const steps = plans.get(p)!;
      if (steps.length === 0) continue;
      const saved = byProvider.get(p)!;
      states.set(p, await runMigration(p, states.get(p), saved.version, steps));
      migrated.push({ id: p.id, from: saved.version, to: p.version });
    }
    const restored: string[] = [];
    for (const p of order) {
      const saved = byProvider.get(p)!;
      let state: unknown;
      if (states.has(p)) {
        state = states.get(p);
        states.delete(p); // the application holds it from here on, ckpt no longer does
      } else {
        try {
          state = await reader.readProvider(saved.savedId, { classes: env.classes });
        } catch (err) {
          const late = lateReadError(readError(err, id, p.id), info, p, restored, fallsBack);
          if (fallsBack && FALLBACK_CODES.has(late.code)) lateFailures.set(late, [...restored]);
          throw late;
        }
      }
      try {
        await p.provider.restore(state, { image: info, savedVersion: saved.version, savedId: saved.savedId });
        restored.push(p.id);
      } catch (cause) {
        throw new CkptError(
          ErrorCodes.RESTORE_FAILED,
          `provider ${JSON.stringify(p.id)} restore() threw while restoring image ${info.id}: ${asError(cause).message}. Already restored: ${restored.join(', ') || 'none'}; the application state is partly restored — restart the program`,
          { provider: p.id, image: info.id, cause },
        );
      }
      state = undefined;
    }
    await afterRestore(env, info);
    return { image: info, migrated, skipped, fellBack: skipped.length > 0 };
  } finally {
    if (opened !== undefined) await opened.close();
    else await source.close();
  }
}

/**
 * A provider's state that could not be read after earlier providers were
 * restored (the image passed its checksum pass, so it was written wrong,
 * forged, or holds a value over a decode-time limit). The reader's code is
 * kept — RESTORE_FAILED means only that an application hook failed — and the
 * message names what was restored: when the caller falls back, those
 * providers are restored again from the older image; when not, the
 * application state is partly restored.
 */
function lateReadError(err: CkptError, info: ImageInfo, p: RegisteredProvider, restored: readonly string[], fallsBack: boolean): CkptError {
  const facts = { provider: p.id, image: info.id, cause: err, ...(err.where === undefined ? {} : { where: err.where }) };
  if (FALLBACK_CODES.has(err.code)) {
    const what = `the state of provider ${JSON.stringify(p.id)} in image ${info.id} could not be read after its checksums were verified: ${err.message}`;
    return new CkptError(
      err.code,
      fallsBack
        ? `${what}. Providers already restored from it (${restored.join(', ')}) are restored again from the next older image`
        : `${what}. Already restored: ${restored.join(', ')}; the application state is partly restored — restore another image (or raise the limit the message names) and restart the program`,
      facts,
    );
  }
  return new CkptError(err.code, `${err.message}. Already restored: ${restored.join(', ')}; the application state is partly restored — fix this and restart the program`, facts);
}

/** Each resource's `afterRestore()`; failures are collected into one RESTORE_FAILED. */
async function afterRestore(env: RestoreEnv, info: ImageInfo): Promise<void> {
  const errors: Error[] = [];
  for (const r of env.registry.resources) {
    try {
      await r.afterRestore?.({ image: info });
    } catch (err) {
      errors.push(new CkptError(ErrorCodes.RESTORE_FAILED, `resource ${JSON.stringify(r.id)} afterRestore() failed: ${asError(err).message}`, { cause: err }));
    }
  }
  if (errors.length > 0) {
    throw new CkptError(ErrorCodes.RESTORE_FAILED, `state of image ${info.id} was restored, but ${errors.length} resource(s) could not be re-acquired:\n${errors.map((e) => `  - ${e.message}`).join('\n')}`, { errors, cause: errors[0], image: info.id });
  }
}
