/**
 * @module convert/plan
 *
 * The restore plan: for one image and the providers registered now, what a
 * restore would do — per provider, from which saved id and version to which
 * version through which migration steps, and every problem (newer version,
 * missing step, unknown or missing provider) — without decoding any state
 * or calling any hook. `Checkpointer.plan()` is the dry run a user runs
 * before deploying new code; `restore()` follows the same plan.
 */
import { CkptError, ErrorCodes } from '../errors.js';
import type { ImageIndex } from '../image/index-model.js';
import type { RegisteredProvider, Registry } from '../provider/registry.js';
import { planMigration } from './migrate.js';

/** What a restore would do for one provider. */
export interface ProviderPlan {
  /** Registered provider id (or, for an unknown provider, the id in the image). */
  readonly id: string;
  /** Id the state is saved under in the image (differs when read through an alias), or null if absent. */
  readonly savedId: string | null;
  /** Saved schema version, or null if absent. */
  readonly from: number | null;
  /** The code's schema version, or null for an unknown provider. */
  readonly to: number | null;
  /** Migration steps that would run, in order (target versions). */
  readonly steps: readonly number[];
  /**
   * `restore` (same version), `migrate` (steps run first), `drop` (unknown
   * provider ignored), `skip` (missing provider allowed: restore not called),
   * or `error` (see `error`).
   */
  readonly action: 'restore' | 'migrate' | 'drop' | 'skip' | 'error';
  /** Why this provider blocks the restore, when `action` is `error`. */
  readonly error?: CkptError;
}

/** The plan for one image. */
export interface RestorePlan {
  /** Image id. */
  readonly image: string;
  /** True when a restore would succeed as far as versions and providers go. */
  readonly ok: boolean;
  /** One entry per registered provider and per unknown provider in the image, registered ones first in registration order. */
  readonly providers: readonly ProviderPlan[];
  /** Every blocking problem, in the order a restore would report them (the first is what `restore()` throws). */
  readonly errors: readonly CkptError[];
}

/** How provider-set mismatches are treated. */
export interface PlanOptions {
  /** A provider in the image that is not registered: an error, or dropped. */
  readonly unknownProviders: 'error' | 'ignore';
  /** A registered provider missing from the image: an error, or skipped. */
  readonly missingProviders: 'error' | 'allow';
}

/** Plan restoring `index` (image `imageId`) into the providers of `registry`. */
export function planRestore(imageId: string, index: ImageIndex, registry: Registry, options: PlanOptions): RestorePlan {
  const saved = new Map<RegisteredProvider, { savedId: string; version: number }>();
  const unknown: ProviderPlan[] = [];
  const errors: CkptError[] = [];
  for (const entry of index.providers) {
    const p = registry.lookup(entry.id);
    if (p === undefined) {
      if (options.unknownProviders === 'ignore') {
        unknown.push({ id: entry.id, savedId: entry.id, from: entry.version, to: null, steps: [], action: 'drop' });
        continue;
      }
      const error = new CkptError(
        ErrorCodes.UNKNOWN_PROVIDER,
        `image ${imageId} holds state for provider ${JSON.stringify(entry.id)}, which is not registered; register it (or add its old id to a provider's aliases), or pass unknownProviders: 'ignore' to drop that state`,
        { image: imageId, provider: entry.id },
      );
      errors.push(error);
      unknown.push({ id: entry.id, savedId: entry.id, from: entry.version, to: null, steps: [], action: 'error', error });
      continue;
    }
    // Both the current id and an alias are in the image: the current id wins.
    const prev = saved.get(p);
    if (prev !== undefined && prev.savedId === p.id) continue;
    saved.set(p, { savedId: entry.id, version: entry.version });
  }
  const missing = registry.providers.filter((p) => !saved.has(p));
  const missingError =
    missing.length > 0 && options.missingProviders === 'error'
      ? new CkptError(
          ErrorCodes.MISSING_PROVIDER,
          `image ${imageId} has no state for provider(s) ${missing.map((p) => JSON.stringify(p.id)).join(', ')}; if the provider is new, pass missingProviders: 'allow' (its restore() is then not called); if it was renamed, list the old id in its aliases`,
          { image: imageId, provider: missing[0]!.id },
        )
      : undefined;
  if (missingError !== undefined) errors.push(missingError);
  const providers: ProviderPlan[] = registry.providers.map((p): ProviderPlan => {
    const s = saved.get(p);
    if (s === undefined) {
      return missingError === undefined
        ? { id: p.id, savedId: null, from: null, to: p.version, steps: [], action: 'skip' }
        : { id: p.id, savedId: null, from: null, to: p.version, steps: [], action: 'error', error: missingError };
    }
    const m = planMigration(p, s.version, imageId);
    if (!m.ok) {
      errors.push(m.error);
      return { id: p.id, savedId: s.savedId, from: s.version, to: p.version, steps: [], action: 'error', error: m.error };
    }
    return { id: p.id, savedId: s.savedId, from: s.version, to: p.version, steps: m.steps, action: m.steps.length > 0 ? 'migrate' : 'restore' };
  });
  return { image: imageId, ok: errors.length === 0, providers: [...providers, ...unknown], errors };
}
