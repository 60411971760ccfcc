/**
 * @module test/codec/deep-holes
 *
 * Runs of holes, decode side: inside an array (whose header count is the JS
 * length) a fixext4 HOLE with a u32 LE count k ≥ 1 stands for k consecutive
 * holes; the fixext1 HOLE stays one hole. Both decoders (recursive, with
 * its fast paths for arrays of up to 8 elements, and iterative) read them;
 * a run past the array's end, a run of 0, or a run outside an array is
 * CORRUPT; a length of 2^32−1 costs no memory.
 */

import { describe, expect, it } from 'vitest';

import { ClassRegistry } from '../../src/codec/class-registry.js';
import { decodeState, decodeStateAt } from '../../src/codec/decode.js';
import type { DecodeOptions } from '../../src/codec/types.js';
import { CkptError, ErrorCodes } from '../../src/errors.js';
import { deepDiff } from '../helpers/deep-equal.js';
import { chainStream } from './deep-streams.js';

const h = (s: string): Buffer => Buffer.from(s.replace(/\s+/g, ''), 'hex');
const opts = (tree = true): DecodeOptions => ({ tree, classes: new ClassRegistry(), blobs: [], maxDepth: 2000 });
/** A run of k holes. */
const run = (k: number): string => {
  const b = Buffer.alloc(6);
  b[0] = 0xd6;
  b[1] = 0x02;
  b.writeUInt32LE(k, 2);
  return b.toString('hex');
};

/** Decode with the default switch, everything iterative, everything recursive (fast paths on). */
const decoders: [string, (s: Uint8Array, o: DecodeOptions) => unknown][] = [
  ['default', (s, o) => decodeState(s, o)],
  ['iterative', (s, o) => decodeStateAt(s, o, 0)],
  ['recursive', (s, o) => decodeStateAt(s, o, Infinity)],
];

/** `length` long, with `entries` at their indices and every other index absent. */
function sparse(length: number, entries: Record<number, unknown>): unknown[] {
  const a: unknown[] = [];
  a.length = length;
  for (const [i, v] of Object.entries(entries)) a[Number(i)] = v;
  return a;
}

describe.each(decoders)('runs of holes (%s decoder)', (_name, decode) => {
  it.each([
    ['k=1 (generic-size array)', `dc 0041 ${run(1)} ${'01'.repeat(64)}`, sparse(65, Object.fromEntries(Array.from({ length: 64 }, (_, i) => [i + 1, 1])))],
    ['k=1 in a small array', `93 ${run(1)} 01 02`, sparse(3, { 1: 1, 2: 2 })],
    ['k=8 then elements', `9a ${run(8)} 01 02`, sparse(10, { 8: 1, 9: 2 })],
    ['k=7 at the end of an 8-array', `98 05 ${run(7)}`, sparse(8, { 0: 5 })],
    ['a run that fills the array', `93 ${run(3)}`, sparse(3, {})],
    ['a run, a single hole, a run', `97 ${run(2)} 01 d40200 ${run(3)}`, sparse(7, { 2: 1 })],
    ['a run before a nested array', `92 ${run(1)} 91 ${run(1)}`, sparse(2, { 1: sparse(1, {}) })],
    ['a run in a 100-element array', `dc 0064 2a ${run(98)} 2b`, sparse(100, { 0: 42, 99: 43 })],
  ])('%s', (_case, hex, expected) => {
    const back = decode(h(hex), opts());
    expect(deepDiff(back, expected, false)).toBeUndefined();
    expect(Object.keys(back as object)).toEqual(Object.keys(expected));
  });

  it('k = 2^32−2 and one element: a[4294967294] = x, holding no memory for the holes', () => {
    const before = process.memoryUsage().heapUsed;
    const back = decode(h(`dd ffffffff ${run(4294967294)} 2a`), opts()) as unknown[];
    expect(back.length).toBe(4294967295);
    expect(back[4294967294]).toBe(42);
    expect(Object.keys(back)).toEqual(['4294967294']);
    expect(process.memoryUsage().heapUsed - before).toBeLessThan(64 * 1024 * 1024);
  });

  it('a run of holes inside an identity-mode array does not take an id', () => {
    // [<hole>, [], <REF to the inner array = id 1>]
    const back = decode(h(`93 ${run(1)} 90 d603 01000000`), opts(false)) as unknown[];
    expect(0 in back).toBe(false);
    expect(back[2]).toBe(back[1]);
  });

  it.each([
    ['a run past the end of a small array', `92 ${run(3)}`, 'a run of 3 holes goes past the end of its array'],
    ['a run past the end after elements', `93 01 02 ${run(2)}`, 'a run of 2 holes goes past the end of its array'],
    ['a run past the end of a large array', `dc 0064 ${run(101)}`, 'a run of 101 holes goes past the end of its array'],
    ['a run past the end of the largest array', `dd ffffffff 01 ${run(4294967295)}`, 'a run of 4294967295 holes goes past the end of its array'],
    ['a run of 0', `92 ${run(0)} 01`, 'a run of 0 holes'],
    ['a run as the root', run(1), 'HOLE outside an array'],
    ['a run as a map value', `81 a161 ${run(1)}`, 'HOLE outside an array'],
    ['a run in a Set', `c9 00000007 11 91 ${run(1)}`, 'HOLE outside an array'],
    ['a run in a MAP', `c9 00000008 10 92 01 ${run(1)}`, 'HOLE outside an array'],
    ['a run cut short', `92 d6 02 01 00`, 'an ext payload needs 4 bytes'],
    ['elements missing after a run', `94 ${run(1)} 01`, 'unexpected end of data'],
  ])('%s is CORRUPT', (_case, hex, message) => {
    let caught: unknown;
    try {
      decode(h(hex), opts());
    } catch (err) {
      caught = err;
    }
    expect(caught).toBeInstanceOf(CkptError);
    expect((caught as CkptError).code).toBe(ErrorCodes.CORRUPT);
    expect((caught as CkptError).message).toContain(message);
  });
});

describe('runs of holes past the threshold', () => {
  it('an array with runs at 1,500 levels deep decodes the same in both decoders', () => {
    const stream = chainStream(['object'], 1500, h(`96 ${run(2)} 01 ${run(2)} 02`));
    const a = decodeState(stream, opts());
    let v: unknown = a;
    for (let i = 0; i < 1500; i++) v = (v as Record<string, unknown>)['a'];
    expect(deepDiff(v, sparse(6, { 2: 1, 5: 2 }), false)).toBeUndefined();
  });

  it('a run overrunning its array deep down is the same error in both decoders', () => {
    const stream = chainStream(['object'], 300, h(`92 ${run(5)}`));
    const messages = decoders.map(([, decode]) => {
      try {
        decode(stream, opts());
        return 'decoded';
      } catch (err) {
        return err instanceof CkptError ? `${err.code} ${err.message}` : 'other';
      }
    });
    expect(messages[0]).toContain('a run of 5 holes goes past the end of its array');
    expect(new Set(messages).size).toBe(1);
  });
});
