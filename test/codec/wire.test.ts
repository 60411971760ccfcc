/**
 * @module test/codec/wire
 *
 * Byte-level checks of the value encoding: the test vectors printed in
 * docs/value-encoding.md, integer/float/string/ext forms, one-msgpack-value
 * streams, determinism and memory ownership of the output.
 */

import { readFileSync } from 'node:fs';

import { describe, expect, it } from 'vitest';

import { ClassRegistry } from '../../src/codec/class-registry.js';
import { decodeState } from '../../src/codec/decode.js';
import { encodeState } from '../../src/codec/encode.js';
import { BinaryKind, Ext } from '../../src/codec/types.js';
import { decOptions, encOptions, hex } from '../helpers/codec.js';

function enc(value: unknown, o: Parameters<typeof encOptions>[0] = {}): string {
  return hex(encodeState(value, encOptions(o)).stream);
}

/**
 * An independent, generic msgpack walker (ext payloads are opaque): returns
 * the offset after the value at `p`, or throws. Used to prove that every
 * stream is exactly one valid msgpack value.
 */
function skip(b: Uint8Array, p: number): number {
  const need = (n: number): void => {
    if (p + n > b.length) throw new Error(`truncated at ${String(p)}`);
  };
  need(1);
  const t = b[p] as number;
  const dv = new DataView(b.buffer, b.byteOffset, b.byteLength);
  const items = (n: number, at: number): number => {
    let q = at;
    for (let i = 0; i < n; i++) q = skip(b, q);
    return q;
  };
  if (t < 0x80 || t >= 0xe0 || t === 0xc0 || t === 0xc2 || t === 0xc3) return p + 1;
  if (t >= 0x80 && t < 0x90) return items((t & 15) * 2, p + 1);
  if (t >= 0x90 && t < 0xa0) return items(t & 15, p + 1);
  if (t >= 0xa0 && t < 0xc0) return p + 1 + (t & 31);
  switch (t) {
    case 0xcc: case 0xd0: return p + 2;
    case 0xcd: case 0xd1: return p + 3;
    case 0xca: case 0xce: case 0xd2: return p + 5;
    case 0xcb: case 0xcf: case 0xd3: return p + 9;
    case 0xd9: need(2); return p + 2 + dv.getUint8(p + 1);
    case 0xda: need(3); return p + 3 + dv.getUint16(p + 1);
    case 0xdb: need(5); return p + 5 + dv.getUint32(p + 1);
    case 0xdc: need(3); return items(dv.getUint16(p + 1), p + 3);
    case 0xdd: need(5); return items(dv.getUint32(p + 1), p + 5);
    case 0xde: need(3); return items(dv.getUint16(p + 1) * 2, p + 3);
    case 0xdf: need(5); return items(dv.getUint32(p + 1) * 2, p + 5);
    case 0xd4: return p + 3;
    case 0xd5: return p + 4;
    case 0xd6: return p + 6;
    case 0xd7: return p + 10;
    case 0xd8: return p + 18;
    case 0xc7: need(2); return p + 3 + dv.getUint8(p + 1);
    case 0xc8: need(3); return p + 4 + dv.getUint16(p + 1);
    case 0xc9: need(5); return p + 6 + dv.getUint32(p + 1);
    default: throw new Error(`bad byte 0x${t.toString(16)} at ${String(p)}`);
  }
}

function expectOneMsgpackValue(stream: Uint8Array): void {
  expect(skip(stream, 0)).toBe(stream.length);
}

/** The test vectors printed in docs/value-encoding.md. */
const VECTOR_1 = '83 a1 61 01 a1 62 92 c3 c0 a1 6d c9 00 00 00 04 10 92 01 a1 78';
const VECTOR_2 =
  '9d 81 a1 73 a1 78 d6 03 01 00 00 00 d4 01 00 cb 80 00 00 00 00 00 00 00 c7 03 04 00 00 01 ' +
  'd7 05 00 00 00 00 00 00 00 00 c7 02 06 00 d8 c9 00 00 00 05 14 07 01 00 02 00 ' +
  'c9 00 00 00 02 11 91 c3 c9 00 00 00 05 12 92 a1 61 a1 67 c9 00 00 00 07 13 92 a1 50 81 a1 78 01 ' +
  'c9 00 00 00 04 16 81 a1 6b 02 93 01 d4 02 00 03';
const VECTOR_3 = '81 a3 62 69 67 c7 05 15 0a 00 00 00 00';

class P {
  x = 1;
}

