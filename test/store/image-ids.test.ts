import { describe, it, expect } from 'vitest';
import {
  IMAGE_ID_DIGITS,
  MAX_IMAGE_SEQUENCE,
  compareImageIds,
  formatImageId,
  isImageId,
  nextImageId,
  parseImageId,
} from '../../src/store/image-ids.js';
import { ErrorCodes, isCkptError } from '../../src/errors.js';

function codeOf(fn: () => unknown): string | undefined {
  try {
    fn();
  } catch (err) {
    return isCkptError(err) ? err.code : 'not a CkptError';
  }
  return undefined;
}

describe('image ids', () => {
  it('format and parse 12-digit zero-padded sequence numbers', () => {
    expect(IMAGE_ID_DIGITS).toBe(12);
    expect(formatImageId(1)).toBe('000000000001');
    expect(formatImageId(MAX_IMAGE_SEQUENCE)).toBe('999999999999');
    expect(parseImageId('000000000042')).toBe(42);
    for (const n of [1, 9, 10, 123_456_789, MAX_IMAGE_SEQUENCE]) expect(parseImageId(formatImageId(n))).toBe(n);
  });

  it('reject malformed ids with CKPT_ERR_INVALID_ARGUMENT', () => {
    for (const bad of ['', '1', '00000000001', '0000000000001', '000000000000', '00000000000a', ' 00000000001', '+00000000001', '1e0000000000']) {
      expect(isImageId(bad)).toBe(false);
      expect(codeOf(() => parseImageId(bad))).toBe(ErrorCodes.INVALID_ARGUMENT);
    }
    expect(isImageId(12)).toBe(false);
    for (const bad of [0, -1, 1.5, Number.NaN, MAX_IMAGE_SEQUENCE + 1]) {
      expect(codeOf(() => formatImageId(bad))).toBe(ErrorCodes.INVALID_ARGUMENT);
    }
  });

  it('sort as strings in numeric order', () => {
    const ids = [10, 9, 100, 1, 99].map(formatImageId).sort(compareImageIds);
    expect(ids.map(Number)).toEqual([1, 9, 10, 99, 100]);
    expect(compareImageIds('000000000002', '000000000002')).toBe(0);
  });

  it('next id is the largest taken plus one', () => {
    expect(nextImageId([])).toBe('000000000001');
    expect(nextImageId([3, 7, 5])).toBe('000000000008');
    expect(codeOf(() => nextImageId([MAX_IMAGE_SEQUENCE]))).toBe(ErrorCodes.LIMIT);
  });
});
