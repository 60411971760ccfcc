// The decoder's literal fast paths (small arrays, objects of a learned shape)
// must give exactly what the generic path gives: same keys in the same order,
// holes, `__proto__` and index keys, cycles (identity mode restarts on the
// generic path), shapes that change midway, keys encoded differently, and
// hostile key text that ends up in compiled code.
import { describe, expect, it } from 'vitest';
import { ClassRegistry } from '../../src/codec/class-registry.js';
import { decodeState } from '../../src/codec/decode.js';
import { encodeState } from '../../src/codec/encode.js';

const classes = new ClassRegistry();
function roundTrip<T>(v: T, tree = false): T {
  const e = encodeState(v, { tree, classes, blobThreshold: 64 * 1024, maxDepth: 200 });
  return decodeState(e.stream, { tree, classes, blobs: [], maxDepth: 200 }) as T;
}

/** Enough objects of one shape that its reader is compiled, then `tail`. */
function many<T>(make: (i: number) => T, tail: readonly unknown[] = []): unknown[] {
  return [...Array.from({ length: 40 }, (_, i) => make(i)), ...tail];
}

describe('decoder fast paths', () => {
  for (const tree of [false, true]) {
    const mode = tree ? 'tree' : 'identity';

    it(`${mode}: objects of a compiled shape, and objects that differ from it at every key`, () => {
      const base = (i: number): Record<string, unknown> => ({ id: i, name: `n${i}`, kind: 'k', score: i / 7, on: i % 2 === 0 });
      const variants = [
        { id: 1, name: 'x', kind: 'k', score: 2, other: true }, // last key differs
        { id: 1, nope: 'x', kind: 'k', score: 2, on: true }, // second key differs
        { id: 1, name: 'x', kind: 'k', score: 2 }, // fewer keys
        { id: 1, name: 'x', kind: 'k', score: 2, on: false, more: [1] }, // more keys
        { id: 1, name: 'x', kind: 'k', on: true, score: 2 }, // other order
        { id: 1, name: 'x', kind: 'k', score: 2, 5: 'index key' },
        Object.defineProperty({ id: 1, name: 'x', kind: 'k', score: 2 }, '__proto__', { value: { polluted: true }, enumerable: true, writable: true, configurable: true }),
      ];
      const state = many(base, variants);
      const back = roundTrip(state, tree);
      expect(back).toEqual(state);
      for (let i = 0; i < state.length; i++) expect(Object.keys(back[i] as object)).toEqual(Object.keys(state[i] as object));
      const last = back[back.length - 1] as Record<string, unknown>;
      expect(Object.getPrototypeOf(last)).toBe(Object.prototype);
      expect(Object.prototype.hasOwnProperty.call(last, '__proto__')).toBe(true);
      expect(({} as Record<string, unknown>)['polluted']).toBeUndefined();
    });

    it(`${mode}: keys with quotes, backslashes and line breaks in compiled shapes`, () => {
      const keys = ['a"b', 'c\\d', 'e\nf', '\u2028', "g'h", '${x}', '`', '*/'];
      const make = (i: number): Record<string, number> => Object.fromEntries(keys.map((k, j) => [k, i + j]));
      const state = many(make);
      expect(roundTrip(state, tree)).toEqual(state);
    });

    it(`${mode}: small arrays with holes, undefined and nested arrays`, () => {
      // eslint-disable-next-line no-sparse-arrays -- holes are the point
      const sparse = [1, , 3];
      const state = many((i) => [i, [i, [i]], undefined, null], [sparse, [, 'x'], new Array(8), [1, 2, 3, 4, 5, 6, 7, 8], [1, 2, 3, 4, 5, 6, 7, 8, 9]]); // eslint-disable-line no-sparse-arrays
      const back = roundTrip(state, tree);
      expect(back).toEqual(state);
      const b = back as unknown[][];
      expect(1 in b[40]!).toBe(false);
      expect(b[40]!.length).toBe(3);
      expect(0 in b[41]!).toBe(false);
      expect(b[42]!.length).toBe(8);
      expect(Object.keys(b[42]!)).toEqual([]);
    });
  }

  it('identity: shared references to literal-built containers, and cycles through them', () => {
    const shared = { id: 1, name: 'shared', kind: 'k', score: 0, on: true };
    const pair: unknown[] = [1, 2];
    const records = many((i) => ({ id: i, name: `n${i}`, kind: 'k', score: i, on: true }));
    const node: Record<string, unknown> = { id: 99, name: 'self', kind: 'k', score: 0, on: true };
    node['on'] = node; // a cycle through an object of the compiled shape
    const loop: unknown[] = [0, 0];
    loop[1] = loop; // a cycle through a small array
    const state = { records, a: shared, b: shared, p: pair, q: pair, node, loop, list: [shared, pair] };
    const back = roundTrip(state);
    expect(back.a).toBe(back.b);
    expect(back.p).toBe(back.q);
    expect(back.list[0]).toBe(back.a);
    expect(back.list[1]).toBe(back.p);
    expect(back.node['on']).toBe(back.node);
    expect(back.loop[1]).toBe(back.loop);
    expect(back.records).toEqual(records);
  });
});
