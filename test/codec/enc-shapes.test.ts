// The encoder's compiled property writers (codec/encode-shapes): once a key
// list has been seen often enough, objects with it are written by a compiled
// function. The bytes must be exactly those of the generic path, every
// property read once (getters included), and errors must name the property.
import { describe, expect, it } from 'vitest';
import { ClassRegistry } from '../../src/codec/class-registry.js';
import { decodeState } from '../../src/codec/decode.js';
import { COMPILE_AFTER } from '../../src/codec/encode-shapes.js';
import { encodeState } from '../../src/codec/encode.js';
import { CkptError } from '../../src/errors.js';

const classes = new ClassRegistry();
const opts = (tree: boolean) => ({ tree, classes, blobThreshold: 64 * 1024, maxDepth: 200 });
const bytes = (v: unknown, tree = false): Buffer => Buffer.from(encodeState(v, opts(tree)).stream);

describe('encoder: compiled property writers', () => {
  for (const tree of [false, true]) {
    const mode = tree ? 'tree' : 'identity';

    it(`${mode}: an object's bytes are the same before and after its key list is compiled`, () => {
      // A key list no other test uses, so the first encoding takes the generic path.
      const make = (i: number): Record<string, unknown> => ({ [`first${mode}`]: i, name: `n${i}`, nested: { a: [i, -i, 0.5] }, flag: i % 2 === 0, nothing: null, u: undefined, big: 2 ** 40 + i });
      const one = make(7);
      const before = bytes([one], tree);
      const many = Array.from({ length: 4 * COMPILE_AFTER }, (_, i) => make(i));
      const manyBytes = bytes(many, tree);
      const after = bytes([one], tree);
      expect(after.equals(before)).toBe(true);
      expect(decodeState(manyBytes, { ...opts(tree), blobs: [] })).toEqual(many);
    });

    it(`${mode}: each property is read once, in Object.keys order, getters included`, () => {
      const reads: string[] = [];
      const make = (i: number): object => {
        const o = {};
        for (const k of [`g${mode}`, 'b', 'c']) {
          Object.defineProperty(o, k, {
            enumerable: true,
            get: () => {
              reads.push(`${String(i)}.${k}`);
              return i;
            },
          });
        }
        return o;
      };
      const n = 4 * COMPILE_AFTER;
      const state = Array.from({ length: n }, (_, i) => make(i));
      const back = decodeState(bytes(state, tree), { ...opts(tree), blobs: [] }) as Record<string, number>[];
      expect(reads).toEqual(Array.from({ length: n }, (_, i) => [`${String(i)}.g${mode}`, `${String(i)}.b`, `${String(i)}.c`]).flat());
      expect(back[n - 1]).toEqual({ [`g${mode}`]: n - 1, b: n - 1, c: n - 1 });
    });

    it(`${mode}: a value refused in a compiled object names its path`, () => {
      const make = (i: number): Record<string, unknown> => ({ [`r${mode}`]: i, fn: i, z: 'x' });
      const state = Array.from({ length: 4 * COMPILE_AFTER }, (_, i) => make(i));
      state[3 * COMPILE_AFTER]!['fn'] = () => 1;
      let err: unknown;
      try {
        encodeState(state, opts(tree));
      } catch (e) {
        err = e;
      }
      expect(err).toBeInstanceOf(CkptError);
      expect((err as CkptError).where).toBe(`[${String(3 * COMPILE_AFTER)}].fn`);
      expect((err as CkptError).message).toMatch(/is a function/);
    });

    it(`${mode}: a getter that throws in a compiled object is reported with its path`, () => {
      const make = (i: number): object => ({ [`t${mode}`]: i, v: i });
      const state: object[] = Array.from({ length: 4 * COMPILE_AFTER }, (_, i) => make(i));
      Object.defineProperty(state[2 * COMPILE_AFTER], 'v', {
        enumerable: true,
        get: () => {
          throw new Error('boom');
        },
      });
      expect(() => encodeState(state, opts(tree))).toThrow(/\[16\]\.v could not be read: .*boom/);
    });
  }

  it('keys the writers do not handle (non-ASCII, __proto__, index keys) keep the generic path and round-trip', () => {
    const odd = (i: number): Record<string, unknown> => {
      const o: Record<string, unknown> = { größe: i, '7': 'index', plain: i };
      Object.defineProperty(o, '__proto__', { value: i, enumerable: true, writable: true, configurable: true });
      return o;
    };
    const state = Array.from({ length: 4 * COMPILE_AFTER }, (_, i) => odd(i));
    const back = decodeState(bytes(state), { ...opts(false), blobs: [] }) as Record<string, unknown>[];
    for (let i = 0; i < state.length; i++) {
      expect(Object.keys(back[i]!)).toEqual(Object.keys(state[i]!));
      expect(Object.getOwnPropertyDescriptor(back[i], '__proto__')?.value).toBe(i);
      expect(Object.getPrototypeOf(back[i])).toBe(Object.prototype);
    }
  });

  it('shared references inside compiled objects stay shared (identity mode)', () => {
    const shared = { s: 1 };
    const state = Array.from({ length: 4 * COMPILE_AFTER }, (_, i) => ({ sh: shared, i }));
    const back = decodeState(bytes(state), { ...opts(false), blobs: [] }) as { sh: object }[];
    for (const r of back) expect(r.sh).toBe(back[0]!.sh);
  });
});
