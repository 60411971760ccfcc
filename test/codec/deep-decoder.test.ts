/**
 * @module test/codec/deep-decoder
 *
 * The hybrid decoder: recursive below DEEP_THRESHOLD container levels,
 * iterative (a heap work stack) from there down. Both halves must give the
 * same values (and identity ids), the same errors, and the iterative one
 * must take over exactly at the threshold and accept every depth up to
 * maxDepth — and refuse deeper input.
 */

import fc from 'fast-check';
import { describe, expect, it } from 'vitest';

import { ClassRegistry } from '../../src/codec/class-registry.js';
import { decodeState, decodeStateAt } from '../../src/codec/decode.js';
import { DEEP_THRESHOLD, deepDecoderEntries } from '../../src/codec/decode-deep.js';
import { encodeState } from '../../src/codec/encode.js';
import type { DecodeOptions } from '../../src/codec/types.js';
import { CkptError, ErrorCodes } from '../../src/errors.js';
import { DEFAULT_MAX_DEPTH } from '../../src/image/constants.js';
import { deepDiff } from '../helpers/deep-equal.js';
import { CYCLE_LEAF, KINDS, Link, chainStream, ext32, walkChain, type Kind } from './deep-streams.js';

const classes = new ClassRegistry();
classes.register(Link, 'Link');

class Point {
  x = 0;
  y = 0;
}
classes.register(Point, 'Point');

function opts(tree: boolean, maxDepth = DEFAULT_MAX_DEPTH, extra: Partial<DecodeOptions> = {}): DecodeOptions {
  return { tree, classes, blobs: [], maxDepth, ...extra };
}

/** What decoding gives: the value, or the error's code, message and where. */
type Outcome = { value: unknown } | { code: string; message: string; where: string | undefined };

function outcome(fn: () => unknown): Outcome {
  try {
    return { value: fn() };
  } catch (err) {
    if (!(err instanceof CkptError)) throw err;
    return { code: err.code, message: err.message, where: err.where };
  }
}

/** Decode with the iterative decoder for everything (0), the default switch, and recursion only (Infinity). */
function allWays(stream: Uint8Array, o: DecodeOptions): [Outcome, Outcome, Outcome] {
  return [outcome(() => decodeStateAt(stream, o, 0)), outcome(() => decodeState(stream, o)), outcome(() => decodeStateAt(stream, o, Infinity))];
}

function expectSame(outcomes: readonly Outcome[], sharing: boolean): void {
  const [first, ...rest] = outcomes;
  for (const o of rest) {
    if ('value' in first! && 'value' in o) expect(deepDiff(o.value, first.value, sharing)).toBeUndefined();
    else expect(o).toEqual(first);
  }
}

// Values with every kind the codec writes, shared references and cycles.
const leaf = fc.oneof(
  fc.double(),
  fc.integer(),
  fc.bigInt(),
  fc.boolean(),
  fc.constant(null),
  fc.constant(undefined),
  fc.string({ maxLength: 8 }),
  fc.date({ noInvalidDate: false }),
  fc.constantFrom(/a+/g, /^x$/imsu).map((r) => new RegExp(r.source, r.flags)),
  fc.uint8Array({ maxLength: 6 }),
  fc.float64Array({ maxLength: 3 }),
);
const { value } = fc.letrec((tie) => ({
  value: fc.oneof({ depthSize: 'small', withCrossShrink: true }, leaf, tie('container')),
  container: fc.oneof(
    fc.array(tie('value'), { maxLength: 10 }),
    fc.sparseArray(tie('value'), { maxLength: 12 }),
    fc.dictionary(fc.oneof(fc.string({ maxLength: 4 }), fc.constantFrom('__proto__', 'x', 'y', '0')), tie('value'), { maxKeys: 5 }),
    fc.dictionary(fc.string({ maxLength: 4 }), tie('value'), { maxKeys: 3 }).map((d) => Object.assign(Object.create(null) as object, d)),
    fc.array(fc.tuple(tie('value'), tie('value')), { maxLength: 3 }).map((e) => new Map(e)),
    fc.array(tie('value'), { maxLength: 3 }).map((i) => new Set(i)),
    fc.tuple(tie('value'), tie('value')).map(([x, y]) => Object.assign(new Point(), { x, y })),
  ),
}));
/** A value with sharing and cycles (identity mode): the value twice, and containers that hold themselves. */
const shared = value.map((v) => {
  const self: Record<string, unknown> = { v };
  self['self'] = self;
  const arr: unknown[] = [v, self];
  arr.push(arr);
  const m = new Map<unknown, unknown>([[v, arr]]);
  m.set(m, v);
  return { a: v, b: [v, self, arr], m };
});

