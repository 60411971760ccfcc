/**
 * @module test/codec/property
 *
 * fast-check properties: arbitrary values (with typed arrays, Maps, Sets,
 * Dates, bigints, holes, lone surrogates) round-trip exactly in both modes,
 * sharing survives identity mode, and encoding is deterministic.
 */

import fc from 'fast-check';
import { describe, expect, it } from 'vitest';

import { decodeState } from '../../src/codec/decode.js';
import { encodeState } from '../../src/codec/encode.js';
import { copyBlobs, decOptions, encOptions, hex, roundTrip } from '../helpers/codec.js';
import { deepDiff } from '../helpers/deep-equal.js';

/** String units including lone surrogates (and U+FFFD, which must not be mistaken for bad UTF-8). */
const unit = fc.oneof(
  fc.string({ unit: 'grapheme', minLength: 1, maxLength: 1 }),
  fc.integer({ min: 0xd800, max: 0xdfff }).map((c) => String.fromCharCode(c)),
  fc.constantFrom('\ufffd', 'a', '€', '😀'),
);
const str = fc.string({ unit, maxLength: 12 });

const binary: fc.Arbitrary<unknown> = fc.oneof(
  fc.int8Array({ maxLength: 6 }),
  fc.uint8Array({ maxLength: 6 }),
  fc.uint8ClampedArray({ maxLength: 6 }),
  fc.int16Array({ maxLength: 6 }),
  fc.uint16Array({ maxLength: 6 }),
  fc.int32Array({ maxLength: 6 }),
  fc.uint32Array({ maxLength: 6 }),
  fc.float32Array({ maxLength: 6 }),
  fc.float64Array({ maxLength: 6 }),
  fc.bigInt64Array({ maxLength: 4 }),
  fc.bigUint64Array({ maxLength: 4 }),
  fc.uint8Array({ maxLength: 6 }).map((b) => Buffer.from(b)),
  fc.uint8Array({ maxLength: 6 }).map((b) => b.slice().buffer),
  fc.tuple(fc.uint8Array({ minLength: 4, maxLength: 10 }), fc.nat(3)).map(([b, off]) => new DataView(b.slice().buffer, off)),
  // A view with a non-zero offset into a larger buffer.
  fc.tuple(fc.float64Array({ minLength: 3, maxLength: 6 }), fc.nat(2)).map(([f, off]) => f.subarray(off, off + 1)),
);

const leaf: fc.Arbitrary<unknown> = fc.oneof(
  fc.double(),
  fc.integer(),
  fc.constantFrom(0, -0, NaN, Infinity, -Infinity, 2 ** 53 + 2, -(2 ** 31) - 1, 2 ** 32, Number.MAX_SAFE_INTEGER),
  fc.bigInt(),
  fc.bigInt({ min: -(2n ** 200n), max: 2n ** 200n }),
  fc.boolean(),
  fc.constant(null),
  fc.constant(undefined),
  str,
  fc.date({ noInvalidDate: false }),
  fc.constantFrom(/a+/g, /^x$/imsu, /[\d]{2,}/y, /(?<n>é)/u).map((r) => new RegExp(r.source, r.flags)),
  binary,
);

const { value } = fc.letrec((tie) => ({
  value: fc.oneof({ depthSize: 'small', withCrossShrink: true }, leaf, tie('container')),
  container: fc.oneof(
    fc.array(tie('value'), { maxLength: 5 }),
    fc.sparseArray(tie('value'), { maxLength: 6 }),
    fc.dictionary(fc.oneof(str, fc.constantFrom('__proto__', 'constructor', '0', '10')), tie('value'), { maxKeys: 5 }),
    fc.dictionary(str, tie('value'), { maxKeys: 4, noNullPrototype: false }).map((d) => Object.assign(Object.create(null) as object, d)),
    fc.array(fc.tuple(tie('value'), tie('value')), { maxLength: 4 }).map((entries) => new Map(entries)),
    fc.array(tie('value'), { maxLength: 4 }).map((items) => new Set(items)),
  ),
}));

const settings = { numRuns: 300 };

function check(v: unknown, tree: boolean, blobThreshold: number): void {
  const back = roundTrip(v, { tree, blobThreshold });
  const diff = deepDiff(back, v, !tree);
  expect(diff).toBeUndefined();
}

describe('property: arbitrary values round-trip exactly', () => {
  it('identity mode, inline binary', () => {
    fc.assert(fc.property(value, (v) => check(v, false, 1 << 30)), settings);
  });

  it('tree mode, binary as blobs', () => {
    fc.assert(fc.property(value, (v) => check(v, true, 0)), settings);
  });

  it('fc.anything with every option', () => {
    const anything = fc.anything({
      withBigInt: true,
      withDate: true,
      withMap: true,
      withSet: true,
      withNullPrototype: true,
      withTypedArray: true,
      withSparseArray: true,
      stringUnit: 'binary',
      maxDepth: 4,
    });
    fc.assert(
      fc.property(anything, fc.boolean(), (v, tree) => check(v, tree, 8)),
      settings,
    );
  });

  it('shared references stay shared in identity mode', () => {
    fc.assert(
      fc.property(value, (v) => {
        if (typeof v !== 'object' || v === null) return;
        const back = roundTrip({ a: v, b: [v], c: new Map([[v, v]]) });
        expect(back.b[0]).toBe(back.a);
        const [k, mv] = [...back.c][0] ?? [];
        expect(k).toBe(back.a);
        expect(mv).toBe(back.a);
        expect(deepDiff(back.a, v)).toBeUndefined();
      }),
      { numRuns: 200 },
    );
  });

  it('encoding is deterministic and decoding then re-encoding gives the same bytes', () => {
    fc.assert(
      fc.property(value, fc.boolean(), (v, tree) => {
        const first = encodeState(v, encOptions({ tree }));
        expect(hex(encodeState(v, encOptions({ tree })).stream)).toBe(hex(first.stream));
        const back = decodeState(first.stream, decOptions(copyBlobs(first), { tree }));
        expect(hex(encodeState(back, encOptions({ tree })).stream)).toBe(hex(first.stream));
      }),
      { numRuns: 200 },
    );
  });
});
