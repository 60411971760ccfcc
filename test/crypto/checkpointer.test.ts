// Encryption through the Checkpointer: options checked, images written
// encrypted, restore decrypts, falls back past a tampered image, fails
// closed on a wrong key and on plaintext images.
import { randomBytes } from 'node:crypto';
import { afterEach, describe, expect, it, vi } from 'vitest';
import { Checkpointer, ErrorCodes, MemoryStore } from '../../src/index.js';
import type { EncryptionOptions, KmsHooks, Store } from '../../src/index.js';
import type { ReadLimits } from '../../src/image/reader.js';
import { decodeHeader } from '../../src/image/header.js';
import { expectCode, expectThrowCode } from '../helpers/errors.js';
import { KEY_A, KEY_B, ring } from './helpers.js';

const opened: Checkpointer[] = [];
afterEach(async () => {
  for (const c of opened.splice(0)) await c.close();
});

function app(store: Store, encryption?: EncryptionOptions) {
  const box: { state: unknown } = { state: undefined };
  // Each holds the store's writer lock once it writes: the one before is closed first (closeAll).
  const ckpt = new Checkpointer({ store, compression: { threads: 0 }, lockWaitMs: 0, ...(encryption === undefined ? {} : { encryption }) });
  opened.push(ckpt);
  ckpt.register({ id: 'app', snapshot: () => box.state, restore: (s) => { box.state = s; } });
  return { ckpt, box };
}

/** {@link app} after closing every Checkpointer opened so far (they hold the store's writer lock). */
async function fresh(store: Store, encryption?: EncryptionOptions) {
  for (const c of opened.splice(0)) await c.close();
  return app(store, encryption);
}

async function imageBytes(store: MemoryStore, id: string): Promise<Buffer> {
  const src = await store.open(id);
  try {
    return Buffer.from(await src.read(0, src.size));
  } finally {
    await src.close();
  }
}

