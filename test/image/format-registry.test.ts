// Format versions as data: the production list, the rules a list must keep,
// and a test-only format 6 (test/image/index-v6.ts) added to a copy of the
// list as a real new version would be — one module plus one entry — driving
// the generic writer, reader and converter.
import { createHash } from 'node:crypto';
import { mkdtemp, readFile, readdir, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterEach, describe, expect, it } from 'vitest';
import { convertImageFileWith } from '../../src/convert/convert-image.js';
import { CkptError, ErrorCodes } from '../../src/errors.js';
import { FORMAT_VERSION, TRAILER_SIZE } from '../../src/image/constants.js';
import { createFormatList, type FormatList } from '../../src/image/format-list.js';
import { defineFormatVersion, type FormatVersion } from '../../src/image/format-version.js';
import { FORMATS, READABLE_FORMAT_VERSIONS, WRITABLE_FORMAT_VERSIONS } from '../../src/image/format-registry.js';
import { decodeTrailer } from '../../src/image/header.js';
import type { ImageIndex } from '../../src/image/index-model.js';
import { formatV1, type ImageIndexV1 } from '../../src/image/index-v1.js';
import { formatV2, type ImageIndexV2 } from '../../src/image/index-v2.js';
import { formatV3 } from '../../src/image/index-v3.js';
import { formatV4 } from '../../src/image/index-v4.js';
import { formatV5 } from '../../src/image/index-v5.js';
import { ImageReader } from '../../src/image/reader.js';
import { writeImage, type CapturedProvider } from '../../src/image/writer.js';
import type { ImageSink } from '../../src/store/store.js';
import { FIXED_MANIFEST, captured, imageBytes, memorySource } from '../helpers/image-bytes.js';
import { decodeIndexV6, formatV6, formatV6OneWay, modelOfV6 } from './index-v6.js';

const identity: { toModel: (i: ImageIndexV2) => ImageIndex; fromModel: (m: ImageIndex) => ImageIndexV2 } = { toModel: (i) => i, fromModel: (m) => m };
const withV6 = createFormatList([...FORMATS.versions, formatV6], modelOfV6);
const state = { n: 1, s: 'hi', t: new Float64Array([1.5, -0]), big: new Uint8Array(300).fill(7) };
const providers = (): CapturedProvider[] => [captured('a', state, { blobThreshold: 256 }), captured('b', { list: [1, 2, 3] }, { version: 4 })];

async function failure(p: Promise<unknown> | (() => unknown)): Promise<CkptError> {
  const e = typeof p === 'function' ? await Promise.resolve().then(p).then(() => undefined, (x: unknown) => x) : await p.then(() => undefined, (x: unknown) => x);
  if (!(e instanceof CkptError)) throw new Error(`expected CkptError, got ${String(e)}`);
  return e;
}

/** Write through the generic writer with `formats` (no meta: every version can hold it). */
async function write(formats: FormatList, formatVersion?: number): Promise<Buffer> {
  const chunks: Buffer[] = [];
  const sink: ImageSink = {
    id: FIXED_MANIFEST.imageId,
    write: (c) => {
      chunks.push(Buffer.from(c));
      return Promise.resolve();
    },
    commit: () => Promise.resolve(),
    abort: () => Promise.resolve(),
  };
  await writeImage(sink, FIXED_MANIFEST, providers(), {
    level: 3,
    segmentSize: 4096,
    blobThreshold: 256,
    formats,
    ...(formatVersion === undefined ? {} : { formatVersion }),
  });
  return Buffer.concat(chunks);
}

/** The raw index bytes of an image. */
function indexBytesOf(image: Buffer): { bytes: Buffer; offset: number } {
  const t = decodeTrailer(image.subarray(image.length - TRAILER_SIZE), image.length);
  return { bytes: image.subarray(t.indexOffset, t.indexOffset + t.indexLength), offset: t.indexOffset };
}

