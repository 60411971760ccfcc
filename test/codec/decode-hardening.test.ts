/**
 * @module test/codec/decode-hardening
 *
 * The decoder against corrupt and hostile input: exhaustive byte corruption
 * and truncation, forged lengths, deep nesting, specific malformations,
 * prototype pollution attempts, blob memory rules, random bytes.
 */

import fc from 'fast-check';
import { describe, expect, it } from 'vitest';

import { ClassRegistry } from '../../src/codec/class-registry.js';
import { decodeState } from '../../src/codec/decode.js';
import { encodeState } from '../../src/codec/encode.js';
import { CkptError, ErrorCodes } from '../../src/errors.js';
import { copyBlobs, decOptions, encOptions, expectCkptError } from '../helpers/codec.js';

class P {
  x = 1;
  y: unknown = null;
}

function sample(): unknown {
  const shared = { s: 'shared', n: [1.5, -2] };
  const np = Object.create(null) as Record<string, unknown>;
  np['k'] = 'v';
  const p = new P();
  p.y = p;
  // eslint-disable-next-line no-sparse-arrays
  return [shared, shared, { u: undefined, h: [1, , 3], big: -(2n ** 70n) }, new Map<unknown, unknown>([[shared, 'x'], ['é☃', new Set([1])]]), new Date(7), /x+/g, new Uint16Array([1, 2, 3]), 'a\ud800', p, np, 300, -70000, 2 ** 40];
}

const classes = new ClassRegistry();
classes.register(P);

/** Decode and classify the outcome; anything but a value or a CkptError fails the test. */
function outcome(stream: Uint8Array, blobs: readonly Uint8Array[], tree = false): string {
  try {
    decodeState(stream, decOptions(blobs, { classes, tree }));
    return 'ok';
  } catch (err) {
    if (!(err instanceof CkptError)) throw new Error(`non-CkptError thrown: ${String(err)}`, { cause: err });
    return err.code;
  }
}

const decodeCodes = new Set<string>(['ok', ErrorCodes.CORRUPT, ErrorCodes.UNKNOWN_CLASS]);

function corrupt(stream: Uint8Array, blobs: readonly Uint8Array[] = [], tree = false): CkptError {
  const err = expectCkptError(() => decodeState(stream, decOptions(blobs, { classes, tree })), ErrorCodes.CORRUPT);
  expect(err.where).toMatch(/^byte \d+$/);
  return err;
}

const h = (s: string): Buffer => Buffer.from(s.replace(/\s+/g, ''), 'hex');

describe('exhaustive corruption of a small stream', () => {
  for (const tree of [false, true]) {
    const value = tree ? { list: [1, 'two', { three: [3n, new Date(3)] }], m: new Map([[1, new Float32Array([1, 2])]]) } : sample();
    const encoded = encodeState(value, encOptions({ classes, tree, blobThreshold: 4 }));
    const blobs = copyBlobs(encoded);
    const stream = encoded.stream;

    it(`every single-byte change gives a value or a CkptError (tree=${String(tree)})`, () => {
      expect(stream.length).toBeGreaterThan(40);
      const seen = new Set<string>();
      const copy = new Uint8Array(stream);
      for (let i = 0; i < copy.length; i++) {
        const original = copy[i] as number;
        for (let b = 0; b < 256; b++) {
          if (b === original) continue;
          copy[i] = b;
          const r = outcome(copy, blobs, tree);
          seen.add(r);
        }
        copy[i] = original;
      }
      for (const r of seen) expect(decodeCodes.has(r), r).toBe(true);
      expect(seen.has(ErrorCodes.CORRUPT)).toBe(true);
      expect(outcome(copy, blobs, tree)).toBe('ok');
    });

    it(`every truncation is CORRUPT (tree=${String(tree)})`, () => {
      for (let n = 0; n < stream.length; n++) {
        expect(outcome(stream.subarray(0, n), blobs, tree), `length ${String(n)}`).toBe(ErrorCodes.CORRUPT);
      }
    });
  }

  it('the stream of the wrong mode is refused or decoded, never crashes', () => {
    const encoded = encodeState(sample(), encOptions({ classes }));
    expect(outcome(encoded.stream, copyBlobs(encoded), true)).toBe(ErrorCodes.CORRUPT); // REF in tree mode
  });
});

