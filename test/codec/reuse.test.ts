// Memory the encoder keeps between calls for speed must never leak into a
// result: the identity table kept across encodings (generations), the large
// output buffer lent with release() and reused, nested encodings.
import { describe, expect, it } from 'vitest';
import { ClassRegistry } from '../../src/codec/class-registry.js';
import { decodeState } from '../../src/codec/decode.js';
import { encodeState, releaseEncoderMemory } from '../../src/codec/encode.js';
import type { EncodeOptions } from '../../src/codec/types.js';

const classes = new ClassRegistry();
const opts = (tree = false): EncodeOptions => ({ tree, classes, blobThreshold: 64 * 1024, maxDepth: 100 });
const decode = (stream: Uint8Array, tree = false): unknown => decodeState(stream, { tree, classes, blobs: [], maxDepth: 100 });
const hex = (b: Uint8Array): string => Buffer.from(b.buffer, b.byteOffset, b.byteLength).toString('hex');

describe('encoder memory reused across calls', () => {
  it('identity survives 100 encodings of changing states (the kept table never confuses generations)', () => {
    releaseEncoderMemory();
    const pool = Array.from({ length: 50 }, (_, i) => ({ i, tags: [i, `t${i}`] }));
    for (let round = 0; round < 100; round++) {
      // A different selection each round: objects seen in earlier rounds but
      // not in this one must not be written as references.
      const picked = pool.filter((_, i) => (i * 7 + round) % 3 !== 0);
      const shared = picked[round % picked.length]!;
      const state = { list: picked, again: shared, self: null as unknown };
      state.self = state;
      const encoded = encodeState(state, opts());
      // Byte for byte what a first-ever encoding writes.
      const stored = hex(encoded.stream);
      releaseEncoderMemory();
      expect(hex(encodeState(state, opts()).stream)).toBe(stored);
      const back = decode(encoded.stream) as typeof state;
      expect(back.self).toBe(back);
      expect(back.list.length).toBe(picked.length);
      expect(back.again).toBe(back.list[round % picked.length]);
      expect(back.list.map((r) => r.i)).toEqual(picked.map((r) => r.i));
    }
  });

  it('a state larger than one kept WeakMap holds: the rest goes to the next one, references across both survive', () => {
    const early = { e: 1 };
    const late = { l: 2 };
    const big: unknown[] = Array.from({ length: 1_600_000 }, (_, i) => [i]);
    big[0] = early;
    big[1_580_000] = late; // past the first WeakMap's 1.5M keys: first seen in the second
    big[1_590_000] = early; // from the second WeakMap's part back to an object in the first
    big[1_590_001] = late; // an object of the second WeakMap met twice
    releaseEncoderMemory();
    const first = hex(encodeState(big, opts()).stream);
    // Again with the same kept WeakMaps (entries updated in place), and once more: the same bytes.
    expect(hex(encodeState(big, opts()).stream)).toBe(first);
    expect(hex(encodeState(big, opts()).stream)).toBe(first);
    const back = decode(Buffer.from(first, 'hex')) as unknown[];
    expect(back[1_590_000]).toBe(back[0]);
    expect(back[1_590_001]).toBe(back[1_580_000]);
    expect(back[1_580_000]).toEqual({ l: 2 });
    expect(back[1]).toEqual([1]);
    expect(back[1]).not.toBe(back[2]);
  }, 120_000);

  it('a state rebuilt before every encoding (new objects each time) is encoded exactly, also once the kept WeakMaps are full of dead keys', () => {
    const build = (): unknown => {
      const shared = { s: 'x' };
      const tail = { t: 'y' }; // first met late: in a second WeakMap, in the round that fills the first
      const items = Array.from({ length: 400_000 }, (_, i) => (i === 399_990 ? tail : i % 50_000 === 0 ? shared : { i }));
      return { items, again: shared, tail };
    };
    releaseEncoderMemory();
    const expected = hex(encodeState(build(), opts()).stream);
    // 10 × 400k new objects: past one WeakMap's 1.5M keys after four encodings.
    for (let round = 0; round < 10; round++) {
      const state = build();
      expect(hex(encodeState(state, opts()).stream), `round ${round}`).toBe(expected);
    }
    const back = decode(Buffer.from(expected, 'hex')) as { items: unknown[]; again: unknown; tail: unknown };
    expect(back.again).toBe(back.items[0]);
    expect(back.tail).toBe(back.items[399_990]);
    expect(back.items[50_000]).toBe(back.items[0]);
  }, 120_000);

  it('a nested encoding (a getter that encodes) uses its own table', () => {
    const inner = { x: 1 };
    const outer = {
      a: inner,
      get b() {
        encodeState({ inner, other: inner }, opts());
        return inner;
      },
    };
    const back = decode(encodeState(outer, opts()).stream) as { a: unknown; b: unknown };
    expect(back.b).toBe(back.a);
  });

  it('a large stream is lent (shared memory, release()) and reused after release, never before', () => {
    releaseEncoderMemory();
    const big = (c: string): unknown => ({ s: c.repeat(3 * 1024 * 1024), n: [1, 2, 3] });
    const a = encodeState(big('a'), opts(true));
    expect(a.stream.buffer).toBeInstanceOf(SharedArrayBuffer);
    expect(typeof a.release).toBe('function');
    const aHex = hex(a.stream);
    // Not released: the next large encoding must not touch a's bytes.
    const b = encodeState(big('b'), opts(true));
    expect(b.stream.buffer).not.toBe(a.stream.buffer);
    expect(hex(a.stream)).toBe(aHex);
    a.release!();
    a.release!(); // idempotent
    const c = encodeState(big('c'), opts(true));
    expect(c.stream.buffer).toBe(a.stream.buffer); // reused
    expect((decode(c.stream, true) as { s: string }).s.slice(0, 3)).toBe('ccc');
    expect((decode(b.stream, true) as { s: string }).s.slice(0, 3)).toBe('bbb');
    // Grown in place from a released buffer: the lent stream is the only user of that memory.
    c.release!();
    const d = encodeState(big('d'.repeat(2)), opts(true));
    expect(d.stream.buffer).toBe(a.stream.buffer);
    const e = encodeState(big('e'), opts(true));
    expect(e.stream.buffer).not.toBe(d.stream.buffer);
    expect((decode(d.stream, true) as { s: string }).s.slice(0, 3)).toBe('ddd');
    e.release!();
    d.release!();
    // Small streams are right-sized copies with nothing to release.
    const small = encodeState({ n: 1 }, opts());
    expect(small.release).toBeUndefined();
    expect(small.stream.buffer.byteLength).toBe(small.stream.byteLength);
  });
});
