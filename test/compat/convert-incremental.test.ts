// Converting an incremental image (format 3, segments by reference and XOR
// deltas) to format 2 or 1 materializes it: the result stands alone (no
// holder needed), holds the same states, and the input is untouched.
import { createHash } from 'node:crypto';
import { copyFile, mkdir, mkdtemp, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { CkptError, ErrorCodes } from '../../src/index.js';
import { convertImageFile, openImageFile } from '../../src/format/index.js';
import { SegmentCodec } from '../../src/image/constants.js';
import { FsStore } from '../../src/store/fs-store.js';
import { writeChainImage, type ChainProvider } from '../helpers/incremental-images.js';

const dirs: string[] = [];
afterEach(async () => {
  for (const d of dirs.splice(0)) await rm(d, { recursive: true, force: true });
});
async function tmp(): Promise<string> {
  const d = await mkdtemp(join(tmpdir(), 'ckpt-convert-incr-'));
  dirs.push(d);
  return d;
}
const sha = async (p: string): Promise<string> => createHash('sha256').update(await readFile(p)).digest('hex');
async function failure(p: Promise<unknown>): Promise<CkptError> {
  const e = await p.then(() => undefined, (x: unknown) => x);
  if (!(e instanceof CkptError)) throw new Error(`expected CkptError, got ${String(e)}`);
  return e;
}

function field(seed: number): Float64Array {
  const f = new Float64Array(8192);
  for (let i = 0; i < f.length; i++) f[i] = Math.cos(i / 40 + seed) * 10;
  return f;
}
const providers = (f: Float64Array, step: number): ChainProvider[] => [
  { id: 'grid', state: { step, f } },
  { id: 'meta', state: { name: 'run', step } },
];

/** A store with a full image, a by-reference image and an XOR image over it. */
async function chain(dir: string): Promise<{ ids: string[]; states: Float64Array[] }> {
  const store = new FsStore(dir);
  const f = field(1);
  const a = await writeChainImage(store, providers(f, 1));
  const g = Float64Array.from(f);
  g[10] = 1;
  const b = await writeChainImage(store, providers(g, 2), { parent: a.id });
  const h = Float64Array.from(g);
  for (let i = 0; i < h.length; i += 61) h[i] = h[i]! * 2;
  const c = await writeChainImage(store, providers(h, 3), { parent: b.id, delta: 'xor' });
  expect(b.referenced).toBeGreaterThan(10);
  expect(c.xor).toBeGreaterThan(10);
  return { ids: [a.id, b.id, c.id], states: [f, g, h] };
}

describe('converting incremental images', () => {
  for (const to of [2, 1]) {
    it(`to format ${to}: materialized, standalone, same states; the input is untouched`, async () => {
      const dir = await tmp();
      const { ids, states } = await chain(dir);
      for (const k of [1, 2]) {
        const input = join(dir, `${ids[k]!}.ckpt`);
        const before = await sha(input);
        const outDir = await tmp();
        const out = join(outDir, `${ids[k]!}.ckpt`);
        const report = await convertImageFile(input, out, { to });
        expect(report.from).toBe(3);
        expect(report.to).toBe(to);
        expect(report.materialized).toBeGreaterThan(10);
        expect(report.changes.join('\n')).toMatch(/materialized/);
        expect(await sha(input)).toBe(before);
        // Alone in its directory: nothing to refer to, and nothing needed.
        const img = await openImageFile(out);
        expect(img.header.formatVersion).toBe(to);
        expect(img.header.requiredFlags).toBe(0);
        expect(img.refs).toEqual([]);
        expect(img.index.segments.every((s) => s.flags === 0 && s.codec !== SegmentCodec.XOR_ZSTD)).toBe(true);
        expect(await img.readProvider('grid')).toEqual({ step: k + 1, f: states[k] });
        expect(await img.readProvider('meta')).toEqual({ name: 'run', step: k + 1 });
        expect((await img.verify()).ok).toBe(true);
        await img.close();
        expect(report.bytes).toBe((await readFile(out)).length);
      }
    });
  }

  it('a dry run reports the materialization and writes nothing', async () => {
    const dir = await tmp();
    const { ids } = await chain(dir);
    const out = join(dir, 'x.ckpt');
    const report = await convertImageFile(join(dir, `${ids[2]!}.ckpt`), out, { to: 2, dryRun: true });
    expect(report).toMatchObject({ from: 3, to: 2, bytes: 0 });
    expect(report.materialized).toBeGreaterThan(10);
    await expect(readFile(out)).rejects.toThrow();
  });

  it('to format 3 the image is copied as it is (references kept)', async () => {
    const dir = await tmp();
    const { ids, states } = await chain(dir);
    const sub = join(dir, 'copy');
    await mkdir(sub);
    // The copy sits next to copies of its holders, as in a store.
    for (const id of ids.slice(0, 2)) await copyFile(join(dir, `${id}.ckpt`), join(sub, `${id}.ckpt`));
    const report = await convertImageFile(join(dir, `${ids[2]!}.ckpt`), join(sub, `${ids[2]!}.ckpt`), { to: 3 });
    expect(report.materialized ?? 0).toBe(0);
    const img = await openImageFile(join(sub, `${ids[2]!}.ckpt`));
    expect(img.refs.length).toBeGreaterThan(0);
    expect(await img.readProvider('grid')).toEqual({ step: 3, f: states[2] });
    await img.close();
  });

  it('a holder missing next to the input: CKPT_ERR_MISSING_REFERENCE, no output written', async () => {
    const dir = await tmp();
    const { ids } = await chain(dir);
    const lone = await tmp();
    await copyFile(join(dir, `${ids[1]!}.ckpt`), join(lone, `${ids[1]!}.ckpt`));
    const out = join(lone, 'out.ckpt');
    const e = await failure(convertImageFile(join(lone, `${ids[1]!}.ckpt`), out, { to: 2 }));
    expect(e.code).toBe(ErrorCodes.MISSING_REFERENCE);
    expect(e.image).toBe(ids[0]);
    await expect(readFile(out)).rejects.toThrow();
  });
});
