/**
 * @module test/codec/enc-hostile
 *
 * Values that lie about themselves — proxies with a bad `length` or a key
 * listing that throws, Maps and Sets with their own iterator, getters that
 * change between reads — are encoded the same way (or refused with the same
 * path) by the recursive encoder and by the explicit-stack encoder that
 * takes over deep down, and the refusal names what the encoding met first.
 */
import { describe, expect, it } from 'vitest';

import { DEEP_FROM, encodeState } from '../../src/codec/encode.js';
import { decodeState } from '../../src/codec/decode.js';
import { ErrorCodes } from '../../src/errors.js';
import { decOptions, encOptions, expectCkptError } from '../helpers/codec.js';

/** `v` inside `levels` one-element arrays, and the path prefix that adds. */
function wrapped(v: unknown, levels: number): { value: unknown; at: (key: string) => string } {
  let value = v;
  for (let i = 0; i < levels; i++) value = [value];
  const prefix = '[0]'.repeat(levels);
  return { value, at: (key) => (prefix === '' ? key : `${prefix}.${key}`) };
}

function sparse(length: number, at: number): unknown[] {
  const a: unknown[] = [];
  a.length = length;
  a[at] = 1;
  return a;
}

const DEPTHS = [0, DEEP_FROM + 5];

describe('hostile values, shallow and deep', () => {
  for (const levels of DEPTHS) {
    it(`an array whose key listing throws is reported at the array, not at an element (${String(levels)} levels)`, () => {
      const listing = new Proxy(sparse(100, 10), {
        ownKeys(): never {
          throw new Error('no keys');
        },
      });
      const { value, at } = wrapped({ a: listing, b: () => 0 }, levels);
      const err = expectCkptError(() => encodeState(value, encOptions()), ErrorCodes.UNSERIALIZABLE);
      expect(err.errors?.map((e) => (e as { where?: string }).where)).toEqual([at('a'), at('b')]);
    });

    it(`a Map or Set with its own Symbol.iterator is saved with what it holds (${String(levels)} levels)`, () => {
      const m = new Map<unknown, unknown>([[1, 2]]);
      const s = new Set<unknown>([3]);
      Object.defineProperty(m, Symbol.iterator, { value: function* () { yield 5; } });
      Object.defineProperty(s, Symbol.iterator, { value: function* () { yield 6; } });
      const { value } = wrapped({ m, s }, levels);
      let back = decodeState(encodeState(value, encOptions()).stream, decOptions([]));
      for (let i = 0; i < levels; i++) back = (back as unknown[])[0];
      expect(back).toEqual({ m: new Map([[1, 2]]), s: new Set([3]) });
    });

    for (const length of [2.5, 2 ** 32 + 1, -1]) {
      it(`a proxy array reporting length ${String(length)} is refused, never written with a header that disagrees (${String(levels)} levels)`, () => {
        const p = new Proxy([7, 8, 9], { get: (t, k): unknown => (k === 'length' ? length : (Reflect.get(t, k) as unknown)) });
        const { value, at } = wrapped({ p }, levels);
        const err = expectCkptError(() => encodeState(value, encOptions()), ErrorCodes.UNSERIALIZABLE);
        expect(err.where).toBe(at('p'));
        expect(err.message).toContain('not a valid array length');
      });
    }
  }

  it('the headline of a refusal is what the encoding met, even when a getter reads differently the second time', () => {
    let reads = 0;
    const state = {
      get g(): number {
        if (reads++ === 0) throw new Error('first read fails');
        return 1;
      },
      bad: (): number => 0,
    };
    const err = expectCkptError(() => encodeState(state, encOptions()), ErrorCodes.UNSERIALIZABLE);
    expect(err.where).toBe('g');
    expect(err.message).toMatch(/^g could not be read: .*first read fails/);
    expect(err.errors?.map((e) => (e as { where?: string }).where)).toEqual(['g', 'bad']);
  });
});
