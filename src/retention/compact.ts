/**
 * @module retention/compact
 *
 * Compaction: rewrite an image that refers to older images as a **full**
 * image — every byte its own — under a new id, so that retention can let the
 * older images go. The state is read through the store (referenced bytes
 * from the images that hold them, every checksum verified), re-encoded
 * segment by segment with the image's own codec settings and written as a
 * new image through the store's commit rule (temporary, durable, then
 * visible at once): a failure or a kill leaves no new image and never
 * touches the old ones. The new image carries the original's step, label,
 * creation time, app and metadata, so restore() restores the same state
 * from it; being the newest, it is what restore() picks. That is why only
 * the newest image can be compacted: a copy of an older one would become
 * the newest, and restore() would go back to its older state.
 *
 * Memory: the raw (decompressed) state of the image is held while it is
 * written, as a checkpoint of that state would.
 */
import { CkptError, ErrorCodes } from '../errors.js';
import type { CapturedProvider } from '../image/writer.js';
import { writeImage } from '../image/writer.js';
import { openStoreImage } from '../image/open-store.js';
import type { ReadLimits } from '../image/reader.js';
import { newImageUuid } from '../image/incremental-plan.js';
import type { Store, WriterLock } from '../store/store.js';
import { keySource, type EncryptionOptions, type KeySource } from '../crypto/keys.js';

/** Options of {@link compactImage}. */
export interface CompactOptions {
  /** The image to compact: only the newest may be named (default: the newest). */
  readonly imageId?: string;
  /** Rewrite the image even when it refers to no other image (default: such an image is left as it is). */
  readonly force?: boolean;
  /** Read limits applied to the image. */
  readonly limits?: ReadLimits;
  /**
   * The keys of an encrypted image (as the Checkpointer's `encryption`
   * option). Its images are read with them, and the compacted copy of an
   * encrypted image is encrypted under the current key (a fresh data key);
   * a plaintext image stays plaintext (reading one needs `allowPlaintext`).
   */
  readonly encryption?: EncryptionOptions;
}

/** What {@link compactImage} did. */
export interface CompactReport {
  /** The image that was compacted. */
  readonly source: string;
  /** The images it referred to. */
  readonly references: readonly string[];
  /** The id of the new full image, or null when nothing was written (already full). */
  readonly written: string | null;
  /** Size of the new image in bytes (0 when nothing was written). */
  readonly bytes: number;
}

/**
 * Rewrite the newest image of `store` as a full image with a new id (see
 * the module comment). Needs the store's writer lock. An image that refers
 * to no other image is left alone (`written: null`) unless `force`. Fails
 * with `CKPT_ERR_INVALID_ARGUMENT` when `options.imageId` names an image
 * other than the newest (its copy would become the newest, and restore()
 * would go back in time), `CKPT_ERR_NOT_FOUND` for an unknown id or an
 * empty store, with the reader's codes (CORRUPT, MISSING_REFERENCE, LIMIT,
 * KEY for an encrypted image without `options.encryption`…) when the image or an image it refers to cannot
 * be read whole, and `CKPT_ERR_STORE_IO` when writing fails — in every case
 * no new image exists.
 */
export function compactImage(store: Store, lock: WriterLock, options: CompactOptions = {}): Promise<CompactReport> {
  const { encryption, ...rest } = options;
  return compactImageWith(store, lock, rest, encryption === undefined ? undefined : keySource(encryption));
}

/**
 * {@link compactImage} with the keys as a key source (the CLI builds one from
 * a key file or a passphrase).
 * @internal
 */
export async function compactImageWith(store: Store, lock: WriterLock, options: Omit<CompactOptions, 'encryption'>, keys: KeySource | undefined): Promise<CompactReport> {
  const list = await store.list();
  const newest = list[0]?.id;
  if (newest === undefined) throw new CkptError(ErrorCodes.NOT_FOUND, `${store.description} holds no image to compact`);
  const id = options.imageId ?? newest;
  if (id !== newest) {
    if (!list.some((e) => e.id === id)) throw new CkptError(ErrorCodes.NOT_FOUND, `${store.description} holds no image ${id} to compact`, { image: id });
    throw new CkptError(
      ErrorCodes.INVALID_ARGUMENT,
      `image ${id} is not the newest image of ${store.description}: only the newest image (${newest}) can be compacted, because the compacted copy gets a new id and so becomes the newest image — restore() would pick it and silently go back to the older state of image ${id}`,
      { image: id, hint: `compact the newest image (omit the id), then prune` },
    );
  }
  const reader = await openStoreImage(store, id, { ...options.limits, ...(keys === undefined ? {} : { keys }) });
  try {
    const references = reader.refs;
    // Never turn an encrypted image into plaintext: its copy is written under `keys`, or not at all.
    const encryption = reader.crypto === undefined ? undefined : keys;
    if (reader.crypto !== undefined && encryption === undefined) {
      throw new CkptError(ErrorCodes.INVALID_ARGUMENT, `image ${id} is encrypted: pass its keys as the encryption option (the copy is encrypted with them; it is never written in plaintext)`, { image: id });
    }
    if (references.length === 0 && options.force !== true) return { source: id, references, written: null, bytes: 0 };
    // Every provider's state, read whole (referenced bytes from their holders, every checksum checked) before anything is written.
    const providers: CapturedProvider[] = [];
    for (const p of reader.index.providers) {
      const raw = await reader.readRaw(p.id);
      providers.push({
        id: p.id,
        version: p.version,
        tree: p.tree,
        encoded: { stream: raw.stream, blobs: p.blobs.map((b, n) => ({ kind: b.kind, bytes: raw.blobs[n]! })) },
      });
    }
    await lock.assertHeld();
    const sink = await store.create(lock);
    try {
      const { manifest, codec } = reader.index;
      const formatVersion = reader.header.formatVersion;
      // Same format (an encrypted one: format 4, full); a format-3 image gets a uuid of its own, so later
      // images may refer to it (an encrypted one gets its uuid with its data key).
      const written = await writeImage(
        sink,
        { ...manifest, imageId: sink.id, parent: null, uuid: formatVersion >= 3 ? newImageUuid() : null },
        providers,
        { level: codec.level, segmentSize: codec.segmentSize, blobThreshold: codec.blobThreshold, formatVersion, ...(encryption === undefined ? {} : { encryption }) },
      );
      await sink.commit();
      return { source: id, references, written: sink.id, bytes: written.bytes };
    } catch (err) {
      await sink.abort();
      throw err;
    }
  } finally {
    await reader.close();
  }
}
