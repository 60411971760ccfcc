/**
 * @module test/codec/identity
 *
 * Identity mode keeps shared references and cycles; tree mode duplicates
 * shared objects and refuses cycles with the path.
 */

import { describe, expect, it } from 'vitest';

import { ClassRegistry } from '../../src/codec/class-registry.js';
import { encodeState } from '../../src/codec/encode.js';
import { ErrorCodes } from '../../src/errors.js';
import { encOptions, expectCkptError, roundTrip } from '../helpers/codec.js';

describe('identity mode (tree: false)', () => {
  it('shared references stay shared', () => {
    const shared = { n: 1 };
    const arr = [1, 2];
    const back = roundTrip({ a: shared, b: shared, c: [shared, arr, arr] });
    expect(back.a).toBe(back.b);
    expect(back.c[0]).toBe(back.a);
    expect(back.c[1]).toBe(back.c[2]);
    back.a.n = 2;
    expect(back.b.n).toBe(2);
  });

  it('self cycle', () => {
    const o: Record<string, unknown> = { name: 'self' };
    o['me'] = o;
    const back = roundTrip(o);
    expect(back['me']).toBe(back);
  });

  it('an array that contains itself', () => {
    const a: unknown[] = [1];
    a.push(a);
    const back = roundTrip(a);
    expect(back[1]).toBe(back);
  });

  it('mutual cycle', () => {
    const a: Record<string, unknown> = { name: 'a' };
    const b: Record<string, unknown> = { name: 'b', a };
    a['b'] = b;
    const back = roundTrip({ a, b });
    expect(back.a['b']).toBe(back.b);
    expect(back.b['a']).toBe(back.a);
  });

  it('cycles through Map values and keys', () => {
    const m = new Map<unknown, unknown>();
    const key = { k: true, m };
    m.set(key, m);
    m.set('self', m);
    const back = roundTrip(m);
    const [rk, rv] = [...back][0] ?? [];
    expect(rv).toBe(back);
    expect((rk as { m: unknown }).m).toBe(back);
    expect(back.get('self')).toBe(back);
    expect(back.get(rk)).toBe(back);
  });

  it('cycles through a Set', () => {
    const s = new Set<unknown>();
    const holder = { s };
    s.add(holder);
    s.add(s);
    const back = roundTrip(holder);
    expect(back.s.has(back)).toBe(true);
    expect(back.s.has(back.s)).toBe(true);
  });

  it('cycles through registered class instances', () => {
    class Node {
      next: Node | null = null;
      constructor(public id: number) {}
    }
    const classes = new ClassRegistry();
    classes.register(Node);
    const a = new Node(1);
    const b = new Node(2);
    a.next = b;
    b.next = a;
    const back = roundTrip([a, b], { classes });
    expect(back[0]).toBeInstanceOf(Node);
    expect(back[0]?.next).toBe(back[1]);
    expect(back[1]?.next).toBe(back[0]);
  });

  it('the same typed array (and Date, RegExp) referenced twice stays one object', () => {
    const t = new Float64Array([1, 2, 3]);
    const d = new Date(5);
    const r = /x/g;
    for (const blobThreshold of [0, 1 << 30]) {
      const back = roundTrip({ a: t, b: t, d1: d, d2: d, r1: r, r2: r }, { blobThreshold });
      expect(back.a).toBe(back.b);
      expect(back.d1).toBe(back.d2);
      expect(back.r1).toBe(back.r2);
      back.a[0] = 99;
      expect(back.b[0]).toBe(99);
    }
    // Only one blob for the shared array.
    expect(encodeState({ a: t, b: t }, encOptions({ blobThreshold: 0 })).blobs).toHaveLength(1);
  });

  it('non-overlapping views of one buffer are fine and independent', () => {
    const ab = new ArrayBuffer(16);
    const v1 = new Uint8Array(ab, 0, 8);
    const v2 = new Uint8Array(ab, 8, 8);
    const empty = new Uint8Array(ab, 4, 0); // an empty view aliases nothing
    v1.fill(1);
    v2.fill(2);
    const back = roundTrip({ v1, v2, empty, pool: [Buffer.from('a'), Buffer.from('b'), Buffer.from('c')] });
    expect([...back.v1]).toEqual(Array(8).fill(1));
    expect([...back.v2]).toEqual(Array(8).fill(2));
    expect(back.pool.map((b) => b.toString())).toEqual(['a', 'b', 'c']);
  });
});

describe('tree mode (tree: true)', () => {
  it('shared references are duplicated (documented)', () => {
    const shared = { n: 1 };
    const back = roundTrip({ a: shared, b: shared }, { tree: true });
    expect(back.a).toEqual({ n: 1 });
    expect(back.b).toEqual({ n: 1 });
    expect(back.a).not.toBe(back.b);
  });

  it('a self cycle throws UNSERIALIZABLE naming the path', () => {
    const o: Record<string, unknown> = { inner: { list: [1] } };
    ((o['inner'] as Record<string, unknown>)['list'] as unknown[]).push(o);
    const err = expectCkptError(() => encodeState(o, encOptions({ tree: true })), ErrorCodes.UNSERIALIZABLE);
    expect(err.message).toMatch(/^cycle at inner\.list\[1\]: it refers back to the state itself/);
    expect(err.where).toBe('inner.list[1]');
  });

  it('a cycle through a Map and a Set throws', () => {
    const m = new Map<string, unknown>();
    const s = new Set<unknown>([m]);
    m.set('s', s);
    const err = expectCkptError(() => encodeState({ root: { m } }, encOptions({ tree: true })), ErrorCodes.UNSERIALIZABLE);
    expect(err.message).toContain('cycle at root.m.get("s"){item 0}: it refers back to root.m');
  });

  it('an array containing itself throws', () => {
    const a: unknown[] = [];
    a.push(a);
    const err = expectCkptError(() => encodeState(a, encOptions({ tree: true })), ErrorCodes.UNSERIALIZABLE);
    expect(err.message).toMatch(/^cycle at \[0\]/);
  });

  it('the same object in sibling positions is not a cycle', () => {
    const leaf = [1, 2];
    const back = roundTrip([leaf, [leaf, { leaf }]], { tree: true });
    expect(back).toEqual([[1, 2], [[1, 2], { leaf: [1, 2] }]]);
  });

  it('the same typed array twice becomes two copies', () => {
    const t = new Int32Array([7]);
    const back = roundTrip({ a: t, b: t }, { tree: true, blobThreshold: 0 });
    expect(back.a).not.toBe(back.b);
    expect([...back.b]).toEqual([7]);
  });
});
