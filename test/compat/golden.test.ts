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
import { convertImageFile, openImageFile, type ImageIndex } from '../../src/format/index.js';
import { SegmentCodec } from '../../src/image/constants.js';
import { chainState, chainUuid } from '../fixtures/images/expected-chain.js';
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
    expect(newer.message).toMatch(/format version 99.*up to 5/);
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

describe('golden images, format 3 (an incremental chain)', () => {
  const chainDir = fileURLToPath(new URL('../fixtures/images/v3/chain/', import.meta.url));
  const ids = ['000000000001', '000000000002', '000000000003', '000000000004'];
  const chainFile = (id: string): string => join(chainDir, `${id}.ckpt`);

  it('every image of the chain reads back exactly through its holders, and verifies', async () => {
    for (let k = 1; k <= 4; k++) {
      const img = await openImageFile(chainFile(ids[k - 1]!));
      expect(img.header.formatVersion).toBe(3);
      expect(img.manifest.uuid).toBe(chainUuid(k));
      const want = chainState(k);
      const field = (await img.readProvider('field')) as { step: number; f: Float64Array };
      expect(field.step).toBe(k);
      expect(Buffer.from(field.f.buffer, field.f.byteOffset, field.f.byteLength).equals(Buffer.from(want.field.f.buffer))).toBe(true);
      expect(await img.readProvider('info')).toEqual(want.info);
      expect((await img.verify()).ok).toBe(true);
      await img.close();
    }
  });

  it('the chain holds what it was written to hold: a full image, references, XOR deltas, references to deltas', async () => {
    const index = async (id: string): Promise<ImageIndex> => {
      const img = await openImageFile(chainFile(id));
      const ix = img.index;
      await img.close();
      return ix;
    };
    const [one, two, three, four] = await Promise.all(ids.map(index));
    expect(one!.refs).toBeUndefined();
    expect(one!.segments.every((s) => s.ref === undefined && s.codec !== SegmentCodec.XOR_ZSTD && typeof s.hash === 'bigint')).toBe(true);
    expect(two!.refs?.map((r) => r.imageId)).toEqual([ids[0]]);
    expect(two!.segments.filter((s) => s.ref !== undefined).length).toBe(14);
    expect(three!.refs?.map((r) => r.imageId)).toEqual([ids[1], ids[0]]);
    expect(three!.segments.every((s) => s.codec === SegmentCodec.XOR_ZSTD && s.base !== undefined)).toBe(true);
    expect(four!.refs?.map((r) => r.imageId)).toEqual([ids[2], ids[1], ids[0]]);
    // By-reference rows pointing at image 3's deltas (their bases resolve through image 3's refs).
    expect(four!.segments.filter((s) => s.ref !== undefined && s.codec === SegmentCodec.XOR_ZSTD).length).toBe(15);
    expect(four!.segments.filter((s) => s.base !== undefined).length).toBe(3);
  });

  it('restores the newest image through a Checkpointer on a copy of the store, and falls back past it when a holder is gone', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'ckpt-golden-chain-'));
    dirs.push(dir);
    for (const id of ids) await copyFile(chainFile(id), join(dir, `${id}.ckpt`));
    const restore = async (): Promise<{ id: string | undefined; got: Map<string, unknown>; skipped: readonly { id: string; code: string }[] }> => {
      const ckpt = new Checkpointer({ store: dir, readOnly: true });
      const got = new Map<string, unknown>();
      ckpt.register({ id: 'field', snapshot: () => 0, restore: (s) => void got.set('field', s) });
      ckpt.register({ id: 'info', version: 2, snapshot: () => 0, restore: (s) => void got.set('info', s) });
      const res = await ckpt.restore();
      await ckpt.close();
      return { id: res?.image.id, got, skipped: res?.skipped ?? [] };
    };
    const newest = await restore();
    expect(newest.id).toBe(ids[3]);
    expect(newest.got.get('info')).toEqual(chainState(4).info);
    await rm(join(dir, `${ids[1]!}.ckpt`));
    const after = await restore();
    // Images 3 and 4 need image 2: restore falls back to image 1.
    expect(after.id).toBe(ids[0]);
    expect(after.skipped.map((s) => [s.id, s.code])).toEqual([
      [ids[3], ErrorCodes.MISSING_REFERENCE],
      [ids[2], ErrorCodes.MISSING_REFERENCE],
    ]);
    expect(after.got.get('info')).toEqual(chainState(1).info);
  });

  it('converting the newest image to format 2 materializes it (the golden bytes stay as they are)', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'ckpt-golden-chain-'));
    dirs.push(dir);
    const out = join(dir, 'standalone.ckpt');
    const report = await convertImageFile(chainFile(ids[3]!), out, { to: 2 });
    expect(report).toMatchObject({ from: 3, to: 2, materialized: 18 });
    const img = await openImageFile(out);
    expect(await img.readProvider('info')).toEqual(chainState(4).info);
    expect((await img.verify()).ok).toBe(true);
    await img.close();
  });
});
