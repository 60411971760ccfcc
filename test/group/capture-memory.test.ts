/**
 * @module test/group/capture-memory
 *
 * CaptureMemory: a copy goes into a returned buffer of exactly its length
 * (counted), else into fresh memory; the copy holds the bytes either way;
 * buffers a capture did not reuse are let go when it settles.
 */
import { describe, expect, it } from 'vitest';
import { CaptureMemory } from '../../src/group/capture-memory.js';

describe('CaptureMemory', () => {
  it('copies into a returned buffer of the same length, fresh memory otherwise, and lets the rest go', () => {
    const m = new CaptureMemory();
    const back = new ArrayBuffer(8);
    new Uint8Array(back).fill(0xee);
    m.give([back, new ArrayBuffer(16), new ArrayBuffer(0)]);
    const src = Uint8Array.from([1, 2, 3, 4, 5, 6, 7, 8]);
    const a = m.copy(src);
    expect(a.buffer).toBe(back);
    expect([...a]).toEqual([...src]);
    // No second buffer of 8 bytes: fresh memory, still a copy of its own.
    const b = m.copy(src);
    expect(b.buffer).not.toBe(back);
    expect(b.byteLength).toBe(b.buffer.byteLength);
    expect([...b]).toEqual([...src]);
    expect(m.reused).toBe(1);
    m.settle();
    // The 16-byte buffer was let go with the capture it was not used in.
    expect(m.copy(new Uint8Array(16)).buffer.byteLength).toBe(16);
    expect(m.reused).toBe(1);
    // A view into a larger buffer is copied by its own bytes only.
    m.give([new ArrayBuffer(3)]);
    const view = new Uint8Array([9, 8, 7, 6, 5]).subarray(1, 4);
    expect([...m.copy(view)]).toEqual([8, 7, 6]);
    expect(m.reused).toBe(2);
  });
});
