// The CLI on incremental images (format 3): `verify` checks references
// (holder present, same uuid, its segments' checksums) and names the bad
// holder; `convert --to 2` materializes; `inspect`/`export` of an image file
// find its holders next to it.
import { mkdtemp, readFile, rm, unlink, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { FsStore } from '../../src/store/fs-store.js';
import { openStoreImage } from '../../src/image/open-store.js';
import { writeChainImage, type ChainProvider } from '../helpers/incremental-images.js';
import { cleanupDirs, ensureBuilt, json, runCli } from './helpers.js';

beforeAll(ensureBuilt);
afterAll(cleanupDirs);
const dirs: string[] = [];
afterAll(async () => {
  for (const d of dirs.splice(0)) await rm(d, { recursive: true, force: true });
});

interface VerifyJson {
  ok: boolean;
  exitCode: number;
  images: { id: string; ok: boolean; status: string; problems: { code: string; where: string; message: string }[] }[];
}

function field(seed: number): Float64Array {
  const f = new Float64Array(8192);
  for (let i = 0; i < f.length; i++) f[i] = Math.sin(i / 30 + seed);
  return f;
}
const providers = (f: Float64Array, step: number): ChainProvider[] => [{ id: 'grid', state: { step, f } }];

/** A store directory: a full image, a by-reference one over it, an XOR one over that. */
async function chain(): Promise<{ dir: string; ids: string[] }> {
  const dir = await mkdtemp(join(tmpdir(), 'ckpt-cli-incr-'));
  dirs.push(dir);
  const store = new FsStore(dir);
  const f = field(1);
  const a = await writeChainImage(store, providers(f, 1));
  const g = Float64Array.from(f);
  g[7] = 7;
  const b = await writeChainImage(store, providers(g, 2), { parent: a.id });
  const h = Float64Array.from(g);
  for (let i = 0; i < h.length; i += 50) h[i] = -h[i]!;
  const c = await writeChainImage(store, providers(h, 3), { parent: b.id, delta: 'xor' });
  return { dir, ids: [a.id, b.id, c.id] };
}

describe('ckpt on incremental images', () => {
  it('verify: a store of incremental images and one image file of it verify', async () => {
    const { dir, ids } = await chain();
    const s = await runCli(['verify', dir, '--json']);
    expect(s.code, s.stdout + s.stderr).toBe(0);
    expect(json<VerifyJson>(s).images.map((i) => i.status)).toEqual(['ok', 'ok', 'ok']);
    const f = await runCli(['verify', join(dir, `${ids[2]!}.ckpt`)]);
    expect(f.code, f.stdout + f.stderr).toBe(0);
  });

  it('verify: a deleted holder makes every image that refers to it fail with MISSING_REFERENCE naming it', async () => {
    const { dir, ids } = await chain();
    await unlink(join(dir, `${ids[0]!}.ckpt`));
    const r = await runCli(['verify', dir, '--json']);
    expect(r.code).toBe(2);
    const j = json<VerifyJson>(r);
    for (const id of [ids[1]!, ids[2]!]) {
      const img = j.images.find((i) => i.id === id)!;
      expect(img.ok).toBe(false);
      expect(img.problems.some((p) => p.code === 'CKPT_ERR_MISSING_REFERENCE' && p.message.includes(`image ${ids[0]!}`))).toBe(true);
    }
  });

  it('verify: a damaged holder segment is reported on the referring image, naming the holder', async () => {
    const { dir, ids } = await chain();
    const store = new FsStore(dir);
    const rb = await openStoreImage(store, ids[1]!);
    const n = rb.index.segments.findIndex((s) => s.ref !== undefined);
    const seg = rb.index.segments[n]!;
    await rb.close();
    const path = join(dir, `${ids[0]!}.ckpt`);
    const bytes = await readFile(path);
    bytes[seg.offset + 3]! ^= 0xff;
    await writeFile(path, bytes);
    const r = await runCli(['verify', join(dir, `${ids[1]!}.ckpt`), '--json']);
    expect(r.code).toBe(2);
    const problems = json<VerifyJson>(r).images[0]!.problems;
    expect(problems.some((p) => p.code === "CKPT_ERR_CORRUPT" && p.message.includes(`image ${ids[0]!}: segment ${seg.ref!.segment}`)), JSON.stringify(problems)).toBe(true);
  });

  it('convert --to 2 materializes: the output verifies and exports alone', async () => {
    const { dir, ids } = await chain();
    const outDir = await mkdtemp(join(tmpdir(), 'ckpt-cli-incr-out-'));
    dirs.push(outDir);
    const out = join(outDir, 'standalone.ckpt');
    const c = await runCli(['convert', join(dir, `${ids[2]!}.ckpt`), out, '--to', '2']);
    expect(c.code, c.stdout + c.stderr).toBe(0);
    expect(c.stdout).toMatch(/materialized/);
    const v = await runCli(['verify', out]);
    expect(v.code, v.stdout + v.stderr).toBe(0);
    const e1 = await runCli(['export', out, '--provider', 'grid']);
    const e2 = await runCli(['export', join(dir, `${ids[2]!}.ckpt`), '--provider', 'grid']);
    expect(e1.code, e1.stderr).toBe(0);
    expect(e2.code, e2.stderr).toBe(0);
    expect(e1.stdout).toBe(e2.stdout);
  });
});
