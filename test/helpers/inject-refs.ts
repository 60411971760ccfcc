/**
 * Injected references for retention tests: images written in a format without
 * references are made to look as if their index named holders. Patches
 * `ImageReader.open` (the one function every reader of an index goes
 * through) so that the index of image `id` carries `refs` for the ids in
 * `refs.get(id)`; everything else about the image is real.
 */
import { ImageReader } from '../../src/image/reader.js';
import type { ImageIndex } from '../../src/image/index-model.js';

type Open = typeof ImageReader.open;

/**
 * The uuid an injected reference names: none, as the format-2 images it is
 * injected into have none — so a reader that checks a holder's uuid (verify,
 * `ckpt ls`) finds the holder it expects.
 */
const NO_UUID = null as unknown as string;

/** Where injected references come from: a Map, or anything with its `get`. */
export interface RefsSource {
  get(id: string): readonly string[] | undefined;
}

/** Make the images in `refs` refer to the ids listed for them. Returns the undo. */
export function injectRefs(refs: RefsSource): () => void {
  const holder = ImageReader as unknown as { open: Open };
  const original = holder.open;
  holder.open = async (source, limits) => {
    const reader = await original.call(ImageReader, source, limits);
    const ids = refs.get(reader.id);
    if (ids !== undefined) {
      const index: ImageIndex = { ...reader.index, refs: ids.map((imageId) => ({ imageId, uuid: NO_UUID })) };
      Object.defineProperty(reader, 'index', { value: index });
    }
    return reader;
  };
  return () => {
    holder.open = original;
  };
}