describe('the production format list', () => {
  it('lists versions 1 to 5, writes FORMAT_VERSION by default, and is frozen', () => {
    expect(FORMATS.readable).toEqual([1, 2, 3, 4, 5]);
    expect(FORMATS.writable).toEqual([1, 2, 3, 4, 5]);
    expect(READABLE_FORMAT_VERSIONS).toBe(FORMATS.readable);
    expect(WRITABLE_FORMAT_VERSIONS).toBe(FORMATS.writable);
    expect(FORMATS.versions.map((v) => v.version)).toEqual(FORMATS.readable);
    expect(FORMATS.current).toBe(FORMAT_VERSION);
    expect(FORMATS.newest).toBe(5);
    expect(FORMATS.current).toBe(2);
    expect(Object.isFrozen(FORMATS)).toBe(true);
    expect(Object.isFrozen(FORMATS.versions)).toBe(true);
    expect(Object.isFrozen(formatV2)).toBe(true);
    expect(Object.isFrozen(formatV2.previous)).toBe(true);
    expect(() => (FORMATS.versions as FormatVersion[]).push(formatV6)).toThrow(TypeError);
  });

  it('describes conversions with the steps’ own words, in order, both ways', () => {
    expect(FORMATS.changes(2, 2)).toEqual([]);
    expect(FORMATS.changes(1, 2)).toEqual(['header: format version 1 → 2', ...formatV2.previous!.upgradeChanges]);
    expect(FORMATS.changes(2, 1)).toEqual(['header: format version 2 → 1', ...formatV2.previous!.downgradeChanges]);
    // The text `ckpt convert` printed before the list existed.
    expect(FORMATS.changes(1, 2)).toEqual([
      'header: format version 1 → 2',
      'manifest: adds hostname (nil), parent (nil) and meta ({})',
      'segments: each entry gains a flags field (0); segment bytes are copied unchanged',
    ]);
    expect(FORMATS.changes(2, 1)).toEqual(['header: format version 2 → 1', 'manifest: drops hostname (format 1 has no field for it)', 'segments: flags field removed']);
  });

  it('writes through the list exactly the bytes it wrote before (the writer’s default list)', async () => {
    for (const v of [1, 2, 3]) expect((await write(FORMATS, v)).equals(await imageBytes(providers(), { segmentSize: 4096, blobThreshold: 256, formatVersion: v }))).toBe(true);
  });

  it('refuses to read a version it does not list, and to write one it cannot', async () => {
    const v6image = await write(withV6);
    const newer = await failure(ImageReader.open(memorySource(v6image)));
    expect(newer.code).toBe(ErrorCodes.FORMAT_NEWER);
    expect(newer.message).toMatch(/format version 6.*up to 5/);
    const { bytes, offset } = indexBytesOf(v6image);
    const direct = await failure(() => FORMATS.decodeIndex(6, bytes, offset, { maxSegmentBytes: 1 << 20 }));
    expect(direct.code).toBe(ErrorCodes.FORMAT_NEWER);
    expect(direct.message).toMatch(/reads versions 1, 2, 3, 4, 5/);
    const r6 = await ImageReader.openWith(withV6, memorySource(v6image));
    const model = r6.index;
    await r6.close();
    const cannot = await failure(() => FORMATS.encodeIndex(model, 6));
    expect(cannot.code).toBe(ErrorCodes.INVALID_ARGUMENT);
    expect(cannot.message).toMatch(/cannot write image format version 6; this ckpt writes versions 1, 2, 3, 4, 5/);
  });
});

describe('layering', () => {
  it('the image layer imports nothing from src/convert/ (conversion builds on the image layer, not the reverse)', async () => {
    const dir = fileURLToPath(new URL('../../src/image/', import.meta.url));
    const files = (await readdir(dir)).filter((f) => f.endsWith('.ts'));
    expect(files).toEqual(expect.arrayContaining(['reader.ts', 'writer.ts']));
    const upward: string[] = [];
    for (const f of files) {
      const text = await readFile(join(dir, f), 'utf8');
      for (const m of text.matchAll(/from '([^']+)'/g)) if (m[1]!.includes('/convert/')) upward.push(`${f}: ${m[1]!}`);
    }
    expect(upward).toEqual([]);
  });
});

