/**
 * @module image/index-v1
 *
 * Image format version 1: its index layout and types, frozen forever so v1
 * images stay readable (readers upgrade the index through the format list,
 * `format-registry`) and v1 images can still be written (`convert --to 1`,
 * tests). It is the oldest version, so it declares no step from a previous
 * one. Layout:
 *
 * ```
 * { manifest: { imageId, app, createdAt, step, label, library, node, platform },
 *   codec: { values, level, segmentSize, blobThreshold },
 *   segments: [[offset, storedLength, rawLength, crc32, codec], …],
 *   providers: [{ id, version, tree, stream: [first, count, rawLength], blobs: [[kind, first, count, rawLength], …] }, …] }
 * ```
 */
import {
  IndexChecker,
  checkCodec,
  checkProviders,
  checkSegments,
  codecToWire,
  packIndex,
  providersToWire,
  unpackIndex,
  type CodecSettings,
  type IndexLimits,
  type ProviderEntry,
  type SegmentBase,
} from './index-common.js';
import { defineFormatVersion } from './format-version.js';

/** The v1 manifest. */
export interface ManifestV1 {
  readonly imageId: string;
  readonly app: string | null;
  readonly createdAt: string;
  readonly step: number | null;
  readonly label: string | null;
  readonly library: string;
  readonly node: string;
  readonly platform: string;
}

/** A v1 index. */
export interface ImageIndexV1 {
  readonly manifest: ManifestV1;
  readonly codec: CodecSettings;
  readonly segments: readonly SegmentBase[];
  readonly providers: readonly ProviderEntry[];
}

/** Serialize a v1 index. */
export function encodeIndexV1(index: ImageIndexV1): Buffer {
  const m = index.manifest;
  return packIndex({
    manifest: { imageId: m.imageId, app: m.app, createdAt: m.createdAt, step: m.step, label: m.label, library: m.library, node: m.node, platform: m.platform },
    codec: codecToWire(index.codec),
    segments: index.segments.map((s) => [s.offset, s.storedLength, s.rawLength, s.crc, s.codec]),
    providers: providersToWire(index.providers),
  });
}

/** Decode and validate a v1 index. */
export function decodeIndexV1(bytes: Uint8Array, indexOffset: number, limits: IndexLimits, image = 'image'): ImageIndexV1 {
  const c = new IndexChecker(image);
  const top = unpackIndex(bytes, c);
  const mw = c.obj(top['manifest'], 'manifest');
  const manifest: ManifestV1 = {
    imageId: c.str(mw['imageId'], 'manifest.imageId', 256),
    app: c.strOrNull(mw['app'], 'manifest.app'),
    createdAt: c.str(mw['createdAt'], 'manifest.createdAt', 64),
    step: c.numOrNull(mw['step'], 'manifest.step'),
    label: c.strOrNull(mw['label'], 'manifest.label'),
    library: c.str(mw['library'], 'manifest.library', 256),
    node: c.str(mw['node'], 'manifest.node', 256),
    platform: c.str(mw['platform'], 'manifest.platform', 256),
  };
  const codec = checkCodec(c, top['codec']);
  const segments = checkSegments(c, top['segments'], 5, indexOffset, limits, (_w, _where, base) => base);
  const providers = checkProviders(c, top['providers'], segments);
  return { manifest, codec, segments, providers };
}

/** Format version 1 as an entry of the format list. */
export const formatV1 = defineFormatVersion<ImageIndexV1>({
  version: 1,
  decode: decodeIndexV1,
  encode: encodeIndexV1,
});
