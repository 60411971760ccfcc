/**
 * @module test/codec/sparse
 *
 * Sparse arrays: gaps of 8 or more holes are one fixext4 HOLE run
 * (`d6 02` + u32 LE count), shorter gaps stay one fixext1 HOLE per hole (the
 * bytes every reader knows), and the cost is set by the elements present,
 * not by the length.
 */

import { describe, expect, it } from 'vitest';

import { decodeState } from '../../src/codec/decode.js';
import { DEEP_FROM, HOLE_RUN_MIN, encodeState } from '../../src/codec/encode.js';

/** Holes read one by one before the encoder lists an array's keys instead (SCAN_GAP in encode.ts). */
const SCAN_GAP = 32;
/** Reads of a proxied array the encoder may make besides its elements: length, key listing, the scan of one gap (get + has per hole). */
const OVERHEAD_READS = 2 * SCAN_GAP + 16;
import { ErrorCodes } from '../../src/errors.js';
import { decOptions, encOptions, expectCkptError, roundTrip } from '../helpers/codec.js';

const hex = (b: Uint8Array): string => Buffer.from(b).toString('hex');
const enc = (v: unknown, tree = false): string => hex(encodeState(v, encOptions({ tree })).stream);

/** The fixext1 HOLE, `count` times. */
const singles = (count: number): string => 'd40200'.repeat(count);
/** One fixext4 HOLE run of `count`. */
function run(count: number): string {
  const b = Buffer.alloc(6);
  b[0] = 0xd6;
  b[1] = 0x02;
  b.writeUInt32LE(count, 2);
  return hex(b);
}

/** An array of `length` with `present` elements set, built in the order given. */
function sparseArray(length: number, present: readonly (readonly [number, unknown])[]): unknown[] {
  const a: unknown[] = [];
  for (const [i, v] of present) a[i] = v;
  a.length = length;
  return a;
}

/**
 * Wrap `arr` in a proxy that counts every element read, `in` test and key
 * listing — the work the encoder does for it.
 */
function counted(arr: unknown[]): { proxy: unknown[]; reads: () => number } {
  let n = 0;
  const proxy = new Proxy(arr, {
    get(target, key, receiver): unknown {
      n++;
      return Reflect.get(target, key, receiver) as unknown;
    },
    has(target, key): boolean {
      n++;
      return Reflect.has(target, key);
    },
    ownKeys(target): (string | symbol)[] {
      n++;
      return Reflect.ownKeys(target);
    },
  });
  return { proxy, reads: () => n };
}

describe('hole runs: bytes', () => {
  it(`a gap of ${String(HOLE_RUN_MIN - 1)} stays ${String(HOLE_RUN_MIN - 1)} fixext1 HOLEs (old images' bytes)`, () => {
    const a = sparseArray(9, [[0, 1], [8, 2]]);
    expect(enc(a)).toBe(`99 01 ${singles(7)} 02`.replace(/ /g, ''));
  });

  it(`a gap of ${String(HOLE_RUN_MIN)} is one fixext4 run`, () => {
    const a = sparseArray(10, [[0, 1], [9, 2]]);
    expect(enc(a)).toBe(`9a 01 ${run(8)} 02`.replace(/ /g, ''));
    expect(run(8)).toBe('d60208000000');
  });

  it('a single hole and holes at the start and the end', () => {
    expect(enc(sparseArray(3, [[0, 1], [2, 3]]))).toBe(`93 01 ${singles(1)} 03`.replace(/ /g, ''));
    expect(enc(sparseArray(3, []))).toBe(`93 ${singles(3)}`.replace(/ /g, ''));
    expect(enc(sparseArray(20, []))).toBe(`dc0014 ${run(20)}`.replace(/ /g, ''));
    expect(enc(sparseArray(20, [[19, true]]))).toBe(`dc0014 ${run(19)} c3`.replace(/ /g, ''));
    expect(enc(sparseArray(20, [[0, true]]))).toBe(`dc0014 c3 ${run(19)}`.replace(/ /g, ''));
  });

  it('mixed gaps: each gap on its own (short → singles, long → run), undefined elements stay UNDEFINED', () => {
    const a = sparseArray(40, [[0, 'a'], [3, undefined], [12, 'b'], [13, 'c'], [39, 'd']]);
    const expected = `dc0028 a161 ${singles(2)} d40100 ${run(8)} a162 a163 ${run(25)} a164`.replace(/ /g, '');
    expect(enc(a)).toBe(expected);
    expect(enc(a, true)).toBe(expected);
  });

  it('2^32 − 2 holes before the last element: one run, the length in an array32 header', () => {
    const a: unknown[] = [];
    a[4294967294] = 1;
    const { stream } = encodeState(a, encOptions());
    expect(hex(stream)).toBe(`dd ffffffff ${run(4294967294)} 01`.replace(/ /g, ''));
    expect(run(4294967294)).toBe('d602feffffff');
  });
});