describe('building a format list', () => {
  const oldOnly = defineFormatVersion<ImageIndexV1>({ version: 2, decode: formatV1.decode, encode: formatV1.encode });

  it('refuses an empty list, gaps, wrong order, a missing step and an unwritable current version', async () => {
    const bad: (() => unknown)[] = [
      () => createFormatList([] as unknown as [FormatVersion<ImageIndexV2, unknown>], identity),
      () => createFormatList([formatV2, formatV1] as unknown as [FormatVersion<ImageIndexV2, unknown>], identity),
      () => createFormatList([formatV1, formatV6] as unknown as [FormatVersion<ImageIndexV2, unknown>], identity),
      () => createFormatList([formatV1, oldOnly] as unknown as [FormatVersion<ImageIndexV2, unknown>], identity),
      () => createFormatList([formatV1, formatV2], identity, { current: 3 }),
      () => createFormatList([...FORMATS.versions, formatV6OneWay], modelOfV6, { current: 5 }),
    ];
    for (const f of bad) {
      const e = await failure(f);
      expect(e.code).toBe(ErrorCodes.INVALID_ARGUMENT);
      expect(e.message).toMatch(/^invalid format list: /);
    }
  });

  it('refuses a version number the 16-bit header cannot hold', async () => {
    for (const version of [0, 65536, 1.5]) {
      const e = await failure(() => defineFormatVersion<ImageIndexV1>({ version, decode: formatV1.decode, encode: formatV1.encode }));
      expect(e.code).toBe(ErrorCodes.INVALID_ARGUMENT);
    }
  });

  it('a list that no longer reads an old version says so (not "upgrade ckpt")', async () => {
    const from2 = createFormatList([formatV2], identity);
    expect(from2.readable).toEqual([2]);
    const v1 = await imageBytes(providers(), { formatVersion: 1 });
    const { bytes, offset } = indexBytesOf(v1);
    const e = await failure(() => from2.decodeIndex(1, bytes, offset, { maxSegmentBytes: 1 << 20 }));
    expect(e.code).toBe(ErrorCodes.UNSUPPORTED_FEATURE);
    expect(e.message).toMatch(/convert --to 2/);
  });
});

