/**
 * @module test/codec/roundtrip
 *
 * Round trips by value of every supported kind: scalars (incl. -0, NaN, unsafe
 * integers, lone surrogates), containers, built-ins, every binary class and
 * registered classes, in both modes, inline and as blobs.
 */

import { describe, expect, it } from 'vitest';

import { ClassRegistry } from '../../src/codec/class-registry.js';
import { encodeState } from '../../src/codec/encode.js';
import { BinaryKind } from '../../src/codec/types.js';
import { encOptions, roundTrip } from '../helpers/codec.js';
import { deepDiff } from '../helpers/deep-equal.js';

function expectSame(actual: unknown, expected: unknown): void {
  expect(deepDiff(actual, expected)).toBeUndefined();
}

/** Round-trip in both modes, inline and as blobs, and compare strictly. */
function expectRoundTrip(value: unknown, classes?: ClassRegistry): void {
  for (const tree of [false, true]) {
    for (const blobThreshold of [0, 1 << 30]) {
      const back = roundTrip(value, { tree, blobThreshold, ...(classes === undefined ? {} : { classes }) });
      const diff = deepDiff(back, value);
      expect(diff, `tree=${String(tree)} blobThreshold=${String(blobThreshold)}`).toBeUndefined();
    }
  }
}

describe('scalars', () => {
  it.each([
    ['zero', 0],
    ['negative zero', -0],
    ['NaN', NaN],
    ['Infinity', Infinity],
    ['-Infinity', -Infinity],
    ['2**53 + 2 (unsafe integer)', 2 ** 53 + 2],
    ['-(2**53) - 2', -(2 ** 53) - 2],
    ['MAX_SAFE_INTEGER', Number.MAX_SAFE_INTEGER],
    ['MIN_SAFE_INTEGER', Number.MIN_SAFE_INTEGER],
    ['fraction', 0.1],
    ['tiny', Number.MIN_VALUE],
    ['huge', Number.MAX_VALUE],
    ['true', true],
    ['false', false],
    ['null', null],
    ['undefined', undefined],
    ['empty string', ''],
    ['ascii', 'hello'],
    ['non-ASCII', 'héllo wörld – ☃ 𝄞'],
    ['long', 'x'.repeat(70000)],
    ['long non-ASCII', 'é☃'.repeat(40000)],
    ['lone high surrogate', 'a\ud800b'],
    ['lone low surrogate at end', 'abc\udc00'],
    ['reversed pair', '\udc00\ud800'],
    ['long with lone surrogate', `${'y'.repeat(300)}\ud801`],
    ['U+FFFD itself', 'a\ufffdb'],
  ])('%s', (_name, value) => {
    expectRoundTrip(value);
  });

  it('integers at every msgpack width boundary', () => {
    const values: number[] = [];
    for (const b of [0, 127, 128, 255, 256, 65535, 65536, 2 ** 31 - 1, 2 ** 31, 2 ** 32 - 1, 2 ** 32, 2 ** 40 + 7]) {
      values.push(b, -b, b + 1, -b - 1);
    }
    values.push(-32, -33, -128, -129, -32768, -32769, -(2 ** 31), -(2 ** 31) - 1);
    const back = roundTrip(values);
    expectSame(back, values);
  });

  it('bigints: 0, negative, huge', () => {
    const values = [0n, 1n, -1n, 255n, 256n, -256n, 2n ** 64n, -(2n ** 64n) - 1n, 10n ** 300n, -(7n ** 500n)];
    expectRoundTrip(values);
  });

  it('lone surrogates survive as map keys and in nested positions', () => {
    const value = { 'k\ud800': 1, nested: { '\udfff': ['\ud83d', 'ok'] }, m: new Map([['\ud800', '\udc00']]) };
    expectRoundTrip(value);
    const back = roundTrip(value);
    expect(Object.keys(back)[0]).toBe('k\ud800');
  });
});

