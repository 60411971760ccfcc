import { describe, it, expect, afterEach } from 'vitest';
import { readdir, rm, stat, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { Checkpointer, ErrorCodes, FsStore, LIBRARY_VERSION, WarningCodes } from '../../src/index.js';
import { FORMAT_VERSION, openImageFile } from '../../src/format/index.js';
import type { CkptError, CkptWarning, ResumeContext } from '../../src/index.js';
import { expectCode, flipFileByte, removeTempDirs, tempDir } from './helpers.js';

afterEach(removeTempDirs);

interface SimState {
  grid: Float64Array;
  meta: { name: string; tick: number };
}

function sim(dir: string, options: { app?: string; retention?: { keepLast: number }; readOnly?: boolean } = {}) {
  const box: { state: SimState } = {
    state: { grid: Float64Array.from({ length: 50_000 }, (_, i) => Math.round(Math.sin(i / 100) * 1e6) / 1e3), meta: { name: 'heat', tick: 0 } },
  };
  const resumes: ResumeContext[] = [];
  const ckpt = new Checkpointer({ store: dir, ...options });
  ckpt.register({
    id: 'grid',
    version: 2,
    migrations: { 2: (s) => s },
    snapshot: () => box.state.grid,
    restore: (s) => {
      box.state.grid = s;
    },
    resume: (ctx) => {
      resumes.push(ctx);
    },
  });
  ckpt.register({
    id: 'meta',
    snapshot: () => box.state.meta,
    restore: (s) => {
      box.state.meta = s;
    },
  });
  return { ckpt, box, resumes };
}

describe('Checkpointer on an FsStore', () => {
  it('a directory path makes an FsStore; CheckpointInfo describes the file exactly', async () => {
    const dir = await tempDir();
    const { ckpt } = sim(dir, { app: 'heat-sim' });
    expect(ckpt.store).toBeInstanceOf(FsStore);
    const before = Date.now();
    const info = await ckpt.checkpoint({ step: 1200, label: 'hourly' });
    const after = Date.now();
    const file = join(dir, `${info.id}.ckpt`);
    expect(info.id).toBe('000000000001');
    expect(info.step).toBe(1200);
    expect(info.label).toBe('hourly');
    expect(info.app).toBe('heat-sim');
    expect(info.formatVersion).toBe(FORMAT_VERSION);
    expect(info.library).toContain(LIBRARY_VERSION);
    expect(info.node).toBe(process.version);
    expect(info.createdAt).toBeInstanceOf(Date);
    expect(info.createdAt.getTime()).toBeGreaterThanOrEqual(before);
    expect(info.createdAt.getTime()).toBeLessThanOrEqual(after);
    expect(info.bytes).toBe((await stat(file)).size);
    expect(info.providers.map((p) => [p.id, p.version])).toEqual([
      ['grid', 2],
      ['meta', 1],
    ]);
    const grid = info.providers[0]!;
    // 50 000 doubles go to a blob; the value stream adds a few bytes.
    expect(grid.rawBytes).toBeGreaterThanOrEqual(400_000);
    expect(grid.rawBytes).toBeLessThan(400_100);
    expect(grid.storedBytes).toBeGreaterThan(0);
    expect(grid.storedBytes).toBeLessThan(grid.rawBytes); // smooth data compresses
    const total = info.providers.reduce((n, p) => n + p.storedBytes, 0);
    expect(total).toBeLessThan(info.bytes);
    expect(info.pauseMs).toBeGreaterThanOrEqual(0);
    expect(info.pauseMs).toBeLessThanOrEqual(info.totalMs);

    // list() describes the same image the same way.
    const [listed] = await ckpt.list();
    const { pauseMs: _p, totalMs: _t, kind, bytesWritten, bytesReferenced, references, ...imageInfo } = info;
    // What this checkpoint wrote: a full image, all of it.
    expect({ kind, bytesWritten, bytesReferenced, references }).toEqual({ kind: 'full', bytesWritten: info.bytes, bytesReferenced: 0, references: [] });
    expect(listed).toEqual(imageInfo);
    await ckpt.close();
    expect((await readdir(dir)).sort()).toEqual(['000000000001.ckpt']);
  });

  it('restores after a "restart" (a new Checkpointer on the same directory)', async () => {
    const dir = await tempDir();
    const first = sim(dir);
    first.box.state.meta.tick = 77;
    const saved = first.box.state.grid.slice();
    await first.ckpt.checkpoint({ step: 77 });
    await first.ckpt.close();

    const second = sim(dir);
    second.box.state.grid.fill(0);
    const result = await second.ckpt.restore();
    expect(result?.image.step).toBe(77);
    expect(second.box.state.meta).toEqual({ name: 'heat', tick: 77 });
    expect(Buffer.from(second.box.state.grid.buffer).equals(Buffer.from(saved.buffer))).toBe(true);
  });

  it('restore() resolves undefined when the directory does not exist yet', async () => {
    const dir = join(await tempDir(), 'not', 'yet');
    const { ckpt } = sim(dir);
    expect(await ckpt.restore()).toBeUndefined();
    expect(await ckpt.list()).toEqual([]);
  });

  it('a second Checkpointer on the same directory gets LOCKED at its first checkpoint and at restore(), can list, restores read-only; close() releases', async () => {
    const dir = await tempDir();
    const a = sim(dir);
    a.box.state.meta.tick = 1;
    const first = await a.ckpt.checkpoint({ step: 1 });

    const b = sim(dir);
    const err = await expectCode(b.ckpt.checkpoint({ step: 2 }), ErrorCodes.LOCKED);
    // b's providers were told the checkpoint failed, with that error.
    expect(b.resumes).toHaveLength(1);
    expect(b.resumes[0]!.ok).toBe(false);
    expect(b.resumes[0]!.error).toBe(err);
    expect((await b.ckpt.list()).map((i) => i.id)).toEqual([first.id]);
    b.box.state.meta.tick = -1;
    // A writer takes the lock before restoring: nothing is restored.
    await expectCode(b.ckpt.restore(), ErrorCodes.LOCKED);
    expect(b.box.state.meta.tick).toBe(-1);
    const reader = sim(dir, { readOnly: true });
    expect((await reader.ckpt.restore())?.image.id).toBe(first.id);
    expect(reader.box.state.meta.tick).toBe(1);
    await expectCode(reader.ckpt.checkpoint(), ErrorCodes.READ_ONLY);
    await reader.ckpt.close();

    // a still holds the lock and keeps writing.
    expect((await a.ckpt.checkpoint({ step: 3 })).id).toBe('000000000002');
    await expectCode(b.ckpt.checkpoint({ step: 4 }), ErrorCodes.LOCKED);

    await a.ckpt.close();
    const ok = await b.ckpt.checkpoint({ step: 5 });
    expect(ok.id).toBe('000000000003');
    // Now a (closed) is out and a third one is locked out by b.
    await expectCode(a.ckpt.checkpoint(), ErrorCodes.CLOSED);
    const c = sim(dir);
    await expectCode(c.ckpt.checkpoint(), ErrorCodes.LOCKED);
    await b.ckpt.close();
    expect((await c.ckpt.checkpoint()).id).toBe('000000000004');
    await c.ckpt.close();
  });

  it('a lost writer lock (lock file removed) fails that checkpoint with LOCKED, and the next one takes the lock again', async () => {
    const dir = await tempDir();
    const { ckpt } = sim(dir);
    await ckpt.checkpoint({ step: 1 });
    await rm(join(dir, '.ckpt-lock'));
    const err = await expectCode(ckpt.checkpoint({ step: 2 }), ErrorCodes.LOCKED);
    expect(err.message).toContain('lost');
    expect((await ckpt.list()).map((i) => i.step)).toEqual([1]);
    // Someone else grabs the free lock meanwhile: this one is locked out, not stuck.
    const other = sim(dir);
    expect((await other.ckpt.checkpoint({ step: 3 })).step).toBe(3);
    await expectCode(ckpt.checkpoint({ step: 4 }), ErrorCodes.LOCKED);
    await other.ckpt.close();
    const info = await ckpt.checkpoint({ step: 5 });
    expect(info.step).toBe(5);
    expect((await ckpt.list()).map((i) => i.step)).toEqual([5, 3, 1]);
    await ckpt.close();
    expect(await readdir(dir)).not.toContain('.ckpt-lock');
  });

  it('removes leftovers of an interrupted checkpoint at the first checkpoint and warns about it', async () => {
    const dir = await tempDir();
    const leftover = '.tmp-000000000001-99999-abcd.partial';
    await writeFile(join(dir, leftover), 'half an image');
    const { ckpt } = sim(dir);
    const warnings: CkptWarning[] = [];
    ckpt.on('warning', (w) => warnings.push(w));
    expect(await ckpt.list()).toEqual([]);
    const info = await ckpt.checkpoint();
    expect(info.id).toBe('000000000001');
    expect(warnings.map((w) => w.message)).toEqual([expect.stringContaining('removed 1 leftover temporary file') as string]);
    expect(await readdir(dir)).not.toContain(leftover);
  });

  it('falls back past a damaged newest file and reports it', async () => {
    const dir = await tempDir();
    const { ckpt, box } = sim(dir);
    const warnings: CkptWarning[] = [];
    ckpt.on('warning', (w) => warnings.push(w));
    box.state.meta.tick = 1;
    const one = await ckpt.checkpoint();
    box.state.meta.tick = 2;
    const two = await ckpt.checkpoint();
    // Damage the middle of the grid's blob (a data segment) in the newest image.
    const path = join(dir, `${two.id}.ckpt`);
    const probe = await openImageFile(path);
    const seg = probe.index.segments[probe.provider('grid')!.blobs[0]!.first]!;
    await probe.close();
    await flipFileByte(path, seg.offset + Math.floor(seg.storedLength / 2));
    box.state.meta.tick = -1;
    const result = await ckpt.restore();
    expect(result?.image.id).toBe(one.id);
    expect(result?.fellBack).toBe(true);
    expect(result?.skipped.map((s) => [s.id, s.code])).toEqual([[two.id, ErrorCodes.CORRUPT]]);
    expect(box.state.meta.tick).toBe(1);
    expect(warnings.map((w) => w.code)).toEqual([WarningCodes.IMAGE_SKIPPED]);
    expect((warnings[0]!.error as CkptError).code).toBe(ErrorCodes.CORRUPT);
  });

  it('retention deletes the files', async () => {
    const dir = await tempDir();
    const { ckpt } = sim(dir, { retention: { keepLast: 2 } });
    for (let s = 1; s <= 4; s++) await ckpt.checkpoint({ step: s });
    await ckpt.close();
    expect((await readdir(dir)).filter((n) => n.endsWith('.ckpt')).sort()).toEqual(['000000000003.ckpt', '000000000004.ckpt']);
  });
});

describe('openImageFile', () => {
  it('reads the manifest and providers without a Checkpointer, reads one provider, and verifies', async () => {
    const dir = await tempDir();
    const { ckpt, box } = sim(dir, { app: 'heat-sim' });
    box.state.meta.tick = 9;
    const info = await ckpt.checkpoint({ step: 9, label: 'x' });
    await ckpt.close();
    const reader = await openImageFile(join(dir, `${info.id}.ckpt`));
    try {
      expect(reader.id).toBe(`${info.id}.ckpt`);
      expect(reader.size).toBe(info.bytes);
      expect(reader.manifest).toMatchObject({ imageId: info.id, app: 'heat-sim', step: 9, label: 'x', node: process.version });
      expect(reader.manifest.createdAt).toBe(info.createdAt.toISOString());
      expect(reader.providers.map((p) => ({ id: p.id, version: p.version, rawBytes: p.rawBytes, storedBytes: p.storedBytes }))).toEqual(
        info.providers.map((p) => ({ ...p })),
      );
      expect(reader.providers[0]!.blobs).toBe(1);
      expect(reader.providers[1]!.blobs).toBe(0);
      expect(await reader.readProvider('meta')).toEqual({ name: 'heat', tick: 9 });
      const grid = (await reader.readProvider('grid')) as Float64Array;
      expect(grid).toBeInstanceOf(Float64Array);
      expect(Buffer.from(grid.buffer, grid.byteOffset, grid.byteLength).equals(Buffer.from(box.state.grid.buffer))).toBe(true);
      await expectCode(reader.readProvider('nope'), ErrorCodes.NOT_FOUND);
      const report = await reader.verify();
      expect(report.ok).toBe(true);
      expect(report.problems).toEqual([]);
      expect(report.providersDecoded).toBe(2);
      expect(report.segmentsChecked).toBeGreaterThanOrEqual(3);
    } finally {
      await reader.close();
    }
  });

  it('verify() of a damaged file lists the problems instead of throwing', async () => {
    const dir = await tempDir();
    const { ckpt } = sim(dir);
    const info = await ckpt.checkpoint();
    await ckpt.close();
    const path = join(dir, `${info.id}.ckpt`);
    const probe = await openImageFile(path);
    const gridSeg = probe.index.segments[probe.provider('grid')!.blobs[0]!.first]!;
    await probe.close();
    await flipFileByte(path, gridSeg.offset + Math.floor(gridSeg.storedLength / 2));

    const reader = await openImageFile(path);
    try {
      const report = await reader.verify();
      expect(report.ok).toBe(false);
      expect(report.problems).toHaveLength(1);
      expect(report.problems[0]).toMatchObject({ code: ErrorCodes.CORRUPT, where: expect.stringMatching(/^segment \d+$/) as string });
      // The undamaged provider still decodes.
      expect(report.providersDecoded).toBe(1);
      expect(await reader.readProvider('meta')).toEqual({ name: 'heat', tick: 0 });
      await expectCode(reader.readProvider('grid'), ErrorCodes.CORRUPT);
    } finally {
      await reader.close();
    }
  });

  it('a file with a damaged index cannot be opened: CORRUPT; a missing file: NOT_FOUND', async () => {
    const dir = await tempDir();
    const { ckpt } = sim(dir);
    const info = await ckpt.checkpoint();
    await ckpt.close();
    const path = join(dir, `${info.id}.ckpt`);
    await flipFileByte(path, info.bytes - 40 - 2); // last byte(s) of the index, before the 40-byte trailer
    await expectCode(openImageFile(path), ErrorCodes.CORRUPT);
    await expectCode(openImageFile(join(dir, 'missing.ckpt')), ErrorCodes.NOT_FOUND);
  });
});
