/**
 * @module test/codec/bigint-limit
 *
 * `maxBigIntBytes`: a BigInt over the limit is UNSERIALIZABLE when written and
 * LIMIT when read, refused before its bytes are converted.
 */

import { describe, expect, it } from 'vitest';

import { decodeState } from '../../src/codec/decode.js';
import { encodeState } from '../../src/codec/encode.js';
import { DEFAULT_MAX_BIGINT_BYTES } from '../../src/codec/types.js';
import { ErrorCodes } from '../../src/errors.js';
import { decOptions, encOptions, expectCkptError } from '../helpers/codec.js';

/** A stream holding one BIGINT of `n` magnitude bytes (ext32, sign +, all 0xff). */
function bigintStream(n: number): Buffer {
  const head = Buffer.alloc(7);
  head[0] = 0xc9;
  head.writeUInt32BE(n + 1, 1);
  head[5] = 0x04;
  head[6] = 0;
  return Buffer.concat([head, Buffer.alloc(n, 0xff)]);
}

describe('maxBigIntBytes', () => {
  it('defaults to 1 MiB on both sides', () => {
    expect(DEFAULT_MAX_BIGINT_BYTES).toBe(1024 * 1024);
    const atLimit = (1n << BigInt(DEFAULT_MAX_BIGINT_BYTES * 8)) - 1n;
    const encoded = encodeState({ n: atLimit }, encOptions());
    expect(decodeState(encoded.stream, decOptions([]))).toEqual({ n: atLimit });
    const err = expectCkptError(() => encodeState({ n: [-(atLimit + 1n)] }, encOptions()), ErrorCodes.UNSERIALIZABLE);
    expect(err.where).toBe('n[0]');
    expect(err.message).toMatch(/more than maxBigIntBytes \(1048576\) bytes/);
  });

  it('a forged stream with a BigInt over the limit is LIMIT when read', () => {
    const err = expectCkptError(() => decodeState(bigintStream(DEFAULT_MAX_BIGINT_BYTES + 1), decOptions([])), ErrorCodes.LIMIT);
    expect(err.where).toBe('byte 0');
    expect(err.message).toMatch(/raise maxBigIntBytes/);
  });

  it('a smaller configured limit applies exactly at its boundary', () => {
    const fits = 2n ** 64n - 1n; // 8 bytes
    const over = 2n ** 64n; // 9 bytes
    expect(encodeState(fits, { ...encOptions(), maxBigIntBytes: 8 }).stream.length).toBeGreaterThan(8);
    expectCkptError(() => encodeState(over, { ...encOptions(), maxBigIntBytes: 8 }), ErrorCodes.UNSERIALIZABLE);
    const stream = encodeState(over, encOptions()).stream;
    expect(decodeState(stream, { ...decOptions([]), maxBigIntBytes: 9 })).toBe(over);
    expectCkptError(() => decodeState(stream, { ...decOptions([]), maxBigIntBytes: 8 }), ErrorCodes.LIMIT);
  });

  it('bad values of the option are INVALID_ARGUMENT', () => {
    expectCkptError(() => encodeState(1n, { ...encOptions(), maxBigIntBytes: -1 }), ErrorCodes.INVALID_ARGUMENT);
    expectCkptError(() => encodeState(1n, { ...encOptions(), maxBigIntBytes: 1.5 }), ErrorCodes.INVALID_ARGUMENT);
    expectCkptError(() => decodeState(bigintStream(1), { ...decOptions([]), maxBigIntBytes: NaN }), ErrorCodes.INVALID_ARGUMENT);
  });
});
