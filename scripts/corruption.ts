/**
 * The long corruption run (`npm run corruption`): for a small image and a
 * medium one, every single-byte change (small: all 255 other values; medium:
 * `--values` values per byte), every truncation, and `--garbage` seeded
 * multi-byte damages, each read by ImageReader (→ CKPT_ERR_CORRUPT or a more
 * specific ckpt code, never a value, never another exception); plus restore()
 * over a store whose newest image is damaged, for every byte and truncation of
 * the small image and a stride of the medium one (→ falls back to the previous
 * image, fellBack, skipped, a warning). While the mutations are read, the
 * allocation guard of fuzz-lib counts every buffer the reader allocates: no
 * damaged copy may make it allocate more in all than the intact image needs.
 * See docs/reliability.md.
 *
 *   node --import tsx scripts/corruption.ts [--scale 4] [--values 8] [--garbage 50000] [--stride 13] [--sample 1] [--json report.json]
 *   node --import tsx scripts/corruption.ts --quick   # a few seconds: scale 1, one value per byte of both images, every 25th mutation
 *
 * `--sample n` reads only every n-th mutation (and restores every n-th of the restore pass).
 *
 * Prints progress on stderr and one summary line on stdout; exits 1 on any failure.
 */
import { writeFile } from 'node:fs/promises';
import { parseArgs } from 'node:util';
import { ImageReader } from '../src/image/reader.js';
import { deepDiff } from '../test/helpers/deep-equal.js';
import { allocations, installAllocationGuard } from '../test/reliability/fuzz-lib.js';
import { checkFallback, checkMutation, fallbackReader, memorySource, mutations, newStats, testImages } from '../test/reliability/corruption-lib.js';

const { values: args } = parseArgs({
  options: {
    scale: { type: 'string' },
    values: { type: 'string' },
    garbage: { type: 'string' },
    stride: { type: 'string' },
    sample: { type: 'string' },
    quick: { type: 'boolean' },
    json: { type: 'string' },
  },
});
const quick = args.quick === true;
const scale = Number(args.scale ?? (quick ? 1 : 4));
const perByte = Number(args.values ?? (quick ? 1 : 8));
const garbage = Number(args.garbage ?? (quick ? 200 : 50_000));
const stride = Number(args.stride ?? (quick ? 101 : 13));
const sample = Number(args.sample ?? (quick ? 25 : 1));
const log = (line: string): void => void process.stderr.write(`${line}\n`);
const t0 = performance.now();

const images = await testImages(scale, 0);
const olders = await testImages(scale, 1);
const stats = newStats();
stats.images = images.length;
log(`corruption: images ${images.map((i) => `${i.name} ${i.bytes.length} B`).join(', ')}; ${perByte} values per medium byte, ${garbage} garbage damages each`);

const allValues = (b: number): number[] => Array.from({ length: 256 }, (_, v) => v).filter((v) => v !== b);
const someValues = (b: number, at: number): number[] => {
  const out = new Set<number>([b ^ 0xff, b ^ 0x01, b ^ 0x80]);
  for (let k = 0; out.size < perByte && k < 64; k++) out.add((b + 1 + ((at * 131 + k * 97) % 255)) & 0xff);
  out.delete(b);
  return [...out];
};

// Every buffer the reader allocates is counted per damaged image while the mutations are read.
const uninstallGuard = installAllocationGuard();
for (const img of images) {
  let n = 0;
  let k = 0;
  for (const m of mutations(img, img.name === 'small' && !quick ? allValues : someValues, garbage, 77)) {
    if (k++ % sample !== 0) continue;
    await checkMutation(img, m, stats);
    if (++n % 200_000 === 0) log(`corruption: ${img.name}: ${n} mutations, ${stats.failures.length} failures (${Math.round((performance.now() - t0) / 1000)} s)`);
  }
  log(`corruption: ${img.name}: ${n} mutations read`);
}
uninstallGuard();

for (const [k, img] of images.entries()) {
  const older = olders[k]!;
  const reader = await ImageReader.open(memorySource(older.bytes));
  const expected = new Map<string, unknown>();
  for (const p of reader.index.providers) expected.set(p.id, await reader.readProvider(p.id));
  const r = fallbackReader(img, older.bytes);
  const expectOlder = (restored: Map<string, unknown>): string | undefined => {
    for (const [id, v] of expected) {
      const d = deepDiff(restored.get(id), v, id !== 'records');
      if (d !== undefined) return `${id}: ${d}`;
    }
    return undefined;
  };
  let i = 0;
  const every = (img.name === 'small' ? 1 : stride) * sample;
  for (const m of mutations(img, (b) => [b ^ 0xff], quick ? 20 : 1000, 78)) {
    if (m.kind === 'garbage' || i++ % every === 0) await checkFallback(r, img, m, expectOlder, stats);
  }
  await r.ckpt.close();
  log(`corruption: ${img.name}: ${stats.restores} restores so far, ${stats.fallbacks} fell back correctly`);
}

for (const f of stats.failures.slice(0, 30)) log(`FAILURE ${f}`);
const seconds = Math.round((performance.now() - t0) / 1000);
if (args.json !== undefined) await writeFile(args.json, JSON.stringify({ scale, perByte, garbage, stride, sample, seconds, sizes: images.map((i) => i.bytes.length), ...stats }, null, 2));
console.log(
  `corruption: ${stats.images} images (${images.map((i) => `${i.bytes.length} B`).join(', ')}), ${stats.mutations} mutations read ${JSON.stringify(stats.byCode)}, ` +
    `${stats.restores} restores of a damaged newest image (${stats.fallbacks} fell back correctly), ${stats.failures.length} failures, ` +
    `largest allocation ${allocations.max} bytes, most for one image ${stats.maxImageAllocation} bytes, ${seconds} s`,
);
process.exitCode = stats.failures.length === 0 ? 0 : 1;
