// Any damage to an image must surface as CKPT_ERR_CORRUPT: every bit flip,
// every truncation, appended garbage — never a wrong value, never another
// exception type.
import { describe, expect, it } from 'vitest';
import { CkptError, ErrorCodes } from '../../src/errors.js';
import { captured, imageBytes, readAll } from '../helpers/image-bytes.js';

async function outcome(bytes: Uint8Array): Promise<string> {
  try {
    await readAll(bytes);
    return 'ok';
  } catch (err) {
    if (!(err instanceof CkptError)) return `non-ckpt error: ${String(err)}`;
    return err.code;
  }
}

async function smallImage(): Promise<Buffer> {
  return imageBytes([
    captured('a', { n: 1, list: [1, 'two', null], m: new Map([[1, 'x']]) }),
    captured('b', { t: new Int32Array([1, -2, 3]), big: 12345678901234567890n }, { version: 2 }),
  ]);
}

// A multi-segment image: zstd-compressed stream segments and blob segments.
async function mediumImage(): Promise<Buffer> {
  const grid = new Float64Array(40_000);
  for (let i = 0; i < grid.length; i++) grid[i] = Math.sin(i / 50) * 100;
  const records = Array.from({ length: 3000 }, (_, i) => ({ id: i, name: `rec-${i % 37}`, tags: ['a', 'b'] }));
  return imageBytes([captured('grid', { grid }), captured('records', records)], { segmentSize: 64 * 1024, blobThreshold: 1024 });
}

describe('image corruption', () => {
  it('the intact images read back', async () => {
    expect(await outcome(await smallImage())).toBe('ok');
    const medium = await mediumImage();
    const states = await readAll(medium);
    expect((states.get('grid') as { grid: Float64Array }).grid[123]).toBe(Math.sin(123 / 50) * 100);
    expect((states.get('records') as unknown[]).length).toBe(3000);
  });

  it('every single-bit flip of a small image is CKPT_ERR_CORRUPT', async () => {
    const img = await smallImage();
    const seen = new Map<string, number>();
    for (let i = 0; i < img.length; i++) {
      for (let bit = 0; bit < 8; bit++) {
        const bad = Buffer.from(img);
        bad[i]! ^= 1 << bit;
        const r = await outcome(bad);
        seen.set(r, (seen.get(r) ?? 0) + 1);
        if (r !== ErrorCodes.CORRUPT) throw new Error(`flip of bit ${bit} at byte ${i} gave ${r}`);
      }
    }
    expect([...seen.keys()]).toEqual([ErrorCodes.CORRUPT]);
    expect(seen.get(ErrorCodes.CORRUPT)).toBe(img.length * 8);
  });

  it('every truncation of a small image is CKPT_ERR_CORRUPT', async () => {
    const img = await smallImage();
    for (let len = 0; len < img.length; len++) {
      const r = await outcome(img.subarray(0, len));
      if (r !== ErrorCodes.CORRUPT) throw new Error(`truncation to ${len} bytes gave ${r}`);
    }
    expect(await outcome(img)).toBe('ok');
  });

  it('a byte change anywhere in a multi-segment image is CKPT_ERR_CORRUPT', async () => {
    const img = await mediumImage();
    // Every byte of the header, index and trailer, and a stride through the segments.
    const positions = new Set<number>();
    for (let i = 0; i < 64; i++) positions.add(i);
    for (let i = Math.max(0, img.length - 4096); i < img.length; i++) positions.add(i);
    for (let i = 0; i < img.length; i += 311) positions.add(i);
    let checked = 0;
    for (const i of positions) {
      const bad = Buffer.from(img);
      bad[i] = bad[i]! ^ 0x5a;
      const r = await outcome(bad);
      if (r !== ErrorCodes.CORRUPT) throw new Error(`change at byte ${i} of ${img.length} gave ${r}`);
      checked++;
    }
    expect(checked).toBe(positions.size);
  });

  it('appended garbage and random garbage are CKPT_ERR_CORRUPT', async () => {
    const img = await smallImage();
    expect(await outcome(Buffer.concat([img, Buffer.from('trailing')]))).toBe(ErrorCodes.CORRUPT);
    let seed = 42;
    for (let n = 0; n < 200; n++) {
      const len = 1 + (n * 37) % 700;
      const junk = Buffer.alloc(len);
      for (let i = 0; i < len; i++) junk[i] = (seed = (seed * 1103515245 + 12345) >>> 0) >>> 24;
      if (n % 2 === 0) junk.set(img.subarray(0, Math.min(len, 32)));
      expect(await outcome(junk)).toBe(ErrorCodes.CORRUPT);
    }
  });
});
