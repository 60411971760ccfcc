/**
 * @module retention/plan
 *
 * Retention over images that refer to each other: mark and sweep.
 *
 * Mark: the images the policies keep, the newest image, the images the
 * caller always keeps (the one restore() picks) and the images that cannot
 * be read are live. The references of every live image are read (its
 * index's `refs`: the images that physically hold some of its bytes); a
 * referenced image is live too — **pinned**, kept only because a live image
 * needs it — and its own references are followed in turn. A live image
 * whose references cannot be read (its index is unreadable, or reading it
 * failed) fails closed: every image older than it is pinned, since any of
 * them could be one it needs.
 *
 * Sweep: every image that is not live is deleted, **newest first**. An
 * image refers only to older images, so whatever prefix of the deletions a
 * kill lets through, no remaining image refers to a deleted one (and
 * nothing a live image refers to is ever on the list).
 */
import type { ImageInfo } from '../info.js';
import type { RetentionPolicy } from './policy.js';

/**
 * The images `id` refers to (the holders in its index's `refs`), or
 * `undefined` when they cannot be known. A thrown error counts as unknown.
 */
export type RefsOf = (id: string) => readonly string[] | undefined | Promise<readonly string[] | undefined>;

/** Options of {@link planRetention}. */
export interface PlanRetentionOptions {
  /** Ids kept whatever the policies say (e.g. the image restore() would pick). */
  readonly alwaysKeep?: Iterable<string>;
  /**
   * Ids of listed images whose index cannot be read (newer format, over a
   * read limit, I/O failure): kept, and — their references being unknown —
   * every image older than each of them is pinned. May or may not also be
   * in `images` (a stand-in entry there lets policies count them).
   */
  readonly unreadable?: Iterable<string>;
  /**
   * Ids of listed images whose index is damaged: kept (reason `unreadable`),
   * but — restoring nothing — what they refer to does not matter. May or
   * may not also be in `images`.
   */
  readonly damaged?: Iterable<string>;
}

/** What the plan does with one image. */
export type RetentionAction = 'keep' | 'pinned' | 'delete';

/** Why an image is kept (one entry per reason that applies). */
export type KeepReason =
  /** A policy keeps it (named in {@link RetentionDecision.keptBy}). */
  | 'policy'
  /** The newest image is always kept. */
  | 'newest'
  /** The caller keeps it (`alwaysKeep`: the image restore() would pick). */
  | 'always-keep'
  /** It cannot be read: never deleted. */
  | 'unreadable';

/** The decision for one image. */
export interface RetentionDecision {
  /** Image id. */
  readonly id: string;
  /**
   * `keep`: live on its own ({@link RetentionDecision.reasons}); `pinned`:
   * no policy keeps it, but a live image refers to it (or to an image whose
   * references are unknown) — see {@link RetentionDecision.pinnedBy};
   * `delete`: nothing keeps it.
   */
  readonly action: RetentionAction;
  /** Why it is kept on its own (empty for `pinned` and `delete`). */
  readonly reasons: readonly KeepReason[];
  /** Names of the policies that keep it. */
  readonly keptBy: readonly string[];
  /** Live images that refer to it or whose references are unknown (newest first; empty unless referenced by a live image). */
  readonly pinnedBy: readonly string[];
  /** The images it refers to, `null` when unknown or not read (only live images' references are read). */
  readonly refs: readonly string[] | null;
}

/** The result of {@link planRetention}. */
export interface RetentionPlan {
  /** One decision per image, newest first. */
  readonly decisions: readonly RetentionDecision[];
  /** Ids to delete, in the order to delete them: newest first. */
  readonly deleteOrder: readonly string[];
  /** Ids kept only because a live image needs them, newest first. */
  readonly pinned: readonly string[];
  /** Live images whose references could not be read (everything older than each is pinned), newest first. */
  readonly unknownRefs: readonly string[];
  /** References of live images to images that are not listed (such an image cannot be restored), as `referrer → missing`. */
  readonly dangling: readonly DanglingReference[];
}

/** A reference of a live image to an image that is not listed. */
export interface DanglingReference {
  /** The referring image. */
  readonly from: string;
  /** The image it refers to, missing from the listing. */
  readonly to: string;
}

interface Mark {
  readonly reasons: Set<KeepReason>;
  readonly keptBy: string[];
  readonly pinnedBy: Set<string>;
  refs: readonly string[] | null;
  live: boolean;
}

/** Newest first: ids sort, a greater id being a newer image. */
function newestFirst(a: string, b: string): number {
  return a < b ? 1 : a > b ? -1 : 0;
}

/**
 * Decide which images to keep, pin and delete (see the module comment).
 * `images` are what the policies see, newest first; with no policies
 * nothing is deleted. `refsOf` is asked only about live images, once each.
 */
