/**
 * Small CLI pieces: `ckpt ls` agrees with restore() about images over a
 * reader limit (restore() skips them with CKPT_WARN_IMAGE_SKIPPED, so ls must
 * not say restore() fails on them), a huge BigInt is converted to hex once,
 * and hasUnsafeText keeps no state between calls.
 */
import { afterEach, describe, expect, it, vi } from 'vitest';
import { ErrorCodes } from '../../src/index.js';
import { restoreSkips, statusOf, type ImageCheck } from '../../src/cli/check.js';
import { limitSkipped } from '../../src/cli/commands/ls.js';
import { hasUnsafeText, escapeText } from '../../src/cli/escape.js';
import { bigintBits, bigintText, BIGINT_DECIMAL_MAX_BITS } from '../../src/cli/values.js';
import { FALLBACK_CODES } from '../../src/lifecycle/restore-run.js';

afterEach(() => {
  vi.restoreAllMocks();
});

function check(id: string, codes: readonly string[]): ImageCheck {
  const problems = codes.map((code) => ({ code, where: 'segment 1', message: `${code} here` }));
  return { id, path: `/s/${id}.ckpt`, bytes: 100, header: null, info: null, verified: true, problems, segmentsChecked: 1, providersDecoded: 0, status: statusOf(problems) };
}

describe('ckpt ls and restore() agree on what is skipped', () => {
  it('an image over a reader limit is skipped, as restore() skips it, not an image restore() fails on', () => {
    expect(restoreSkips([{ code: ErrorCodes.LIMIT, where: 'trailer', message: 'index too large' }])).toBe(true);
    expect(restoreSkips([{ code: ErrorCodes.FORMAT_NEWER, where: 'header', message: 'newer' }])).toBe(false);
  });

  it('every code: ls skips exactly what restore() falls back past', () => {
    for (const code of Object.values(ErrorCodes)) {
      expect(restoreSkips([{ code, where: 'x', message: 'y' }]), code).toBe(FALLBACK_CODES.has(code));
    }
  });

  it('names the images newer than the pick that only a reader limit made restore() skip', () => {
    const images = [check('5', [ErrorCodes.LIMIT]), check('4', [ErrorCodes.CORRUPT]), check('3', [ErrorCodes.CORRUPT, ErrorCodes.LIMIT]), check('2', []), check('1', [ErrorCodes.LIMIT])];
    expect(limitSkipped(images, '2')).toEqual(['5', '3']);
    expect(limitSkipped(images, '5')).toEqual([]);
    expect(limitSkipped(images, null)).toEqual(['5', '3', '1']);
    expect(limitSkipped([], null)).toEqual([]);
  });
});

describe('bigintText', () => {
  it('converts a huge BigInt to hexadecimal once', () => {
    const huge = (1n << BigInt(BIGINT_DECIMAL_MAX_BITS + 100)) + 0xabcn;
    const toString = vi.spyOn(BigInt.prototype, 'toString');
    const text = bigintText(-huge);
    const calls = toString.mock.calls.length;
    toString.mockRestore();
    expect(calls).toBe(1);
    expect(text).toBe(`-0x1${'0'.repeat(15)}…n (${BIGINT_DECIMAL_MAX_BITS + 101} bits)`);
    expect(bigintBits(huge)).toBe(BIGINT_DECIMAL_MAX_BITS + 101);
  });

  it('widths from the leading hex digit: 1, 2, 3 and 4 bits', () => {
    for (const [lead, extra] of [[1n, 1], [3n, 2], [7n, 3], [15n, 4]] as const) {
      const b = lead << BigInt(BIGINT_DECIMAL_MAX_BITS);
      expect(bigintText(b)).toMatch(new RegExp(`\\(${BIGINT_DECIMAL_MAX_BITS + extra} bits\\)$`));
      expect(bigintBits(b)).toBe(BIGINT_DECIMAL_MAX_BITS + extra);
    }
    expect(bigintText(12n)).toBe('12n');
    expect(bigintText(-(1n << 4096n) + 1n)).toBe(`${(-(1n << 4096n) + 1n).toString()}n`);
  });
});

describe('hasUnsafeText', () => {
  it('answers the same on repeated calls and between escapes (no state kept)', () => {
    const answers: boolean[] = [];
    for (let i = 0; i < 3; i++) {
      answers.push(hasUnsafeText('a\u001bb'), hasUnsafeText('plain'), hasUnsafeText('\u202e'));
      expect(escapeText('x\ny')).toBe('x\\ny');
    }
    expect(answers).toEqual([true, false, true, true, false, true, true, false, true]);
  });
});
