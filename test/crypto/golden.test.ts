// The golden encrypted store (format 4, written once by
// test/fixtures/images/make-encrypted-fixtures.ts, never regenerated) reads
// with its committed test key, shows its public manifest without it, and
// fails with CKPT_ERR_KEY for any other key.
import { readFile } from 'node:fs/promises';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';
import { ErrorCodes } from '../../src/errors.js';
import { ImageReader, readPublicInfo } from '../../src/image/reader.js';
import { FsStore } from '../../src/store/fs-store.js';
import { encryptedState, GOLDEN_KEY_ID } from '../fixtures/images/expected-encrypted.js';
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
