// `ckpt ls`, `inspect` and `verify` on group images: a store written by a
// real CheckpointGroup of worker threads, and group images written directly
// (a Checkpointer whose providers are `part-<i>` part states) to damage
// one part, leave one out, add one, or break the meta.
import { readdir, stat } from 'node:fs/promises';
import { basename, join } from 'node:path';
import { afterAll, afterEach, beforeAll, describe, expect, it, vi } from 'vitest';
import { ImageReader } from '../../src/image/reader.js';
import { checkImage } from '../../src/cli/check.js';
import { openImageFileSource } from '../../src/store/fs-image-source.js';
import { Checkpointer } from '../../src/index.js';
import { StateEncoder } from '../../src/codec/encode.js';
import type { ClassLookup } from '../../src/codec/types.js';
import { META_EPOCH, META_PARTS, type PartState, type SavedProvider } from '../../src/group/protocol.js';
import { startGroup, terminateAll } from '../group/helpers.js';
import { cleanupDirs, damageSegment, ensureBuilt, hasStack, imagePath, json, runCli, tempDir } from './helpers.js';
import { openImageFile } from '../../src/format/index.js';

beforeAll(ensureBuilt);
afterEach(terminateAll);
afterAll(cleanupDirs);

interface Problem {
  code: string;
  where: string;
  message: string;
}

interface VerifyJson {
  ok: boolean;
  exitCode: number;
  images: { id: string; ok: boolean; status: string; group?: { epoch: number | null; parts: number | null; partsChecked: number; providersDecoded: number }; problems: Problem[] }[];
}

interface LsJson {
  images: { id: string; kind: string; providers: { id: string }[]; group: { epoch: number | null; parts: number | null } | null }[];
}

interface PartJson {
  index: number;
  id: string;
  present: boolean;
  step: number | null;
  providers: { id: string; version: number; tree: boolean; streamBytes: number; blobs: number; blobBytes: number; encodedBytes: number }[] | null;
  error: Problem | null;
}

/** A registered class of the directly written images (decoded without app code: a placeholder). */
class Particle {
  x = 1.5;
  y = -2;
}

const classes: ClassLookup = {
  nameOf: (proto) => (proto === Particle.prototype ? 'Particle' : undefined),
  protoOf: (name) => (name === 'Particle' ? Particle.prototype : undefined),
};

/** One provider of a part, encoded as a part encodes it (blobs from 1 KiB). */
function saved(id: string, value: unknown, version = 1): SavedProvider {
  const enc = new StateEncoder().encode(value, { tree: false, classes, blobThreshold: 1024, maxDepth: 2000 });
  return { id, version, tree: false, stream: enc.stream.slice(), blobs: enc.blobs.map((b) => b.bytes.slice()) };
}

/** Two good parts: part 0 plain state, part 1 a class instance and a Float64Array in a blob. */
function goodParts(): PartState[] {
  return [
    { step: 10, providers: [saved('config', { rate: 0.5, name: 'heat' })] },
    { step: 12, providers: [saved('particles', { list: [new Particle(), new Particle()] }), saved('cells', new Float64Array(512).fill(0.25), 2)] },
  ];
}

/**
 * Write one group image into `dir` as a CheckpointGroup would: providers
 * `ids[i]` holding `states[i]`, meta `meta`. Returns the image path.
 */
async function writeGroupImage(dir: string, states: readonly unknown[], meta: Record<string, string | number>, ids = states.map((_, i) => `part-${String(i)}`)): Promise<string> {
  const ckpt = new Checkpointer({ store: dir, app: 'group-test', signals: false });
  ids.forEach((id, i) => ckpt.register({ id, snapshot: () => states[i], restore: () => undefined }));
  const info = await ckpt.checkpoint({ step: 10, meta });
  await ckpt.close();
  return imagePath(dir, info.id);
}

const meta = (parts: number, epoch = 4): Record<string, number> => ({ [META_PARTS]: parts, [META_EPOCH]: epoch });

