/**
 * @module test/codec/unserializable-all
 *
 * A refused state names every unserializable value in it, not only the
 * first: `CkptError.errors` holds one error per value (path, what it is,
 * what to do — the wording of a single refusal), up to MAX_REPORTED, and the
 * message names the first and counts the others.
 */

import { describe, expect, it } from 'vitest';

import { MAX_REPORTED, encodeState } from '../../src/codec/encode.js';
import { CkptError, ErrorCodes } from '../../src/errors.js';
import { encOptions, expectCkptError } from '../helpers/codec.js';

class Unregistered {
  x = 1;
}

const FUNCTION_ADVICE = 'is a function; functions cannot be checkpointed — remove it from the state returned by snapshot() or rebuild it in restore()';

describe('every unserializable value is reported', () => {
  it('three values in different places: all three paths, each with its own advice', () => {
    const state = {
      config: { onChange: () => 0 },
      items: [1, 2, new Unregistered()],
      index: new Map<string, unknown>([['k', Symbol('s')]]),
    };
    const err = expectCkptError(() => encodeState(state, encOptions()), ErrorCodes.UNSERIALIZABLE);
    expect(err.errors!.map((e) => (e as CkptError).where)).toEqual(['config.onChange', 'items[2]', 'index.get("k")']);
    expect(err.errors!.every((e) => e instanceof CkptError && e.code === ErrorCodes.UNSERIALIZABLE)).toBe(true);
    expect(err.errors![0]!.message).toBe(`config.onChange ${FUNCTION_ADVICE}`);
    expect(err.errors![1]!.message).toMatch(/^items\[2\] is an instance of class Unregistered, which is not registered — register it/);
    expect(err.errors![2]!.message).toMatch(/^index\.get\("k"\) is a symbol;/);
    // The first one's message and where, then the others named and counted.
    expect(err.where).toBe('config.onChange');
    expect(err.message).toBe(
      `config.onChange ${FUNCTION_ADVICE}; and 2 more unserializable values (items[2], index.get("k")) — each is described in error.errors`,
    );
  });

  it(`25 values: the first ${String(MAX_REPORTED)} described, all 25 counted`, () => {
    const state: Record<string, unknown> = {};
    for (let i = 0; i < 25; i++) state[`f${String(i)}`] = (): number => i;
    const err = expectCkptError(() => encodeState(state, encOptions()), ErrorCodes.UNSERIALIZABLE);
    expect(err.errors).toHaveLength(MAX_REPORTED);
    expect(err.errors!.map((e) => (e as CkptError).where)).toEqual(Array.from({ length: MAX_REPORTED }, (_, i) => `f${String(i)}`));
    expect(err.message).toMatch(/^f0 is a function;/);
    expect(err.message).toContain('; and 24 more unserializable values (f1, f2, f3, f4, f5, …)');
    expect(err.message).toContain(`the first ${String(MAX_REPORTED)} are described in error.errors`);
  });

  it('one value alone: the same error as always, no errors list', () => {
    const err = expectCkptError(() => encodeState({ a: [1, { b: () => 0 }] }, encOptions()), ErrorCodes.UNSERIALIZABLE);
    expect(err.message).toBe(`a[1].b ${FUNCTION_ADVICE}`);
    expect(err.where).toBe('a[1].b');
    expect(err.errors).toBeUndefined();
  });

  it('a bad container is reported once; what is inside it is not walked', () => {
    const state = { a: new Unregistered(), b: { c: new WeakMap() }, d: [Promise.resolve(1)] };
    const err = expectCkptError(() => encodeState(state, encOptions()), ErrorCodes.UNSERIALIZABLE);
    expect(err.errors!.map((e) => (e as CkptError).where)).toEqual(['a', 'b.c', 'd[0]']);
  });

  it('deep values, Map keys, Set items, sparse arrays and getters, in encoding order', () => {
    let deep: unknown = { leaf: Symbol('deep') };
    for (let i = 0; i < 100; i++) deep = [deep];
    const sparse: unknown[] = [];
    sparse[500] = (): number => 1;
    const thrower = {
      get boom(): number {
        throw new Error('nope');
      },
    };
    const state = { deep, m: new Map([[() => 0, 1]]), s: new Set([1, new WeakSet()]), sparse, thrower };
    const err = expectCkptError(() => encodeState(state, encOptions({ maxDepth: 1000 })), ErrorCodes.UNSERIALIZABLE);
    expect(err.errors!.map((e) => (e as CkptError).where)).toEqual([
      `deep${'[0]'.repeat(100)}.leaf`,
      'm{key 0}',
      's{item 1}',
      'sparse[500]',
      'thrower.boom',
    ]);
    const last = err.errors![4] as CkptError;
    expect(last.message).toBe('thrower.boom could not be read: nope — make snapshot() return plain data');
    expect((last.cause as Error).message).toBe('nope');
  });

  it('tree mode: every cycle and every value beyond maxDepth', () => {
    const a: Record<string, unknown> = { name: 'a' };
    a['self'] = a;
    const b: unknown[] = [];
    b.push([b]);
    const tooDeep = { x: { y: { z: {} } } };
    const err = expectCkptError(() => encodeState({ a, b, tooDeep, ok: 1 }, encOptions({ tree: true, maxDepth: 3 })), ErrorCodes.UNSERIALIZABLE);
    expect(err.errors!.map((e) => (e as CkptError).where)).toEqual(['a.self', 'b[0][0]', 'tooDeep.x.y']);
    expect(err.errors![0]!.message).toMatch(/^cycle at a\.self: it refers back to a,/);
    expect(err.errors![2]!.message).toContain('is nested deeper than maxDepth (3)');
  });

  it('identity mode: a value reached twice is reported once', () => {
    const bad = { f: (): number => 1 };
    const err = expectCkptError(() => encodeState({ a: bad, b: bad, c: [bad] }, encOptions()), ErrorCodes.UNSERIALIZABLE);
    expect(err.message).toBe(`a.f ${FUNCTION_ADVICE}`);
    expect(err.errors).toBeUndefined();
  });

  it('errors other than unserializable values are not collected', () => {
    const err = expectCkptError(() => encodeState({ f: () => 0 }, { ...encOptions(), maxDepth: 0 }), ErrorCodes.INVALID_ARGUMENT);
    expect(err.errors).toBeUndefined();
  });
});
