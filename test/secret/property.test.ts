/**
 * @module test/secret/property
 *
 * fast-check property: for random trees of objects, Maps and arrays and
 * random secret paths (keys, indices, wildcards), with a distinctive secret
 * string planted at every place a path reaches, in both modes: no secret is
 * in the encoded bytes, the decoded state equals a naive reference (a deep
 * copy with `undefined` written at every matched place), and the input is
 * unchanged.
 */
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { decodeState } from '../../src/codec/decode.js';
import { encodeState } from '../../src/codec/encode.js';
import { parseSecretPaths } from '../../src/codec/secret.js';
import { copyBlobs, decOptions, encOptions } from '../helpers/codec.js';
import { deepDiff } from '../helpers/deep-equal.js';

const KEYS = ['a', 'b', 'c', '0', '1'] as const;
const key = fc.constantFrom(...KEYS);

const { tree } = fc.letrec((tie) => ({
  tree: fc.oneof({ depthSize: 'small' }, fc.integer({ min: 0, max: 99 }), fc.constantFrom('x', 'y', null), tie('container')),
  container: fc.oneof(
    fc.dictionary(key, tie('tree'), { maxKeys: 4 }).map((d) => ({ ...d })),
    fc.array(fc.tuple(key, tie('tree')), { maxLength: 4 }).map((entries) => new Map<string, unknown>(entries)),
    fc.array(tie('tree'), { maxLength: 3 }),
  ),
}));

const path = fc.array(fc.oneof(key, fc.constant('*')), { minLength: 1, maxLength: 3 }).map((segs) => segs.join('.'));

/** Every place `segs` reaches in `node`: [container, member key]. */
function places(node: unknown, segs: readonly string[]): [object, string | number][] {
  if (typeof node !== 'object' || node === null || segs.length === 0) return [];
  const [seg, ...rest] = segs as [string, ...string[]];
  const members: [string | number, unknown][] = [];
  if (Array.isArray(node)) {
    node.forEach((v, i) => {
      if (seg === '*' || seg === String(i)) members.push([i, v]);
    });
  } else if (node instanceof Map) {
    for (const [k, v] of node as Map<string, unknown>) if (seg === '*' || seg === k) members.push([k, v]);
  } else {
    for (const [k, v] of Object.entries(node)) if (seg === '*' || seg === k) members.push([k, v]);
  }
  if (rest.length === 0) return members.map(([k]) => [node, k]);
  return members.flatMap(([, v]) => places(v, rest));
}

function set(container: object, k: string | number, v: unknown): void {
  if (container instanceof Map) container.set(k, v);
  else (container as Record<string | number, unknown>)[k] = v;
}

describe('secret paths: property', () => {
  it.each([false, true])('no secret in the bytes; decoded = reference; input unchanged (tree: %s)', (treeMode) => {
    fc.assert(
      fc.property(fc.tuple(tree, tree, tree).map(([a, b, c]) => ({ a, b, c })), fc.array(path, { minLength: 1, maxLength: 4 }), (state, paths) => {
        // Plant a distinctive secret at every place each path reaches.
        const planted: string[] = [];
        for (const p of paths) {
          for (const [c, k] of places(state, p.split('.'))) {
            const secret = `S3CRET-${planted.length}-zq`;
            planted.push(secret);
            set(c, k, secret);
          }
        }
        const before = structuredClone(state);
        const reference = structuredClone(state);
        for (const p of paths) for (const [c, k] of places(reference, p.split('.'))) set(c, k, undefined);

        const encoded = encodeState(state, { ...encOptions({ tree: treeMode }), secret: parseSecretPaths(paths, 'p') });
        const bytes = Buffer.from(encoded.stream);
        for (const s of planted) expect(bytes.includes(Buffer.from(s)), s).toBe(false);
        const decoded = decodeState(encoded.stream, decOptions(copyBlobs(encoded), { tree: treeMode }));
        expect(deepDiff(decoded, reference, false)).toBeUndefined();
        expect(deepDiff(state, before, false)).toBeUndefined();
      }),
      { numRuns: 300 },
    );
  });
});
