/**
 * @module cli/check
 *
 * Checking images, shared by `ls`, `verify` and `prune`: the quick check
 * (header, trailer and index checksums and structure — what `list()` does)
 * and the full check (every segment checksum, every provider decoded — what
 * `restore()` needs), and which image `restore()` would pick in a store:
 * the newest one that passes, skipping damaged ones exactly as `restore()`
 * falls back past them (damaged, unreadable, or over a reader limit), and
 * stopping where `restore()` would fail instead (an image newer than this ckpt).
 */
import { imageInfo } from '../image/image-info.js';
import { ErrorCodes, isCkptError, type ImageInfo, type ImageSource } from '../index.js';
import { attachHolderSource, openImage, type ClassLookup, type HolderSource, type ImageHeader, type VerifyProblem } from '../format/index.js';
import { exitCodeForProblems, ExitCode } from './exit-codes.js';
import { countingSource, storeImagePath, type StoreDir } from './inputs.js';
import { NO_PROGRESS, type Progress } from './progress.js';
import { FALLBACK_CODES as RESTORE_FALLBACK_CODES } from '../lifecycle/restore-run.js';
import type { KeySource } from '../crypto/keys.js';
import { readPublicInfo } from '../image/reader.js';
import { problemOf } from './problems.js';
import { groupCheck, groupMeta, type GroupCheck } from './group-image.js';

/** The status of one image after its check. */
export type ImageStatus = 'ok' | 'damaged' | 'newer' | 'unreadable' | 'app';

/** What checking one image found. */
export interface ImageCheck {
  /** Image id (the store's id, or the file name for a loose file). */
  readonly id: string;
  /** File path. */
  readonly path: string;
  /** Size in bytes. */
  readonly bytes: number;
  /** The header, when it could be read. */
  readonly header: ImageHeader | null;
  /** The description, when the quick check passed. */
  readonly info: ImageInfo | null;
  /** True when the full check ran (every segment and provider). */
  readonly verified: boolean;
  /** Every problem found (empty when ok). */
  readonly problems: readonly VerifyProblem[];
  /** Segments checked by the full check. */
  readonly segmentsChecked: number;
  /** Providers decoded by the full check. */
  readonly providersDecoded: number;
  /** The resulting status. */
  readonly status: ImageStatus;
  /** Ids of the images it refers to (its index's `refs`; empty for a full image), when its index could be read. */
  readonly refs?: readonly string[];
  /**
   * Encrypted images: the key id, and `locked` when no key opened it — then
   * only its header, trailer, crypto block and index checksums were checked
   * and `info` comes from its public manifest (no providers); its contents
   * were not authenticated.
   */
  readonly encrypted?: { readonly keyId: string; readonly locked: boolean };
  /**
   * A group image's parts, checked (only with {@link CheckOptions.groups},
   * after the full check). Its problems are not in `problems` and do not
   * change `status`: `restore()` does not skip an image for them, so they do
   * not move the pick; `verify` reports them with the image's own.
   */
  readonly group?: GroupCheck;
}

/** Options of {@link checkImage}. */
export interface CheckOptions {
  /** Run the full check (else only the quick one). */
  readonly full: boolean;
  /** Classes to decode with (default: placeholders for every class). */
  readonly classes?: ClassLookup;
  /** Progress of bytes read. */
  readonly progress?: Progress;
  /** Where the images an incremental image refers to are (its store, or the directory of an image file). */
  readonly holders?: HolderSource;
  /** Keys of encrypted images (without them an encrypted image is checked as far as its clear parts go). */
  readonly keys?: KeySource | undefined;
  /** With `full`: also check every part of a group image ({@link ImageCheck.group}). */
  readonly groups?: boolean;
}

/** Status for a set of problems. */
export function statusOf(problems: readonly VerifyProblem[]): ImageStatus {
  switch (exitCodeForProblems(problems.map((p) => p.code))) {
    case ExitCode.OK:
      return 'ok';
    case ExitCode.NEWER:
      return 'newer';
    case ExitCode.IO:
      return 'unreadable';
    case ExitCode.APP:
      return 'app';
    default:
      return 'damaged';
  }
}

export { problemOf } from './problems.js';

/**
 * Check one image. Never throws for a bad image: problems are collected.
 * `open` gives the image's source (from a store or a file).
 */