function vector2Value(): unknown[] {
  const shared = { s: 'x' };
  const np = Object.create(null) as Record<string, unknown>;
  np['k'] = 2;
  // eslint-disable-next-line no-sparse-arrays
  return [shared, shared, undefined, -0, 256n, new Date(0), '\ud800', new Uint16Array([1, 2]), new Set([true]), /a/g, new P(), np, [1, , 3]];
}

describe('test vectors (docs/value-encoding.md)', () => {
  const spaced = (h: string): string => h.replace(/ /g, '');

  it('vector 1: { a: 1, b: [true, null], m: new Map([[1, "x"]]) } in identity mode', () => {
    const value = { a: 1, b: [true, null], m: new Map([[1, 'x']]) };
    expect(enc(value)).toBe(spaced(VECTOR_1));
    const back = decodeState(Buffer.from(spaced(VECTOR_1), 'hex'), decOptions([])) as typeof value;
    expect(back).toEqual(value);
  });

  it('vector 2: every extension type', () => {
    const classes = new ClassRegistry();
    classes.register(P);
    expect(enc(vector2Value(), { classes })).toBe(spaced(VECTOR_2));
    const back = decodeState(Buffer.from(spaced(VECTOR_2), 'hex'), decOptions([], { classes })) as unknown[];
    expect(back[0]).toBe(back[1]);
    expect(Object.is(back[3], -0)).toBe(true);
    expect(back[10]).toBeInstanceOf(P);
  });

  it('vector 3: a blob reference', () => {
    const encoded = encodeState({ big: new Float32Array([1]) }, encOptions({ blobThreshold: 4 }));
    expect(hex(encoded.stream)).toBe(spaced(VECTOR_3));
    expect(encoded.blobs).toHaveLength(1);
    expect(encoded.blobs[0]?.kind).toBe(BinaryKind.Float32Array);
    expect(hex(encoded.blobs[0]?.bytes ?? new Uint8Array())).toBe('0000803f');
  });

  it('the spec document prints exactly these vectors', () => {
    const doc = readFileSync(new URL('../../docs/value-encoding.md', import.meta.url), 'utf8');
    for (const v of [VECTOR_1, VECTOR_2, VECTOR_3]) {
      // The doc wraps long vectors over several lines.
      expect(doc.replace(/\s+/g, ' ')).toContain(v);
    }
  });
});

describe('numbers', () => {
  it.each([
    [0, '00'],
    [127, '7f'],
    [128, 'cc80'],
    [255, 'ccff'],
    [256, 'cd0100'],
    [65535, 'cdffff'],
    [65536, 'ce00010000'],
    [2 ** 31, 'ce80000000'],
    [2 ** 32 - 1, 'ceffffffff'],
    [2 ** 32, 'cf0000000100000000'],
    [Number.MAX_SAFE_INTEGER, 'cf001fffffffffffff'],
    [-1, 'ff'],
    [-32, 'e0'],
    [-33, 'd0df'],
    [-128, 'd080'],
    [-129, 'd1ff7f'],
    [-32768, 'd18000'],
    [-32769, 'd2ffff7fff'],
    [-(2 ** 31), 'd280000000'],
    [-(2 ** 31) - 1, 'd3ffffffff7fffffff'],
    [Number.MIN_SAFE_INTEGER, 'd3ffe0000000000001'],
    [-0, 'cb8000000000000000'],
    [0.5, 'cb3fe0000000000000'],
    [NaN, 'cb7ff8000000000000'],
    [Infinity, 'cb7ff0000000000000'],
    [-Infinity, 'cbfff0000000000000'],
    [2 ** 53, 'cb4340000000000000'],
  ])('%d → %s', (value, expected) => {
    expect(enc(value)).toBe(expected);
    expect(Object.is(decodeState(Buffer.from(expected, 'hex'), decOptions([])), value)).toBe(true);
  });

  it('never writes float32', () => {
    for (const v of [1.5, 0.1, 3.4e38, 1e-40]) expect(enc(v).slice(0, 2)).toBe('cb');
  });
});

describe('strings', () => {
  it.each([
    ['', 'a0'],
    ['a', 'a161'],
    ['x'.repeat(31), `bf${'78'.repeat(31)}`],
    ['x'.repeat(32), `d920${'78'.repeat(32)}`],
    ['x'.repeat(255), `d9ff${'78'.repeat(255)}`],
    ['x'.repeat(256), `da0100${'78'.repeat(256)}`],
    ['x'.repeat(65536), `db00010000${'78'.repeat(65536)}`],
    ['é', 'a2c3a9'],
    ['é'.repeat(15), `be${'c3a9'.repeat(15)}`], // 30 bytes: the header shrinks back to fixstr
    ['é'.repeat(20), `d928${'c3a9'.repeat(20)}`],
    ['😀', 'a4f09f9880'],
    ['\ud800', 'c70206' + '00d8'],
    ['a\udc00', 'c70406' + '610000dc'],
  ])('%j', (value, expected) => {
    expect(enc(value)).toBe(expected);
    expect(decodeState(Buffer.from(expected, 'hex'), decOptions([]))).toBe(value);
  });
});

