/**
 * @module test/image/index-v4
 *
 * A test-only format version 4, written the way a real one would be (one
 * module, as `src/image/index-v4.ts` would be): version 3 plus one index
 * field, `segmentCount` (the length of the segment table, checked on
 * decode). It proves that adding a version is this file plus one list entry:
 * `format-registry.test.ts` registers it into a copy of the format list and
 * drives the generic reader, writer and converter through it.
 */
import { defineFormatVersion, type FormatDowngrade, type FormatVersion } from '../../src/image/format-version.js';
import type { ModelMapping } from '../../src/image/format-list.js';
import { modelOfV3 } from '../../src/image/format-registry.js';
import { IndexChecker, packIndex, unpackIndex, type IndexLimits } from '../../src/image/index-common.js';
import type { ImageIndex } from '../../src/image/index-model.js';
import { decodeIndexV3, indexV3ToWire, type ImageIndexV3 } from '../../src/image/index-v3.js';

/** A v4 index: the v3 fields plus `segmentCount`. */
export interface ImageIndexV4 extends ImageIndexV3 {
  readonly segmentCount: number;
}

/** Serialize a v4 index: the v3 layout with `segmentCount` last (field order fixed). */
export function encodeIndexV4(index: ImageIndexV4): Buffer {
  return packIndex({ ...indexV3ToWire(index), segmentCount: index.segmentCount });
}

/** Decode a v4 index: the v3 checks, then `segmentCount` must match the table. */
export function decodeIndexV4(bytes: Uint8Array, indexOffset: number, limits: IndexLimits, image = 'image'): ImageIndexV4 {
  const v3 = decodeIndexV3(bytes, indexOffset, limits, image);
  const c = new IndexChecker(image);
  const segmentCount = c.uint(unpackIndex(bytes, c)['segmentCount'], 'segmentCount');
  if (segmentCount !== v3.segments.length) c.fail('segmentCount', `says ${segmentCount}, the table has ${v3.segments.length}`);
  return { ...v3, segmentCount };
}

const upgradeFromV3 = (index: ImageIndexV3): ImageIndexV4 => ({ ...index, segmentCount: index.segments.length });

const downgradeToV3 = (index: ImageIndexV4): ImageIndexV3 => ({
  manifest: index.manifest,
  codec: index.codec,
  refs: index.refs,
  segments: index.segments,
  providers: index.providers,
});

/** Build format 4 with a given downgrade (tests also need one that refuses). */
export function makeFormatV4(downgrade: FormatDowngrade<ImageIndexV4, ImageIndexV3>): FormatVersion<ImageIndexV4, ImageIndexV3> {
  return defineFormatVersion<ImageIndexV4, ImageIndexV3>({
    version: 4,
    decode: decodeIndexV4,
    encode: encodeIndexV4,
    previous: {
      upgrade: upgradeFromV3,
      downgrade,
      upgradeChanges: ['index: adds segmentCount (the number of segments)'],
      downgradeChanges: downgrade.supported ? ['index: drops segmentCount'] : [],
    },
  });
}

/** Format version 4 as an entry of a format list. */
export const formatV4 = makeFormatV4({ supported: true, map: downgradeToV3 });

/** Format 4 with no way back to 3. */
export const formatV4OneWay = makeFormatV4({ supported: false, reason: 'test format 4 is one-way' });

/** The newest version's index (here v4) ↔ the live model: the production v3 mapping, plus `segmentCount`. */
export const modelOfV4: ModelMapping<ImageIndexV4> = {
  toModel: (index: ImageIndexV4): ImageIndex => {
    const { segmentCount: _n, ...v3 } = index;
    return modelOfV3.toModel(v3);
  },
  fromModel: (model: ImageIndex): ImageIndexV4 => {
    const v3 = modelOfV3.fromModel(model);
    return { ...v3, segmentCount: v3.segments.length };
  },
};