describe('Checkpointer encryption option', () => {
  it('refuses bad options with CKPT_ERR_INVALID_ARGUMENT', () => {
    const bad: unknown[] = [
      { keys: { k: new Uint8Array(16) }, current: 'k' },
      { keys: { k: KEY_A }, current: 'x' },
      { keys: {}, current: 'k' },
      { keys: { k: 'not bytes' }, current: 'k' },
      { passphrase: '' },
      { passphrase: 'p', scrypt: { N: 1000 } },
      { passphrase: 'p', scrypt: { N: 1 << 20, r: 16 } }, // 2 GiB of memory: more than a reader accepts
      { passphrase: 'p', scrypt: { N: 1 << 18, r: 8, p: 16 } }, // work 2^25: minutes
      { kms: { wrap: () => undefined } },
      { keys: { k: KEY_A }, current: 'k', passphrase: 'p' },
      {},
      { keys: { k: KEY_A }, current: 'k', allowPlaintext: 'yes' },
      { keys: { k: KEY_A }, current: 'k', typo: 1 },
    ];
    for (const encryption of bad) {
      expectThrowCode(() => new Checkpointer({ store: new MemoryStore(), encryption: encryption as EncryptionOptions }), ErrorCodes.INVALID_ARGUMENT);
    }
    // Together with incremental, a bad encryption option is still refused (test/crypto/incremental.test.ts: the two together).
    const both = expectThrowCode(() => new Checkpointer({ store: new MemoryStore(), encryption: { keys: { k: KEY_A }, current: 'x' }, incremental: true }), ErrorCodes.INVALID_ARGUMENT);
    expect(both.message).toMatch(/current/);
  });

  it('writes format 4 images and restores them; a reader without the key fails with CKPT_ERR_KEY', async () => {
    const store = new MemoryStore();
    const a = app(store, { keys: { k1: KEY_A }, current: 'k1' });
    a.box.state = { big: new Float64Array(50_000).map((_, i) => Math.sin(i)), tags: ['x', 'y'] };
    const info = await a.ckpt.checkpoint({ step: 3, label: 'first' });
    expect(info.formatVersion).toBe(4);
    expect(decodeHeader(await imageBytes(store, info.id)).formatVersion).toBe(4);
    const b = await fresh(store.reopen(), { keys: { k1: KEY_A }, current: 'k1' });
    const r = await b.ckpt.restore();
    expect(r?.image.id).toBe(info.id);
    expect(b.box.state).toEqual(a.box.state);
    const c = await fresh(store.reopen());
    const err = await expectCode(c.ckpt.restore(), ErrorCodes.KEY);
    expect(err.message).toMatch(/"k1"/);
  });

  it('falls back past a tampered newest image (skipped reported), but never past a wrong key', async () => {
    const store = new MemoryStore();
    const a = app(store, { keys: { k1: KEY_A }, current: 'k1' });
    a.box.state = { v: 1 };
    const first = await a.ckpt.checkpoint();
    a.box.state = { v: 2 };
    const second = await a.ckpt.checkpoint();
    // Tamper with the newest image: one byte of its first segment.
    const bytes = await imageBytes(store, second.id);
    bytes[40]! ^= 0x10;
    const tampered = new MemoryStore();
    for (const [id, b] of [[first.id, await imageBytes(store, first.id)], [second.id, bytes]] as const) await putImage(tampered, id, b);
    const b = app(tampered, { keys: { k1: KEY_A }, current: 'k1' });
    const r = await b.ckpt.restore();
    expect(r?.image.id).toBe(first.id);
    expect(r?.fellBack).toBe(true);
    expect(r?.skipped.map((s) => [s.id, s.code])).toEqual([[second.id, ErrorCodes.CORRUPT]]);
    expect(b.box.state).toEqual({ v: 1 });
    // A wrong key: restore fails, it does not fall back to an older image.
    const c = await fresh(store.reopen(), { keys: { k1: KEY_B }, current: 'k1' });
    await expectCode(c.ckpt.restore(), ErrorCodes.KEY);
    expect(c.box.state).toBeUndefined();
  });

  it('refuses plaintext images unless allowPlaintext; new images are encrypted even then', async () => {
    const store = new MemoryStore();
    const plain = app(store);
    plain.box.state = { v: 'plain' };
    await plain.ckpt.checkpoint();
    const strict = await fresh(store.reopen(), { keys: { k1: KEY_A }, current: 'k1' });
    await expectCode(strict.ckpt.restore(), ErrorCodes.NOT_ENCRYPTED);
    const migrating = await fresh(store.reopen(), { keys: { k1: KEY_A }, current: 'k1', allowPlaintext: true });
    expect((await migrating.ckpt.restore())?.image.formatVersion).toBe(2);
    expect(migrating.box.state).toEqual({ v: 'plain' });
    expect((await migrating.ckpt.checkpoint()).formatVersion).toBe(4);
  });

  it('rotation: images of an old key id stay readable while it is in the keyring', async () => {
    const store = new MemoryStore();
    const old = app(store, { keys: { k1: KEY_A }, current: 'k1' });
    old.box.state = { v: 'old' };
    await old.ckpt.checkpoint();
    const rotated = await fresh(store.reopen(), { keys: { k2: KEY_B, k1: KEY_A }, current: 'k2' });
    await rotated.ckpt.restore();
    expect(rotated.box.state).toEqual({ v: 'old' });
    rotated.box.state = { v: 'new' };
    await rotated.ckpt.checkpoint();
    const onlyNew = await fresh(store.reopen(), { keys: { k2: KEY_B }, current: 'k2' });
    await onlyNew.ckpt.restore();
    expect(onlyNew.box.state).toEqual({ v: 'new' });
  });

  it('passphrase (scrypt, parameters recorded) and KMS hooks', async () => {
    const store = new MemoryStore();
    const p = app(store, { passphrase: 'correct horse', scrypt: { N: 1024 } });
    p.box.state = { v: 'pass' };
    await p.ckpt.checkpoint();
    const again = await fresh(store.reopen(), { passphrase: 'correct horse' });
    await again.ckpt.restore();
    expect(again.box.state).toEqual({ v: 'pass' });
    await expectCode((await fresh(store.reopen(), { passphrase: 'wrong' })).ckpt.restore(), ErrorCodes.KEY);

    const master = randomBytes(32);
    const calls: string[] = [];
    const kms: KmsHooks = {
      wrap: (dataKey, ctx) => {
        calls.push(`wrap ${ctx.imageUuid.length}`);
        return Promise.resolve({ keyId: 'arn:test', wrapped: Buffer.from(dataKey).map((b, i) => b ^ master[i]!) });
      },
      unwrap: (wrapped, keyId) => {
        calls.push(`unwrap ${keyId}`);
        return Promise.resolve(Buffer.from(wrapped).map((b, i) => b ^ master[i]!));
      },
    };
    const store2 = new MemoryStore();
    const k = app(store2, { kms });
    k.box.state = { v: 'kms' };
    await k.ckpt.checkpoint();
    const k2 = await fresh(store2.reopen(), { kms });
    await k2.ckpt.restore();
    expect(k2.box.state).toEqual({ v: 'kms' });
    expect(calls).toEqual(['wrap 32', 'unwrap arn:test']);
    // A failing wrap fails the checkpoint with CKPT_ERR_KEY and writes nothing.
    const store3 = new MemoryStore();
    const down = app(store3, { kms: { wrap: () => Promise.reject(new Error('KMS unreachable')), unwrap: kms.unwrap } });
    down.box.state = { v: 1 };
    const failed = await expectCode(down.ckpt.checkpoint(), ErrorCodes.KEY);
    expect(failed.message).toMatch(/KMS unreachable/);
    expect(await store3.list()).toEqual([]);
    // A KMS handing back another key: CKPT_ERR_KEY (key commitment).
    const liar: KmsHooks = { wrap: kms.wrap, unwrap: () => Promise.resolve(randomBytes(32)) };
    await expectCode((await fresh(store2.reopen(), { kms: liar })).ckpt.restore(), ErrorCodes.KEY);
  });
});

