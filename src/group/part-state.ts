/**
 * @module group/part-state
 *
 * A part's side of a group checkpoint and restore, on its own thread:
 * capture runs every registered provider's hooks (prepare → snapshot →
 * resume) and encodes each state with the ckpt value codec into memory of
 * its own — so class instances, typed arrays, Maps, shared references and
 * cycles keep their fidelity across the thread boundary and the image — and
 * restore checks the saved provider set and versions before any hook runs
 * (fail closed, as a Checkpointer's restore does), then decodes, migrates
 * and restores in registration order.
 */
import type { ClassRegistry } from '../codec/class-registry.js';
import { decodeState } from '../codec/decode.js';
import type { StateEncoder } from '../codec/encode.js';
import { planMigration, runMigration } from '../convert/migrate.js';
import { asError, CkptError, ErrorCodes } from '../errors.js';
import { DEFAULT_BLOB_THRESHOLD, DEFAULT_MAX_DEPTH } from '../image/constants.js';
import type { ImageInfo } from '../info.js';
import type { CheckpointContext } from '../provider/provider.js';
import type { Registry, RegisteredProvider } from '../provider/registry.js';
import type { CaptureMemory } from './capture-memory.js';
import type { PartState, SavedProvider } from './protocol.js';
import { DEFAULT_KEY_GROUPS, type ShardRestoreInfo, type ShardSpec } from './shard.js';
import { capturePieces, isPlaceholder, mergePieces } from './shard-pieces.js';

/** What capture and restore work with: the part's providers, classes and encoder. */
export interface PartEnv {
  readonly registry: Registry;
  readonly classes: ClassRegistry;
  readonly encoder: StateEncoder;
  /** The part's index (messages, and which shard pieces it keeps in a resharded restore). */
  readonly index: number;
  /** How many parts the group has. */
  readonly parts: number;
  /** The `shard` declarations of the part's sharded providers, by provider id. */
  readonly shards: ReadonlyMap<string, ShardSpec>;
  /** Memory of past captures to copy into (a thread part's), else fresh memory. */
  readonly memory?: CaptureMemory;
}

function failed(env: PartEnv, errors: Error[]): CkptError {
  const first = errors[0]!;
  const more = errors.length > 1 ? ` (and ${String(errors.length - 1)} more)` : '';
  return new CkptError(ErrorCodes.SNAPSHOT_FAILED, `part ${String(env.index)}: ${first.message}${more}`, {
    errors,
    ...(first instanceof CkptError && first.provider !== undefined ? { provider: first.provider } : {}),
  });
}

function hookError(p: RegisteredProvider, hook: string, cause: unknown): CkptError {
  if (cause instanceof CkptError && cause.provider !== undefined) return cause;
  return new CkptError(ErrorCodes.SNAPSHOT_FAILED, `provider ${JSON.stringify(p.id)} ${hook}() threw: ${asError(cause).message}`, { provider: p.id, cause });
}

/** Encode one state into memory of its own (the encoder's stream memory and the live blobs are copied). */
function encodeOwn(env: PartEnv, p: RegisteredProvider, state: unknown): SavedProvider {
  const enc = env.encoder.encode(state, {
    tree: p.tree,
    classes: env.classes,
    blobThreshold: DEFAULT_BLOB_THRESHOLD,
    maxDepth: DEFAULT_MAX_DEPTH,
    ...(p.secret.length === 0 ? {} : { secret: p.secret }),
  });
  try {
    const own = (a: Uint8Array): Uint8Array => (env.memory === undefined ? a.slice() : env.memory.copy(a));
    return { id: p.id, version: p.version, tree: p.tree, stream: own(enc.stream), blobs: enc.blobs.map((b) => own(b.bytes)) };
  } finally {
    enc.release?.();
  }
}

/**
 * Capture every registered provider: `prepare` (all), then `snapshot` and
 * encode (each), then `resume` (all, also after a failure). Any failure
 * rejects with `CKPT_ERR_SNAPSHOT_FAILED` naming the part and the provider.
 */
export async function capturePart(env: PartEnv, ctx: CheckpointContext, step: number | null): Promise<PartState> {
  const providers = env.registry.providers;
  const errors: Error[] = [];
  const saved: SavedProvider[] = [];
  for (const p of providers) {
    try {
      await p.provider.prepare?.(ctx);
    } catch (err) {
      errors.push(hookError(p, 'prepare', err));
    }
  }
  if (errors.length === 0) {
    for (const p of providers) {
      try {
        const value = await p.provider.snapshot(ctx);
        const spec = env.shards.get(p.id);
        if (spec === undefined) saved.push(encodeOwn(env, p, value));
        // Secret paths name places in the whole value (an index of an Array among them): such a state is never cut.
        else for (const piece of capturePieces(p.id, spec, value, p.tree, p.secret.length === 0)) saved.push({ ...encodeOwn(env, p, piece.value), shard: piece.shard });
      } catch (err) {
        errors.push(hookError(p, 'snapshot', err));
        break;
      }
    }
  }
  const ok = errors.length === 0;
  for (const p of providers) {
    try {
      await p.provider.resume?.(ok ? { ...ctx, ok } : { ...ctx, ok, error: errors[0]! });
    } catch (err) {
      errors.push(hookError(p, 'resume', err));
    }
  }
  if (errors.length > 0) throw failed(env, errors);
  return { step, providers: saved };
}

