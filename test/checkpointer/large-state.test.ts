import { describe, it, expect } from 'vitest';
import { Checkpointer, MemoryStore } from '../../src/index.js';
import { openImage } from '../../src/format/index.js';

const MiB = 1024 * 1024;

/** A smooth field plus pseudo-random noise: compresses a little, like real simulation data. */
function field(length: number): Float64Array {
  const a = new Float64Array(length);
  let x = 0x9e3779b9;
  for (let i = 0; i < length; i++) {
    x ^= x << 13;
    x ^= x >>> 17;
    x ^= x << 5;
    a[i] = 300 + 20 * Math.sin(i * 1e-4) + ((x >>> 0) / 2 ** 32 - 0.5) * 0.01;
  }
  return a;
}

describe('large state', () => {
  it('a 64 MiB Float64Array round-trips bit for bit and is written as several segments', async () => {
    const store = new MemoryStore();
    const ckpt = new Checkpointer({ store });
    const original = field((64 * MiB) / 8);
    let state: { temps: Float64Array; step: number } = { temps: original, step: 123 };
    ckpt.register({ id: 'heat', snapshot: () => state, restore: (s) => { state = s; } });

    const info = await ckpt.checkpoint({ step: 123 });
    expect(info.providers[0]!.rawBytes).toBeGreaterThanOrEqual(64 * MiB);
    expect(info.providers[0]!.rawBytes).toBeLessThan(64 * MiB + 1024);

    const reader = await openImage(await store.open(info.id));
    try {
      const summary = reader.providers[0]!;
      expect(summary.blobs).toBe(1);
      const blob = reader.provider('heat')!.blobs[0]!;
      expect(blob.rawLength).toBe(64 * MiB);
      expect(blob.count).toBe(16); // default segmentSize 4 MiB
      for (let s = blob.first; s < blob.first + blob.count; s++) expect(reader.index.segments[s]!.rawLength).toBe(4 * MiB);
      expect(reader.index.codec.segmentSize).toBe(4 * MiB);
    } finally {
      await reader.close();
    }

    state = { temps: new Float64Array(0), step: 0 };
    await ckpt.restore();
    expect(state.step).toBe(123);
    expect(state.temps).toBeInstanceOf(Float64Array);
    expect(state.temps.length).toBe(original.length);
    const got = Buffer.from(state.temps.buffer, state.temps.byteOffset, state.temps.byteLength);
    expect(got.equals(Buffer.from(original.buffer))).toBe(true);
  });
});
