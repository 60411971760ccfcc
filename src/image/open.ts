/**
 * @module image/open
 *
 * Opening one image without a Checkpointer, for tools and scripts, from any
 * {@link ImageSource} (e.g. from a store). Opening an image file by path is
 * `openImageFile` on the file store side (`store/open-image-file`).
 */
import type { ImageSource } from '../store/store.js';
import { ImageReader, type ReadOptions } from './reader.js';

/**
 * Open an image from a source. On failure the source is closed; on success
 * the reader owns it (`reader.close()` closes it).
 */
export async function openImage(source: ImageSource, limits: ReadOptions = {}): Promise<ImageReader> {
  try {
    return await ImageReader.open(source, limits);
  } catch (err) {
    await source.close().catch(() => undefined);
    throw err;
  }
}
