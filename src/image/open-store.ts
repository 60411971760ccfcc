/**
 * @module image/open-store
 *
 * Opening an image together with the images it refers to. An incremental
 * image (format 3) stores unchanged segments by reference into the image
 * that holds their bytes, and XOR deltas over segments of earlier images;
 * reading it needs those holders. {@link openStoreImage} opens an image of a
 * store with a resolver that opens each holder from the same store on first
 * use — once per reader tree, however many images and segments refer to it —
 * and checks that the holder is the image the reference was written against
 * (same uuid). Holders are opened with the same read options — the keys
 * too: in an encrypted incremental image (format 5) a referenced segment is
 * sealed under its holder's key. A missing or replaced holder is `CKPT_ERR_MISSING_REFERENCE`;
 * a holder id the store refuses as malformed is `CKPT_ERR_CORRUPT` of the
 * referring image (its index is damaged), so restore falls back past it.
 */
import { CkptError, ErrorCodes, isCkptError } from '../errors.js';
import type { ImageSource, ReadStore } from '../store/store.js';
import type { ImageRef } from './index-model.js';
import { ImageReader, attachHolders, type HolderResolver, type ReadOptions } from './reader.js';

/** Where holders come from: anything that opens an image by id (a store, a directory of image files). */
export interface HolderSource {
  /** Where the images are, for messages (`fs:/var/ckpt`); a store's description. */
  readonly description?: string;
  /** Open image `id`; fails with `CKPT_ERR_NOT_FOUND` when there is none (`CKPT_ERR_INVALID_ARGUMENT`: not an id at all). */
  open(id: string): Promise<ImageSource>;
}

/**
 * Opens each holder once (by image id) and checks its uuid on every use.
 * Holders are attached to the same resolver, so their own references (XOR
 * bases further down a chain) resolve through it too.
 */
class Holders implements HolderResolver {
  readonly #opened = new Map<string, Promise<ImageReader>>();
  #closed = false;

  constructor(
    readonly from: HolderSource,
    readonly limits: ReadOptions,
  ) {}

  async holder(ref: ImageRef, referrer: string): Promise<ImageReader> {
    if (this.#closed) throw new CkptError(ErrorCodes.CLOSED, `image ${referrer}: reader is closed`);
    let opening = this.#opened.get(ref.imageId);
    if (opening === undefined) {
      opening = this.#open(ref.imageId, referrer);
      // Failures are reported to every caller that awaits it, and the holder
      // stays failed for this reader tree (no retries in the middle of a read).
      opening.catch(() => undefined);
      this.#opened.set(ref.imageId, opening);
    }
    const reader = await opening;
    const uuid = reader.manifest.uuid ?? null;
    if (uuid !== ref.uuid) {
      throw new CkptError(
        ErrorCodes.MISSING_REFERENCE,
        `image ${referrer} refers to image ${ref.imageId} (uuid ${ref.uuid}), but the image now stored as ${ref.imageId} is another one (uuid ${uuid ?? 'none'}); the bytes image ${referrer} needs are gone — restore an older image, or put the original image ${ref.imageId} back`,
        { image: ref.imageId, where: 'refs' },
      );
    }
    return reader;
  }

  async #open(id: string, referrer: string): Promise<ImageReader> {
    let source: ImageSource;
    try {
      source = await this.from.open(id);
    } catch (err) {
      if (isCkptError(err, ErrorCodes.NOT_FOUND)) {
        throw new CkptError(
          ErrorCodes.MISSING_REFERENCE,
          `image ${referrer} refers to image ${id}, which holds bytes it needs, but image ${id} does not exist (deleted or moved away); restore an older image, or put image ${id} back`,
          { image: id, where: 'refs', cause: err },
        );
      }
      if (isCkptError(err, ErrorCodes.INVALID_ARGUMENT)) {
        // The store refuses the id itself: the referring image's index is what is damaged.
        throw new CkptError(
          ErrorCodes.CORRUPT,
          `image ${referrer} refers to image ${JSON.stringify(id)}, which is not an image id of ${this.from.description ?? 'its store'}; image ${referrer} is damaged — restore an older image`,
          { image: referrer, where: 'refs', cause: err },
        );
      }
      throw err;
    }
    try {
      const reader = await ImageReader.open(source, this.limits);
      attachHolders(reader, this, false);
      return reader;
    } catch (err) {
      await source.close().catch(() => undefined);
      throw err;
    }
  }

  async close(): Promise<void> {
    this.#closed = true;
    const all = [...this.#opened.values()];
    this.#opened.clear();
    for (const p of all) {
      const r = await p.catch(() => undefined);
      await r?.close().catch(() => undefined);
    }
  }
}

/**
 * Make `reader` read the segments it stores by reference (or as XOR deltas)
 * from images opened through `from`. `reader.close()` closes them. For
 * readers opened from a source by hand; {@link openStoreImage} does it.
 */
export function attachHolderSource(reader: ImageReader, from: HolderSource, limits: ReadOptions = {}): void {
  attachHolders(reader, new Holders(from, limits), true);
}

/**
 * Open image `imageId` of `store` for reading, with the images it refers to
 * reachable (see the module comment). Reads header, trailer and index only;
 * holders are opened when a segment they hold is first read. Fails like
 * {@link ImageReader.open}, and with `CKPT_ERR_NOT_FOUND` when there is no
 * such image; reading a segment whose holder is missing or replaced fails
 * with `CKPT_ERR_MISSING_REFERENCE`. `reader.close()` closes every holder.
 */
export async function openStoreImage(store: ReadStore, imageId: string, limits: ReadOptions = {}): Promise<ImageReader> {
  const source = await store.open(imageId);
  let reader: ImageReader;
  try {
    reader = await ImageReader.open(source, limits);
  } catch (err) {
    await source.close().catch(() => undefined);
    throw err;
  }
  attachHolderSource(reader, store, limits);
  return reader;
}