describe('cost by the elements present', () => {
  it('a[1e8]: 12 bytes of stream and a bounded number of reads', () => {
    const a: unknown[] = [];
    a[1e8] = 'x';
    const { proxy, reads } = counted(a);
    const { stream } = encodeState(proxy, encOptions());
    expect(hex(stream)).toBe(`dd 05f5e101 ${run(1e8)} a178`.replace(/ /g, ''));
    // length, one gap's scan, the key listing, the one element.
    expect(reads()).toBeLessThan(OVERHEAD_READS);
  });

  it('a[4294967294]: a bounded number of reads (not 4 billion)', () => {
    const a: unknown[] = [];
    a[4294967294] = 1;
    const { proxy, reads } = counted(a);
    expect(encodeState(proxy, encOptions()).stream.length).toBe(5 + 6 + 1);
    expect(reads()).toBeLessThan(OVERHEAD_READS);
  });

  it('1000 elements spread over a length of 1e9: reads grow with the elements, not the length', () => {
    const a: unknown[] = [];
    for (let i = 0; i < 1000; i++) a[i * 1_000_000] = i;
    const { proxy, reads } = counted(a);
    const { stream } = encodeState(proxy, encOptions());
    // Header, then per element: a run of 999 999 (6 bytes) and the number.
    expect(stream.length).toBeLessThan(5 + 1000 * (6 + 3));
    expect(reads()).toBeLessThan(1000 + OVERHEAD_READS);
  });

  it('below DEEP_FROM (explicit-stack encoder): the same bytes and the same bounded reads', () => {
    const a: unknown[] = [];
    a[1e8] = 'x';
    a[5] = 5;
    let wrapped: unknown = a;
    for (let i = 0; i < DEEP_FROM + 3; i++) wrapped = [wrapped];
    const shallow = enc(a);
    const deep = enc(wrapped);
    expect(deep).toBe('91'.repeat(DEEP_FROM + 3) + shallow);
    const { proxy, reads } = counted(a);
    let wrappedProxy: unknown = proxy;
    for (let i = 0; i < DEEP_FROM + 3; i++) wrappedProxy = [wrappedProxy];
    encodeState(wrappedProxy, encOptions());
    expect(reads()).toBeLessThan(OVERHEAD_READS + 8);
  });
});