describe('a new format version is one module plus one list entry', () => {
  const dirs: string[] = [];
  afterEach(async () => {
    for (const d of dirs.splice(0)) await rm(d, { recursive: true, force: true });
  });
  const sha = async (p: string): Promise<string> => createHash('sha256').update(await readFile(p)).digest('hex');
  const fixture = (v: number, name: string): string => fileURLToPath(new URL(`../fixtures/images/v${v}/${name}.image`, import.meta.url));

  it('the copy lists 1..6 and leaves the production list alone', () => {
    expect(withV6.readable).toEqual([1, 2, 3, 4, 5, 6]);
    expect(withV6.writable).toEqual([1, 2, 3, 4, 5, 6]);
    expect(withV6.current).toBe(6);
    expect(FORMATS.readable).toEqual([1, 2, 3, 4, 5]);
    expect(withV6.changes(1, 6)).toEqual(['header: format version 1 → 6', ...formatV2.previous!.upgradeChanges, ...formatV3.previous!.upgradeChanges, ...formatV4.previous!.upgradeChanges, ...formatV5.previous!.upgradeChanges, 'index: adds segmentCount (the number of segments)']);
    expect(withV6.changes(6, 1)).toEqual(['header: format version 6 → 1', 'index: drops segmentCount', ...formatV5.previous!.downgradeChanges, ...formatV4.previous!.downgradeChanges, ...formatV3.previous!.downgradeChanges, ...formatV2.previous!.downgradeChanges]);
  });

  it('write → read: the generic writer writes format 6 and the generic reader reads it back', async () => {
    const image = await write(withV6);
    const { bytes, offset } = indexBytesOf(image);
    const raw = decodeIndexV6(bytes, offset, { maxSegmentBytes: 1 << 20 });
    expect(raw.segmentCount).toBe(raw.segments.length);
    expect(raw.segmentCount).toBeGreaterThan(1);
    const reader = await ImageReader.openWith(withV6, memorySource(image));
    expect(reader.header.formatVersion).toBe(6);
    expect('segmentCount' in reader.index).toBe(false);
    expect(reader.index.segments.length).toBe(raw.segmentCount);
    expect(await reader.readProvider('a')).toEqual(state);
    expect(await reader.readProvider('b')).toEqual({ list: [1, 2, 3] });
    expect((await reader.verify()).ok).toBe(true);
    await reader.close();
  });

  it('a damaged format 6 field fails as CORRUPT naming it', async () => {
    const image = await write(withV6);
    const { bytes, offset } = indexBytesOf(image);
    const good = decodeIndexV6(bytes, offset, { maxSegmentBytes: 1 << 20 });
    const forged = formatV6.encode({ ...good, segmentCount: good.segmentCount + 1 });
    const e = await failure(() => withV6.decodeIndex(6, forged, offset, { maxSegmentBytes: 1 << 20 }));
    expect(e.code).toBe(ErrorCodes.CORRUPT);
    expect(e.message).toMatch(/segmentCount/);
  });

  it('upgrade: older images read through the new list equal what the production list reads', async () => {
    for (const v of [1, 2, 3, 4, 5]) {
      const image = await write(FORMATS, v);
      const before = await ImageReader.open(memorySource(image));
      const after = await ImageReader.openWith(withV6, memorySource(image));
      expect(after.header.formatVersion).toBe(v);
      expect(after.index).toEqual(before.index);
      expect(await after.readProvider('a')).toEqual(state);
      await before.close();
      await after.close();
    }
  });

  it('downgrade: writing 5, 4, 3, 2 or 1 through the new list gives the production list’s bytes exactly', async () => {
    for (const v of [1, 2, 3, 4, 5]) expect((await write(withV6, v)).equals(await write(FORMATS, v))).toBe(true);
  });

  it('convert: 1 → 6 → 1 through the generic converter reproduces the original file', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'ckpt-format6-'));
    dirs.push(dir);
    const input = fixture(1, 'multi');
    const up = await convertImageFileWith(withV6, input, join(dir, 'v6.ckpt'));
    expect(up).toMatchObject({ from: 1, to: 6, changes: withV6.changes(1, 6) });
    const reader = await ImageReader.openWith(withV6, memorySource(await readFile(join(dir, 'v6.ckpt'))));
    expect(reader.header.formatVersion).toBe(6);
    await reader.close();
    const down = await convertImageFileWith(withV6, join(dir, 'v6.ckpt'), join(dir, 'v1.ckpt'), { to: 1 });
    expect(down).toMatchObject({ from: 6, to: 1, changes: withV6.changes(6, 1) });
    expect(await sha(join(dir, 'v1.ckpt'))).toBe(await sha(input));
  });

  it('a version without a way back: only it is writable, and the refusal gives the reason', async () => {
    const oneWay = createFormatList([...FORMATS.versions, formatV6OneWay], modelOfV6);
    expect(oneWay.readable).toEqual([1, 2, 3, 4, 5, 6]);
    expect(oneWay.writable).toEqual([6]);
    const image = await write(oneWay);
    const reader = await ImageReader.openWith(oneWay, memorySource(image));
    const e = await failure(() => oneWay.encodeIndex(reader.index, 5));
    await reader.close();
    expect(e.code).toBe(ErrorCodes.INVALID_ARGUMENT);
    expect(e.message).toMatch(/format 6 cannot be downgraded to 5: test format 6 is one-way/);
    const dir = await mkdtemp(join(tmpdir(), 'ckpt-format6-'));
    dirs.push(dir);
    const conv = await failure(convertImageFileWith(oneWay, fixture(2, 'values'), join(dir, 'x.ckpt'), { to: 1 }));
    expect(conv.code).toBe(ErrorCodes.INVALID_ARGUMENT);
    const written = await failure(write(oneWay, 1));
    expect(written.code).toBe(ErrorCodes.INVALID_ARGUMENT);
  });
});
