/**
 * How errors look: an uncaught CkptError printed by Node shows its code and
 * only the facts that are set; `--json` errors use the documented
 * `CKPT_ERR_*` codes; `--help` points to the installed docs.
 */
import { execFile } from 'node:child_process';
import { existsSync } from 'node:fs';
import { mkdir, writeFile } from 'node:fs/promises';
import { isAbsolute, join } from 'node:path';
import { pathToFileURL } from 'node:url';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { CkptError, ErrorCodes } from '../../src/index.js';
import { cleanupDirs, ensureBuilt, json, ROOT, runCli, tempDir } from './helpers.js';

beforeAll(ensureBuilt, 60_000);
afterAll(cleanupDirs);

/** Run a module snippet in a child node; killed (and reaped by execFile) on timeout. */
function runNode(source: string): Promise<{ code: number | null; stderr: string }> {
  return new Promise((resolve) => {
    execFile(process.execPath, ['--input-type=module', '-e', source], { cwd: ROOT, timeout: 20_000, killSignal: 'SIGKILL' }, (err, _stdout, stderr) => {
      resolve({ code: err === null ? 0 : typeof err.code === 'number' ? err.code : null, stderr });
    });
  });
}

describe('CkptError', () => {
  it('has own provider/image/where properties only when set', () => {
    const bare = new CkptError(ErrorCodes.CORRUPT, 'damaged');
    expect(Object.keys(bare)).not.toContain('errors');
    expect(Object.getOwnPropertyNames(bare).filter((k) => ['errors', 'provider', 'image', 'where'].includes(k))).toEqual([]);
    expect(bare.errors).toBeUndefined();
    const some = new CkptError(ErrorCodes.CORRUPT, 'damaged', { image: 'img-1' });
    expect(Object.getOwnPropertyNames(some).filter((k) => ['errors', 'provider', 'image', 'where'].includes(k))).toEqual(['image']);
    expect(some.provider).toBeUndefined();
  });

  it('an uncaught one prints its code and what is set, no undefined placeholders', async () => {
    const dist = pathToFileURL(join(ROOT, 'dist/index.js')).href;
    const r = await runNode(`import { CkptError } from ${JSON.stringify(dist)};\nthrow new CkptError('CKPT_ERR_CORRUPT', 'image x is damaged; move it out of the store', { image: 'img-7', cause: new Error('crc mismatch') });`);
    expect(r.code).toBe(1);
    expect(r.stderr).toContain('image x is damaged; move it out of the store');
    expect(r.stderr).toContain("code: 'CKPT_ERR_CORRUPT'");
    expect(r.stderr).toContain("image: 'img-7'");
    expect(r.stderr).toContain('crc mismatch');
    expect(r.stderr).not.toMatch(/undefined/);
  });
});

describe('CLI error vocabulary', () => {
  it('a directory that is not a store is CKPT_ERR_NOT_A_STORE, a missing path CKPT_ERR_NOT_FOUND', async () => {
    const dir = await tempDir();
    await mkdir(join(dir, 'empty'));
    await writeFile(join(dir, 'empty', 'notes.txt'), 'not an image');
    const a = await runCli(['ls', join(dir, 'empty'), '--json']);
    expect(a.code).toBe(4);
    expect(json<{ error: { code: string } }>(a).error.code).toBe('CKPT_ERR_NOT_A_STORE');
    const b = await runCli(['inspect', join(dir, 'nope.ckpt'), '--json']);
    expect(json<{ error: { code: string } }>(b).error.code).toBe('CKPT_ERR_NOT_FOUND');
    const c = await runCli(['ls', '--json']);
    expect(json<{ error: { code: string } }>(c).error.code).toBe('CKPT_ERR_USAGE');
  });

  it('--help names a docs path that exists in the package', async () => {
    const r = await runCli(['--help']);
    const m = /Documentation: (\S+cli\.md)/.exec(r.stdout);
    expect(m).not.toBeNull();
    // Absolute (the installed package's docs), not a path relative to a repository checkout.
    expect(isAbsolute(m![1]!)).toBe(true);
    expect(existsSync(m![1]!)).toBe(true);
  });
});
