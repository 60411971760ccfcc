// Secret paths in the value codec: the path syntax, and what the encoder
// writes for each kind of container (plain, null-prototype, class instance,
// Map, array), for wildcards, escapes, deep states (the explicit-stack
// encoder) and shared objects — checked on the stream bytes and on decode.
import { describe, expect, it } from 'vitest';
import { ClassRegistry } from '../../src/codec/class-registry.js';
import { decodeState } from '../../src/codec/decode.js';
import { DEEP_FROM, encodeState } from '../../src/codec/encode.js';
import { parseSecretPath, parseSecretPaths } from '../../src/codec/secret.js';
import { ErrorCodes } from '../../src/errors.js';
import { copyBlobs, decOptions, encOptions } from '../helpers/codec.js';
import { expectThrowCode } from '../helpers/errors.js';

const S = 'S3CR3T-VALUE-91e2d3c4b5a6f708';

/** Encode `value` with `paths` secret; the stream and blobs must not contain S; returns the decoded value. */
function redactTrip(value: unknown, paths: string[], o: { tree?: boolean; classes?: ClassRegistry } = {}): unknown {
  const classes = o.classes ?? new ClassRegistry();
  const encoded = encodeState(value, { ...encOptions({ ...o, classes }), secret: parseSecretPaths(paths, 'p') });
  const all = Buffer.concat([encoded.stream, ...encoded.blobs.map((b) => b.bytes)]);
  expect(all.includes(Buffer.from(S)), 'the secret is in the encoded bytes').toBe(false);
  return decodeState(encoded.stream, decOptions(copyBlobs(encoded), { ...o, classes }));
}

describe('secret path syntax', () => {
  it('splits on dots, reads * as a wildcard segment and unescapes \\. \\* \\\\', () => {
    expect(parseSecretPath('apiKey', 'p').segments).toEqual(['apiKey']);
    expect(parseSecretPath('db.password', 'p').segments).toEqual(['db', 'password']);
    expect(parseSecretPath('tokens.*', 'p').segments).toEqual(['tokens', null]);
    expect(parseSecretPath('*.x', 'p').segments).toEqual([null, 'x']);
    expect(parseSecretPath('a\\.b.c', 'p').segments).toEqual(['a.b', 'c']);
    expect(parseSecretPath('\\*', 'p').segments).toEqual(['*']);
    expect(parseSecretPath('a\\\\.b', 'p').segments).toEqual(['a\\', 'b']);
  });

  it('rejects malformed paths with CKPT_ERR_INVALID_ARGUMENT naming the path', () => {
    for (const bad of ['', '.', 'a.', '.a', 'a..b', 'a\\', 'a\\b', 'a*', '**', '*\\*']) {
      const err = expectThrowCode(() => parseSecretPath(bad, 'p'), ErrorCodes.INVALID_ARGUMENT);
      expect(err.message).toContain(JSON.stringify(bad));
      expect(err.provider).toBe('p');
    }
  });

  it('drops duplicates', () => {
    expect(parseSecretPaths(['a', 'b', 'a'], 'p').map((x) => x.text)).toEqual(['a', 'b']);
  });
});