/** `v` nested `n` levels deep in arrays (so the interesting part is past the threshold). */
function sink(v: unknown, n: number): unknown {
  let out = v;
  for (let i = 0; i < n; i++) out = [out];
  return out;
}

describe('iterative and recursive decoding give identical results', () => {
  it('on random values, tree mode, at every switch depth', () => {
    fc.assert(
      fc.property(value, fc.nat(4), (v, shift) => {
        const stream = encodeState(sink(v, shift), { tree: true, classes, blobThreshold: 1 << 30, maxDepth: 200 }).stream;
        const o = opts(true, 200);
        expectSame([...allWays(stream, o), outcome(() => decodeStateAt(stream, o, 2))], false);
        const [iterative] = allWays(stream, o);
        expect('value' in iterative && deepDiff(iterative.value, sink(v, shift), false)).toBeUndefined();
      }),
      { numRuns: 300 },
    );
  });

  it('on random values with sharing and cycles, identity mode (same ids: sharing survives identically)', () => {
    fc.assert(
      fc.property(shared, fc.nat(4), (v, shift) => {
        const stream = encodeState(sink(v, shift), { tree: false, classes, blobThreshold: 1 << 30, maxDepth: 200 }).stream;
        const o = opts(false, 200);
        const ways = [...allWays(stream, o), outcome(() => decodeStateAt(stream, o, 1)), outcome(() => decodeStateAt(stream, o, 3))];
        expectSame(ways, true);
        expect('value' in ways[0]! && deepDiff(ways[0].value, sink(v, shift), true)).toBeUndefined();
      }),
      { numRuns: 300 },
    );
  });

  it('on random corruptions (a changed byte, a truncation): the same value or the same error, message and offset', () => {
    fc.assert(
      fc.property(shared, fc.boolean(), fc.nat(), fc.nat(255), (v, tree, where, byte) => {
        const src = tree ? { a: v } : v; // shared has cycles: tree mode gets them refused at encode, so wrap a plain one
        const encoded = outcome(() => encodeState(src, { tree, classes, blobThreshold: 1 << 30, maxDepth: 200 }).stream);
        if (!('value' in encoded)) return;
        const stream = Buffer.from(encoded.value as Uint8Array);
        const at = where % stream.length;
        const changed = Buffer.from(stream);
        changed[at] = byte;
        expectSame(allWays(changed, opts(tree, 200)), !tree);
        expectSame(allWays(stream.subarray(0, at), opts(tree, 200)), !tree);
      }),
      { numRuns: 400 },
    );
  });
});

describe('the switch happens at DEEP_THRESHOLD container levels', () => {
  it.each(KINDS.map((k) => [k]))('%s chains of threshold−1, threshold, threshold+1 levels', (kind: Kind) => {
    for (const [depth, entered] of [
      [DEEP_THRESHOLD - 1, 0],
      [DEEP_THRESHOLD, 0],
      [DEEP_THRESHOLD + 1, 1],
    ] as const) {
      const stream = chainStream([kind], depth);
      const before = deepDecoderEntries();
      const v = decodeState(stream, opts(true));
      // The outermost container is at depth 0: one more level than the threshold reaches depth DEEP_THRESHOLD.
      expect(deepDecoderEntries() - before).toBe(entered);
      expect(walkChain(v, [kind], depth)).toEqual({ leaf: 1 });
      expect(deepDiff(v, decodeStateAt(stream, opts(true), Infinity), false)).toBeUndefined();
    }
  });
});