export async function checkImage(open: () => Promise<ImageSource>, id: string, path: string, bytes: number, options: CheckOptions): Promise<ImageCheck> {
  const progress = options.progress ?? NO_PROGRESS;
  const base = { id, path, bytes };
  let source: ImageSource;
  try {
    source = await open();
  } catch (err) {
    const problems = [problemOf(err, 'file')];
    return { ...base, header: null, info: null, verified: false, problems, segmentsChecked: 0, providersDecoded: 0, status: statusOf(problems) };
  }
  let reader;
  try {
    reader = await openImage(countingSource(source, (n) => progress.add(n)), options.keys === undefined ? {} : { keys: options.keys });
    // Holders open with the same keys (a referenced segment of an encrypted image is sealed under its holder's key).
    if (options.holders !== undefined) attachHolderSource(reader, options.holders, options.keys === undefined ? {} : { keys: options.keys });
  } catch (err) {
    if (isCkptError(err) && err.code === ErrorCodes.KEY && options.keys === undefined) {
      const locked = await lockedCheck(open, base);
      if (locked !== undefined) return locked;
    }
    const problems = [problemOf(err, 'header')];
    return { ...base, header: null, info: null, verified: false, problems, segmentsChecked: 0, providersDecoded: 0, status: statusOf(problems) };
  }
  try {
    const info = { ...imageInfo(reader), id };
    const refs = (reader.index.refs ?? []).map((r) => r.imageId);
    const encrypted = reader.crypto === undefined ? {} : { encrypted: { keyId: reader.crypto.key.keyId, locked: false } };
    if (!options.full) return { ...base, ...encrypted, header: reader.header, info, refs, verified: false, problems: [], segmentsChecked: 0, providersDecoded: 0, status: 'ok' };
    const group = options.groups === true ? groupMeta(info.meta) : null;
    // A group image's parts are checked as the image's check decodes them (each part read once).
    const parts = group === null ? undefined : groupCheck(group, reader.providers.map((p) => p.id));
    const report = await reader.verify({ ...(options.classes === undefined ? {} : { classes: options.classes }), ...(parts === undefined ? {} : { decoded: (id, state) => parts.decoded(id, state) }) });
    return {
      ...(parts === undefined ? {} : { group: parts.result() }),
      ...base,
      ...encrypted,
      header: reader.header,
      info,
      refs,
      verified: true,
      problems: report.problems,
      segmentsChecked: report.segmentsChecked,
      providersDecoded: report.providersDecoded,
      status: statusOf(report.problems),
    };
  } finally {
    await reader.close().catch(() => undefined);
  }
}

/**
 * An encrypted image no key opened: its header, trailer, crypto block and
 * index checksums checked, described by its public manifest. Undefined when
 * even that fails (the caller reports the key error).
 */
async function lockedCheck(open: () => Promise<ImageSource>, base: { id: string; path: string; bytes: number }): Promise<ImageCheck | undefined> {
  let source: ImageSource | undefined;
  try {
    source = await open();
    const { header, block } = await readPublicInfo(source);
    const info: ImageInfo = {
      id: base.id,
      step: block.public.step,
      label: block.public.label,
      createdAt: new Date(block.public.createdAt),
      bytes: base.bytes,
      app: null,
      formatVersion: header.formatVersion,
      library: 'unknown (encrypted)',
      node: 'unknown (encrypted)',
      hostname: null,
      meta: {},
      providers: [],
    };
    return { ...base, header, info, verified: false, problems: [], segmentsChecked: 0, providersDecoded: 0, status: 'ok', encrypted: { keyId: block.key.keyId, locked: true } };
  } catch (err) {
    const problems = [problemOf(err, 'header')];
    return { ...base, header: null, info: null, verified: false, problems, segmentsChecked: 0, providersDecoded: 0, status: statusOf(problems) };
  } finally {
    await source?.close().catch(() => undefined);
  }
}

/** Codes `restore()` falls back past (the image is skipped); any other code makes it fail. The same set restore() uses. */
const FALLBACK_CODES: ReadonlySet<string> = RESTORE_FALLBACK_CODES;

/** Whether `restore()` would skip an image with these problems (rather than fail on it). */
export function restoreSkips(problems: readonly VerifyProblem[]): boolean {
  return problems.every((p) => FALLBACK_CODES.has(p.code));
}

/** Options of {@link scanStore}. */
export interface ScanOptions {
  /**
   * `none`: quick check only; `until-valid`: full check from the newest image
   * down to the one `restore()` would pick; `all`: full check of every image.
   */
  readonly verify: 'none' | 'until-valid' | 'all';
  /** Classes to decode with. */
  readonly classes?: ClassLookup;
  /** Progress of bytes read. */
  readonly progress?: Progress;
  /** Keys of encrypted images. */
  readonly keys?: KeySource | undefined;
  /** Also check every part of each group image that gets the full check ({@link ImageCheck.group}). */
  readonly groups?: boolean;
}

/** What scanning a store found. */
export interface StoreScan {
  /** Every committed image, newest first. */
  readonly images: readonly ImageCheck[];
  /** The image `restore()` would pick, or null. */
  readonly pick: string | null;
  /** Whether the pick passed the full check (false: only the quick check ran). */
  readonly pickVerified: boolean;
  /** The image `restore()` would fail on (newer, over a limit), if it stops before finding a valid one. */
  readonly blockedBy: ImageCheck | null;
}

/** Check the images of a store and find the one `restore()` would pick. */
export async function scanStore(store: StoreDir, options: ScanOptions): Promise<StoreScan> {
  const entries = await store.store.list();
  const progress = options.progress ?? NO_PROGRESS;
  const checkOne = async (id: string, bytes: number, full: boolean): Promise<ImageCheck> =>
    checkImage(() => store.store.open(id), id, storeImagePath(store.dir, id), bytes, {
      full,
      progress,
      holders: store.store,
      keys: options.keys,
      ...(options.groups === true ? { groups: true } : {}),
      ...(options.classes === undefined ? {} : { classes: options.classes }),
    });
  const fullAll = options.verify === 'all';
  progress.setTotal(entries.reduce((n, e) => n + (fullAll ? 2 * e.size : 0), 0));
  const images: ImageCheck[] = [];
  let pick: string | null = null;
  let pickVerified = false;
  let blockedBy: ImageCheck | null = null;
  let searching = true;
  for (const e of entries) {
    const full = fullAll || (searching && options.verify === 'until-valid');
    const check = await checkOne(e.id, e.size, full);
    images.push(check);
    if (!searching) continue;
    if (check.problems.length === 0) {
      pick = e.id;
      pickVerified = check.verified;
      searching = false;
    } else if (!restoreSkips(check.problems)) {
      blockedBy = check;
      searching = false;
    }
  }
  return { images, pick, pickVerified, blockedBy };
}
