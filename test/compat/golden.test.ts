// Golden images: written once per format version by make-fixtures.ts and
// never regenerated. Every later ckpt must restore each exactly, and must
// refuse the broken ones with their own codes.
import { copyFile, mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterEach, describe, expect, it } from 'vitest';
import { ClassRegistry } from '../../src/codec/class-registry.js';
import { Checkpointer, CkptError, ErrorCodes } from '../../src/index.js';
import { openImageFile } from '../../src/format/index.js';
import { classesState, largeState, multiProviders, Particle, valuesState } from '../fixtures/images/expected.js';
import { deepDiff } from '../helpers/deep-equal.js';

const VERSIONS = [1, 2] as const;
const fixture = (v: number, name: string): string => fileURLToPath(new URL(`../fixtures/images/v${v}/${name}.image`, import.meta.url));
const classes = new ClassRegistry();
classes.register(Particle, 'fixture.Particle');

const dirs: string[] = [];
afterEach(async () => {
  for (const d of dirs.splice(0)) await rm(d, { recursive: true, force: true });
});

async function codeOf(p: Promise<unknown>): Promise<CkptError> {
  const err = await p.then(
    () => undefined,
    (e: unknown) => e,
  );
  if (!(err instanceof CkptError)) throw new Error(`expected a CkptError, got ${String(err)}`);
  return err;
}

describe.each(VERSIONS)('golden images, format %i', (v) => {
  it('values: every value kind comes back exactly', async () => {
    const img = await openImageFile(fixture(v, 'values'));
    expect(img.header.formatVersion).toBe(v);
    expect(img.manifest.label).toBe('values');
    expect(img.manifest.step).toBe(100);
    const state = await img.readProvider('values', { classes });
    await img.close();
    expect(deepDiff(state, valuesState())).toBeUndefined();
  });

  it('classes: prototypes, shared references and cycles survive', async () => {
    const img = await openImageFile(fixture(v, 'classes'));
    const s = (await img.readProvider('classes', { classes })) as ReturnType<typeof classesState>  ;
    await img.close();
    expect(deepDiff(s, classesState())).toBeUndefined();
    expect(s['left']).toBe(s['right']);
    const particles = s['particles'] as Particle[];
    expect(particles[0]).toBeInstanceOf(Particle);
    expect(particles[0]!.speed()).toBe(5);
    expect(particles[2]).toBe(particles[0]);
    const cycle = s['cycle'] as { b: { a: unknown } };
    expect(cycle.b.a).toBe(cycle);
  });

  it('large: a 2 MiB Float64Array in blob segments', async () => {
    const img = await openImageFile(fixture(v, 'large'));
    expect(img.providers[0]!.segments).toBeGreaterThan(8);
    const s = (await img.readProvider('large', { classes })) as ReturnType<typeof largeState>;
    await img.close();
    const want = largeState();
    expect(s.field).toBeInstanceOf(Float64Array);
    expect(Buffer.from(s.field.buffer, s.field.byteOffset, s.field.byteLength).equals(Buffer.from(want.field.buffer))).toBe(true);
    expect(s.meta).toEqual(want.meta);
  });

  it('multi: restores through a Checkpointer with migrations, an alias and a tree provider', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'ckpt-golden-'));
    dirs.push(dir);
    await copyFile(fixture(v, 'multi'), join(dir, '000000000001.ckpt'));
    const ckpt = new Checkpointer({ store: dir });
    const got = new Map<string, unknown>();
    // counter: saved at 1, code at 2; old-name renamed to labels; records unchanged at 3.
    ckpt.register({ id: 'counter', version: 2, migrations: { 2: (s) => ({ ...(s as object), migrated: true }) }, snapshot: () => 0, restore: (s) => void got.set('counter', s) });
    ckpt.register({ id: 'labels', version: 2, aliases: ['old-name'], snapshot: () => 0, restore: (s) => void got.set('labels', s) });
    ckpt.register({ id: 'records', version: 3, tree: true, snapshot: () => 0, restore: (s) => void got.set('records', s) });
    const res = await ckpt.restore();
    await ckpt.close();
    expect(res?.image.formatVersion).toBe(v);
    expect(res?.migrated).toEqual([{ id: 'counter', from: 1, to: 2 }]);
    expect(got.get('counter')).toEqual({ count: 42, migrated: true });
    expect(got.get('labels')).toEqual(multiProviders[1].state());
    expect(deepDiff(got.get('records'), multiProviders[2].state(), false)).toBeUndefined();
  });

  it('every good image verifies', async () => {
    for (const name of ['values', 'classes', 'large', 'multi']) {
      const img = await openImageFile(fixture(v, name));
      const report = await img.verify({ classes });
      await img.close();
      expect(report, name).toMatchObject({ ok: true, problems: [] });
    }
  });

  it('broken images are refused with their own codes', async () => {
    expect((await codeOf(openImageFile(fixture(v, 'broken-truncated')))).code).toBe(ErrorCodes.CORRUPT);
    const bad = await openImageFile(fixture(v, 'broken-checksum'));
    expect((await codeOf(bad.readProvider('values', { classes }))).code).toBe(ErrorCodes.CORRUPT);
    const report = await bad.verify({ classes });
    expect(report.ok).toBe(false);
    expect(report.problems[0]).toMatchObject({ code: ErrorCodes.CORRUPT, where: 'segment 0' });
    await bad.close();
    const newer = await codeOf(openImageFile(fixture(v, 'broken-newer-format')));
    expect(newer.code).toBe(ErrorCodes.FORMAT_NEWER);
    expect(newer.message).toMatch(/format version 99.*up to 3/);
    const flag = await codeOf(openImageFile(fixture(v, 'broken-unknown-flag')));
    expect(flag.code).toBe(ErrorCodes.UNSUPPORTED_FEATURE);
    expect(flag.message).toContain('0x80');
  });
});

describe('format 2 additions', () => {
  it('v2 images carry hostname and meta; v1 images read with hostname null and empty meta', async () => {
    const v2 = await openImageFile(fixture(2, 'values'));
    expect(v2.manifest.hostname).toBe('golden-host');
    expect({ ...v2.manifest.meta }).toEqual({ purpose: 'golden', n: 1 });
    await v2.close();
    const v1 = await openImageFile(fixture(1, 'values'));
    expect(v1.manifest.hostname).toBeNull();
    expect({ ...v1.manifest.meta }).toEqual({});
    expect(v1.index.segments.every((s) => s.flags === 0)).toBe(true);
    await v1.close();
  });
});
