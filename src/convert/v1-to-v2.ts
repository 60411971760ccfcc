/**
 * @module convert/v1-to-v2
 *
 * Format converter 1 → 2: a v1 index becomes a v2 index. Segments, providers
 * and codec settings are unchanged (the segment bytes are the same in both
 * versions); the manifest gains `hostname: null`, `parent: null`, `meta: {}`
 * and every segment `flags: 0`. The reverse (`downgradeV2ToV1`) exists only to
 * write v1 images for tests, and refuses anything v1 cannot express.
 */
import { CkptError, ErrorCodes } from '../errors.js';
import type { ImageIndexV1 } from '../image/index-v1.js';
import type { ImageIndex } from '../image/index-model.js';

/** What converting a v1 image to v2 changes, for dry runs. */
export const V1_TO_V2_CHANGES: readonly string[] = [
  'header: format version 1 → 2',
  'manifest: adds hostname (nil), parent (nil) and meta ({})',
  'segments: each entry gains a flags field (0); segment bytes are copied unchanged',
];

/** Upgrade a v1 index to the v2 model. */
export function upgradeV1ToV2(index: ImageIndexV1): ImageIndex {
  return {
    manifest: { ...index.manifest, hostname: null, parent: null, meta: {} },
    codec: index.codec,
    segments: index.segments.map((s) => ({ ...s, flags: 0 })),
    providers: index.providers,
  };
}

/** Express a v2 index in v1 (for writing v1 test images). Fails if anything would be lost. */
export function downgradeV2ToV1(index: ImageIndex): ImageIndexV1 {
  const m = index.manifest;
  if (Object.keys(m.meta).length > 0 || m.parent !== null || index.segments.some((s) => s.flags !== 0)) {
    throw new CkptError(ErrorCodes.INVALID_ARGUMENT, 'this image uses format 2 features (meta, parent or segment flags) that format 1 cannot hold');
  }
  return {
    manifest: { imageId: m.imageId, app: m.app, createdAt: m.createdAt, step: m.step, label: m.label, library: m.library, node: m.node, platform: m.platform },
    codec: index.codec,
    segments: index.segments.map(({ offset, storedLength, rawLength, crc, codec }) => ({ offset, storedLength, rawLength, crc, codec })),
    providers: index.providers,
  };
}