describe('forged lengths and nesting', () => {
  it.each([
    ['array32 of 4G elements', 'dd ffffffff 01'],
    ['map32 of 4G entries', 'df ffffffff a161 01'],
    ['str32 of 4G bytes', 'db ffffffff 61'],
    ['array16 longer than the data', 'dc 0100 01 02'],
    ['ext32 of 4G bytes', 'c9 ffffffff 10 90'],
    ['MAP payload with a forged array count', 'c9 00000005 10 dd 7fffffff'],
    ['BYTES of a forged length', 'c9 fffffff0 14 04 00'],
    ['WTF16 of a forged length', 'c9 ffffff00 06 00'],
    ['BIGINT of a forged length', 'c9 7fffffff 04 00'],
  ])('%s is refused as CORRUPT', (_name, bytes) => {
    const before = process.memoryUsage().arrayBuffers;
    corrupt(h(bytes));
    expect(process.memoryUsage().arrayBuffers - before).toBeLessThan(16 * 1024 * 1024);
  });

  it('nested headers each claiming all remaining bytes allocate nothing big', () => {
    const depth = 150;
    const body = Buffer.alloc(1 << 20, 0xc0); // nils
    const parts: Buffer[] = [];
    for (let i = 0; i < depth; i++) {
      const header = Buffer.alloc(5);
      header[0] = 0xdd;
      header.writeUInt32BE(body.length - 10, 1);
      parts.push(header);
    }
    const stream = Buffer.concat([...parts, body]);
    const before = process.memoryUsage().heapUsed;
    corrupt(stream);
    expect(process.memoryUsage().heapUsed - before).toBeLessThan(200 * 1024 * 1024);
  });

  it('deep nesting beyond maxDepth is CORRUPT', () => {
    const stream = Buffer.concat([Buffer.alloc(10_000, 0x91), Buffer.from([0x01])]);
    const err = corrupt(stream);
    expect(err.message).toContain('nesting deeper than maxDepth (200)');
    // maxDepth counts container levels: 200 nested arrays are fine, 201 are not
    // (the same rule as the encoder's).
    const ok = Buffer.concat([Buffer.alloc(200, 0x91), Buffer.from([0x01])]);
    expect(outcome(ok, [])).toBe('ok');
    expect(outcome(Buffer.concat([Buffer.alloc(201, 0x91), Buffer.from([0x01])]), [])).toBe(ErrorCodes.CORRUPT);
  });

  it('nesting far beyond the call stack (with a huge maxDepth) decodes: deep containers are decoded without recursion', () => {
    const stream = Buffer.concat([Buffer.alloc(500_000, 0x91), Buffer.from([0x01])]);
    let v = decodeState(stream, decOptions([], { maxDepth: 10_000_000 }));
    let levels = 0;
    let wrong = 0;
    while (Array.isArray(v)) {
      if (v.length !== 1) wrong++;
      v = v[0];
      levels++;
    }
    expect(wrong).toBe(0);
    expect(levels).toBe(500_000);
    expect(v).toBe(1);
  });
});