describe('objects and arrays', () => {
  it('nested empty containers', () => {
    expectRoundTrip({ a: {}, b: [], c: [[], [{}]], d: new Map(), e: new Set(), f: Object.create(null) as object });
  });

  it('keeps key order, including integer-like keys', () => {
    const value = { z: 1, a: 2, 10: 'ten', 2: 'two', m: 3 };
    const back = roundTrip(value);
    expect(Object.keys(back)).toEqual(Object.keys(value));
  });

  it('sparse arrays keep their holes, distinct from undefined entries', () => {
    // eslint-disable-next-line no-sparse-arrays
    const arr: unknown[] = [1, , undefined, 4, , ,];
    const back = roundTrip(arr);
    expect(back.length).toBe(6);
    expect(1 in back).toBe(false);
    expect(2 in back).toBe(true);
    expect(back[2]).toBeUndefined();
    expect(4 in back).toBe(false);
    expect(5 in back).toBe(false);
    expectSame(back, arr);
    const big: unknown[] = [];
    big[100] = 'last';
    big[3] = 'early';
    const bigBack = roundTrip(big);
    expect(bigBack.length).toBe(101);
    expect(Object.keys(bigBack)).toEqual(['3', '100']);
  });

  it('undefined property values stay present', () => {
    const back = roundTrip({ a: undefined, b: 1 });
    expect(Object.keys(back)).toEqual(['a', 'b']);
    expect(back.a).toBeUndefined();
  });

  it('__proto__ as a plain key becomes an own property and changes no prototype', () => {
    const value = JSON.parse('{"__proto__": {"polluted": true}, "x": 1}') as Record<string, unknown>;
    expect(Object.keys(value)).toEqual(['__proto__', 'x']);
    for (const tree of [false, true]) {
      const back = roundTrip(value, { tree });
      expect(Object.getPrototypeOf(back)).toBe(Object.prototype);
      expect(Object.prototype.hasOwnProperty.call(back, '__proto__')).toBe(true);
      expect(Object.getOwnPropertyDescriptor(back, '__proto__')?.value).toEqual({ polluted: true });
      expect(({} as Record<string, unknown>)['polluted']).toBeUndefined();
      expect(back['polluted']).toBeUndefined();
      expectSame(back, value);
    }
  });

  it('null-prototype objects', () => {
    const value = Object.create(null) as Record<string, unknown>;
    value['a'] = 1;
    value['__proto__'] = 'just a key';
    value['nested'] = { b: [1] };
    const back = roundTrip(value);
    expect(Object.getPrototypeOf(back)).toBeNull();
    expect(back['__proto__']).toBe('just a key');
    expectSame(back, value);
  });
});

