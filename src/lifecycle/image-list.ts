/**
 * @module lifecycle/image-list
 *
 * The committed, readable images of a store with their info, newest first —
 * what `Checkpointer.list()` returns and what retention decides on. Each image
 * is opened to read its index; images that cannot be described (damaged,
 * newer format, over a read limit) are left out with a
 * `CKPT_WARN_IMAGE_UNREADABLE` warning, so retention never deletes them, and
 * images deleted between the listing and the open are left out silently.
 */
import { ErrorCodes, isCkptError, type CkptError } from '../errors.js';
import { WarningCodes, type CkptWarning } from '../events.js';
import { imageInfo } from '../image/image-info.js';
import { ImageReader, type ReadLimits } from '../image/reader.js';
import type { ImageInfo } from '../info.js';
import type { Store, StoreEntry } from '../store/store.js';

/** Where the images are and how to read them. */
export interface ImageListEnv {
  readonly store: Store;
  readonly limits: ReadLimits;
  warn(w: CkptWarning): void;
}

/**
 * The info of one listed image, or `undefined` when it cannot be described
 * (warned about, unless it was deleted meanwhile). Errors that are not a
 * `CkptError` (bugs) are thrown.
 */
export async function describeEntry(env: ImageListEnv, entry: StoreEntry): Promise<ImageInfo | undefined> {
  const read = await readEntry(env, entry);
  return read !== undefined && 'info' in read ? read.info : undefined;
}

/** An image whose index was read: its info and the images it refers to. */
export interface ReadableEntry {
  readonly info: ImageInfo;
  /** Ids of the images holding bytes this image refers to (its index's `refs`). */
  readonly refs: readonly string[];
}

/**
 * {@link describeEntry} with more: the image's references, or — when it
 * cannot be described — the error (warned about as in describeEntry).
 * `undefined`: the image was deleted meanwhile.
 */
export async function readEntry(env: ImageListEnv, entry: StoreEntry): Promise<ReadableEntry | { readonly error: CkptError } | undefined> {
  try {
    const source = await env.store.open(entry.id);
    try {
      const reader = await ImageReader.open(source, env.limits);
      return { info: imageInfo(reader), refs: (reader.index.refs ?? []).map((r) => r.imageId) };
    } finally {
      await source.close();
    }
  } catch (err) {
    if (!isCkptError(err)) throw err;
    // Not listed (and so never pruned): damaged, newer format, over a limit, or deleted meanwhile.
    if (err.code === ErrorCodes.NOT_FOUND) return undefined;
    unreadable(env, entry.id, err);
    return { error: err };
  }
}

function unreadable(env: ImageListEnv, id: string, err: CkptError): void {
  env.warn({ code: WarningCodes.IMAGE_UNREADABLE, message: `image ${id} in ${env.store.description} cannot be described and is left alone: ${err.message}`, error: err });
}

/** Every committed image that can be described, newest first (the store's order). */
export async function listImageInfos(env: ImageListEnv): Promise<ImageInfo[]> {
  const out: ImageInfo[] = [];
  for (const entry of await env.store.list()) {
    const info = await describeEntry(env, entry);
    if (info !== undefined) out.push(info);
  }
  return out;
}
