/**
 * @module image/image-info
 *
 * Builds the public {@link ImageInfo} description of an image from its
 * index, so `checkpoint()`, `list()` and `restore()` describe images the same way.
 */
import type { ImageInfo, ProviderInfo } from '../info.js';
import type { ImageIndex } from './index-model.js';
import type { ImageReader } from './reader.js';

/** Describe an image from its index and size. */
export function infoFromIndex(index: ImageIndex, bytes: number, formatVersion: number): ImageInfo {
  const m = index.manifest;
  const providers: ProviderInfo[] = index.providers.map((p) => {
    let rawBytes = 0;
    let storedBytes = 0;
    for (const run of [p.stream, ...p.blobs]) {
      rawBytes += run.rawLength;
      for (let s = run.first; s < run.first + run.count; s++) storedBytes += index.segments[s]?.storedLength ?? 0;
    }
    return { id: p.id, version: p.version, rawBytes, storedBytes };
  });
  return {
    id: m.imageId,
    step: m.step,
    label: m.label,
    createdAt: new Date(m.createdAt),
    bytes,
    app: m.app,
    formatVersion,
    library: m.library,
    node: m.node,
    hostname: m.hostname,
    meta: m.meta,
    providers,
  };
}

/** Describe the image an open reader reads. The id is the store's, not the manifest's copy. */
export function imageInfo(reader: ImageReader): ImageInfo {
  return { ...infoFromIndex(reader.index, reader.size, reader.header.formatVersion), id: reader.id };
}