export async function planRetention(
  images: readonly ImageInfo[],
  policies: readonly RetentionPolicy[],
  refsOf: RefsOf,
  options: PlanRetentionOptions = {},
): Promise<RetentionPlan> {
  const unreadable = new Set(options.unreadable ?? []);
  const damaged = new Set(options.damaged ?? []);
  const ids = [...new Set([...images.map((i) => i.id), ...unreadable, ...damaged])].sort(newestFirst);
  const marks = new Map<string, Mark>();
  for (const id of ids) marks.set(id, { reasons: new Set(), keptBy: [], pinnedBy: new Set(), refs: null, live: false });
  const mark = (id: string): Mark => marks.get(id)!;

  if (policies.length === 0) {
    // No retention: everything stays, nothing to read.
    for (const id of ids) mark(id).live = true;
  } else {
    for (const p of policies) {
      for (const id of p.keep(images)) {
        const m = marks.get(id);
        if (m === undefined || m.keptBy.includes(p.name)) continue;
        m.keptBy.push(p.name);
        m.reasons.add('policy');
      }
    }
    const newest = ids[0];
    if (newest !== undefined) mark(newest).reasons.add('newest');
    for (const id of options.alwaysKeep ?? []) marks.get(id)?.reasons.add('always-keep');
    for (const id of [...unreadable, ...damaged]) mark(id).reasons.add('unreadable');
  }

  const unknownRefs: string[] = [];
  const dangling: DanglingReference[] = [];
  if (policies.length > 0) {
    const queue: string[] = [];
    for (const id of ids) {
      const m = mark(id);
      if (m.reasons.size > 0) {
        m.live = true;
        queue.push(id);
      }
    }
    const pin = (id: string, by: string): void => {
      const m = mark(id);
      m.pinnedBy.add(by);
      if (!m.live) {
        m.live = true;
        queue.push(id);
      }
    };
    // Every live image's references are read exactly once; what they name becomes live.
    for (let n = 0; n < queue.length; n++) {
      const id = queue[n]!;
      const m = mark(id);
      if (damaged.has(id) && !unreadable.has(id)) continue;
      const refs = unreadable.has(id) ? undefined : await readRefs(refsOf, id);
      if (refs === undefined) {
        unknownRefs.push(id);
        for (const older of ids) if (older < id) pin(older, id);
        continue;
      }
      m.refs = refs;
      for (const r of refs) {
        if (r === id) continue;
        if (!marks.has(r)) dangling.push({ from: id, to: r });
        else pin(r, id);
      }
    }
  }

  const decisions: RetentionDecision[] = ids.map((id) => {
    const m = mark(id);
    const action: RetentionAction = !m.live ? 'delete' : m.reasons.size > 0 || policies.length === 0 ? 'keep' : 'pinned';
    return { id, action, reasons: [...m.reasons], keptBy: [...m.keptBy], pinnedBy: [...m.pinnedBy].sort(newestFirst), refs: m.refs };
  });
  return {
    decisions,
    deleteOrder: decisions.filter((d) => d.action === 'delete').map((d) => d.id),
    pinned: decisions.filter((d) => d.action === 'pinned').map((d) => d.id),
    unknownRefs: unknownRefs.sort(newestFirst),
    dangling,
  };
}

async function readRefs(refsOf: RefsOf, id: string): Promise<readonly string[] | undefined> {
  try {
    const refs = await refsOf(id);
    return refs === undefined ? undefined : [...refs];
  } catch {
    // Unknown references fail closed: the caller pins everything older.
    return undefined;
  }
}

/**
 * One line saying why an image is kept, pinned or deleted (`ckpt prune
 * --explain`, warnings). `unknownRefs`: the plan's
 * {@link RetentionPlan.unknownRefs}, so a pin by such an image says so.
 */
export function explainDecision(d: RetentionDecision, unknownRefs: readonly string[] = []): string {
  if (d.action === 'delete') return 'no policy keeps it and no kept image refers to it';
  if (d.action === 'pinned') {
    const refer = d.pinnedBy.filter((id) => !unknownRefs.includes(id));
    const unknown = d.pinnedBy.filter((id) => unknownRefs.includes(id));
    const parts: string[] = [];
    if (refer.length > 0) parts.push(`kept image${refer.length === 1 ? '' : 's'} ${refer.join(', ')} refer${refer.length === 1 ? 's' : ''} to it`);
    if (unknown.length > 0) parts.push(`the references of newer image${unknown.length === 1 ? '' : 's'} ${unknown.join(', ')} cannot be read (kept to be safe)`);
    return `pinned: no policy keeps it, but ${parts.join('; and ')}`;
  }
  const parts: string[] = [];
  for (const r of d.reasons) {
    if (r === 'policy') parts.push(`kept by ${d.keptBy.join(', ')}`);
    else if (r === 'newest') parts.push('newest image');
    else if (r === 'always-keep') parts.push('newest valid image (restore() picks it)');
    else parts.push('cannot be read: never deleted');
  }
  if (parts.length === 0) parts.push('no retention policy: every image is kept');
  return parts.join('; ');
}
