/**
 * @module store/open-image-file
 *
 * {@link openImageFile}: opening one image file by path, without a store or
 * a Checkpointer (tools, scripts, a copy from another machine). It belongs
 * to the file store side: the bytes come through {@link openImageFileSource};
 * reading them is `openImage` from `image/open`, the same for every store.
 * An incremental image (format 3) finds the images it refers to next to it,
 * by their file names in the same directory (a store directory).
 */
import { dirname, join } from 'node:path';
import { CkptError, ErrorCodes } from '../errors.js';
import { openImage } from '../image/open.js';
import { attachHolderSource, type HolderSource } from '../image/open-store.js';
import type { ImageReader, ReadLimits } from '../image/reader.js';
import { openImageFileSource } from './fs-image-source.js';
import { imageFileName } from './fs-store.js';
import { isImageId } from './image-ids.js';
import type { ImageSource } from './store.js';

/**
 * Open an image file (e.g. `./checkpoints/000000000042.ckpt`, or a copy from
 * another machine). Reads header, trailer and index only; providers are read
 * on demand. Images it refers to (incremental images) are read from the same
 * directory when needed. Fails with `CKPT_ERR_NOT_FOUND`, `CKPT_ERR_STORE_IO`,
 * `CKPT_ERR_CORRUPT`, `CKPT_ERR_FORMAT_NEWER` or `CKPT_ERR_UNSUPPORTED_FEATURE`;
 * reading a segment whose holder is not there fails with
 * `CKPT_ERR_MISSING_REFERENCE`.
 */
export async function openImageFile(path: string, limits: ReadLimits = {}): Promise<ImageReader> {
  const reader = await openImage(await openImageFileSource(path), limits);
  attachHolderSource(reader, siblingImages(path), limits);
  return reader;
}

/**
 * The images next to the image file `path` (its store directory), by id:
 * where an incremental image's holders are when it is opened as a file.
 */
export function siblingImages(path: string): HolderSource {
  const dir = dirname(path);
  return {
    open: (id: string): Promise<ImageSource> => {
      // An id from an index is untrusted: only a store image id names a file here (no paths).
      if (!isImageId(id)) return Promise.reject(new CkptError(ErrorCodes.NOT_FOUND, `${JSON.stringify(id)} is not an image id of a store directory`));
      return openImageFileSource(join(dir, imageFileName(id)));
    },
  };
}