describe('the iterative decoder at maxDepth', () => {
  it.each([...KINDS.map((k) => [k, [k]] as const), ['mixed', KINDS] as const])(
    '%s: maxDepth levels decode (tree and identity with a cycle at the bottom), one more is CORRUPT',
    (_name, kinds: readonly Kind[]) => {
      const tree = walkChain(decodeState(chainStream(kinds, DEFAULT_MAX_DEPTH), opts(true)), kinds, DEFAULT_MAX_DEPTH);
      expect(tree).toEqual({ leaf: 1 });
      const root = decodeState(chainStream(kinds, DEFAULT_MAX_DEPTH - 1, CYCLE_LEAF), opts(false));
      const walked = walkChain(root, kinds, DEFAULT_MAX_DEPTH - 1);
      expect(typeof walked === 'object' && (walked.leaf as { root: unknown }).root === root).toBe(true);
      const err = outcome(() => decodeState(chainStream(kinds, DEFAULT_MAX_DEPTH + 1), opts(true)));
      expect(err).toMatchObject({ code: ErrorCodes.CORRUPT, message: expect.stringContaining(`nesting deeper than maxDepth (${String(DEFAULT_MAX_DEPTH)})`) as unknown });
    },
  );

  it('refuses depth beyond a small maxDepth at the same byte as the recursive decoder', () => {
    for (const kind of KINDS) {
      const stream = chainStream([kind], 150);
      const ways = allWays(stream, opts(true, 100));
      expectSame(ways, false);
      expect(ways[0]).toMatchObject({ code: ErrorCodes.CORRUPT });
    }
  });
});

describe('deep and corrupt: the same errors as the recursive decoder', () => {
  const huge = Buffer.alloc(16, 0xff);
  const bigint = ext32(0x04, Buffer.concat([Buffer.from([0]), huge]));
  const cases: [string, Buffer, boolean][] = [
    ['a reserved byte', Buffer.from([0xc1]), true],
    ['a HOLE outside an array', Buffer.from([0x81, 0xa1, 0x61, 0xd4, 0x02, 0x00]), true],
    ['a run of holes outside an array', Buffer.from([0x81, 0xa1, 0x61, 0xd6, 0x02, 1, 0, 0, 0]), true],
    ['a REF in tree mode', Buffer.from([0xd6, 0x03, 0, 0, 0, 0]), true],
    ['a REF to an id not assigned yet', Buffer.from([0xd6, 0x03, 0xff, 0xff, 0, 0]), false],
    ['an unregistered class', ext32(0x13, Buffer.from([0x92, 0xa4, 0x4e, 0x6f, 0x70, 0x65, 0x80])), true],
    ['an ext container longer than its content', ext32(0x11, Buffer.from([0x91, 0x01, 0x02])), true],
    ['a map claiming more entries than bytes', Buffer.from([0xdf, 0x7f, 0xff, 0xff, 0xff]), true],
    ['an array with a run of holes past its end', Buffer.from([0x92, 0xd6, 0x02, 3, 0, 0, 0]), true],
    ['a BigInt beyond maxBigIntBytes (LIMIT)', bigint, true],
    ['invalid UTF-8', Buffer.from([0xa2, 0xff, 0xfe]), true],
    ['an invalid RegExp', ext32(0x12, Buffer.from([0x92, 0xa1, 0x28, 0xa0])), true],
  ];
  it.each(cases)('%s at 300 levels (every kind)', (_name, leafBytes, tree) => {
    for (const kind of [...KINDS.map((k) => [k]), KINDS]) {
      const stream = chainStream(kind, 300, leafBytes);
      const ways = allWays(stream, opts(tree, DEFAULT_MAX_DEPTH, { maxBigIntBytes: 8 }));
      expectSame(ways, !tree);
      expect('code' in ways[0]).toBe(true);
    }
  });

  it('a truncated deep stream is CORRUPT at every cut, the same as recursively', () => {
    const stream = chainStream(KINDS, 120);
    for (let cut = 0; cut < stream.length; cut += 7) {
      const ways = allWays(stream.subarray(0, cut), opts(true));
      expectSame(ways, false);
      expect(ways[0]).toMatchObject({ code: ErrorCodes.CORRUPT });
    }
  });
});
