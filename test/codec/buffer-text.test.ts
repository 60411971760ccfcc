/**
 * @module test/codec/buffer-text
 *
 * The undocumented Buffer methods sit behind one feature check with a
 * documented fallback: both paths give the same bytes and the same values.
 */

import { afterEach, describe, expect, it } from 'vitest';

import { hasFastBufferText, useFastBufferText } from '../../src/codec/buffer-text.js';
import { decodeState } from '../../src/codec/decode.js';
import { encodeState } from '../../src/codec/encode.js';
import { decOptions, encOptions } from '../helpers/codec.js';

const state = {
  ascii: 'hello',
  keys: { short: 1, 'ключ': 2, '日本語のキー': 3 },
  long: 'x'.repeat(40) + 'é' + '€'.repeat(100) + '😀',
  huge: 'ab€'.repeat(30_000),
  lone: 'a\ud800b',
  list: ['α', 'β', 'γ', 'plain', 'x'.repeat(31)],
};

afterEach(() => {
  useFastBufferText(true);
});

describe('buffer text conversions', () => {
  it('the fallback writes the same bytes as the fast path and reads them back', () => {
    useFastBufferText(true);
    const fast = Buffer.from(encodeState(state, encOptions()).stream);
    expect(useFastBufferText(false)).toBe(false);
    const slow = Buffer.from(encodeState(state, encOptions()).stream);
    expect(slow.equals(fast)).toBe(true);
    expect(decodeState(slow, decOptions([]))).toEqual(state);
    useFastBufferText(true);
    expect(decodeState(slow, decOptions([]))).toEqual(state);
  });

  it('the feature check finds the fast methods on this Node (when present they are used)', () => {
    const proto = Buffer.prototype as unknown as Record<string, unknown>;
    expect(hasFastBufferText).toBe(['utf8Write', 'utf8Slice', 'latin1Slice', 'ucs2Slice'].every((m) => typeof proto[m] === 'function'));
    expect(useFastBufferText(true)).toBe(hasFastBufferText);
  });

  it('invalid UTF-8 is refused on the fallback path too', () => {
    useFastBufferText(false);
    expect(() => decodeState(Buffer.from([0xa2, 0xc3, 0x28]), decOptions([]))).toThrow(/not valid UTF-8/);
  });
});
