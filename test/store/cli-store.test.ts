// The CLI opens stores through one function (openStoreForCli): a path or a
// file:// URL is a store directory, any other URL scheme a clear usage error,
// and the store's warnings reach stderr (human) or the JSON document (--json).
import { describe, it, expect, beforeAll, afterAll } from 'vitest';
import { mkdir } from 'node:fs/promises';
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';
import { cleanupDirs, ensureBuilt, golden, json, makeStore, runCli, tempDir } from '../cli/helpers.js';
import { openImageFile } from '../../src/format/index.js';

beforeAll(ensureBuilt, 180_000);
afterAll(cleanupDirs);

/** A store with two images and a directory named like a third one (foreign). */
async function storeWithForeignEntry(): Promise<{ dir: string; ids: string[] }> {
  const dir = await tempDir();
  const ids = await makeStore(dir, 2);
  await mkdir(join(dir, '000000000099.ckpt'));
  return { dir, ids };
}

describe('ckpt and the store warnings', () => {
  it('ls: a foreign entry is a warning line on stderr (code and advice), not a raw process warning; exit 0', async () => {
    const { dir, ids } = await storeWithForeignEntry();
    const r = await runCli(['ls', dir, '--quick']);
    expect(r.code).toBe(0);
    const lines = r.stderr.split('\n').filter((l) => l.includes('000000000099.ckpt'));
    expect(lines).toHaveLength(1);
    expect(lines[0]).toMatch(/^warning: .*skipped 000000000099\.ckpt: not a regular file.*move it out of the store directory.*\(CKPT_WARN_FOREIGN_ENTRY\)$/);
    expect(r.stderr).not.toMatch(/\(node:\d+\)/);
    for (const id of ids) expect(r.stdout).toContain(id);
  });

  it('ls --json: the warning is in the document’s warnings, and not on stderr', async () => {
    const { dir } = await storeWithForeignEntry();
    const r = await runCli(['ls', dir, '--quick', '--json']);
    expect(r.code).toBe(0);
    const doc = json<{ warnings: { code: string; message: string }[]; images: unknown[] }>(r);
    expect(doc.images).toHaveLength(2);
    expect(doc.warnings.map((w) => w.code)).toEqual(['CKPT_WARN_FOREIGN_ENTRY']);
    expect(doc.warnings[0]!.message).toContain('000000000099.ckpt');
    expect(r.stderr).not.toContain('000000000099.ckpt');
  });

  it('verify and prune --dry-run report it the same way', async () => {
    const { dir } = await storeWithForeignEntry();
    const v = await runCli(['verify', dir, '--json']);
    expect(v.code).toBe(0);
    expect(json<{ warnings: { code: string }[] }>(v).warnings.map((w) => w.code)).toEqual(['CKPT_WARN_FOREIGN_ENTRY']);
    const p = await runCli(['prune', dir, '--keep-last', '1', '--dry-run']);
    expect(p.code).toBe(0);
    expect(p.stderr).toMatch(/^warning: .*000000000099\.ckpt.*\(CKPT_WARN_FOREIGN_ENTRY\)$/m);
  });

  it('a store without foreign entries warns about nothing', async () => {
    const dir = await tempDir();
    await makeStore(dir, 1);
    const r = await runCli(['ls', dir, '--quick', '--json']);
    expect(r.code).toBe(0);
    expect(json<{ warnings: unknown[] }>(r).warnings).toEqual([]);
    expect(r.stderr).toBe('');
  });
});

describe('ckpt and store locations', () => {
  it('a file:// URL names a store directory', async () => {
    const dir = await tempDir();
    const ids = await makeStore(dir, 2);
    const r = await runCli(['ls', pathToFileURL(dir).href, '--quick', '--json']);
    expect(r.code).toBe(0);
    expect(json<{ images: { id: string }[] }>(r).images.map((i) => i.id)).toEqual([...ids].reverse());
  });

  it.each([
    ['ls', 'az://container/checkpoints'],
    ['verify', 'gs://bucket/checkpoints'],
    ['prune', 'ftp://host/checkpoints', '--keep-last', '1'],
    ['inspect', 'https://example.com/000000000001.ckpt'],
  ])('%s %s: an unknown URL scheme is a usage error naming it (exit 1, CKPT_ERR_USAGE)', async (command, url, ...rest) => {
    const r = await runCli([command, url, ...rest, '--json']);
    expect(r.code).toBe(1);
    const scheme = url.slice(0, url.indexOf(':'));
    expect(r.stderr).toContain(`cannot open ${scheme}:// URLs`);
    expect(json<{ error: { code: string } }>(r).error.code).toBe('CKPT_ERR_USAGE');
  });

  it('convert takes file:// URLs for its input and output, and refuses another scheme for the output', async () => {
    const dir = await tempDir();
    const out = join(dir, 'converted.ckpt');
    const r = await runCli(['convert', pathToFileURL(golden(1, 'values')).href, pathToFileURL(out).href, '--json']);
    expect(r.code).toBe(0);
    const img = await openImageFile(out);
    expect(img.providers.length).toBeGreaterThan(0);
    await img.close();
    const bad = await runCli(['convert', golden(1, 'values'), 's3://bucket/converted.ckpt', '--json']);
    expect(bad.code).toBe(1);
    expect(json<{ error: { code: string } }>(bad).error.code).toBe('CKPT_ERR_USAGE');
  });
});
