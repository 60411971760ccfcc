// Encrypted incremental images (format 5): `encryption` and `incremental`
// together. Unchanged segments are referred to and stay sealed under the key
// of the image that holds them; changed ones (XOR deltas included) are sealed
// under the new image's key. Restores exactly (on this thread and through the
// pool), a referenced segment needs its holder's key id, `ckpt rekey` covers
// the chain, a damaged or replaced holder is refused, and an image never
// refers across plaintext and encrypted.
import { cp, mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, describe, expect, it, vi } from 'vitest';
import { run } from '../../src/cli/program.js';
import { keySource } from '../../src/crypto/keys.js';
import { ErrorCodes, type CheckpointInfo, type EncryptionOptions } from '../../src/index.js';
import { RequiredFlag, SegmentCodec } from '../../src/image/constants.js';
import { createFormatList } from '../../src/image/format-list.js';
import { FORMATS, modelOfV4 } from '../../src/image/format-registry.js';
import { IncrementalPlan } from '../../src/image/incremental-plan.js';
import { SegmentFlag } from '../../src/image/index-model.js';
import { formatV1 } from '../../src/image/index-v1.js';
import { formatV2 } from '../../src/image/index-v2.js';
import { formatV3 } from '../../src/image/index-v3.js';
import { formatV4 } from '../../src/image/index-v4.js';
import { openStoreImage } from '../../src/image/open-store.js';
import { ImageReader } from '../../src/image/reader.js';
import { writeImage } from '../../src/image/writer.js';
import { ZstdPool } from '../../src/image/pool.js';
import { SegmentPipeline } from '../../src/image/segment-pipeline.js';
import { FsStore } from '../../src/store/fs-store.js';
import { compactImage } from '../../src/retention/compact.js';
import type { ImageSink } from '../../src/store/store.js';
import { expectCode } from '../helpers/errors.js';
import { captured, FIXED_MANIFEST, memorySource } from '../helpers/image-bytes.js';
import { app, copyState, dirtyClustered, dirtyScattered, kinds, makeState, type AppState } from '../incremental/helpers.js';
import { KEY_A, KEY_B } from './helpers.js';

const K1: EncryptionOptions = { keys: { k1: KEY_A }, current: 'k1' };
const dirs: string[] = [];
afterEach(async () => {
  for (const d of dirs.splice(0)) await rm(d, { recursive: true, force: true });
});

async function temp(): Promise<string> {
  const d = await mkdtemp(join(tmpdir(), 'ckpt-enc-incr-'));
  dirs.push(d);
  return d;
}

/** The reader of image `id` of the store in `dir`, holders reachable, opened with `encryption`'s keys. */
function readerOf(dir: string, id: string, encryption: EncryptionOptions): Promise<ImageReader> {
  return openStoreImage(new FsStore(dir), id, { keys: keySource(encryption) });
}

/** Restore image `id` of `dir` into a fresh state (read-only Checkpointer). */
async function restored(dir: string, id: string, encryption: EncryptionOptions, threads = 0): Promise<AppState> {
  const box = { state: makeState(1, 0) };
  const ckpt = app(dir, box, { readOnly: true, encryption, compression: { level: 1, threads } });
  try {
    await ckpt.restore(id);
  } finally {
    await ckpt.close();
  }
  return box.state;
}

function expectSameState(a: AppState, b: AppState): void {
  expect(Buffer.from(a.field.buffer).equals(Buffer.from(b.field.buffer))).toBe(true);
  expect(Buffer.from(a.ids.buffer).equals(Buffer.from(b.ids.buffer))).toBe(true);
  expect(a.records).toEqual(b.records);
  expect(a.counter).toEqual(b.counter);
}

/**
 * Write `n` images: the first full, each next one after a clustered (or, for
 * XOR, scattered) change. With threads, the state is 8.5 MiB in 1 MiB
 * segments: the pool encodes (and seals) images of at least 8 MiB.
 */
async function chain(dir: string, n: number, options: { delta: 'segments' | 'xor'; threads: number; encryption?: EncryptionOptions; persist?: 'sync' | 'async' }): Promise<{ infos: CheckpointInfo[]; states: AppState[] }> {
  const pooled = options.threads > 0;
  const box = { state: pooled ? makeState(136, 100) : makeState(8, 500) };
  const ckpt = app(dir, box, {
    encryption: options.encryption ?? K1,
    incremental: { delta: options.delta },
    compression: { level: 1, threads: options.threads },
    persist: options.persist ?? 'sync',
    ...(pooled ? { segmentSize: 1024 * 1024 } : {}),
  });
  const infos: CheckpointInfo[] = [];
  const states: AppState[] = [];
  try {
    for (let k = 0; k < n; k++) {
      if (k > 0) {
        if (options.delta === 'xor') dirtyScattered(box.state, k);
        else dirtyClustered(box.state, 0.6, k);
        box.state.counter.step = k;
      }
      infos.push(await ckpt.checkpoint());
      states.push(copyState(box.state));
    }
  } finally {
    await ckpt.close();
  }
  return { infos, states };
}

