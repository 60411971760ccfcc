/**
 * @module test/image/index-v6
 *
 * A test-only format version 6, written the way a real one would be (one
 * module, as `src/image/index-v6.ts` would be): version 5 plus one index
 * field, `segmentCount` (the length of the segment table, checked on
 * decode). It proves that adding a version is this file plus one list entry:
 * `format-registry.test.ts` registers it into a copy of the format list and
 * drives the generic reader, writer and converter through it.
 */
import { defineFormatVersion, type FormatDowngrade, type FormatVersion } from '../../src/image/format-version.js';
import type { ModelMapping } from '../../src/image/format-list.js';
import { modelOfV5 } from '../../src/image/format-registry.js';
import { IndexChecker, packIndex, unpackIndex, type IndexLimits } from '../../src/image/index-common.js';
import type { ImageIndex } from '../../src/image/index-model.js';
import { indexV3ToWire } from '../../src/image/index-v3.js';
import { decodeIndexV5, type ImageIndexV5 } from '../../src/image/index-v5.js';

/** A v6 index: the v5 fields plus `segmentCount`. */
export interface ImageIndexV6 extends ImageIndexV5 {
  readonly segmentCount: number;
}

/** Serialize a v6 index: the v5 layout with `segmentCount` last (field order fixed). */
export function encodeIndexV6(index: ImageIndexV6): Buffer {
  return packIndex({ ...indexV3ToWire(index), segmentCount: index.segmentCount });
}

/** Decode a v6 index: the v5 checks, then `segmentCount` must match the table. */
export function decodeIndexV6(bytes: Uint8Array, indexOffset: number, limits: IndexLimits, image = 'image'): ImageIndexV6 {
  const v5 = decodeIndexV5(bytes, indexOffset, limits, image);
  const c = new IndexChecker(image);
  const segmentCount = c.uint(unpackIndex(bytes, c)['segmentCount'], 'segmentCount');
  if (segmentCount !== v5.segments.length) c.fail('segmentCount', `says ${segmentCount}, the table has ${v5.segments.length}`);
  return { ...v5, segmentCount };
}

const upgradeFromV5 = (index: ImageIndexV5): ImageIndexV6 => ({ ...index, segmentCount: index.segments.length });

const downgradeToV5 = (index: ImageIndexV6): ImageIndexV5 => ({
  manifest: index.manifest,
  codec: index.codec,
  refs: index.refs,
  segments: index.segments,
  providers: index.providers,
});

/** Build format 6 with a given downgrade (tests also need one that refuses). */
export function makeFormatV6(downgrade: FormatDowngrade<ImageIndexV6, ImageIndexV5>): FormatVersion<ImageIndexV6, ImageIndexV5> {
  return defineFormatVersion<ImageIndexV6, ImageIndexV5>({
    version: 6,
    decode: decodeIndexV6,
    encode: encodeIndexV6,
    previous: {
      upgrade: upgradeFromV5,
      downgrade,
      upgradeChanges: ['index: adds segmentCount (the number of segments)'],
      downgradeChanges: downgrade.supported ? ['index: drops segmentCount'] : [],
    },
  });
}

/** Format version 6 as an entry of a format list. */
export const formatV6 = makeFormatV6({ supported: true, map: downgradeToV5 });

/** Format 6 with no way back to 5. */
export const formatV6OneWay = makeFormatV6({ supported: false, reason: 'test format 6 is one-way' });

/** The newest version's index (here v6) ↔ the live model: the production v5 mapping, plus `segmentCount`. */
export const modelOfV6: ModelMapping<ImageIndexV6> = {
  toModel: (index: ImageIndexV6): ImageIndex => {
    const { segmentCount: _n, ...v5 } = index;
    return modelOfV5.toModel(v5);
  },
  fromModel: (model: ImageIndex): ImageIndexV6 => {
    const v5 = modelOfV5.fromModel(model);
    return { ...v5, segmentCount: v5.segments.length };
  },
};