describe('secret paths in the encoder', () => {
  it.each([false, true])('plain, null-prototype and class-instance objects (tree: %s)', (tree) => {
    class Conn {
      host = 'h';
      password = S;
      set other(_v: unknown) {
        throw new Error('a setter must not run');
      }
    }
    const classes = new ClassRegistry();
    classes.register(Conn);
    const bare = Object.assign(Object.create(null) as Record<string, unknown>, { key: S, keep: 1 });
    const plain = { a: { b: { c: S, d: 2 } }, ['__proto__']: S } as Record<string, unknown>;
    Object.defineProperty(plain, '__proto__', { value: S, enumerable: true, writable: true, configurable: true });
    const state = { plain, bare, conn: new Conn() };
    const got = redactTrip(state, ['plain.a.b.c', 'plain.__proto__', 'bare.key', 'conn.password'], { tree, classes }) as typeof state;
    expect(got.plain['a']).toEqual({ b: { c: undefined, d: 2 } });
    expect(Object.getOwnPropertyDescriptor(got.plain, '__proto__')?.value).toBeUndefined();
    expect(Object.getPrototypeOf(got.plain)).toBe(Object.prototype);
    expect(Object.getPrototypeOf(got.bare)).toBe(null);
    expect({ ...got.bare }).toEqual({ key: undefined, keep: 1 });
    expect(got.conn).toBeInstanceOf(Conn);
    expect(got.conn.host).toBe('h');
    expect(got.conn.password).toBeUndefined();
    expect(state.plain['a']).toEqual({ b: { c: S, d: 2 } });
    expect(state.conn.password).toBe(S);
  });

  it('Maps: a string key, a wildcard (every value, keys kept, any key type); other keys untouched', () => {
    const objKey = { k: 1 };
    const state = {
      m: new Map<unknown, unknown>([
        ['password', S],
        ['user', 'u'],
        [1, 'one'],
      ]),
      all: new Map<unknown, unknown>([
        ['a', S],
        [objKey, { inner: S }],
      ]),
    };
    const got = redactTrip(state, ['m.password', 'all.*'], {}) as { m: Map<unknown, unknown>; all: Map<unknown, unknown> };
    expect([...got.m]).toEqual([
      ['password', undefined],
      ['user', 'u'],
      [1, 'one'],
    ]);
    expect([...got.all].map(([, v]) => v)).toEqual([undefined, undefined]);
    expect([...got.all].map(([k]) => k)).toEqual(['a', { k: 1 }]);
  });

  it('arrays: an index, a wildcard, a wildcard in the middle; holes stay holes', () => {
    // eslint-disable-next-line no-sparse-arrays
    const holey = [S, , S];
    const state = { list: ['keep', S], holey, users: [{ name: 'a', pw: S }, { name: 'b', pw: S }, 'not an object'] };
    const got = redactTrip(state, ['list.1', 'holey.*', 'users.*.pw'], {}) as typeof state;
    expect(got.list).toEqual(['keep', undefined]);
    expect(got.holey.length).toBe(3);
    expect(1 in got.holey).toBe(false);
    expect(0 in got.holey && got.holey[0] === undefined).toBe(true);
    expect(got.users).toEqual([{ name: 'a', pw: undefined }, { name: 'b', pw: undefined }, 'not an object']);
  });

  it('paths that lead nowhere leave everything as it is', () => {
    const state = { a: { b: 'x' }, s: 'str', n: null, set: new Set([S.slice(0, 3)]) };
    const encoded = encodeState(state, { ...encOptions(), secret: parseSecretPaths(['zz', 'zz.y.x', 'a.c', 's.length', 'n.x', 'set.0', 'a.b.c'], 'p') });
    const plainEnc = encodeState(state, encOptions());
    expect(Buffer.from(encoded.stream).equals(Buffer.from(plainEnc.stream))).toBe(true);
  });

  it('escaped keys: a key with a dot and a key that is a star', () => {
    const state = { 'a.b': S, a: { b: 'keep' }, '*': S, other: 'keep' };
    const got = redactTrip(state, ['a\\.b', '\\*'], {});
    expect(got).toEqual({ 'a.b': undefined, a: { b: 'keep' }, '*': undefined, other: 'keep' });
  });

  it.each([false, true])('a secret deeper than the recursive encoder goes (explicit-stack encoder, tree: %s)', (tree) => {
    const depth = DEEP_FROM + 20;
    const root: Record<string, unknown> = {};
    let node = root;
    const keys: string[] = [];
    for (let i = 0; i < depth; i++) {
      const next: Record<string, unknown> = {};
      node['n'] = next;
      keys.push('n');
      node = next;
    }
    node['pw'] = S;
    node['keep'] = 'k';
    const got = redactTrip(root, [[...keys, 'pw'].join('.')], { tree }) as Record<string, unknown>;
    let g = got;
    for (let i = 0; i < depth; i++) g = g['n'] as Record<string, unknown>;
    expect(g).toEqual({ pw: undefined, keep: 'k' });
  });

  it('identity mode: an object holding a secret stays shared, and a cycle through it survives', () => {
    const db: Record<string, unknown> = { password: S };
    db['self'] = db;
    const state = { db, again: db, list: [db] };
    const got = redactTrip(state, ['db.password'], {}) as { db: Record<string, unknown>; again: unknown; list: unknown[] };
    expect(got.again).toBe(got.db);
    expect(got.list[0]).toBe(got.db);
    expect(got.db['self']).toBe(got.db);
    expect(got.db['password']).toBeUndefined();
  });

  it('wildcards over shared objects visit each object once per level (a DAG of 10^24 paths resolves)', () => {
    // 24 levels, each node's 10 members all the same next node: 10^24 paths, 24 distinct objects.
    let node: Record<string, unknown> = { pw: S, keep: 1 };
    const bottom = node;
    for (let level = 0; level < 24; level++) {
      const up: Record<string, unknown> = {};
      for (let k = 0; k < 10; k++) up[`m${k}`] = node;
      node = up;
    }
    const got = redactTrip(node, [[...Array.from({ length: 24 }, () => '*'), 'pw'].join('.')], {}) as Record<string, unknown>;
    let g = got;
    for (let level = 0; level < 24; level++) g = g['m7'] as Record<string, unknown>;
    expect(g).toEqual({ pw: undefined, keep: 1 });
    expect(bottom['pw']).toBe(S);
  });

  it('a secret path that leads back to the root leaves out that reference only, not the whole state', () => {
    const state: Record<string, unknown> = { keep: 'k', a: {} };
    (state['a'] as Record<string, unknown>)['up'] = state;
    state['again'] = state;
    const got = redactTrip(state, ['a.up'], {}) as Record<string, unknown>;
    expect(got['keep']).toBe('k');
    expect(got['a']).toEqual({ up: undefined });
    expect(got['again']).toBe(got);
  });

  it('tree mode: a cycle through an object holding a secret is still refused as a cycle', () => {
    const db: Record<string, unknown> = { password: S };
    db['self'] = db;
    const err = expectThrowCode(() => encodeState({ db }, { ...encOptions({ tree: true }), secret: parseSecretPaths(['db.password'], 'p') }), ErrorCodes.UNSERIALIZABLE);
    expect(err.message).toContain('cycle');
  });

  it('a large secret typed array is neither inline nor a blob; a small one is not inline', () => {
    const big = new Float64Array(4096).fill(1.2345678901234567);
    const small = Buffer.from(S);
    const encoded = encodeState({ big, small, n: 1 }, { ...encOptions({ blobThreshold: 1024 }), secret: parseSecretPaths(['big', 'small'], 'p') });
    expect(encoded.blobs).toEqual([]);
    expect(Buffer.from(encoded.stream).includes(Buffer.from(S))).toBe(false);
    expect(decodeState(encoded.stream, decOptions([]))).toEqual({ big: undefined, small: undefined, n: 1 });
  });

  it('refuses another view of a secret binary value (ArrayBuffer or overlapping view); a disjoint view of the same buffer is fine', () => {
    const buf = new ArrayBuffer(64);
    const key = new Uint8Array(buf, 0, 16);
    for (const other of [new Uint8Array(buf, 8, 16), buf, new DataView(buf, 15, 1)]) {
      const err = expectThrowCode(() => encodeState({ key, other }, { ...encOptions(), secret: parseSecretPaths(['key'], 'p') }), ErrorCodes.UNSERIALIZABLE);
      expect(err.message).toContain('shares memory with the secret value at "key"');
      expect(err.where).toBe('other');
    }
    const ok = encodeState({ key, other: new Uint8Array(buf, 16, 16) }, { ...encOptions(), secret: parseSecretPaths(['key'], 'p') });
    expect(decodeState(ok.stream, decOptions(copyBlobs(ok)))).toEqual({ key: undefined, other: new Uint8Array(16) });
  });
});
