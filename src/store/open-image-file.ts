/**
 * @module store/open-image-file
 *
 * {@link openImageFile}: opening one image file by path, without a store or
 * a Checkpointer (tools, scripts, a copy from another machine). It belongs
 * to the file store side: the bytes come through {@link openImageFileSource};
 * reading them is `openImage` from `image/open`, the same for every store.
 */
import { openImage } from '../image/open.js';
import type { ImageReader, ReadLimits } from '../image/reader.js';
import { openImageFileSource } from './fs-image-source.js';

/**
 * Open an image file (e.g. `./checkpoints/000000000042.ckpt`, or a copy from
 * another machine). Reads header, trailer and index only; providers are read
 * on demand. Fails with `CKPT_ERR_NOT_FOUND`, `CKPT_ERR_STORE_IO`,
 * `CKPT_ERR_CORRUPT`, `CKPT_ERR_FORMAT_NEWER` or `CKPT_ERR_UNSUPPORTED_FEATURE`.
 */
export async function openImageFile(path: string, limits: ReadLimits = {}): Promise<ImageReader> {
  return openImage(await openImageFileSource(path), limits);
}
