// `convertImageFile`: a converted copy, written atomically, original untouched.
import { createHash } from 'node:crypto';
import { mkdtemp, readFile, readdir, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterEach, describe, expect, it } from 'vitest';
import { ClassRegistry } from '../../src/codec/class-registry.js';
import { CkptError, ErrorCodes } from '../../src/index.js';
import { convertImageFile, openImageFile } from '../../src/format/index.js';
import { Particle, valuesState } from '../fixtures/images/expected.js';
import { deepDiff } from '../helpers/deep-equal.js';

const fixture = (v: number, name: string): string => fileURLToPath(new URL(`../fixtures/images/v${v}/${name}.image`, import.meta.url));
const classes = new ClassRegistry();
classes.register(Particle, 'fixture.Particle');
const dirs: string[] = [];
afterEach(async () => {
  for (const d of dirs.splice(0)) await rm(d, { recursive: true, force: true });
});
async function tmp(): Promise<string> {
  const d = await mkdtemp(join(tmpdir(), 'ckpt-convert-'));
  dirs.push(d);
  return d;
}
const sha = async (p: string): Promise<string> => createHash('sha256').update(await readFile(p)).digest('hex');
async function failure(p: Promise<unknown>): Promise<CkptError> {
  const e = await p.then(() => undefined, (x: unknown) => x);
  if (!(e instanceof CkptError)) throw new Error(`expected CkptError, got ${String(e)}`);
  return e;
}

describe('convertImageFile', () => {
  it('v1 → v2: same states, new header and index, original byte for byte unchanged', async () => {
    const dir = await tmp();
    const input = fixture(1, 'values');
    const before = await sha(input);
    const out = join(dir, 'values-v2.ckpt');
    const report = await convertImageFile(input, out);
    expect(report).toMatchObject({ from: 1, to: 2, segments: 1 });
    expect(report.changes.join('\n')).toMatch(/format version 1 → 2/);
    expect(await sha(input)).toBe(before);
    const img = await openImageFile(out);
    expect(img.header.formatVersion).toBe(2);
    expect(img.manifest.hostname).toBeNull();
    expect(deepDiff(await img.readProvider('values', { classes }), valuesState())).toBeUndefined();
    await img.close();
    expect(report.bytes).toBe((await readFile(out)).length);
  });

  it('a large multi-segment image converts without recompressing (segment bytes identical)', async () => {
    const dir = await tmp();
    const out = join(dir, 'large.ckpt');
    await convertImageFile(fixture(1, 'large'), out);
    const a = await openImageFile(fixture(1, 'large'));
    const b = await openImageFile(out);
    expect(b.index.segments.length).toBe(a.index.segments.length);
    for (let n = 0; n < a.index.segments.length; n++) expect(Buffer.from(await b.readStoredSegment(n)).equals(Buffer.from(await a.readStoredSegment(n)))).toBe(true);
    await a.close();
    await b.close();
  });

  it('v2 → v1 works when nothing would be lost, and refuses when meta would be', async () => {
    const dir = await tmp();
    const v2 = join(dir, 'v2.ckpt');
    await convertImageFile(fixture(1, 'multi'), v2);
    const back = join(dir, 'v1.ckpt');
    expect((await convertImageFile(v2, back, { to: 1 })).to).toBe(1);
    // Converting back reproduces the original v1 image exactly.
    expect(await sha(back)).toBe(await sha(fixture(1, 'multi')));
    const withMeta = await failure(convertImageFile(fixture(2, 'values'), join(dir, 'x.ckpt'), { to: 1 }));
    expect(withMeta.code).toBe(ErrorCodes.INVALID_ARGUMENT);
    expect(withMeta.message).toMatch(/format 2 features/);
    expect(await readdir(dir)).toEqual(['v1.ckpt', 'v2.ckpt']);
  });

  it('a dry run checks everything and writes nothing', async () => {
    const dir = await tmp();
    const out = join(dir, 'never.ckpt');
    const report = await convertImageFile(fixture(1, 'classes'), out, { dryRun: true });
    expect(report).toMatchObject({ from: 1, to: 2, bytes: 0 });
    expect(report.changes.length).toBeGreaterThan(1);
    expect(await readdir(dir)).toEqual([]);
  });

  it('bad input, existing output and unknown versions fail clearly and leave no file behind', async () => {
    const dir = await tmp();
    const corrupt = await failure(convertImageFile(fixture(1, 'broken-checksum'), join(dir, 'a.ckpt')));
    expect(corrupt.code).toBe(ErrorCodes.CORRUPT);
    expect((await failure(convertImageFile(fixture(1, 'broken-newer-format'), join(dir, 'b.ckpt')))).code).toBe(ErrorCodes.FORMAT_NEWER);
    expect((await failure(convertImageFile(fixture(1, 'values'), join(dir, 'c.ckpt'), { to: 99 }))).code).toBe(ErrorCodes.INVALID_ARGUMENT);
    expect((await failure(convertImageFile(join(dir, 'missing.ckpt'), join(dir, 'd.ckpt')))).code).toBe(ErrorCodes.NOT_FOUND);
    await writeFile(join(dir, 'exists.ckpt'), 'x');
    const exists = await failure(convertImageFile(fixture(1, 'values'), join(dir, 'exists.ckpt')));
    expect(exists.code).toBe(ErrorCodes.INVALID_ARGUMENT);
    expect(await readFile(join(dir, 'exists.ckpt'), 'utf8')).toBe('x');
    expect((await readdir(dir)).sort()).toEqual(['exists.ckpt']);
  });
});
