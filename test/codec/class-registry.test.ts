/**
 * @module test/codec/class-registry
 *
 * ClassRegistry: names, exact-prototype lookup, duplicates and refused classes.
 */

import { describe, expect, it } from 'vitest';

import { ClassRegistry } from '../../src/codec/class-registry.js';
import { ErrorCodes } from '../../src/errors.js';
import { expectCkptError } from '../helpers/codec.js';

describe('ClassRegistry', () => {
  class A {}
  class B extends A {}

  it('registers under ctor.name or an explicit name, by exact prototype', () => {
    const r = new ClassRegistry();
    r.register(A);
    r.register(B, 'my.B');
    expect(r.nameOf(A.prototype)).toBe('A');
    expect(r.nameOf(B.prototype)).toBe('my.B');
    expect(r.protoOf('A')).toBe(A.prototype);
    expect(r.protoOf('my.B')).toBe(B.prototype);
    expect(r.protoOf('B')).toBeUndefined();
    expect(r.names()).toEqual(['A', 'my.B']);
  });

  it('a subclass is not found through its base class', () => {
    const r = new ClassRegistry();
    r.register(A);
    expect(r.nameOf(B.prototype)).toBeUndefined();
    expect(r.nameOf(Object.prototype)).toBeUndefined();
  });

  it('duplicate name or duplicate class → DUPLICATE_ID', () => {
    const r = new ClassRegistry();
    r.register(A);
    expectCkptError(() => r.register(B, 'A'), ErrorCodes.DUPLICATE_ID);
    expectCkptError(() => r.register(A, 'other'), ErrorCodes.DUPLICATE_ID);
    expect(r.names()).toEqual(['A']);
  });

  it('empty names, non-classes and built-ins with internal state → INVALID_ARGUMENT', () => {
    const r = new ClassRegistry();
    expectCkptError(() => r.register(A, ''), ErrorCodes.INVALID_ARGUMENT);
    const anonymous = (() => class {})();
    expect(anonymous.name).toBe('');
    expectCkptError(() => r.register(anonymous), ErrorCodes.INVALID_ARGUMENT);
    r.register(anonymous, 'Anon');
    const arrow = (() => 1) as unknown as new () => object;
    expectCkptError(() => r.register(arrow, 'arrow'), ErrorCodes.INVALID_ARGUMENT);
    for (const builtin of [Map, Date, Array, Uint8Array, Error, Object, Promise]) {
      expectCkptError(() => r.register(builtin, `x${builtin.name}`), ErrorCodes.INVALID_ARGUMENT);
    }
    class MyMap extends Map<string, number> {}
    class MyErr extends TypeError {}
    class Pixels extends Float32Array {}
    for (const sub of [MyMap, MyErr, Pixels]) {
      const err = expectCkptError(() => r.register(sub), ErrorCodes.INVALID_ARGUMENT);
      expect(err.message).toContain('extends the built-in');
    }
  });
});