describe('what counts as an element', () => {
  it('deterministic: the order elements were set in does not matter', () => {
    const a = sparseArray(100, [[90, 'z'], [3, 'a'], [50, 'm']]);
    const b = sparseArray(100, [[3, 'a'], [50, 'm'], [90, 'z']]);
    expect(enc(a)).toBe(enc(b));
    expect(enc(a)).toBe(enc(a));
  });

  it('named properties of an array are not elements (as before): not written, not mistaken for indices', () => {
    const a = sparseArray(30, [[0, 1], [29, 2]]) as unknown[] & Record<string, unknown>;
    a['name'] = 'x';
    a['1e1'] = 'not index 10';
    a['07'] = 'not index 7';
    a['4294967295'] = 'not an index';
    expect(enc(a)).toBe(`dc001e 01 ${run(28)} 02`.replace(/ /g, ''));
  });

  it('a non-enumerable element is still an element (as before)', () => {
    const a = sparseArray(20, [[0, 1]]);
    Object.defineProperty(a, 15, { value: 'hidden', enumerable: false, writable: true, configurable: true });
    expect(enc(a)).toBe(`dc0014 01 ${run(14)} a6 ${hex(Buffer.from('hidden'))} ${singles(4)}`.replace(/ /g, ''));
  });

  it('identity mode: objects after a run get the ids of their order, REFs to them still resolve', () => {
    const shared = { s: 1 };
    const a = sparseArray(50, [[0, shared], [40, shared]]);
    // shared is object id 1 (the array is 0): the second occurrence is REF 1.
    expect(enc(a)).toBe(`dc0032 81a17301 ${run(39)} d60301000000 ${run(9)}`.replace(/ /g, ''));
  });

  it('an unserializable element after a run is named by its index', () => {
    const a = sparseArray(1000, [[0, 1], [777, () => 0]]);
    const err = expectCkptError(() => encodeState({ a }, encOptions()), ErrorCodes.UNSERIALIZABLE);
    expect(err.where).toBe('a[777]');
  });

  it('a proxy whose keys are out of order cannot make the stream disagree with its header', () => {
    const a = sparseArray(130, [[0, 'a'], [40, 'b'], [100, 'c']]);
    const liar = new Proxy(a, {
      ownKeys: (): string[] => ['100', '40', '0', 'length'],
    });
    // 0 read by index; the gap from 1 is long: keys 100 (then 40 and 0 are behind: skipped), the rest holes.
    expect(enc(liar)).toBe(`dc0082 a161 ${run(99)} a163 ${run(29)}`.replace(/ /g, ''));
  });

  it('gaps shorter than the scan limit are read through; a long one after them switches to key listing', () => {
    const a = sparseArray(200, [[0, 1], [10, 2], [11, 3], [14, 4], [150, 5]]);
    const expected = `dc00c8 01 ${run(9)} 02 03 ${singles(2)} 04 ${run(135)} 05 ${run(49)}`.replace(/ /g, '');
    expect(enc(a)).toBe(expected);
    let wrapped: unknown = a;
    for (let i = 0; i < DEEP_FROM + 1; i++) wrapped = [wrapped];
    expect(enc(wrapped)).toBe('91'.repeat(DEEP_FROM + 1) + expected);
  });

  it('a throwing element getter is reported once by its index, also when collecting every refused value', () => {
    const a = sparseArray(100, [[0, 1], [99, 2]]);
    Object.defineProperty(a, 50, {
      get: (): never => {
        throw new Error('nope');
      },
      enumerable: true,
    });
    let wrapped: unknown = { a, f: () => 0 };
    for (let i = 0; i < DEEP_FROM + 1; i++) wrapped = [wrapped];
    const err = expectCkptError(() => encodeState(wrapped, encOptions()), ErrorCodes.UNSERIALIZABLE);
    expect(err.errors!.map((e) => (e as { where?: string }).where)).toEqual([`${'[0]'.repeat(DEEP_FROM + 1)}.a[50]`, `${'[0]'.repeat(DEEP_FROM + 1)}.f`]);
  });
});

describe('round trip (needs a reader of hole runs)', () => {
  it('runs come back as holes, with the length', () => {
    const a = sparseArray(100, [[0, 1], [50, { x: 2 }], [99, 'z']]);
    const back = roundTrip(a);
    expect(back).toHaveLength(100);
    expect(Object.keys(back)).toEqual(['0', '50', '99']);
    expect(back).toEqual(a);
  });

  it('a[1e8] comes back with its length and one element', () => {
    const a: unknown[] = [];
    a[1e8] = 'x';
    const back = decodeState(encodeState(a, encOptions()).stream, decOptions([])) as unknown[];
    expect(back.length).toBe(1e8 + 1);
    expect(Object.keys(back)).toEqual(['100000000']);
  });
});

describe('the documented test vector', () => {
  it('docs/value-encoding.md vector 4, both modes', () => {
    const a: unknown[] = [1];
    a[9] = 2;
    a[12] = 3;
    a.length = 22;
    const vector = 'dc 00 16 01 d6 02 08 00 00 00 02 d4 02 00 d4 02 00 03 d6 02 09 00 00 00'.replace(/ /g, '');
    expect(enc(a)).toBe(vector);
    expect(enc(a, true)).toBe(vector);
  });
});
