/**
 * @module cli/group-image
 *
 * Group images as the CLI sees them. A `CheckpointGroup` writes an ordinary
 * image whose `meta` holds `ckpt.group.parts` and `ckpt.group.epoch` and
 * whose providers are `part-0` … `part-<n-1>`, each one part's
 * `PartState` (`{ step, providers }`, every saved provider an encoded value
 * stream plus blobs). This module reads that layout — from the meta alone
 * (`ls`), from the index (its part providers), and from the part states
 * (`inspect`, `verify`) — and checks it: every part present and no other
 * provider, every part state of the expected shape, every saved provider's
 * stream decodable with its blobs. Problems are `{ code, where, message }`
 * like every other verify problem (`CKPT_ERR_CORRUPT`: the image does not
 * hold what a group restore needs).
 */
import { decodeState } from '../codec/decode.js';
import { placeholderClassLookup, type ImageReader, type VerifyProblem } from '../format/index.js';
import { checkPartState, META_EPOCH, META_PARTS, partProviderId, type PartState, type SavedProvider } from '../group/protocol.js';
import { DEFAULT_MAX_DEPTH } from '../image/constants.js';
import { ErrorCodes, type ImageInfo } from '../index.js';
import { problemOf } from './problems.js';

/** What an image's meta says about the group that wrote it. */
export interface GroupMeta {
  /** The part count (`ckpt.group.parts`), or null when the meta's value is not a positive whole number. */
  readonly parts: number | null;
  /** The group epoch (`ckpt.group.epoch`), or null when the meta's value is not a whole number ≥ 0. */
  readonly epoch: number | null;
  /** What is wrong with the meta (empty when both values are valid). */
  readonly problems: readonly VerifyProblem[];
}

/** One saved provider of a part, without its state: how it was saved and how many bytes it takes. */
export interface PartProviderSummary {
  readonly id: string;
  readonly version: number;
  readonly tree: boolean;
  /** Bytes of its encoded value stream. */
  readonly streamBytes: number;
  /** How many blobs the stream references. */
  readonly blobs: number;
  /** Bytes of those blobs together. */
  readonly blobBytes: number;
}

/** One part of a group image: its step and its providers, or why its state could not be read. */
export interface PartSummary {
  readonly index: number;
  /** The image provider holding it (`part-<index>`). */
  readonly id: string;
  /** Whether the image holds that provider. */
  readonly present: boolean;
  /** The part's step at the capture (null: none), when its state was read. */
  readonly step: number | null;
  /** Its providers, when its state was read. */
  readonly providers: readonly PartProviderSummary[] | null;
  /** Why its state could not be read (null when it was). */
  readonly error: VerifyProblem | null;
}

/** What checking every part of a group image found. */
export interface GroupCheck {
  /** The meta's part count (null when invalid). */
  readonly parts: number | null;
  /** The meta's epoch (null when invalid). */
  readonly epoch: number | null;
  /** Parts whose state was read and every saved provider decoded. */
  readonly partsChecked: number;
  /** Saved providers decoded, over every part. */
  readonly providersDecoded: number;
  /** Every problem found (empty when the group layout and every part are sound). */
  readonly problems: readonly VerifyProblem[];
}

const PART_ID = /^part-(0|[1-9][0-9]{0,8})$/;

/** How many missing parts are named one by one before the rest is counted. */
const MISSING_NAMED = 10;

function corrupt(where: string, message: string): VerifyProblem {
  return { code: ErrorCodes.CORRUPT, where, message };
}

/**
 * The group an image belongs to, from its meta: null when the meta has
 * neither `ckpt.group.parts` nor `ckpt.group.epoch` (an ordinary image).
 * Either key alone, or a value that is not a whole number, still makes it a
 * group image — one whose meta is damaged.
 */