describe('specific malformed inputs', () => {
  it.each([
    ['empty stream', ''],
    ['reserved byte 0xc1', 'c1'],
    ['bin8', 'c4 01 00'],
    ['bytes after the root value', '01 02'],
    ['HOLE as the root', 'd4 02 00'],
    ['HOLE as a map value', '81 a161 d4 02 00'],
    ['HOLE inside a MAP payload', 'c9 00000004 10 92 01 d40200'.replace(/ /g, '').replace('00000004', '00000005')],
    ['HOLE with non-zero data', '91 d4 02 01'],
    ['UNDEFINED with non-zero data', 'd4 01 07'],
    ['REF to an id not yet assigned', '91 d6 03 05000000'],
    ['REF to itself before being created (root)', 'd6 03 00000000'],
    ['unknown ext type', 'd4 7f 00'],
    ['unknown binary kind', 'c9 00000002 14 0e 00'],
    ['byte length not a multiple of the element size', 'c9 00000004 14 0b 00 00 00'],
    ['BLOB index out of range', 'c7 05 15 04 00000000'],
    ['ext32 container longer than its content', 'c9 00000003 11 91 01 02'],
    ['ext32 container shorter than its content', 'c9 00000002 11 92 01 02'],
    ['MAP with an odd number of items', 'c9 00000004 10 93 01 02 03'],
    ['non-string key in a plain map', '81 01 02'],
    ['REGEXP that is not [source, flags]', 'c9 00000002 12 91 a0'],
    ['invalid RegExp flags', 'c9 00000005 12 92 a1 61 a1 51'],
    ['invalid RegExp source', 'c9 00000005 12 92 a1 28 a1 67'],
    ['BIGINT with a bad sign byte', 'c7 02 04 02 01'],
    ['BIGINT without sign byte', 'c7 00 04'],
    ['DATE with a wrong length', 'd6 05 00000000'],
    ['WTF16 with an odd length', 'c7 03 06 00 d8 00'],
    ['invalid UTF-8', 'a2 c3 28'],
    ['UTF-8 encoded surrogate', 'a3 ed a0 80'],
    ['uint64 beyond 2^53', 'cf 0020000000000000'],
    ['int64 beyond -2^53', 'd3 ffe0000000000000'],
    ['NULL_PROTO payload not a map', 'c9 00000001 16 90'],
    ['CLASS name not a string', 'c9 00000003 13 92 01 80'],
  ])('%s', (_name, bytes) => {
    corrupt(h(bytes));
  });

  it('REF is CORRUPT in tree mode', () => {
    corrupt(h('92 90 d6 03 01000000'), [], true);
    expect(outcome(h('92 90 d6 03 01000000'), [])).toBe('ok');
  });

  it('a blob used twice, a blob never used, a blob of the wrong length', () => {
    const blob = new Uint8Array(8);
    corrupt(h('92 c7 05 15 04 00000000 c7 05 15 04 00000000'), [blob]);
    corrupt(h('c7 05 15 04 00000000'), [blob, new Uint8Array(1)]);
    corrupt(h('c7 05 15 0b 00000000'), [new Uint8Array(12)]); // Float64Array needs a multiple of 8
  });

  it('an unregistered class name is UNKNOWN_CLASS', () => {
    const err = expectCkptError(() => decodeState(h('c9 00000006 13 92 a3 5a 7a 7a 80'), decOptions([])), ErrorCodes.UNKNOWN_CLASS);
    expect(err.message).toContain('register class Zzz');
  });

  it('a throwing class lookup is reported as CORRUPT', () => {
    const lookup = {
      nameOf: (): undefined => undefined,
      protoOf: (): never => {
        throw new Error('lookup failed');
      },
    };
    expectCkptError(() => decodeState(h('c9 00000006 13 92 a3 5a 7a 7a 80'), { tree: false, classes: lookup, blobs: [], maxDepth: 10 }), ErrorCodes.CORRUPT);
  });
});

