// The golden encrypted stores (format 4, written once by
// test/fixtures/images/make-encrypted-fixtures.ts; format 5, an encrypted
// incremental chain written once by make-encrypted-chain-fixtures.ts; never
// regenerated) read with their committed test key, show their public
// manifest without it, and fail with CKPT_ERR_KEY for any other key.
import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';
import { keySource } from '../../src/crypto/keys.js';
import { ErrorCodes } from '../../src/errors.js';
import { CODEC_ID, HEADER_SIZE, RequiredFlag, SegmentCodec } from '../../src/image/constants.js';
import { createFormatList } from '../../src/image/format-list.js';
import { modelOfV4 } from '../../src/image/format-registry.js';
import { encodeHeader } from '../../src/image/header.js';
import { SegmentFlag, type ImageIndex } from '../../src/image/index-model.js';
import { formatV1 } from '../../src/image/index-v1.js';
import { formatV2 } from '../../src/image/index-v2.js';
import { formatV3 } from '../../src/image/index-v3.js';
import { formatV4 } from '../../src/image/index-v4.js';
import { openStoreImage } from '../../src/image/open-store.js';
import { ImageReader, readPublicInfo } from '../../src/image/reader.js';
import { FsStore } from '../../src/store/fs-store.js';
import { encryptedChainState, encryptedState, GOLDEN_KEY_ID } from '../fixtures/images/expected-encrypted.js';
import { expectCode } from '../helpers/errors.js';
import { KEY_A, ring } from './helpers.js';

const dir = fileURLToPath(new URL('../fixtures/images/v4/encrypted/', import.meta.url));
const keyFile = fileURLToPath(new URL('../fixtures/images/v4/golden-k1.bin', import.meta.url));

describe('golden encrypted images (format 4)', () => {
  it('read with the committed key give the expected states', async () => {
    const key = await readFile(keyFile);
    const keys = ring({ [GOLDEN_KEY_ID]: key }, GOLDEN_KEY_ID);
    const store = new FsStore(dir);
    const ids = (await store.list()).map((e) => e.id).sort();
    expect(ids).toEqual(['000000000001', '000000000002']);
    for (const [k, id] of ids.entries()) {
      const reader = await ImageReader.open(await store.open(id), { keys });
      expect(reader.header.formatVersion).toBe(4);
      expect(reader.manifest).toMatchObject({ imageId: id, step: (k + 1) * 10, label: `enc-${k + 1}`, meta: { purpose: 'golden' } });
      expect(await reader.readProvider('field')).toEqual(encryptedState(k + 1).field);
      expect(await reader.readProvider('info')).toEqual(encryptedState(k + 1).info);
      expect((await reader.verify()).ok).toBe(true);
      await reader.close();
    }
  });

  it('show key id and public manifest without the key; refuse another key', async () => {
    const store = new FsStore(dir);
    const src = await store.open('000000000002');
    const info = await readPublicInfo(src);
    await src.close();
    expect(info.block.key).toMatchObject({ kek: 'keyring', keyId: GOLDEN_KEY_ID });
    expect(info.block.public).toEqual({ createdAt: '2026-12-02T00:00:00.000Z', step: 20, label: 'enc-2' });
    const src2 = await store.open('000000000001');
    await expectCode(ImageReader.open(src2, { keys: ring({ [GOLDEN_KEY_ID]: KEY_A }, GOLDEN_KEY_ID) }), ErrorCodes.KEY);
    await src2.close();
  });
});