/**
 * Restore a part's saved state into its registered providers. Every check
 * (unknown or missing providers, versions, migrations) runs before any state
 * is decoded or any hook called; then each provider is decoded, migrated and
 * restored in registration order.
 */
export async function restorePart(env: PartEnv, state: PartState, image: ImageInfo): Promise<void> {
  const where = { image: image.id };
  const resharded = state.resharded !== undefined;
  const byProvider = new Map<RegisteredProvider, SavedProvider[]>();
  for (const s of state.providers) {
    const p = env.registry.lookup(s.id);
    if (p === undefined) {
      throw new CkptError(
        ErrorCodes.UNKNOWN_PROVIDER,
        `part ${String(env.index)}: image ${image.id} holds state for provider ${JSON.stringify(s.id)}, which this part did not register; register it (or list its old id in the new provider's aliases) before loop()/restore()`,
        { provider: s.id, ...where },
      );
    }
    const pieces = byProvider.get(p);
    if (pieces === undefined) byProvider.set(p, [s]);
    else pieces.push(s);
  }
  const plans = new Map<RegisteredProvider, readonly number[]>();
  for (const p of env.registry.providers) {
    const pieces = byProvider.get(p);
    if (pieces === undefined) {
      throw new CkptError(
        ErrorCodes.MISSING_PROVIDER,
        `part ${String(env.index)}: provider ${JSON.stringify(p.id)} has no state in image ${image.id}; a group restores only the providers its parts saved — register the same providers in every run`,
        { provider: p.id, ...where },
      );
    }
    const first = pieces[0]!;
    const sharded = pieces.every((x) => x.shard !== undefined);
    if ((!sharded && (pieces.length > 1 || first.shard !== undefined)) || pieces.some((x) => x.version !== first.version || x.tree !== first.tree)) {
      throw new CkptError(ErrorCodes.CORRUPT, `part ${String(env.index)}: the state of provider ${JSON.stringify(p.id)} in image ${image.id} is inconsistent (pieces of different kinds or versions); move the image out of the store`, {
        provider: p.id,
        ...where,
      });
    }
    const declared = env.shards.get(p.id);
    const saved = first.shard;
    if (declared !== undefined && saved !== undefined && (declared.kind !== saved.kind || (saved.kind === 'keyed' && (declared.kind === 'keyed' ? (declared.keyGroups ?? DEFAULT_KEY_GROUPS) : 0) !== saved.keyGroups))) {
      throw new CkptError(
        ErrorCodes.GROUP_MISMATCH,
        `part ${String(env.index)}: provider ${JSON.stringify(p.id)} is registered as a ${declared.kind} shard${declared.kind === 'keyed' ? ` of ${String(declared.keyGroups ?? DEFAULT_KEY_GROUPS)} key groups` : ''} but image ${image.id} saved it as a ${saved.kind} shard${saved.kind === 'keyed' ? ` of ${String(saved.keyGroups)} key groups` : ''}; keep a provider's shard declaration for a store`,
        { provider: p.id, ...where },
      );
    }
    if (!resharded && pieces.some((x) => isPlaceholder(x.stream))) {
      throw new CkptError(ErrorCodes.CORRUPT, `part ${String(env.index)}: provider ${JSON.stringify(p.id)} in image ${image.id} has a piece without a value stream; move the image out of the store`, { provider: p.id, ...where });
    }
    if (resharded && !sharded) {
      throw new CkptError(ErrorCodes.GROUP_MISMATCH, `part ${String(env.index)}: provider ${JSON.stringify(p.id)} is not sharded, so it cannot be restored into another number of parts`, { provider: p.id, ...where });
    }
    const plan = planMigration(p, first.version, image.id);
    if (!plan.ok) throw plan.error;
    plans.set(p, plan.steps);
  }
  const restored: string[] = [];
  const places = state.places;
  const target = { index: env.index, parts: env.parts, resharded, ...(places === undefined ? {} : { place: (id: string) => places[id] }) };
  for (const p of env.registry.providers) {
    const pieces = byProvider.get(p)!;
    const s = pieces[0]!;
    const decode = (x: SavedProvider): unknown => decodeState(x.stream, { tree: x.tree, classes: env.classes, blobs: x.blobs, maxDepth: DEFAULT_MAX_DEPTH });
    let decoded: unknown;
    let shard: ShardRestoreInfo | undefined;
    if (s.shard === undefined) decoded = decode(s);
    else {
      const merged = mergePieces(
        p.id,
        pieces.map((x) => ({ value: isPlaceholder(x.stream) ? undefined : decode(x), shard: x.shard! })),
        target,
      );
      decoded = merged.value;
      shard = merged.info;
    }
    const value = await runMigration(p, decoded, s.version, plans.get(p)!);
    try {
      await p.provider.restore(value, { image, savedVersion: s.version, savedId: s.id, ...(shard === undefined ? {} : { shard }) });
      restored.push(p.id);
    } catch (cause) {
      throw new CkptError(
        ErrorCodes.RESTORE_FAILED,
        `part ${String(env.index)}: provider ${JSON.stringify(p.id)} restore() threw: ${asError(cause).message}. Already restored: ${restored.join(', ') || 'none'}; the part's state is partly restored — restart the program`,
        { provider: p.id, ...where, cause },
      );
    }
  }
}
