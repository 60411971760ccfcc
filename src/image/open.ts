/**
 * @module image/open
 *
 * Opening one image without a Checkpointer, for tools and scripts: from any
 * {@link ImageSource} (e.g. from a store) or straight from a file path.
 */
import type { ImageSource } from '../store/store.js';
import { openImageFileSource } from '../store/fs-store.js';
import { ImageReader, type ReadLimits } from './reader.js';

/**
 * Open an image from a source. On failure the source is closed; on success
 * the reader owns it (`reader.close()` closes it).
 */
export async function openImage(source: ImageSource, limits: ReadLimits = {}): Promise<ImageReader> {
  try {
    return await ImageReader.open(source, limits);
  } catch (err) {
    await source.close().catch(() => undefined);
    throw err;
  }
}

/**
 * Open an image file (e.g. `./checkpoints/000000000042.ckpt`, or a copy from
 * another machine). Reads header, trailer and index only; providers are read
 * on demand. Fails with `CKPT_ERR_NOT_FOUND`, `CKPT_ERR_STORE_IO`,
 * `CKPT_ERR_CORRUPT`, `CKPT_ERR_FORMAT_NEWER` or `CKPT_ERR_UNSUPPORTED_FEATURE`.
 */
export async function openImageFile(path: string, limits: ReadLimits = {}): Promise<ImageReader> {
  return openImage(await openImageFileSource(path), limits);
}
