// Arbitrary state written as format 1 (the kept v1 writer path) and read by
// the current reader (through the v1 → v2 converter) equals the original.
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { ImageReader } from '../../src/image/reader.js';
import { deepDiff } from '../helpers/deep-equal.js';
import { captured, imageBytes, memorySource } from '../helpers/image-bytes.js';

const leaf = fc.oneof(
  fc.integer(),
  fc.double(),
  fc.string(),
  fc.boolean(),
  fc.constant(null),
  fc.constant(undefined),
  fc.bigInt(),
  fc.date({ noInvalidDate: false }),
  fc.float64Array({ maxLength: 20 }),
  fc.int32Array({ maxLength: 20 }),
  fc.uint8Array({ maxLength: 40 }),
);
const value = fc.letrec((tie) => ({
  node: fc.oneof({ depthSize: 'small' }, leaf, tie('arr'), tie('obj'), tie('map'), tie('set')),
  arr: fc.array(tie('node'), { maxLength: 5 }),
  obj: fc.dictionary(fc.string(), tie('node'), { maxKeys: 5 }),
  map: fc.array(fc.tuple(tie('node'), tie('node')), { maxLength: 4 }).map((e) => new Map(e)),
  set: fc.array(tie('node'), { maxLength: 4 }).map((e) => new Set(e)),
})).node;

describe('v1 images under the v2 reader', () => {
  it('round-trip arbitrary state exactly', async () => {
    await fc.assert(
      fc.asyncProperty(value, fc.constantFrom(1, 2), async (state, version) => {
        const bytes = await imageBytes([captured('p', state, { blobThreshold: 64 })], { formatVersion: version, segmentSize: 64 * 1024 });
        const reader = await ImageReader.open(memorySource(bytes));
        expect(reader.header.formatVersion).toBe(version);
        const back = await reader.readProvider('p');
        expect(deepDiff(back, state)).toBeUndefined();
      }),
      { numRuns: 150 },
    );
  });
});
