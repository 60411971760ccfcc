// Corruption, short version (the long one is `npm run corruption`, see
// docs/reliability.md): every single-byte change (small image: all 255 other
// values; medium image: one value each), every truncation and seeded multi-byte
// garbage of a small and a medium image → always CKPT_ERR_CORRUPT (or a more
// specific ckpt code for garbage), never a value, never another exception;
// and restore() over a store whose newest image is damaged falls back to the
// previous good image and says so (fellBack, skipped, a warning).
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ImageReader } from '../../src/image/reader.js';
import { deepDiff } from '../helpers/deep-equal.js';
import { captured, imageBytes } from '../helpers/image-bytes.js';
import { allocations, installAllocationGuard } from './fuzz-lib.js';
import { checkFallback, checkMutation, fallbackReader, memorySource, mutations, newStats, testImages, type TestImage } from './corruption-lib.js';

const stats = newStats();
let uninstall: () => void;

// Every buffer the reader allocates is counted, per damaged image (see checkMutation).
beforeAll(() => {
  uninstall = installAllocationGuard();
});

afterAll(() => {
  uninstall();
  console.log(
    `corruption: ${stats.images} images, ${stats.mutations} mutations read (${JSON.stringify(stats.byCode)}), ` +
      `${stats.restores} restores of a damaged newest image, ${stats.fallbacks} fell back correctly, ${stats.failures.length} failures, ` +
      `largest allocation ${allocations.max} bytes, most for one image ${stats.maxImageAllocation} bytes`,
  );
});

async function statesOf(bytes: Uint8Array): Promise<Map<string, unknown>> {
  const reader = await ImageReader.open(memorySource(bytes));
  const out = new Map<string, unknown>();
  for (const p of reader.index.providers) out.set(p.id, await reader.readProvider(p.id));
  return out;
}

function expectOlder(older: Map<string, unknown>): (restored: Map<string, unknown>) => string | undefined {
  return (restored) => {
    for (const [id, v] of older) {
      const d = deepDiff(restored.get(id), v, id !== 'records');
      if (d !== undefined) return `${id}: ${d}`;
    }
    return undefined;
  };
}

const all = (b: number): number[] => Array.from({ length: 256 }, (_, v) => v).filter((v) => v !== b);

describe('corruption of whole images', () => {
  let images: TestImage[];
  let olders: TestImage[];

  it('the intact images read back', async () => {
    images = await testImages(1, 0);
    olders = await testImages(1, 1);
    stats.images += images.length;
    for (const img of images) expect((await statesOf(img.bytes)).size).toBe(img.providers.length);
    expect(images[1]!.bytes.length).toBeGreaterThan(20_000);
  });

  it('small image: every single-byte change to every other value, every truncation, 2000 garbage damages → CKPT_ERR_CORRUPT', async () => {
    const img = images[0]!;
    const before = stats.mutations;
    for (const m of mutations(img, all, 2000, 1)) await checkMutation(img, m, stats);
    expect(stats.failures).toEqual([]);
    expect(stats.mutations - before).toBeGreaterThan(img.bytes.length * 255);
  }, 60_000);

  it('medium image: every byte changed, every truncation, 2000 garbage damages → CKPT_ERR_CORRUPT', async () => {
    const img = images[1]!;
    const before = stats.mutations;
    for (const m of mutations(img, (b) => [b ^ 0xff], 2000, 2)) await checkMutation(img, m, stats);
    expect(stats.failures).toEqual([]);
    expect(stats.mutations - before).toBeGreaterThan(img.bytes.length * 2);
    // The guard saw the reads (it counts every buffer the reader allocates).
    expect(stats.maxImageAllocation).toBeGreaterThan(0);
  }, 60_000);

  it('the allocation guard counts all bytes of one image: a read allocating more than the intact image needs is a failure', async () => {
    const small = (await testImages(1, 0))[0]!;
    // A valid image of 512 KiB of state, read as if it were a damaged copy of the small one: far above the small one's budget.
    const larger = await imageBytes([captured('a', Uint8Array.from({ length: 512 * 1024 }, (_, i) => (i * 7919) % 251))]);
    const own = newStats();
    await checkMutation(small, { kind: 'garbage', desc: 'replaced by a larger image', bytes: larger, owner: -1 }, own);
    expect(own.failures.some((f) => f.includes('bytes allocated in all'))).toBe(true);
    expect(own.maxImageAllocation).toBeGreaterThan(512 * 1024);
  });

  it('restore() falls back past a damaged newest image to the previous good one, and says so (small: every byte and truncation; medium: a sample)', async () => {
    for (const [k, img] of images.entries()) {
      const older = olders[k]!;
      const r = fallbackReader(img, older.bytes);
      const check = expectOlder(await statesOf(older.bytes));
      const stride = img.name === 'small' ? 1 : 97;
      let i = 0;
      for (const m of mutations(img, (b) => [b ^ 0xff], 200, 3)) {
        if (m.kind === 'garbage' || i++ % stride === 0) await checkFallback(r, img, m, check, stats);
      }
      await r.ckpt.close();
    }
    expect(stats.failures).toEqual([]);
    expect(stats.fallbacks).toBeGreaterThan(1000);
  }, 60_000);
});
