/**
 * @module test/image/index-v5
 *
 * A test-only format version 5, written the way a real one would be (one
 * module, as `src/image/index-v5.ts` would be): version 4 plus one index
 * field, `segmentCount` (the length of the segment table, checked on
 * decode). It proves that adding a version is this file plus one list entry:
 * `format-registry.test.ts` registers it into a copy of the format list and
 * drives the generic reader, writer and converter through it.
 */
import { defineFormatVersion, type FormatDowngrade, type FormatVersion } from '../../src/image/format-version.js';
import type { ModelMapping } from '../../src/image/format-list.js';
import { modelOfV4 } from '../../src/image/format-registry.js';
import { IndexChecker, packIndex, unpackIndex, type IndexLimits } from '../../src/image/index-common.js';
import type { ImageIndex } from '../../src/image/index-model.js';
import { indexV3ToWire } from '../../src/image/index-v3.js';
import { decodeIndexV4, type ImageIndexV4 } from '../../src/image/index-v4.js';

/** A v5 index: the v4 fields plus `segmentCount`. */
export interface ImageIndexV5 extends ImageIndexV4 {
  readonly segmentCount: number;
}

/** Serialize a v5 index: the v4 layout with `segmentCount` last (field order fixed). */
export function encodeIndexV5(index: ImageIndexV5): Buffer {
  return packIndex({ ...indexV3ToWire(index), segmentCount: index.segmentCount });
}

/** Decode a v5 index: the v4 checks, then `segmentCount` must match the table. */
export function decodeIndexV5(bytes: Uint8Array, indexOffset: number, limits: IndexLimits, image = 'image'): ImageIndexV5 {
  const v4 = decodeIndexV4(bytes, indexOffset, limits, image);
  const c = new IndexChecker(image);
  const segmentCount = c.uint(unpackIndex(bytes, c)['segmentCount'], 'segmentCount');
  if (segmentCount !== v4.segments.length) c.fail('segmentCount', `says ${segmentCount}, the table has ${v4.segments.length}`);
  return { ...v4, segmentCount };
}

const upgradeFromV4 = (index: ImageIndexV4): ImageIndexV5 => ({ ...index, segmentCount: index.segments.length });

const downgradeToV4 = (index: ImageIndexV5): ImageIndexV4 => ({
  manifest: index.manifest,
  codec: index.codec,
  refs: index.refs,
  segments: index.segments,
  providers: index.providers,
});

/** Build format 5 with a given downgrade (tests also need one that refuses). */
export function makeFormatV5(downgrade: FormatDowngrade<ImageIndexV5, ImageIndexV4>): FormatVersion<ImageIndexV5, ImageIndexV4> {
  return defineFormatVersion<ImageIndexV5, ImageIndexV4>({
    version: 5,
    decode: decodeIndexV5,
    encode: encodeIndexV5,
    previous: {
      upgrade: upgradeFromV4,
      downgrade,
      upgradeChanges: ['index: adds segmentCount (the number of segments)'],
      downgradeChanges: downgrade.supported ? ['index: drops segmentCount'] : [],
    },
  });
}

/** Format version 5 as an entry of a format list. */
export const formatV5 = makeFormatV5({ supported: true, map: downgradeToV4 });

/** Format 5 with no way back to 4. */
export const formatV5OneWay = makeFormatV5({ supported: false, reason: 'test format 5 is one-way' });

/** The newest version's index (here v5) ↔ the live model: the production v4 mapping, plus `segmentCount`. */
export const modelOfV5: ModelMapping<ImageIndexV5> = {
  toModel: (index: ImageIndexV5): ImageIndex => {
    const { segmentCount: _n, ...v4 } = index;
    return modelOfV4.toModel(v4);
  },
  fromModel: (model: ImageIndex): ImageIndexV5 => {
    const v4 = modelOfV4.fromModel(model);
    return { ...v4, segmentCount: v4.segments.length };
  },
};