describe('encrypted incremental images (format 5)', () => {
  for (const delta of ['segments', 'xor'] as const) {
    for (const [threads, persist] of [[0, 'sync'], [2, 'sync'], [2, 'async']] as const) {
      it(`delta '${delta}', ${threads} threads, ${persist} persist: refers to unchanged segments, seals the rest, restores every image exactly`, async () => {
        const dir = await temp();
        const encodes = vi.spyOn(ZstdPool.prototype, 'encodeSegment');
        const sealedHere = vi.spyOn(SegmentPipeline.prototype, 'sealCompressed');
        let infos: CheckpointInfo[];
        let states: AppState[];
        try {
          ({ infos, states } = await chain(dir, 4, { delta, threads, persist }));
          if (threads > 0) {
            // The pool threads encoded the segments and sealed them (none sealed on this thread).
            expect(encodes.mock.calls.length).toBeGreaterThan(0);
            expect(encodes.mock.calls.every(([task]) => task.open !== undefined && task.open.key.length === 32)).toBe(true);
            expect(sealedHere).not.toHaveBeenCalled();
          } else expect(encodes).not.toHaveBeenCalled();
        } finally {
          encodes.mockRestore();
          sealedHere.mockRestore();
        }
        expect(infos[0]!.kind).toBe('full');
        for (const info of infos.slice(1)) {
          expect(info.kind).toBe('incremental');
          expect(info.references).toContain(infos[0]!.id);
          expect(info.bytesReferenced).toBeGreaterThan(0);
          expect(info.bytesWritten).toBeLessThan(infos[0]!.bytesWritten / 2);
        }
        for (const info of infos) {
          const r = await readerOf(dir, info.id, K1);
          try {
            expect(r.header.formatVersion).toBe(5);
            expect(r.header.requiredFlags & RequiredFlag.ENCRYPTED_SEGMENTS).toBe(RequiredFlag.ENCRYPTED_SEGMENTS);
            expect((r.header.requiredFlags & RequiredFlag.SEGMENTS_BY_REFERENCE) !== 0).toBe(info.kind === 'incremental');
            // Every row is encrypted, the referring ones too (they repeat their holder's row).
            expect(r.index.segments.every((s) => (s.flags & SegmentFlag.ENCRYPTED) !== 0)).toBe(true);
            if (info.kind === 'incremental') {
              const k = kinds(r.index);
              expect(k.referenced).toBeGreaterThan(0);
              if (delta === 'xor') expect(k.deltas).toBeGreaterThan(0);
              else expect(k.deltas).toBe(0);
            }
          } finally {
            await r.close();
          }
          // Nothing of the value stream is in the clear (a record key of the state).
          expect((await readFile(join(dir, `${info.id}.ckpt`))).includes(Buffer.from('score'))).toBe(false);
        }
        for (let k = 0; k < infos.length; k++) expectSameState(await restored(dir, infos[k]!.id, K1, threads), states[k]!);
        // Without the key nothing restores.
        await expectCode(restored(dir, infos[3]!.id, { keys: { other: KEY_B }, current: 'other' }), ErrorCodes.KEY);
      });
    }
  }

  it('a referenced segment keeps the key of the image holding it: after a rotation both key ids are needed, until ckpt rekey covers the chain', async () => {
    const dir = await temp();
    const first = await chain(dir, 1, { delta: 'segments', threads: 0 });
    // Rotate: k2 is current, k1 stays in the keyring. The restored image is the next parent.
    const rotated: EncryptionOptions = { keys: { k1: KEY_A, k2: KEY_B }, current: 'k2' };
    const box = { state: makeState(1, 0) };
    const ckpt = app(dir, box, { encryption: rotated, incremental: true });
    await ckpt.restore();
    dirtyClustered(box.state, 0.3, 5);
    const second = await ckpt.checkpoint();
    const expected = copyState(box.state);
    await ckpt.close();
    expect(second.kind).toBe('incremental');
    expect(second.references).toEqual([first.infos[0]!.id]);
    const r = await readerOf(dir, second.id, rotated);
    expect(r.crypto?.key.keyId).toBe('k2');
    expect(kinds(r.index).referenced).toBeGreaterThan(0);
    await r.close();
    // Only k2: the referenced segments are sealed under image 1's key, k1.
    const missing = await expectCode(restored(dir, second.id, { keys: { k2: KEY_B }, current: 'k2' }), ErrorCodes.KEY);
    expect(missing.message).toContain('"k1"');
    expectSameState(await restored(dir, second.id, rotated), expected);
    // Rekey image 1 to k2 (image 2 is under k2 already): k1 is no longer needed.
    const k1File = join(dir, 'k1.bin');
    const k2File = join(dir, 'k2.bin');
    await writeFile(k1File, KEY_A);
    await writeFile(k2File, KEY_B);
    let out = '';
    const io = { write: (s: string | Uint8Array) => ((out += typeof s === 'string' ? s : Buffer.from(s).toString()), true) };
    const code = await run(['rekey', dir, '--from-key', k1File, '--to-key', k2File, '--to-key-id', 'k2', '--json'], { stdout: io, stderr: io, env: { NO_COLOR: '1' }, cwd: process.cwd() });
    expect(code).toBe(0);
    const report = JSON.parse(out) as { rekeyed: { id: string }[]; alreadyRekeyed: string[] };
    expect(report.rekeyed.map((x) => x.id)).toEqual([first.infos[0]!.id]);
    expect(report.alreadyRekeyed).toEqual([second.id]);
    expectSameState(await restored(dir, second.id, { keys: { k2: KEY_B }, current: 'k2' }), expected);
    expectSameState(await restored(dir, first.infos[0]!.id, { keys: { k2: KEY_B }, current: 'k2' }), first.states[0]!);
  });

  it('a damaged holder segment is CORRUPT naming the holder; a holder replaced by another image under the same key is MISSING_REFERENCE', async () => {
    const dir = await temp();
    const { infos } = await chain(dir, 2, { delta: 'segments', threads: 0 });
    const [holderId, referrerId] = [infos[0]!.id, infos[1]!.id];
    const r = await readerOf(dir, referrerId, K1);
    const at = r.index.segments.findIndex((s) => s.ref !== undefined && r.index.providers.find((p) => p.id === 'field')!.blobs.some((b) => b.first <= r.index.segments.indexOf(s) && r.index.segments.indexOf(s) < b.first + b.count));
    const row = r.index.segments[at]!;
    await r.close();
    expect(at).toBeGreaterThanOrEqual(0);
    const holderPath = join(dir, `${holderId}.ckpt`);
    const original = await readFile(holderPath);
    // One bit of the ciphertext of the referenced segment, in the holder's file.
    const damaged = Buffer.from(original);
    damaged[row.offset + 20]! ^= 0x04;
    await writeFile(holderPath, damaged);
    const reader = await readerOf(dir, referrerId, K1);
    const err = await expectCode(reader.readProvider('field'), ErrorCodes.CORRUPT);
    await reader.close();
    expect(err.image).toBe(holderId);
    expect(err.message).toMatch(new RegExp(`held for image ${referrerId}`));
    // Another encrypted image, same key, same id: its uuid is not the one referred to.
    const other = await temp();
    await chain(other, 1, { delta: 'segments', threads: 0 });
    await cp(join(other, `${holderId}.ckpt`), holderPath);
    const replaced = await readerOf(dir, referrerId, K1);
    await expectCode(replaced.readProvider('field'), ErrorCodes.MISSING_REFERENCE);
    await replaced.close();
    // The original back: readable again.
    await writeFile(holderPath, original);
    const back = await readerOf(dir, referrerId, K1);
    expect((await back.verify()).ok).toBe(true);
    await back.close();
  });

  it('a damaged XOR delta: restore (threads checking through the pool) falls back to the image before', async () => {
    const dir = await temp();
    const { infos, states } = await chain(dir, 3, { delta: 'xor', threads: 2 });
    const r = await readerOf(dir, infos[2]!.id, K1);
    const row = r.index.segments.find((s) => s.codec === SegmentCodec.XOR_ZSTD && s.ref === undefined)!;
    await r.close();
    const path = join(dir, `${infos[2]!.id}.ckpt`);
    const bytes = await readFile(path);
    bytes[row.offset + Math.floor(row.storedLength / 2)]! ^= 0x10;
    await writeFile(path, bytes);
    const box = { state: makeState(1, 0) };
    const ckpt = app(dir, box, { readOnly: true, encryption: K1, compression: { level: 1, threads: 2 } });
    const warnings: string[] = [];
    ckpt.on('warning', (w) => warnings.push(w.message));
    try {
      const info = await ckpt.restore();
      expect(info?.image.id).toBe(infos[1]!.id);
      expect(info?.fellBack).toBe(true);
    } finally {
      await ckpt.close();
    }
    expectSameState(box.state, states[1]!);
    expect(warnings.some((m) => m.includes(infos[2]!.id))).toBe(true);
  });

  it('turning encryption on starts a full image: an encrypted image never refers to a plaintext one', async () => {
    const dir = await temp();
    const box = { state: makeState(8, 100) };
    const p = app(dir, box, { incremental: true });
    const plainInfo = await p.checkpoint();
    await p.close();
    const migrating: EncryptionOptions = { keys: { k1: KEY_A }, current: 'k1', allowPlaintext: true };
    const e = app(dir, box, { encryption: migrating, incremental: true });
    await e.restore();
    dirtyClustered(box.state, 0.5, 1);
    const firstEncrypted = await e.checkpoint();
    dirtyClustered(box.state, 0.5, 2);
    const next = await e.checkpoint();
    await e.close();
    expect(plainInfo.kind).toBe('full');
    expect(firstEncrypted.kind).toBe('full');
    expect(firstEncrypted.references).toEqual([]);
    expect(next.kind).toBe('incremental');
    expect(next.references).toEqual([firstEncrypted.id]);
    // The writer refuses a plan across the two, either way.
    const plainIndex = await readerOf(dir, plainInfo.id, migrating);
    const encIndex = await readerOf(dir, firstEncrypted.id, migrating);
    const sink: ImageSink = { id: '000000000099', write: () => Promise.resolve(), commit: () => Promise.resolve(), abort: () => Promise.resolve() };
    const settings = { level: 1, segmentSize: 4096, blobThreshold: 256 };
    const across = [
      writeImage(sink, FIXED_MANIFEST, [captured('a', 1)], { ...settings, encryption: keySource(migrating), incremental: { plan: new IncrementalPlan({ ref: { imageId: plainInfo.id, uuid: plainIndex.manifest.uuid! }, index: plainIndex.index }, false) } }),
      writeImage(sink, FIXED_MANIFEST, [captured('a', 1)], { ...settings, incremental: { plan: new IncrementalPlan({ ref: { imageId: firstEncrypted.id, uuid: encIndex.manifest.uuid! }, index: encIndex.index }, false) } }),
    ];
    expect((await expectCode(across[0]!, ErrorCodes.INVALID_ARGUMENT)).message).toMatch(/encrypted image cannot refer to a plaintext one/);
    expect((await expectCode(across[1]!, ErrorCodes.INVALID_ARGUMENT)).message).toMatch(/plaintext image cannot refer to an encrypted one/);
    await plainIndex.close();
    await encIndex.close();
  });

  it('format 5 is newer than a format-4 reader; an encrypted image with references cannot be written as format 4', async () => {
    const dir = await temp();
    const { infos } = await chain(dir, 2, { delta: 'segments', threads: 0 });
    const bytes = await readFile(join(dir, `${infos[1]!.id}.ckpt`));
    const upTo4 = createFormatList([formatV1, formatV2, formatV3, formatV4], modelOfV4);
    const newer = await expectCode(ImageReader.openWith(upTo4, memorySource(bytes), { keys: keySource(K1) }), ErrorCodes.FORMAT_NEWER);
    expect(newer.message).toMatch(/format version 5.*up to 4/);
    const r = await readerOf(dir, infos[1]!.id, K1);
    const index = r.index;
    await r.close();
    expect(() => FORMATS.encodeIndex(index, 4)).toThrow(/format 4 cannot hold/);
    expect(FORMATS.encodeIndex(index, 5).length).toBeGreaterThan(0);
  });

  it('ckpt verify and inspect read a format-5 store with --key-file; without it they name the key id', async () => {
    const dir = await temp();
    const { infos } = await chain(dir, 2, { delta: 'xor', threads: 0 });
    const keyFile = join(dir, 'k1.bin');
    await writeFile(keyFile, KEY_A);
    const cli = async (args: string[]): Promise<{ code: number; text: string }> => {
      let text = '';
      const io = { write: (s: string | Uint8Array) => ((text += typeof s === 'string' ? s : Buffer.from(s).toString()), true) };
      const code = await run(args, { stdout: io, stderr: io, env: { NO_COLOR: '1' }, cwd: process.cwd() });
      return { code, text };
    };
    const ok = await cli(['verify', dir, '--key-file', keyFile]);
    expect(ok.code).toBe(0);
    const inspect = await cli(['inspect', join(dir, `${infos[1]!.id}.ckpt`), '--key-file', keyFile, '--json']);
    expect(inspect.code).toBe(0);
    expect(JSON.parse(inspect.text)).toMatchObject({ header: { formatVersion: 5, requiredFlags: 3 } });
    const noKey = await cli(['inspect', join(dir, `${infos[1]!.id}.ckpt`)]);
    expect(noKey.code).not.toBe(0);
    expect(noKey.text).toContain('"k1"');
  });

  it('ckpt prune reads the references with the key (pins what the kept image needs, deletes the rest); without it, deletes nothing older', async () => {
    const dir = await temp();
    const { infos, states } = await chain(dir, 4, { delta: 'segments', threads: 0 });
    const keyFile = join(dir, 'k1.bin');
    await writeFile(keyFile, KEY_A);
    const cli = async (args: string[]): Promise<{ code: number; json: { images: { id: string; action: string }[] } }> => {
      let text = '';
      const io = { write: (s: string | Uint8Array) => ((text += typeof s === 'string' ? s : Buffer.from(s).toString()), true) };
      const code = await run(args, { stdout: io, stderr: { write: () => true }, env: { NO_COLOR: '1' }, cwd: process.cwd() });
      return { code, json: JSON.parse(text) as { images: { id: string; action: string }[] } };
    };
    const actions = (r: { json: { images: { id: string; action: string }[] } }): Record<string, string> => Object.fromEntries(r.json.images.map((d) => [d.id, d.action]));
    const [a, b, c, d] = infos.map((i) => i.id) as [string, string, string, string];
    expect(infos[3]!.references).toEqual([a]);
    const blind = await cli(['prune', dir, '--keep-last', '1', '--dry-run', '--json']);
    expect(blind.code).toBe(0);
    expect(Object.values(actions(blind)).includes('delete')).toBe(false);
    const keyed = await cli(['prune', dir, '--keep-last', '1', '--key-file', keyFile, '--json']);
    expect(keyed.code).toBe(0);
    expect(actions(keyed)).toEqual({ [d]: 'keep', [c]: 'delete', [b]: 'delete', [a]: 'pinned' });
    expect((await new FsStore(dir).list()).map((e) => e.id)).toEqual([d, a]);
    expectSameState(await restored(dir, d, K1), states[3]!);
  });

  it('compaction: the newest encrypted incremental image becomes a full encrypted one (library and CLI); without the key it is CKPT_ERR_KEY', async () => {
    const dir = await temp();
    const { infos, states } = await chain(dir, 3, { delta: 'xor', threads: 0 });
    const store = new FsStore(dir);
    const lock = await store.acquireWriter();
    let written: string | null;
    try {
      await expectCode(compactImage(store, lock), ErrorCodes.KEY);
      const report = await compactImage(store, lock, { encryption: K1 });
      expect(report.source).toBe(infos[2]!.id);
      expect(report.references.length).toBeGreaterThan(0);
      written = report.written;
    } finally {
      await lock.release();
    }
    expect(written).not.toBeNull();
    const r = await readerOf(dir, written!, K1);
    expect(r.header.formatVersion).toBe(4);
    expect(r.refs).toEqual([]);
    expect(r.crypto?.key.keyId).toBe('k1');
    expect(r.index.segments.every((x) => (x.flags & SegmentFlag.ENCRYPTED) !== 0 && x.codec !== SegmentCodec.XOR_ZSTD)).toBe(true);
    await r.close();
    expectSameState(await restored(dir, written!, K1), states[2]!);
    // The CLI: the key file opens the chain and wraps the copy under the image's key id (k1).
    const keyFile = join(dir, 'k1.bin');
    await writeFile(keyFile, KEY_A);
    const { infos: more } = await chain(dir, 2, { delta: 'segments', threads: 0 });
    let text = '';
    const io = { write: (x: string | Uint8Array) => ((text += typeof x === 'string' ? x : Buffer.from(x).toString()), true) };
    const code = await run(['compact', dir, '--key-file', keyFile, '--json'], { stdout: io, stderr: io, env: { NO_COLOR: '1' }, cwd: process.cwd() });
    expect(code).toBe(0);
    const cliReport = JSON.parse(text) as { source: string; written: string };
    expect(cliReport.source).toBe(more[1]!.id);
    const c = await readerOf(dir, cliReport.written, K1);
    expect(c.refs).toEqual([]);
    expect(c.crypto?.key.keyId).toBe('k1');
    await c.close();
  });
});
