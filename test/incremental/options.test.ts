// The `incremental` option: accepted shapes, defaults, and clear refusals.
import { describe, expect, it } from 'vitest';
import { Checkpointer, ErrorCodes, MemoryStore, type IncrementalOptions } from '../../src/index.js';
import { DEFAULT_FULL_EVERY, incrementalSettings } from '../../src/options.js';

describe('incremental option', () => {
  it('is off by default and with false', () => {
    expect(incrementalSettings(undefined)).toBeUndefined();
    expect(incrementalSettings(false)).toBeUndefined();
  });

  it('true means every 16th image full, segment references', () => {
    expect(DEFAULT_FULL_EVERY).toBe(16);
    expect(incrementalSettings(true)).toEqual({ fullEvery: 16, delta: 'segments' });
    expect(incrementalSettings({})).toEqual({ fullEvery: 16, delta: 'segments' });
  });

  it('takes fullEvery 1..1024 and delta segments | xor', () => {
    const o: IncrementalOptions = { fullEvery: 1, delta: 'xor' };
    expect(incrementalSettings(o)).toEqual({ fullEvery: 1, delta: 'xor' });
    expect(incrementalSettings({ fullEvery: 1024 })).toEqual({ fullEvery: 1024, delta: 'segments' });
  });

  it.each([
    [{ fullEvery: 0 }, /incremental\.fullEvery must be an integer from 1 to 1024, got 0/],
    [{ fullEvery: 1025 }, /incremental\.fullEvery .* got 1025/],
    [{ fullEvery: 2.5 }, /incremental\.fullEvery .* got 2\.5/],
    [{ fullEvery: '4' }, /incremental\.fullEvery .* got 4/],
    [{ delta: 'bytes' }, /incremental\.delta must be 'segments' or 'xor', got bytes/],
    [{ fullEvry: 4 }, /unknown option "fullEvry"/],
    ['yes', /incremental must be true, false or \{ fullEvery/],
    [null, /got null/],
    [[1], /got an array/],
  ])('refuses %j', (v, message) => {
    expect(() => incrementalSettings(v)).toThrow(message);
    expect(() => new Checkpointer({ store: new MemoryStore(), signals: false, incremental: v as never })).toThrow(
      expect.objectContaining({ code: ErrorCodes.INVALID_ARGUMENT }) as Error,
    );
  });
});