describe('no prototype pollution', () => {
  // { "__proto__": { "polluted": 1 } } as a plain map, a null-proto map and class props.
  const payload = '81 a9 5f5f70726f746f5f5f 81 a8 706f6c6c75746564 01';

  it('in a plain object', () => {
    const value = decodeState(h(payload), decOptions([])) as Record<string, unknown>;
    expect(Object.getPrototypeOf(value)).toBe(Object.prototype);
    expect(Object.keys(value)).toEqual(['__proto__']);
    expect(({} as Record<string, unknown>)['polluted']).toBeUndefined();
    expect(value['polluted']).toBeUndefined();
  });

  it('in a null-prototype object and a class instance', () => {
    const inner = payload.replace(/\s+/g, '');
    const np = h(`c9 ${(inner.length / 2).toString(16).padStart(8, '0')} 16 ${inner}`);
    const v1 = decodeState(np, decOptions([])) as Record<string, unknown>;
    expect(Object.getPrototypeOf(v1)).toBeNull();
    expect(Object.keys(v1)).toEqual(['__proto__']);
    const cls = `92 a1 50 ${inner}`.replace(/\s+/g, '');
    const v2 = decodeState(h(`c9 ${(cls.length / 2).toString(16).padStart(8, '0')} 13 ${cls}`), decOptions([], { classes })) as Record<string, unknown>;
    expect(Object.getPrototypeOf(v2)).toBe(P.prototype);
    expect(Object.keys(v2)).toEqual(['__proto__']);
    expect((P.prototype as unknown as Record<string, unknown>)['polluted']).toBeUndefined();
    expect(({} as Record<string, unknown>)['polluted']).toBeUndefined();
  });

  it('keys named like Object.prototype members become own data properties', () => {
    const v = decodeState(
      encodeState({ constructor: 1, toString: 'x', hasOwnProperty: null, valueOf: [] }, encOptions()).stream,
      decOptions([]),
    ) as Record<string, unknown>;
    expect(Object.keys(v)).toEqual(['constructor', 'toString', 'hasOwnProperty', 'valueOf']);
    expect(typeof Object.prototype.hasOwnProperty).toBe('function');
  });
});

describe('blob memory', () => {
  it('a blob that is a whole ArrayBuffer is used without copying; other blobs are copied', () => {
    const encoded = encodeState({ a: new Float64Array([1, 2]), b: new Int16Array([3, 4]) }, encOptions({ blobThreshold: 0 }));
    const whole = new Uint8Array(encoded.blobs[0]!.bytes); // own ArrayBuffer
    const backing = new Uint8Array(16);
    backing.set(encoded.blobs[1]!.bytes, 3);
    const offset = backing.subarray(3, 7); // not the whole buffer, misaligned for Int16
    const back = decodeState(encoded.stream, decOptions([whole, offset])) as { a: Float64Array; b: Int16Array };
    expect(back.a.buffer).toBe(whole.buffer);
    expect([...back.a]).toEqual([1, 2]);
    expect(back.b.buffer).not.toBe(backing.buffer);
    expect([...back.b]).toEqual([3, 4]);
  });

  it('inline bytes are copied out of the stream', () => {
    const encoded = encodeState(new Uint8Array([1, 2, 3]), encOptions());
    const stream = Buffer.from(encoded.stream);
    const back = decodeState(stream, decOptions([])) as Uint8Array;
    stream.fill(0);
    expect([...back]).toEqual([1, 2, 3]);
  });

  it('decodes a stream that is a view with a non-zero offset', () => {
    const encoded = encodeState({ a: [1, 'x'] }, encOptions());
    const big = new Uint8Array(encoded.stream.length + 10);
    big.set(encoded.stream, 5);
    expect(decodeState(big.subarray(5, 5 + encoded.stream.length), decOptions([]))).toEqual({ a: [1, 'x'] });
  });
});

describe('random input', () => {
  it('random bytes give only a value or a CkptError', () => {
    fc.assert(
      fc.property(fc.uint8Array({ maxLength: 64 }), fc.boolean(), (bytes, tree) => {
        expect(decodeCodes.has(outcome(bytes, [new Uint8Array(8)], tree))).toBe(true);
      }),
      { numRuns: 2000 },
    );
  });

  it('random splices into a valid stream give only a value or a CkptError', () => {
    const encoded = encodeState(sample(), encOptions({ classes, blobThreshold: 4 }));
    const blobs = copyBlobs(encoded);
    const base = encoded.stream;
    fc.assert(
      fc.property(fc.nat({ max: base.length }), fc.nat({ max: 8 }), fc.uint8Array({ maxLength: 8 }), (at, del, ins) => {
        const mutated = Buffer.concat([base.subarray(0, at), ins, base.subarray(Math.min(base.length, at + del))]);
        expect(decodeCodes.has(outcome(mutated, blobs))).toBe(true);
      }),
      { numRuns: 1000 },
    );
  });
});