export function groupMeta(meta: ImageInfo['meta']): GroupMeta | null {
  const hasParts = Object.hasOwn(meta, META_PARTS);
  const hasEpoch = Object.hasOwn(meta, META_EPOCH);
  if (!hasParts && !hasEpoch) return null;
  const rawParts = meta[META_PARTS];
  const rawEpoch = meta[META_EPOCH];
  const parts = typeof rawParts === 'number' && Number.isSafeInteger(rawParts) && rawParts >= 1 ? rawParts : null;
  const epoch = typeof rawEpoch === 'number' && Number.isSafeInteger(rawEpoch) && rawEpoch >= 0 ? rawEpoch : null;
  const problems: VerifyProblem[] = [];
  if (parts === null) {
    problems.push(corrupt('meta', `group image: meta ${JSON.stringify(META_PARTS)} is ${hasParts ? JSON.stringify(rawParts) : 'missing'}, not a part count (a whole number ≥ 1)`));
  }
  if (epoch === null) {
    problems.push(corrupt('meta', `group image: meta ${JSON.stringify(META_EPOCH)} is ${hasEpoch ? JSON.stringify(rawEpoch) : 'missing'}, not a group epoch (a whole number ≥ 0)`));
  }
  return { parts, epoch, problems };
}

/** The index of a part provider id (`part-3` → 3), or null for any other id. */
export function partIndexOf(id: string): number | null {
  const m = PART_ID.exec(id);
  return m === null ? null : Number(m[1]);
}

/**
 * Check the providers a group image holds against its meta, from the index
 * alone: `part-0` … `part-<n-1>` each present, nothing else. A part count
 * that the providers contradict is reported once, with what they hold.
 */
export function layoutProblems(group: GroupMeta, providerIds: readonly string[]): VerifyProblem[] {
  const problems: VerifyProblem[] = [...group.problems];
  const n = group.parts;
  const present = new Set<number>();
  const extra: string[] = [];
  for (const id of providerIds) {
    const i = partIndexOf(id);
    if (i !== null && (n === null || i < n)) present.add(i);
    else extra.push(id);
  }
  if (n === null) return problems;
  const missing: number[] = [];
  for (let i = 0; missing.length < MISSING_NAMED && i < n; i++) if (!present.has(i)) missing.push(i);
  const missingCount = n - present.size;
  if (missingCount > 0 || extra.length > 0) {
    const holds = providerIds.length === 0 ? 'no providers' : `${String(providerIds.length)} provider${providerIds.length === 1 ? '' : 's'} (${providerIds.map((p) => JSON.stringify(p)).join(', ')})`;
    problems.push(corrupt('meta', `group image: its meta says ${String(n)} part${n === 1 ? '' : 's'} (${META_PARTS}) but it holds ${holds}; a group restores only part-0 … part-${String(n - 1)}`));
  }
  for (const i of missing) problems.push(corrupt(`part ${String(i)}`, `part ${String(i)}: the group image has no provider ${JSON.stringify(partProviderId(i))}`));
  if (missingCount > missing.length) problems.push(corrupt('parts', `and ${String(missingCount - missing.length)} more parts are missing`));
  for (const id of extra) problems.push(corrupt(`provider ${JSON.stringify(id)}`, `provider ${JSON.stringify(id)} is not a part of this group of ${String(n)} (a group image holds only part-0 … part-${String(n - 1)})`));
  return problems;
}

function summarize(p: SavedProvider): PartProviderSummary {
  return { id: p.id, version: p.version, tree: p.tree, streamBytes: p.stream.byteLength, blobs: p.blobs.length, blobBytes: p.blobs.reduce((s, b) => s + b.byteLength, 0) };
}

/**
 * Read part `index`'s state from a group image (its segments' checksums are
 * checked as for any provider) and check its shape. Throws `CkptError`
 * (`CKPT_ERR_CORRUPT` for a state that is not a part state).
 */
export async function readPartState(reader: ImageReader, index: number): Promise<PartState> {
  return checkPartState(await reader.readProvider(partProviderId(index)), index);
}