async function putImage(store: MemoryStore, id: string, bytes: Uint8Array): Promise<void> {
  const lock = await store.acquireWriter();
  try {
    const sink = await store.create(lock);
    await sink.write(bytes);
    await sink.commit();
    expect(sink.id).toBe(id);
  } finally {
    await lock.release();
  }
}

describe('encryption and the tools that rewrite images', () => {
  it('compactImage never writes a plaintext copy of an encrypted image: keys only to read are refused, the encryption option encrypts the copy', async () => {
    const store = new MemoryStore();
    const { ckpt, box } = app(store, { keys: { k: KEY_A }, current: 'k' });
    box.state = { secret: 'COMPACT-PLAINTEXT-7d2e' };
    await ckpt.checkpoint();
    await ckpt.close();
    const { compactImage } = await import('../../src/index.js');
    const lock = await store.acquireWriter({ waitMs: 0 });
    try {
      const ids = (await store.list()).map((e) => e.id);
      await expectCode(compactImage(store, lock, { force: true, limits: { keys: ring({ k: KEY_A }, 'k') } as ReadLimits }), ErrorCodes.INVALID_ARGUMENT);
      expect((await store.list()).map((e) => e.id)).toEqual(ids);
      const report = await compactImage(store, lock, { force: true, encryption: { keys: { k: KEY_A }, current: 'k' } });
      expect(report.written).not.toBeNull();
      const copy = await imageBytes(store, report.written!);
      expect(copy.includes(Buffer.from('COMPACT-PLAINTEXT-7d2e'))).toBe(false);
      expect(decodeHeader(copy.subarray(0, 32)).formatVersion).toBe(4);
    } finally {
      await lock.release();
    }
  });
});


describe('encryption and the compression pool', () => {
  it('an encrypted image is compressed in the pool threads too (ahead, during capture), then sealed there, each segment once; it restores by value', async () => {
    const { ZstdPool } = await import('../../src/image/pool.js');
    const spy = vi.spyOn(ZstdPool.prototype, 'aheadOutput');
    const seal = vi.spyOn(ZstdPool.prototype, 'seal');
    try {
      // A value stream of about 15 MiB (several default segments): compressed ahead in the pool threads when not encrypted.
      const state = { m: new Map([[1, Array.from({ length: 400_000 }, (_, i) => ({ i, s: `v${String(i % 97)}` }))]]), list: Array.from({ length: 500_000 }, (_, i) => [i, `n${String(i)}`]) };
      const calls: number[] = [];
      for (const encryption of [undefined, { keys: { a: KEY_A }, current: 'a' }] as const) {
        spy.mockClear();
        const ckpt = new Checkpointer({ store: new MemoryStore(), compression: { threads: 2 }, ...(encryption === undefined ? {} : { encryption }) });
        opened.push(ckpt);
        let value: unknown = state;
        ckpt.register({ id: 'app', snapshot: () => value, restore: (s) => void (value = s) });
        seal.mockClear();
        await ckpt.checkpoint();
        value = undefined;
        await ckpt.restore();
        expect(value).toEqual(state);
        calls.push(spy.mock.calls.length);
        // Every segment compressed ahead is sealed by a thread (the 6th argument: its key, uuid and index), never a plaintext one.
        const indexes = seal.mock.calls.map((c) => c[5].index);
        expect(new Set(indexes).size).toBe(indexes.length);
        expect(indexes.length).toBe(encryption === undefined ? 0 : spy.mock.calls.length);
      }
      expect(calls[0]).toBeGreaterThan(0);
      expect(calls[1]).toBe(calls[0]);
    } finally {
      spy.mockRestore();
      seal.mockRestore();
    }
  });
});