describe('built-ins', () => {
  it('Map with object, number, NaN and -0 keys, in order', () => {
    const k1 = { id: 1 };
    const m = new Map<unknown, unknown>([
      ['s', 1],
      [k1, 'object key'],
      [NaN, 'nan'],
      [2, [1, 2]],
      [0, 'zero'],
      [10n, 'bigint key'],
      [undefined, null],
    ]);
    const back = roundTrip(m);
    expect(back).toBeInstanceOf(Map);
    expect([...back.keys()].slice(0, 4)).toEqual(['s', { id: 1 }, NaN, 2]);
    expect(back.get(NaN)).toBe('nan');
    expectSame(back, m);
    expectRoundTrip(m);
  });

  it('Set, in order', () => {
    const s = new Set<unknown>([3, 'a', { x: 1 }, NaN, [2]]);
    const back = roundTrip(s);
    expect(back).toBeInstanceOf(Set);
    expect([...back][1]).toBe('a');
    expectRoundTrip(s);
  });

  it('Date, including an invalid date and extremes', () => {
    const dates = [new Date(0), new Date(1_700_000_000_123), new Date(-1), new Date(NaN), new Date(8.64e15), new Date(-8.64e15)];
    const back = roundTrip(dates);
    expect(back[3]).toBeInstanceOf(Date);
    expect(Number.isNaN(back[3]?.getTime())).toBe(true);
    expect(back[1]?.getTime()).toBe(1_700_000_000_123);
    expectRoundTrip(dates);
  });

  it('RegExp with flags', () => {
    const res = [/a+b/gi, /^x$/m, /\d{2,}/suy, new RegExp('', ''), /[/]\//u, new RegExp('é\\u{1F600}', 'gu')];
    const back = roundTrip(res);
    expect(back[0]?.flags).toBe('gi');
    expect(back[0]?.test('xAAB')).toBe(true);
    expectRoundTrip(res);
  });
});

describe('binary values', () => {
  const typed = [
    new Int8Array([0, -128, 127, -1]),
    new Uint8Array([0, 255, 1]),
    new Uint8ClampedArray([0, 255, 3]),
    new Int16Array([-32768, 32767, 0, -1]),
    new Uint16Array([65535, 0, 1]),
    new Int32Array([-(2 ** 31), 2 ** 31 - 1, 7]),
    new Uint32Array([2 ** 32 - 1, 0, 12345]),
    new Float32Array([1.5, -0, NaN, Infinity, -Infinity, 3.4e38, 1e-45]),
    new Float64Array([Math.PI, -0, NaN, Infinity, -Infinity, Number.MAX_VALUE, Number.MIN_VALUE]),
    new BigInt64Array([-(2n ** 63n), 2n ** 63n - 1n, 0n, -1n]),
    new BigUint64Array([2n ** 64n - 1n, 0n, 1n]),
  ];

  it.each(typed.map((t) => [t.constructor.name, t] as const))('%s keeps class and every element (incl. -0/NaN)', (_n, arr) => {
    for (const blobThreshold of [0, 1 << 30]) {
      const back = roundTrip(arr, { blobThreshold });
      expect(back.constructor).toBe(arr.constructor);
      expect(back.length).toBe(arr.length);
      for (let i = 0; i < arr.length; i++) expect(Object.is(back[i], arr[i]), `element ${String(i)}`).toBe(true);
      expect(back.byteOffset).toBe(0);
      expect(back.buffer.byteLength).toBe(arr.byteLength); // aligned fresh buffer of exactly the data
    }
  });

  it('Buffer stays Buffer; DataView and ArrayBuffer keep their class and bytes', () => {
    const value = {
      buf: Buffer.from('hello buffer'),
      dv: new DataView(new Uint8Array([1, 2, 3, 4, 5]).buffer, 1, 3),
      ab: new Uint8Array([9, 8, 7]).buffer,
      empty: new Float64Array(0),
      emptyAb: new ArrayBuffer(0),
    };
    for (const blobThreshold of [0, 4, 1 << 30]) {
      const back = roundTrip(value, { blobThreshold });
      expect(Buffer.isBuffer(back.buf)).toBe(true);
      expect(back.buf.toString()).toBe('hello buffer');
      expect(back.dv).toBeInstanceOf(DataView);
      expect([...new Uint8Array(back.dv.buffer, back.dv.byteOffset, back.dv.byteLength)]).toEqual([2, 3, 4]);
      expect(back.ab).toBeInstanceOf(ArrayBuffer);
      expect([...new Uint8Array(back.ab)]).toEqual([9, 8, 7]);
      expect(back.empty).toBeInstanceOf(Float64Array);
      expect(back.empty.length).toBe(0);
      expectSame(back, value);
    }
  });

  it('subarray views with non-zero byteOffset save only their own bytes', () => {
    const backing = new Float64Array([1, 2, 3, 4, 5, 6]);
    const view = backing.subarray(2, 4);
    expect(view.byteOffset).toBe(16);
    for (const blobThreshold of [0, 1 << 30]) {
      const encoded = encodeState(view, encOptions({ blobThreshold }));
      if (blobThreshold === 0) {
        expect(encoded.blobs).toHaveLength(1);
        expect(encoded.blobs[0]?.bytes.byteLength).toBe(16);
        expect(encoded.blobs[0]?.kind).toBe(BinaryKind.Float64Array);
      } else {
        // header 7 bytes + 16 data bytes: nothing of the rest of the buffer
        expect(encoded.stream.byteLength).toBe(7 + 16);
      }
      const back = roundTrip(view, { blobThreshold });
      expect([...back]).toEqual([3, 4]);
      expect(back.buffer.byteLength).toBe(16);
    }
  });

  it('pool-allocated Buffers do not leak the rest of the pool', () => {
    const secret = Buffer.from('SECRET-SECRET-SECRET');
    const small = Buffer.from('hi');
    // Both come from Node's shared pool (same ArrayBuffer).
    expect(small.buffer.byteLength).toBeGreaterThan(small.byteLength);
    const encoded = encodeState({ small, secret: 'x' }, encOptions());
    expect(Buffer.from(encoded.stream).includes('SECRET')).toBe(false);
    const encodedBlob = encodeState({ small }, encOptions({ blobThreshold: 0 }));
    expect(encodedBlob.blobs[0]?.bytes.byteLength).toBe(2);
    expect(secret.length).toBe(20);
  });

  it('blobs are views over live memory (no copy) and come back in reference order', () => {
    const a = new Float32Array([1, 2, 3]);
    const b = new Uint16Array([4, 5]);
    const encoded = encodeState({ a, b, small: new Uint8Array(2) }, encOptions({ blobThreshold: 4 }));
    expect(encoded.blobs.map((x) => x.kind)).toEqual([BinaryKind.Float32Array, BinaryKind.Uint16Array]);
    expect(encoded.blobs[0]?.bytes.buffer).toBe(a.buffer);
    expect(encoded.blobs[1]?.bytes.buffer).toBe(b.buffer);
  });
});

describe('registered classes', () => {
  class Vec {
    constructor(
      public x: number,
      public y: number,
    ) {}
    len(): number {
      return Math.hypot(this.x, this.y);
    }
  }
  class Particle {
    static constructed = 0;
    pos = new Vec(0, 0);
    tags = new Set<string>();
    constructor(public name: string) {
      Particle.constructed++;
    }
    get label(): string {
      return `${this.name}@${String(this.pos.x)}`;
    }
  }

  it('restores the prototype, properties and methods without calling the constructor', () => {
    const classes = new ClassRegistry();
    classes.register(Vec);
    classes.register(Particle, 'sim.Particle');
    const p = new Particle('p1');
    p.pos = new Vec(3, 4);
    p.tags.add('hot');
    const before = Particle.constructed;
    const back = roundTrip({ p, list: [new Vec(1, 0)] }, { classes });
    expect(Particle.constructed).toBe(before);
    expect(back.p).toBeInstanceOf(Particle);
    expect(back.p.pos).toBeInstanceOf(Vec);
    expect(back.p.pos.len()).toBe(5);
    expect(back.p.label).toBe('p1@3');
    expect([...back.p.tags]).toEqual(['hot']);
    expect(back.list[0]?.len()).toBe(1);
    expectRoundTrip({ p }, classes);
  });

  it('an own property shadowing a prototype accessor is restored as an own data property', () => {
    class WithAccessor {
      declare x: number;
      get y(): number {
        return 42;
      }
    }
    const classes = new ClassRegistry();
    classes.register(WithAccessor);
    const w = new WithAccessor();
    Object.defineProperty(w, 'y', { value: 7, enumerable: true, writable: true, configurable: true });
    const back = roundTrip(w, { classes });
    expect(Object.getOwnPropertyDescriptor(back, 'y')?.value).toBe(7);
    expect(back.y).toBe(7);
  });
});
