// XOR of byte ranges (image/xor): the WebAssembly SIMD kernel gives exactly
// the bytes of a plain byte loop, for every length around the kernel's
// thresholds (16-byte lanes, the 4 KiB minimum, its 128 KiB chunks) and
// every alignment of the three views, in place too.
import { describe, expect, it } from 'vitest';
import { XOR_KERNEL, xorBytes, xorLoop } from '../../src/image/xor.js';
import { bytes } from '../../src/testing/conformance-bytes.js';


const LENGTHS = [0, 1, 15, 16, 17, 63, 64, 65, 4095, 4096, 4097, 4111, 131_071, 131_072, 131_073, 262_160, 300_001];

describe('xorBytes', () => {
  it('runs on WebAssembly SIMD in every Node version ckpt supports', () => {
    expect(XOR_KERNEL).toBe('wasm-simd');
  });

  it('equals a byte loop for every length and alignment, and the word loop does too', () => {
    for (const n of LENGTHS) {
      for (const [oa, ob, oo] of [[0, 0, 0], [1, 0, 0], [0, 3, 2], [5, 7, 1]] as const) {
        const a = bytes(n + 8, n + 1).subarray(oa, oa + n);
        const b = bytes(n + 8, n + 2).subarray(ob, ob + n);
        const expected = new Uint8Array(n);
        for (let i = 0; i < n; i++) expected[i] = a[i]! ^ b[i]!;
        const out = new Uint8Array(n + 8).subarray(oo, oo + n);
        xorBytes(a, b, out);
        expect(Buffer.from(out).equals(Buffer.from(expected)), `length ${n}, offsets ${oa}/${ob}/${oo}`).toBe(true);
        const loop = new Uint8Array(n);
        xorLoop(a, b, loop);
        expect(Buffer.from(loop).equals(Buffer.from(expected)), `loop, length ${n}`).toBe(true);
      }
    }
  });

  it('in place (out is a): a XOR b, and again gives a back', () => {
    for (const n of [4097, 131_073, 300_001]) {
      const a = bytes(n, 7);
      const before = Uint8Array.from(a);
      const b = bytes(n, 9);
      xorBytes(a, b, a);
      for (let i = 0; i < n; i += 997) expect(a[i]).toBe(before[i]! ^ b[i]!);
      xorBytes(a, b, a);
      expect(Buffer.from(a).equals(Buffer.from(before))).toBe(true);
    }
  });

  it('only the first out.length bytes are read and written (longer a and b)', () => {
    const a = bytes(10_000, 3);
    const b = bytes(10_000, 4);
    const backing = new Uint8Array(8200).fill(0xee);
    const out = backing.subarray(100, 8100);
    xorBytes(a, b, out);
    expect(backing.subarray(0, 100).every((v) => v === 0xee)).toBe(true);
    expect(backing.subarray(8100).every((v) => v === 0xee)).toBe(true);
    for (let i = 0; i < out.length; i++) expect(out[i]).toBe(a[i]! ^ b[i]!);
  });
});

describe('xorArena', () => {
  it('gives two ranges in the kernel memory that xorBytes XORs in place without copies, the same bytes as the loop; a larger arena grows the memory', async () => {
    const { xorArena } = await import('../../src/image/xor.js');
    for (const n of [4096, 100_003, 5 * 1024 * 1024 + 7]) {
      const arena = xorArena(n)!;
      expect(arena.acc.length).toBe(n);
      expect(arena.delta.length).toBe(n);
      expect(arena.acc.buffer).toBe(arena.delta.buffer);
      const a = bytes(n, 11);
      const b = bytes(n, 12);
      arena.acc.set(a);
      arena.delta.set(b);
      xorBytes(arena.acc, arena.delta, arena.acc);
      const expected = new Uint8Array(n);
      xorLoop(a, b, expected);
      expect(Buffer.from(arena.acc).equals(Buffer.from(expected)), `n ${n}`).toBe(true);
      expect(Buffer.from(arena.delta).equals(Buffer.from(b))).toBe(true);
    }
  });
});
