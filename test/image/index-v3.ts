/**
 * @module test/image/index-v3
 *
 * A test-only format version 3, written the way a real one would be (one
 * module, as `src/image/index-v3.ts` would be): version 2 plus one index
 * field, `segmentCount` (the length of the segment table, checked on
 * decode). It proves that adding a version is this file plus one list entry:
 * `format-registry.test.ts` registers it into a copy of the format list and
 * drives the generic reader, writer and converter through it.
 */
import { defineFormatVersion, type FormatDowngrade, type FormatVersion } from '../../src/image/format-version.js';
import type { ModelMapping } from '../../src/image/format-list.js';
import { IndexChecker, codecToWire, packIndex, providersToWire, unpackIndex, type CodecSettings, type ProviderEntry } from '../../src/image/index-common.js';
import type { ImageIndex } from '../../src/image/index-model.js';
import { decodeIndexV2, type ImageIndexV2, type ManifestV2, type SegmentEntryV2 } from '../../src/image/index-v2.js';

/** A v3 index: the v2 fields plus `segmentCount`. */
export interface ImageIndexV3 {
  readonly manifest: ManifestV2;
  readonly codec: CodecSettings;
  readonly segments: readonly SegmentEntryV2[];
  readonly providers: readonly ProviderEntry[];
  readonly segmentCount: number;
}

/** Serialize a v3 index: the v2 layout with `segmentCount` last (field order fixed). */
export function encodeIndexV3(index: ImageIndexV3): Buffer {
  const m = index.manifest;
  return packIndex({
    manifest: {
      imageId: m.imageId,
      app: m.app,
      createdAt: m.createdAt,
      step: m.step,
      label: m.label,
      library: m.library,
      node: m.node,
      platform: m.platform,
      hostname: m.hostname,
      parent: m.parent,
      meta: { ...m.meta },
    },
    codec: codecToWire(index.codec),
    segments: index.segments.map((s) => [s.offset, s.storedLength, s.rawLength, s.crc, s.codec, s.flags]),
    providers: providersToWire(index.providers),
    segmentCount: index.segmentCount,
  });
}

/** Decode a v3 index: the v2 checks, then `segmentCount` must match the table. */
export function decodeIndexV3(bytes: Uint8Array, indexOffset: number, limits: Parameters<typeof decodeIndexV2>[2], image = 'image'): ImageIndexV3 {
  const v2 = decodeIndexV2(bytes, indexOffset, limits, image);
  const c = new IndexChecker(image);
  const segmentCount = c.uint(unpackIndex(bytes, c)['segmentCount'], 'segmentCount');
  if (segmentCount !== v2.segments.length) c.fail('segmentCount', `says ${segmentCount}, the table has ${v2.segments.length}`);
  return { ...v2, segmentCount };
}

const upgradeFromV2 = (index: ImageIndexV2): ImageIndexV3 => ({ ...index, segmentCount: index.segments.length });

const downgradeToV2 = (index: ImageIndexV3): ImageIndexV2 => ({
  manifest: index.manifest,
  codec: index.codec,
  segments: index.segments,
  providers: index.providers,
});

/** Build format 3 with a given downgrade (tests also need one that refuses). */
export function makeFormatV3(downgrade: FormatDowngrade<ImageIndexV3, ImageIndexV2>): FormatVersion<ImageIndexV3, ImageIndexV2> {
  return defineFormatVersion<ImageIndexV3, ImageIndexV2>({
    version: 3,
    decode: decodeIndexV3,
    encode: encodeIndexV3,
    previous: {
      upgrade: upgradeFromV2,
      downgrade,
      upgradeChanges: ['index: adds segmentCount (the number of segments)'],
      downgradeChanges: downgrade.supported ? ['index: drops segmentCount'] : [],
    },
  });
}

/** Format version 3 as an entry of a format list. */
export const formatV3 = makeFormatV3({ supported: true, map: downgradeToV2 });

/** Format 3 with no way back to 2. */
export const formatV3OneWay = makeFormatV3({ supported: false, reason: 'test format 3 is one-way' });

/** The newest version's index (here v3) ↔ the live model. */
export const modelOfV3: ModelMapping<ImageIndexV3> = {
  toModel: (index: ImageIndexV3): ImageIndex => ({ manifest: index.manifest, codec: index.codec, segments: index.segments, providers: index.providers }),
  fromModel: (model: ImageIndex): ImageIndexV3 => ({ ...model, segmentCount: model.segments.length }),
};