/**
 * Decode one saved provider of a part. Classes come back as the placeholders
 * every CLI read uses (null-prototype objects tagged with the class name),
 * since no app code is loaded. Throws `CkptError` (`CKPT_ERR_CORRUPT` for a
 * damaged stream or a blob reference it does not hold).
 */
export function decodeSavedProvider(p: SavedProvider): unknown {
  return decodeState(p.stream, {
    tree: p.tree,
    classes: placeholderClassLookup(),
    // The decoder wants each blob 8-byte aligned: a view inside a larger buffer is copied.
    blobs: p.blobs.map((b) => (b.byteOffset % 8 === 0 ? b : b.slice())),
    maxDepth: DEFAULT_MAX_DEPTH,
  });
}

/**
 * Every part of a group image, in index order, from `part-0` to the meta's
 * part count (or, when the meta has none, every `part-<i>` provider the image
 * holds): each one's step and providers, or why it could not be read. Only
 * the part states are decoded, not the providers' streams.
 */
export async function partSummaries(reader: ImageReader, group: GroupMeta): Promise<PartSummary[]> {
  const ids = new Set(reader.providers.map((p) => p.id));
  const indices = group.parts !== null ? Array.from({ length: Math.min(group.parts, ids.size + MISSING_NAMED) }, (_, i) => i) : [...ids].map(partIndexOf).filter((i): i is number => i !== null).sort((a, b) => a - b);
  const out: PartSummary[] = [];
  for (const index of indices) {
    const id = partProviderId(index);
    if (!ids.has(id)) {
      out.push({ index, id, present: false, step: null, providers: null, error: corrupt(`part ${String(index)}`, `the group image has no provider ${JSON.stringify(id)}`) });
      continue;
    }
    try {
      const state = await readPartState(reader, index);
      out.push({ index, id, present: true, step: state.step, providers: state.providers.map(summarize), error: null });
    } catch (err) {
      out.push({ index, id, present: true, step: null, providers: null, error: problemOf(err, `part ${String(index)}`) });
    }
  }
  return out;
}

/** A group image's parts, checked as the image's own check decodes them ({@link groupCheck}). */
export interface GroupPartsCheck {
  /** Give it each provider's state as the image's check decodes it (`ImageReader.verify`'s `decoded`). */
  decoded(id: string, state: unknown): void;
  /** The result, once the image's check is done. */
  result(): GroupCheck;
}

/**
 * Check every part of a group image: the layout (meta against the providers
 * `providerIds` the image holds), then each part present as the image's own
 * check decodes it — its state's shape and every saved provider's stream —
 * so each part is read once. A part whose provider cannot be read or decoded
 * is a problem the image's own check lists, and not repeated here. Never
 * throws for a bad image.
 */
export function groupCheck(group: GroupMeta, providerIds: readonly string[]): GroupPartsCheck {
  const problems = layoutProblems(group, providerIds);
  let partsChecked = 0;
  let providersDecoded = 0;
  return {
    decoded(id, value) {
      const index = partIndexOf(id);
      if (index === null || (group.parts !== null && index >= group.parts)) return;
      let state: PartState;
      try {
        state = checkPartState(value, index);
      } catch (err) {
        problems.push({ ...problemOf(err, `part ${String(index)}`), where: `part ${String(index)}` });
        return;
      }
      let ok = true;
      for (const saved of state.providers) {
        try {
          decodeSavedProvider(saved);
          providersDecoded++;
        } catch (err) {
          ok = false;
          const p = problemOf(err, `part ${String(index)}`);
          problems.push({ code: p.code, where: `part ${String(index)} provider ${JSON.stringify(saved.id)}`, message: `part ${String(index)}, provider ${JSON.stringify(saved.id)}: ${p.message}` });
        }
      }
      if (ok) partsChecked++;
    },
    result: () => ({ parts: group.parts, epoch: group.epoch, partsChecked, providersDecoded, problems: [...problems] }),
  };
}
