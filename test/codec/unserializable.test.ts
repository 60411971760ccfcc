/**
 * @module test/codec/unserializable
 *
 * Values the encoder refuses, each with the exact path in the message and in
 * `where`: functions, symbols, Promises, weak collections, shared memory,
 * Errors, unregistered classes, overlapping views, depth and stack limits.
 */

import { runInNewContext } from 'node:vm';

import { describe, expect, it } from 'vitest';

import { ClassRegistry } from '../../src/codec/class-registry.js';
import { decodeState } from '../../src/codec/decode.js';
import { encodeState } from '../../src/codec/encode.js';
import { ErrorCodes } from '../../src/errors.js';
import { decOptions, encOptions, expectCkptError } from '../helpers/codec.js';

function unserializable(value: unknown, o: Parameters<typeof encOptions>[0] = {}): { message: string; where: string | undefined } {
  const err = expectCkptError(() => encodeState(value, encOptions(o)), ErrorCodes.UNSERIALIZABLE);
  return { message: err.message, where: err.where };
}

class Unregistered {
  x = 1;
}

describe('unserializable values name their exact path', () => {
  it('function: particles[3].onHit', () => {
    const particles = [{}, {}, {}, { x: 1, onHit: () => 0 }];
    const { message, where } = unserializable({ particles });
    expect(message).toBe(
      'particles[3].onHit is a function; functions cannot be checkpointed — remove it from the state returned by snapshot() or rebuild it in restore()',
    );
    expect(where).toBe('particles[3].onHit');
  });

  it('the state itself', () => {
    const { message, where } = unserializable(() => 1);
    expect(message).toMatch(/^the state is a function;/);
    expect(where).toBe('(root)');
  });

  it.each([
    ['symbol', Symbol('s'), 'is a symbol;'],
    ['Promise', Promise.resolve(1), 'is a Promise;'],
    ['WeakMap', new WeakMap(), 'is a WeakMap;'],
    ['WeakSet', new WeakSet(), 'is a WeakSet;'],
    ['WeakRef', new WeakRef({}), 'is a WeakRef;'],
    ['SharedArrayBuffer', new SharedArrayBuffer(8), 'is a SharedArrayBuffer;'],
    ['view over a SharedArrayBuffer', new Int32Array(new SharedArrayBuffer(8)), 'is a view over a SharedArrayBuffer;'],
    ['boxed number', Object(1) as object, 'is a boxed Number object'],
    ['boxed string', Object('s') as object, 'is a boxed String object'],
    ['Error', new TypeError('boom'), 'is an Error (TypeError);'],
    ['unregistered class', new Unregistered(), 'is an instance of class Unregistered, which is not registered — register it with ckpt.registerClass(Unregistered)'],
    ['Array subclass', new (class Stack extends Array<number> {})(), 'is an instance of Stack, a subclass of Array'],
    ['typed array subclass', new (class Pixels extends Uint8Array {})(2), 'is an instance of Pixels, a subclass of Uint8Array'],
    ['generator', (function* gen() {})(), 'is an object with an unsupported prototype'],
  ])('%s', (_name, bad, text) => {
    const { message, where } = unserializable({ cfg: { 'my key': [0, new Map([['k', bad]])] } });
    expect(where).toBe('cfg["my key"][1].get("k")');
    expect(message.startsWith(`cfg["my key"][1].get("k") ${text}`), message).toBe(true);
  });

  it('inside a Set, a Map key, a class instance and a null-prototype object', () => {
    expect(unserializable({ s: new Set([1, 2, () => 0]) }).where).toBe('s{item 2}');
    expect(unserializable({ m: new Map<unknown, unknown>([[1, 1], [() => 0, 1]]) }).where).toBe('m{key 1}');
    expect(unserializable({ m: new Map<unknown, unknown>([[{}, () => 0]]) }).where).toBe('m{value 0}');
    expect(unserializable({ m: new Map<unknown, unknown>([[7, () => 0]]) }).where).toBe('m.get(7)');
    const classes = new ClassRegistry();
    class Holder {
      cb: unknown = () => 0;
    }
    classes.register(Holder);
    expect(unserializable({ h: new Holder() }, { classes }).where).toBe('h.cb');
    const np = Object.create(null) as Record<string, unknown>;
    np['bad key!'] = Symbol('x');
    expect(unserializable([np]).where).toBe('[0]["bad key!"]');
  });

  it('objects and arrays from another realm are named as such', () => {
    const foreign = runInNewContext('({ list: [1, 2], obj: { a: 1 } })') as { list: unknown; obj: unknown };
    expect(unserializable({ x: foreign.list }).message).toMatch(/^x is an array from another realm/);
    expect(unserializable({ x: foreign.obj }).message).toMatch(/^x is an object from another realm/);
  });

  it('a subclass of a registered class is not covered by its registration', () => {
    class Base {
      a = 1;
    }
    class Derived extends Base {}
    const classes = new ClassRegistry();
    classes.register(Base);
    const { message } = unserializable({ d: new Derived() }, { classes });
    expect(message).toContain('d is an instance of class Derived, which is not registered');
  });

  it('overlapping views of one ArrayBuffer name both paths', () => {
    const ab = new ArrayBuffer(32);
    const { message, where } = unserializable({ a: new Uint8Array(ab, 0, 16), b: { c: new Float32Array(ab, 8, 2) } });
    expect(where).toBe('b.c');
    expect(message).toMatch(/^a and b\.c are different views over overlapping bytes of one ArrayBuffer;/);
  });

  it('an ArrayBuffer together with a view over it counts as overlap, in either order', () => {
    const ab = new ArrayBuffer(8);
    const view = new Uint8Array(ab, 2, 2);
    expect(unserializable({ buf: ab, list: [view] }).message).toMatch(/^list\[0\] is a view over the ArrayBuffer buf;/);
    expect(unserializable({ list: [view], buf: ab }).message).toMatch(/^buf is an ArrayBuffer and list\[0\] is a view over it;/);
    const emptyView = new Uint8Array(ab, 0, 0);
    expect(unserializable([ab, emptyView]).where).toBe('[1]');
  });

  it('two distinct views with the same range overlap; a Buffer over a typed array overlaps it', () => {
    const f = new Float64Array(4);
    expect(unserializable([f, new Float64Array(f.buffer)]).where).toBe('[1]');
    const bytes = new Uint8Array(10);
    expect(unserializable({ t: bytes, b: Buffer.from(bytes.buffer, 3, 2) }).message).toMatch(/^t and b are different views/);
  });

  it('depth beyond maxDepth names the path', () => {
    const deep = { a: { b: { c: { d: [1] } } } };
    const { message, where } = unserializable(deep, { maxDepth: 4 });
    expect(where).toBe('a.b.c.d');
    expect(message).toContain('is nested deeper than maxDepth (4)');
    expect(() => encodeState(deep, encOptions({ maxDepth: 5 }))).not.toThrow();
  });

  it('maxDepth means the same on both sides: what encodes with N decodes with N', () => {
    let nested: unknown = 1;
    for (let i = 0; i < 50; i++) nested = [nested];
    expect(unserializable(nested, { maxDepth: 49 }).where).toBe('[0]'.repeat(49));
    const encoded = encodeState(nested, encOptions({ maxDepth: 50 }));
    expect(decodeState(encoded.stream, decOptions([], { maxDepth: 50 }))).toEqual(nested);
    expectCkptError(() => decodeState(encoded.stream, decOptions([], { maxDepth: 49 })), ErrorCodes.CORRUPT);
  });

  it('bad options are INVALID_ARGUMENT', () => {
    expectCkptError(() => encodeState(1, { ...encOptions(), maxDepth: 0 }), ErrorCodes.INVALID_ARGUMENT);
    expectCkptError(() => encodeState(1, { ...encOptions(), blobThreshold: NaN }), ErrorCodes.INVALID_ARGUMENT);
    expectCkptError(() => decodeState(new Uint8Array([1]), { ...decOptions([]), maxDepth: 1.5 }), ErrorCodes.INVALID_ARGUMENT);
  });

  it('a state deeper than the call stack encodes (the deep part is walked with a heap stack)', () => {
    let deep: unknown = [];
    for (let i = 0; i < 200_000; i++) deep = [deep];
    const { stream } = encodeState(deep, encOptions({ maxDepth: 1_000_000, tree: true }));
    // 200 000 one-element arrays (fixarray 0x91) around an empty one (0x90).
    expect(stream.length).toBe(200_001);
    expect(stream.subarray(0, 200_000).every((b) => b === 0x91)).toBe(true);
    expect(stream[200_000]).toBe(0x90);
  });

  it('a stack overflow inside a getter is converted to UNSERIALIZABLE', () => {
    const recurse = (): number => recurse() + 1;
    const state = {
      get x(): number {
        return recurse();
      },
    };
    const { message, where } = unserializable({ a: state });
    expect(where).toBe('a.x');
    expect(message).toMatch(/^a\.x is nested too deeply to encode \(the call stack overflowed\)/);
  });

  it('a throwing getter is reported with its path and cause', () => {
    const obj = {
      get broken(): number {
        throw new Error('nope');
      },
    };
    const err = expectCkptError(() => encodeState({ x: [obj] }, encOptions()), ErrorCodes.UNSERIALIZABLE);
    expect(err.message).toMatch(/^x\[0\]\.broken could not be read: nope/);
    expect((err.cause as Error).message).toBe('nope');
  });

  it('an encoding failure leaves the encoder usable', () => {
    expect(() => encodeState({ f: () => 0 }, encOptions())).toThrow();
    const ok = encodeState({ a: 1 }, encOptions());
    expect(ok.stream.length).toBeGreaterThan(0);
  });
});