describe('a store written by a CheckpointGroup of worker threads', () => {
  let dir: string;
  let image: string;
  beforeAll(async () => {
    dir = await tempDir();
    const g = startGroup({ store: dir }, [
      { mode: 'counter', until: 20 },
      { mode: 'counter', until: 30, bigLength: 20_000 },
    ]);
    const result = await g.run;
    expect(result.stopped).toBe(false);
    const images = (await readdir(dir)).filter((f) => f.endsWith('.ckpt')).sort();
    expect(images.length).toBeGreaterThan(0);
    image = join(dir, images.at(-1)!);
  });

  it('ls: the image is a group image, with its epoch and part count (text and JSON)', async () => {
    const r = await runCli(['ls', dir]);
    expect(r.code, r.stderr).toBe(0);
    expect(r.stdout).toMatch(/^\*\s+\d{12}\s+20\s+.*full\s+0\s+-\s+group epoch \d+, 2 parts$/m);
    const j = json<LsJson>(await runCli(['ls', dir, '--json']));
    const img = j.images[0]!;
    expect(img.group).toEqual({ epoch: expect.any(Number) as unknown, parts: 2 });
    expect(img.group!.epoch).toBeGreaterThan(0);
    // Existing fields are unchanged: the part providers are still listed.
    expect(img.providers.map((p) => p.id)).toEqual(['part-0', 'part-1']);
    expect(img.kind).toBe('full');
  });

  it('inspect: the epoch, each part with its step and providers (id, version, mode, encoded size)', async () => {
    const r = await runCli(['inspect', image]);
    expect(r.code, r.stderr).toBe(0);
    expect(r.stdout).toMatch(/^group — epoch \d+, 2 parts$/m);
    expect(r.stdout).toMatch(/^ {2}part 0 — step 20, 1 provider$/m);
    expect(r.stdout).toMatch(/^ {2}part 1 — step 30, 2 providers$/m);
    expect(r.stdout).toMatch(/^ {4}big\s+1\s+identity\s+156 KiB\s+\d+ B\s+1 \(156 KiB\)$/m);

    const j = json<{ group: { epoch: number; parts: number; list: PartJson[] }; providers: { id: string }[] }>(await runCli(['inspect', image, '--json']));
    expect(j.group.parts).toBe(2);
    expect(j.group.list.map((p) => [p.index, p.id, p.present, p.step, p.error])).toEqual([
      [0, 'part-0', true, 20, null],
      [1, 'part-1', true, 30, null],
    ]);
    const big = j.group.list[1]!.providers!.find((p) => p.id === 'big')!;
    expect(big).toMatchObject({ version: 1, tree: false, blobs: 1, blobBytes: 160_000 });
    expect(big.encodedBytes).toBe(big.streamBytes + big.blobBytes);
    expect(j.group.list[0]!.providers!.map((p) => p.id)).toEqual(['counter']);
  });

  it('inspect --part: the part’s providers decoded, classes shown by name without app code', async () => {
    const r = await runCli(['inspect', image, '--part', '1']);
    expect(r.code, r.stderr).toBe(0);
    expect(r.stdout).toMatch(/^part 1 of group image .* — epoch \d+, step 30, 2 providers$/m);
    expect(r.stdout).toMatch(/^provider "counter" — version 1, identity mode, \d+ B encoded \(stream \d+ B\)$/m);
    expect(r.stdout).toMatch(/^provider "big" — version 1, identity mode, 156 KiB encoded \(stream \d+ B, 1 blob 156 KiB\)$/m);
    expect(r.stdout).toMatch(/tally: Tally \{/);
    expect(r.stdout).toMatch(/Float64Array\(20000\) \{ min: 0, max: 1, first: \[1, 1, 1, 1/);

    const one = await runCli(['inspect', image, '--part', '1', '--provider', 'counter', '--json']);
    expect(one.code, one.stderr).toBe(0);
    const j = json<{ part: number; step: number; group: { parts: number }; providers: { id: string; state: { tally: { $type: string; class: string; fields: { n: number } } } }[] }>(one);
    expect(j).toMatchObject({ part: 1, step: 30, group: { parts: 2 } });
    expect(j.providers.map((p) => p.id)).toEqual(['counter']);
    expect(j.providers[0]!.state.tally).toMatchObject({ $type: 'class', class: 'Tally', fields: { n: 30 } });
  });

  it('verify reads each part once: the parts are checked as the image check decodes them', async () => {
    const readProvider = vi.spyOn(ImageReader.prototype, 'readProvider');
    const verify = vi.spyOn(ImageReader.prototype, 'verify');
    try {
      const id = basename(image, '.ckpt');
      const check = await checkImage(() => openImageFileSource(image), id, image, (await stat(image)).size, { full: true, groups: true });
      expect(check.problems).toEqual([]);
      expect(check.group?.partsChecked).toBe(2);
      expect(check.group?.providersDecoded).toBeGreaterThanOrEqual(2);
      // One pass over the image (verify), no second read of any part's provider.
      expect(verify).toHaveBeenCalledTimes(1);
      expect(readProvider).not.toHaveBeenCalled();
    } finally {
      readProvider.mockRestore();
      verify.mockRestore();
    }
  });

  it('verify: every part checked (image and store)', async () => {
    const r = await runCli(['verify', image]);
    expect(r.code, r.stdout + r.stderr).toBe(0);
    expect(r.stdout).toMatch(/: ok \(\d+ segments checked, 2 of 2 providers decoded; group epoch \d+: 2 of 2 parts checked, 3 part providers decoded\)/);
    const j = json<VerifyJson>(await runCli(['verify', dir, '--json']));
    expect(j.ok).toBe(true);
    for (const img of j.images) expect(img.group).toMatchObject({ parts: 2, partsChecked: 2, providersDecoded: 3 });
  });
});

describe('group images written directly', () => {
  it('good parts verify; an ordinary image has no group and --part refuses it', async () => {
    const dir = await tempDir();
    const path = await writeGroupImage(dir, goodParts(), meta(2, 7));
    const v = await runCli(['verify', path, '--json']);
    expect(v.code, v.stdout).toBe(0);
    expect(json<VerifyJson>(v).images[0]!.group).toEqual({ epoch: 7, parts: 2, partsChecked: 2, providersDecoded: 3 });
    const part = await runCli(['inspect', path, '--part', '1']);
    expect(part.stdout).toMatch(/Particle \{ x: 1\.5, y: -2 \}/);
    expect(part.stdout).toContain('provider "cells" — version 2, identity mode, 4.01 KiB encoded (stream 8 B, 1 blob 4 KiB)');

    const plainDir = await tempDir();
    const plain = await writeGroupImage(plainDir, [{ a: 1 }], {}, ['state']);
    const ls = json<LsJson>(await runCli(['ls', plainDir, '--json']));
    expect(ls.images[0]!.group).toBeNull();
    const pv = json<VerifyJson>(await runCli(['verify', plain, '--json']));
    expect(pv.images[0]!.group).toBeUndefined();
    const r = await runCli(['inspect', plain, '--part', '0']);
    expect(r.code).toBe(1);
    expect(r.stderr).toMatch(/is not a group image \(its meta has no ckpt\.group\.parts\)/);
    expect(hasStack(r.stderr)).toBe(false);
  });

  it('--part out of range or not a number is a usage error; --provider not in the part names what it holds', async () => {
    const dir = await tempDir();
    const path = await writeGroupImage(dir, goodParts(), meta(2));
    const out = await runCli(['inspect', path, '--part', '2']);
    expect(out.code).toBe(1);
    expect(out.stderr).toMatch(/has no part 2: it holds parts 0 … 1/);
    const nan = await runCli(['inspect', path, '--part', 'one', '--json']);
    expect(nan.code).toBe(1);
    expect(json<{ error: { code: string } }>(nan).error.code).toBe('CKPT_ERR_USAGE');
    const prov = await runCli(['inspect', path, '--part', '0', '--provider', 'cells']);
    expect(prov.code).toBe(1);
    expect(prov.stderr).toMatch(/part 0 of .* has no provider "cells"; it holds: config/);
  });

  it('a damaged stream in one part: verify fails for that part only; inspect still lists the image', async () => {
    const dir = await tempDir();
    const parts = goodParts();
    const bad: PartState = { step: 12, providers: [{ ...parts[1]!.providers[0]!, stream: new Uint8Array([0xc1, 0xc1, 0xc1]) }, parts[1]!.providers[1]!] };
    const path = await writeGroupImage(dir, [parts[0], bad], meta(2));
    const r = await runCli(['verify', path, '--json']);
    expect(r.code).toBe(2);
    const img = json<VerifyJson>(r).images[0]!;
    expect(img).toMatchObject({ ok: false, status: 'damaged', group: { partsChecked: 1, providersDecoded: 2 } });
    expect(img.problems).toEqual([{ code: 'CKPT_ERR_CORRUPT', where: 'part 1 provider "particles"', message: expect.stringMatching(/^part 1, provider "particles": /) as unknown }]);
    const human = await runCli(['verify', path]);
    expect(human.code).toBe(2);
    expect(human.stdout).toMatch(/DAMAGED — 1 problem .*group epoch 4: 1 of 2 parts checked/);
    expect(human.stdout).toMatch(/^ {2}CKPT_ERR_CORRUPT {2}part 1 provider "particles": part 1, provider "particles": /m);
    // inspect reads part states, not their providers' streams: it still shows the image.
    expect((await runCli(['inspect', path])).code).toBe(0);
    const p = await runCli(['inspect', path, '--part', '1']);
    expect(p.code).toBe(2);
    expect(hasStack(p.stderr)).toBe(false);
  });

  it('a blob reference the part does not hold fails verify', async () => {
    const dir = await tempDir();
    const parts = goodParts();
    const cells = parts[1]!.providers[1]!;
    expect(cells.blobs.length).toBe(1);
    const path = await writeGroupImage(dir, [parts[0], { step: 12, providers: [parts[1]!.providers[0]!, { ...cells, blobs: [] }] }], meta(2));
    const r = await runCli(['verify', path, '--json']);
    expect(r.code).toBe(2);
    expect(json<VerifyJson>(r).images[0]!.problems.map((p) => [p.code, p.where])).toEqual([['CKPT_ERR_CORRUPT', 'part 1 provider "cells"']]);
  });

  it('a part state of the wrong shape fails verify, and inspect shows that part as unreadable', async () => {
    const dir = await tempDir();
    const path = await writeGroupImage(dir, [goodParts()[0], { step: 'late', providers: [] }], meta(2));
    const r = await runCli(['verify', path, '--json']);
    expect(r.code).toBe(2);
    expect(json<VerifyJson>(r).images[0]!.problems).toEqual([{ code: 'CKPT_ERR_CORRUPT', where: 'part 1', message: expect.stringContaining('is not a part state (bad step)') as unknown }]);
    const j = json<{ group: { list: PartJson[] } }>(await runCli(['inspect', path, '--json']));
    expect(j.group.list[1]).toMatchObject({ index: 1, present: true, step: null, providers: null, error: { code: 'CKPT_ERR_CORRUPT' } });
  });

  it('a missing part and an extra provider: meta and providers disagree, each reported; ls says so', async () => {
    const dir = await tempDir();
    const missing = await writeGroupImage(dir, goodParts(), meta(3));
    const r = await runCli(['verify', missing, '--json']);
    expect(r.code).toBe(2);
    const problems = json<VerifyJson>(r).images[0]!.problems;
    expect(problems.map((p) => [p.code, p.where])).toEqual([
      ['CKPT_ERR_CORRUPT', 'meta'],
      ['CKPT_ERR_CORRUPT', 'part 2'],
    ]);
    expect(problems[0]!.message).toMatch(/its meta says 3 parts \(ckpt\.group\.parts\) but it holds 2 providers \("part-0", "part-1"\)/);
    expect(problems[1]!.message).toMatch(/part 2: the group image has no provider "part-2"/);
    const ls = await runCli(['ls', dir]);
    expect(ls.stdout).toMatch(/group epoch 4, 3 parts \(holds 2 providers; 'ckpt verify' checks it\)/);
    const p = await runCli(['inspect', missing, '--part', '2']);
    expect(p.code).toBe(2);
    expect(p.stderr).toMatch(/part 2 is missing from the group image/);

    const dir2 = await tempDir();
    const extra = await writeGroupImage(dir2, [...goodParts(), { step: 1, providers: [] }, { x: 1 }], meta(2), ['part-0', 'part-1', 'part-2', 'notes']);
    const e = await runCli(['verify', extra, '--json']);
    expect(e.code).toBe(2);
    expect(json<VerifyJson>(e).images[0]!.problems.map((q) => q.where)).toEqual(['meta', 'provider "part-2"', 'provider "notes"']);
  });

  it('meta that is not a part count or epoch fails verify', async () => {
    const dir = await tempDir();
    const path = await writeGroupImage(dir, goodParts(), { [META_PARTS]: 'two', [META_EPOCH]: -1 });
    const r = await runCli(['verify', path, '--json']);
    expect(r.code).toBe(2);
    const problems = json<VerifyJson>(r).images[0]!.problems;
    expect(problems.map((p) => [p.code, p.where])).toEqual([
      ['CKPT_ERR_CORRUPT', 'meta'],
      ['CKPT_ERR_CORRUPT', 'meta'],
    ]);
    expect(problems[0]!.message).toMatch(/meta "ckpt\.group\.parts" is "two", not a part count/);
    expect(problems[1]!.message).toMatch(/meta "ckpt\.group\.epoch" is -1, not a group epoch/);
    const ls = json<LsJson>(await runCli(['ls', dir, '--json']));
    expect(ls.images[0]!.group).toEqual({ epoch: null, parts: null });
  });

  it('a damaged segment of a part is reported once (by the image check), not again for the part', async () => {
    const dir = await tempDir();
    const path = await writeGroupImage(dir, goodParts(), meta(2));
    const img = await openImageFile(path);
    const part1 = img.index.providers.find((p) => p.id === 'part-1')!;
    await img.close();
    await damageSegment(path, part1.stream.first);
    const r = await runCli(['verify', path, '--json']);
    expect(r.code).toBe(2);
    const j = json<VerifyJson>(r).images[0]!;
    expect(j.problems.map((p) => [p.code, p.where])).toEqual([['CKPT_ERR_CORRUPT', `segment ${String(part1.stream.first)}`]]);
    expect(j.group).toMatchObject({ partsChecked: 1, providersDecoded: 1 });
  });
});