describe('extension forms', () => {
  it('undefined, hole, REF, DATE, BIGINT', () => {
    expect(enc(undefined)).toBe('d40100');
    // eslint-disable-next-line no-sparse-arrays
    expect(enc([, 1])).toBe('92d4020001');
    const o = {};
    expect(enc([o, o])).toBe('9280d60301000000'); // the array is id 0, o is id 1
    expect(enc(new Date(1))).toBe('d705000000000000f03f');
    expect(enc(new Date(NaN))).toBe('d705000000000000f87f');
    expect(enc(0n)).toBe('c7010400');
    expect(enc(-1n)).toBe('c702040101');
    expect(enc(2n ** 64n)).toBe('c70a0400' + '0000000000000000' + '01');
  });

  it('binary inline (BYTES) and as blob (BLOB) at the threshold boundary', () => {
    const u16 = new Uint16Array([1, 0x0203]);
    expect(enc(u16, { blobThreshold: 5 })).toBe(`c900000005${'14'}07${'0100'}${'0302'}`);
    expect(enc(u16, { blobThreshold: 4 })).toBe('c7051507' + '00000000');
    const two = encodeState([u16, new Int8Array(4)], encOptions({ blobThreshold: 4 }));
    expect(hex(two.stream)).toBe('92' + 'c705150700000000' + 'c705150301000000');
  });

  it('container exts are ext32 with a backpatched length', () => {
    const big = new Map<number, string>();
    for (let i = 0; i < 1000; i++) big.set(i, 'v'.repeat(i % 50));
    const stream = encodeState({ big, s: new Set([1]) }, encOptions()).stream;
    expectOneMsgpackValue(stream);
    // The MAP payload is itself exactly one msgpack array.
    const start = 1 + 4; // fixmap, fixstr "big"
    expect(stream[start]).toBe(0xc9);
    const len = Buffer.from(stream).readUInt32BE(start + 1);
    expect(stream[start + 5]).toBe(Ext.MAP);
    expect(skip(stream.subarray(start + 6, start + 6 + len), 0)).toBe(len);
  });

  it('every stream is exactly one msgpack value', () => {
    const classes = new ClassRegistry();
    classes.register(P);
    for (const v of [vector2Value(), { deep: [[[new Map([[{}, new Set([/x/])]])]]] }, 'x'.repeat(70000), new Float64Array(300)]) {
      expectOneMsgpackValue(encodeState(v, encOptions({ classes })).stream);
    }
  });
});

describe('determinism and memory ownership', () => {
  const state = (): unknown => ({
    list: Array.from({ length: 500 }, (_, i) => ({ i, s: `n${String(i)}`, f: i / 3, t: [i, -i] })),
    m: new Map([['a', new Date(5)]]),
    big: 12345678901234567890n,
  });

  it('encoding the same state twice yields identical bytes', () => {
    const s = state();
    const a = encodeState(s, encOptions());
    const b = encodeState(s, encOptions());
    const c = encodeState(state(), encOptions());
    expect(hex(a.stream)).toBe(hex(b.stream));
    expect(hex(a.stream)).toBe(hex(c.stream));
  });

  it('streams own their memory and never share it', () => {
    // Small (reused scratch buffer, copied out), large and copied (much slack),
    // large and handed over (little slack).
    const handedOver = { big: 'y'.repeat(50 * 1024 * 1024) };
    for (const s of [state(), { big: 'y'.repeat(20 * 1024 * 1024) }, handedOver]) {
      const a = encodeState(s, encOptions()).stream;
      // The 50 MiB stream is the grown buffer itself (little slack), not a copy.
      if (s === handedOver) expect(a.buffer.byteLength).toBeGreaterThan(a.byteLength);
      const b = encodeState(s, encOptions()).stream;
      expect(a.buffer).not.toBe(b.buffer);
      expect(a.byteOffset).toBe(0);
      expect(a.buffer.byteLength).toBeLessThanOrEqual(Math.ceil(a.byteLength * 1.34));
      const copy = Buffer.from(b);
      a.fill(0);
      expect(Buffer.from(b.buffer, b.byteOffset, b.byteLength).equals(copy)).toBe(true);
    }
    const small = encodeState({ a: 1 }, encOptions()).stream;
    expect(small.buffer.byteLength).toBe(small.byteLength); // not a slice of Node's pool
  });
});