describe('golden encrypted incremental chain (format 5)', () => {
  const chainDir = fileURLToPath(new URL('../fixtures/images/v5/chain/', import.meta.url));
  const ids = ['000000000001', '000000000002', '000000000003', '000000000004'];
  const both = RequiredFlag.ENCRYPTED_SEGMENTS | RequiredFlag.SEGMENTS_BY_REFERENCE;
  const goldenKeys = async () => keySource({ keys: { [GOLDEN_KEY_ID]: await readFile(keyFile) }, current: GOLDEN_KEY_ID });

  it('every image opens through its holders with the committed key, reads back the expected states, and verifies', async () => {
    const keys = await goldenKeys();
    const store = new FsStore(chainDir);
    expect((await store.list()).map((e) => e.id).sort()).toEqual(ids);
    for (const [i, id] of ids.entries()) {
      const k = i + 1;
      const reader = await openStoreImage(store, id, { keys });
      try {
        expect(reader.header.formatVersion).toBe(5);
        // The first image is full (encrypted only); the others refer to earlier ones.
        expect(reader.header.requiredFlags).toBe(k === 1 ? RequiredFlag.ENCRYPTED_SEGMENTS : both);
        expect(reader.manifest).toMatchObject({ imageId: id, step: k * 100, label: `enc-chain-${k}`, parent: k === 1 ? null : ids[i - 1], meta: { purpose: 'golden', k } });
        const want = encryptedChainState(k);
        expect(await reader.readProvider('field')).toEqual(want.field);
        expect(await reader.readProvider('info')).toEqual(want.info);
        expect((await reader.verify()).ok).toBe(true);
      } finally {
        await reader.close();
      }
    }
  });

  it('the chain holds what it was written to hold: a full image, references, XOR deltas, references to deltas and a delta over a delta — every row encrypted', async () => {
    const keys = await goldenKeys();
    const store = new FsStore(chainDir);
    const index = async (id: string): Promise<ImageIndex> => {
      const r = await openStoreImage(store, id, { keys });
      const ix = r.index;
      await r.close();
      return ix;
    };
    const [one, two, three, four] = await Promise.all(ids.map(index));
    for (const ix of [one!, two!, three!, four!]) expect(ix.segments.every((s) => (s.flags & SegmentFlag.ENCRYPTED) !== 0 && typeof s.hash === 'bigint')).toBe(true);
    const byRef = (ix: ImageIndex) => ix.segments.filter((s) => s.ref !== undefined);
    const deltas = (ix: ImageIndex) => ix.segments.filter((s) => s.ref === undefined && s.codec === SegmentCodec.XOR_ZSTD);
    expect(one!.refs ?? []).toEqual([]);
    expect(byRef(one!)).toHaveLength(0);
    expect(deltas(one!)).toHaveLength(0);
    // 2: one clustered change (two segments of the field) — the rest by reference.
    expect(two!.refs?.map((r) => r.imageId)).toEqual([ids[0]]);
    expect(byRef(two!)).toHaveLength(14);
    expect(byRef(two!).every((s) => s.flags === (SegmentFlag.BY_REFERENCE | SegmentFlag.ENCRYPTED))).toBe(true);
    expect(deltas(two!)).toHaveLength(0);
    // 3: scattered changes — every field segment a XOR delta over its parent's.
    expect(three!.refs?.map((r) => r.imageId)).toEqual([ids[0], ids[1]]);
    expect(byRef(three!)).toHaveLength(0);
    expect(deltas(three!)).toHaveLength(16);
    expect(deltas(three!).every((s) => s.base !== undefined && s.flags === SegmentFlag.ENCRYPTED)).toBe(true);
    // 4: rows referring to image 3's deltas, and one delta over a delta (its base is one of image 3's deltas).
    expect(four!.refs?.map((r) => r.imageId)).toEqual([ids[0], ids[1], ids[2]]);
    expect(byRef(four!)).toHaveLength(15);
    expect(byRef(four!).every((s) => s.flags === (SegmentFlag.BY_REFERENCE | SegmentFlag.ENCRYPTED) && s.codec === SegmentCodec.XOR_ZSTD && four!.refs![s.ref!.image]!.imageId === ids[2])).toBe(true);
    const dd = deltas(four!);
    expect(dd).toHaveLength(1);
    expect(four!.refs![dd[0]!.base!.image]!.imageId).toBe(ids[2]);
    expect(three!.segments[dd[0]!.base!.segment]!.codec).toBe(SegmentCodec.XOR_ZSTD);
  });

  it('what is deterministic is as written: header, key id and public manifest; nothing of the states is in the clear', async () => {
    // Data keys and uuids are random, so a rewrite's bytes differ: only these parts are fixed.
    const store = new FsStore(chainDir);
    for (const [i, id] of ids.entries()) {
      const k = i + 1;
      const bytes = await readFile(join(chainDir, `${id}.ckpt`));
      expect(bytes.subarray(0, HEADER_SIZE).equals(encodeHeader({ formatVersion: 5, codecId: CODEC_ID, requiredFlags: k === 1 ? RequiredFlag.ENCRYPTED_SEGMENTS : both, optionalFlags: 0 }))).toBe(true);
      expect(bytes.includes(Buffer.from('golden-enc-chain'))).toBe(false);
      const src = await store.open(id);
      const info = await readPublicInfo(src);
      await src.close();
      expect(info.block.key).toMatchObject({ kek: 'keyring', keyId: GOLDEN_KEY_ID });
      expect(info.block.public).toEqual({ createdAt: `2026-12-0${k}T00:00:00.000Z`, step: k * 100, label: `enc-chain-${k}` });
    }
  });

  it('without the key, or with another one, no image opens (CKPT_ERR_KEY)', async () => {
    const store = new FsStore(chainDir);
    for (const id of ids) {
      await expectCode(openStoreImage(store, id), ErrorCodes.KEY);
      await expectCode(openStoreImage(store, id, { keys: ring({ [GOLDEN_KEY_ID]: KEY_A }, GOLDEN_KEY_ID) }), ErrorCodes.KEY);
    }
  });

  it('a reader that knows formats up to 4 refuses every image as newer (CKPT_ERR_FORMAT_NEWER)', async () => {
    const keys = await goldenKeys();
    const store = new FsStore(chainDir);
    const upTo4 = createFormatList([formatV1, formatV2, formatV3, formatV4], modelOfV4);
    for (const id of ids) {
      const src = await store.open(id);
      try {
        const err = await expectCode(ImageReader.openWith(upTo4, src, { keys }), ErrorCodes.FORMAT_NEWER);
        expect(err.message).toMatch(/format version 5.*up to 4/);
      } finally {
        await src.close();
      }
    }
  });
});
