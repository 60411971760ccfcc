// The CLI with encrypted images (run in this process, with its own
// environment): ls without a key (public manifest), inspect/export/diff/
// verify with --key-file, CKPT_KEY_FILE and CKPT_PASSPHRASE, verify without a
// key (checksums only, contents not authenticated), and rekey.
import { cp, mkdtemp, readdir, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterEach, describe, expect, it } from 'vitest';
import { run } from '../../src/cli/program.js';
import { Checkpointer } from '../../src/index.js';
import { ImageReader } from '../../src/image/reader.js';
import { FsStore } from '../../src/store/fs-store.js';
import { TRAILER_SIZE } from '../../src/image/constants.js';
import { decodeTrailer } from '../../src/image/header.js';
import { GOLDEN_KEY_ID, encryptedState } from '../fixtures/images/expected-encrypted.js';
import { ring } from './helpers.js';

const GOLDEN = fileURLToPath(new URL('../fixtures/images/v4/encrypted/', import.meta.url));
const GOLDEN_KEY = fileURLToPath(new URL('../fixtures/images/v4/golden-k1.bin', import.meta.url));
const dirs: string[] = [];
afterEach(async () => {
  for (const d of dirs.splice(0)) await rm(d, { recursive: true, force: true });
});

async function temp(): Promise<string> {
  const d = await mkdtemp(join(tmpdir(), 'ckpt-enc-cli-'));
  dirs.push(d);
  return d;
}

/** A copy of the golden encrypted store (tests that write never touch the fixture). */
async function goldenCopy(): Promise<string> {
  const d = join(await temp(), 'store');
  await cp(GOLDEN, d, { recursive: true });
  return d;
}

async function cli(args: readonly string[], env: Record<string, string> = {}): Promise<{ code: number; stdout: string; stderr: string }> {
  let stdout = '';
  let stderr = '';
  const code = await run(args, {
    stdout: { write: (s: string | Uint8Array) => ((stdout += typeof s === 'string' ? s : Buffer.from(s).toString()), true) },
    stderr: { write: (s: string | Uint8Array) => ((stderr += typeof s === 'string' ? s : Buffer.from(s).toString()), true) },
    env: { NO_COLOR: '1', ...env },
    cwd: process.cwd(),
  });
  return { code, stdout, stderr };
}

describe('ckpt with encrypted images', () => {
  it('ls without a key lists them from their public manifest; with the key it checks them', async () => {
    const locked = await cli(['ls', GOLDEN, '--json']);
    expect(locked.code).toBe(0);
    const doc = JSON.parse(locked.stdout) as { images: { id: string; step: number; label: string; encrypted: { keyId: string; authenticated: boolean }; providers: unknown[] }[] };
    expect(doc.images.map((i) => [i.id, i.step, i.label, i.encrypted])).toEqual([
      ['000000000002', 20, 'enc-2', { keyId: GOLDEN_KEY_ID, authenticated: false }],
      ['000000000001', 10, 'enc-1', { keyId: GOLDEN_KEY_ID, authenticated: false }],
    ]);
    const human = await cli(['ls', GOLDEN]);
    expect(human.stdout).toMatch(/\(encrypted, key k1\)/);
    expect(human.stdout).toMatch(/pass --key-file/);
    const open = await cli(['ls', GOLDEN, '--json', '--key-file', GOLDEN_KEY]);
    const d2 = JSON.parse(open.stdout) as { images: { encrypted: { authenticated: boolean }; providers: { id: string }[] }[] };
    expect(d2.images[0]!.encrypted.authenticated).toBe(true);
    expect(d2.images[0]!.providers.map((p) => p.id)).toEqual(['field', 'info']);
  });

  it('inspect and export need the key (CKPT_ERR_KEY without it); --key-file and CKPT_KEY_FILE open them', async () => {
    const image = join(GOLDEN, '000000000001.ckpt');
    const no = await cli(['inspect', image]);
    expect(no.code).toBe(7);
    expect(no.stderr).toMatch(/CKPT_ERR_KEY|key id "k1"/);
    const head = await cli(['inspect', image, '--key-file', GOLDEN_KEY]);
    expect(head.stdout).toMatch(/encryption\s+AES-256-GCM, data key wrapped by keyring key id "k1"/);
    expect(JSON.parse((await cli(['inspect', image, '--key-file', GOLDEN_KEY, '--json'])).stdout).encryption).toMatchObject({ kek: 'keyring', keyId: 'k1' });
    const yes = await cli(['inspect', image, '--key-file', GOLDEN_KEY, '--provider', 'info', '--json']);
    expect(yes.code).toBe(0);
    expect(JSON.parse(yes.stdout).state).toEqual(encryptedState(1).info);
    const env = await cli(['export', image, '--provider', 'info', '--format', 'json'], { CKPT_KEY_FILE: GOLDEN_KEY });
    expect(env.code).toBe(0);
    expect(JSON.parse(env.stdout)).toEqual(encryptedState(1).info);
    const diff = await cli(['diff', image, join(GOLDEN, '000000000002.ckpt'), '--key-file', GOLDEN_KEY]);
    expect(diff.code).not.toBe(7);
    expect(diff.stdout).toMatch(/info/);
  });

  it('verify without a key checks checksums and says the contents were not authenticated; finds damage', async () => {
    const store = await goldenCopy();
    const r = await cli(['verify', store]);
    expect(r.code).toBe(0);
    expect(r.stdout).toMatch(/contents not authenticated/);
    const ok = await cli(['verify', store, '--key-file', GOLDEN_KEY, '--json']);
    expect(ok.code).toBe(0);
    expect(JSON.parse(ok.stdout).ok).toBe(true);
    // Damage in the crypto block is found without the key.
    const path = join(store, '000000000002.ckpt');
    const bytes = await readFile(path);
    bytes[bytes.length - 200]! ^= 0x01;
    await writeFile(path, bytes);
    const bad = await cli(['verify', store]);
    expect(bad.code).toBe(2);
    expect(bad.stdout).toMatch(/CKPT_ERR_CORRUPT/);
  });

  it('a passphrase from CKPT_PASSPHRASE opens passphrase images', async () => {
    const dir = await temp();
    const ckpt = new Checkpointer({ store: dir, encryption: { passphrase: 'pw', scrypt: { N: 1024 } }, compression: { threads: 0 } });
    ckpt.register({ id: 'app', snapshot: () => ({ v: 'pass' }), restore: () => undefined });
    const info = await ckpt.checkpoint();
    await ckpt.close();
    const r = await cli(['export', join(dir, `${info.id}.ckpt`), '--provider', 'app', '--format', 'json'], { CKPT_PASSPHRASE: 'pw' });
    expect(r.code).toBe(0);
    expect(JSON.parse(r.stdout)).toEqual({ v: 'pass' });
    expect((await cli(['export', join(dir, `${info.id}.ckpt`), '--provider', 'app', '--format', 'json'], { CKPT_PASSPHRASE: 'wrong' })).code).toBe(7);
  });

  it('rekey rewraps every image under the new key, same ids, segments unchanged; a wrong --from-key changes nothing', async () => {
    const store = await goldenCopy();
    const dir = await temp();
    const newKey = join(dir, 'k2.bin');
    await writeFile(newKey, Buffer.alloc(32, 0x5a).toString('hex'));
    const wrongKey = join(dir, 'wrong.bin');
    await writeFile(wrongKey, Buffer.alloc(32, 0x11));
    const before = await Promise.all(['000000000001', '000000000002'].map((id) => readFile(join(store, `${id}.ckpt`))));
    const refused = await cli(['rekey', store, '--from-key', wrongKey, '--to-key', newKey, '--to-key-id', 'k2']);
    expect(refused.code).toBe(7);
    expect(refused.stderr).toMatch(/nothing was rekeyed/);
    for (const [i, id] of ['000000000001', '000000000002'].entries()) expect((await readFile(join(store, `${id}.ckpt`))).equals(before[i]!)).toBe(true);

    const r = await cli(['rekey', store, '--from-key', GOLDEN_KEY, '--to-key', newKey, '--to-key-id', 'k2', '--json']);
    expect(r.code).toBe(0);
    expect(JSON.parse(r.stdout).rekeyed).toEqual([
      { id: '000000000002', from: 'k1', to: 'k2' },
      { id: '000000000001', from: 'k1', to: 'k2' },
    ]);
    expect((await readdir(store)).sort()).toEqual(['000000000001.ckpt', '000000000002.ckpt']);
    const fs = new FsStore(store);
    for (const [i, id] of ['000000000001', '000000000002'].entries()) {
      const after = await readFile(join(store, `${id}.ckpt`));
      const reader = await ImageReader.open(await fs.open(id), { keys: ring({ k2: Buffer.alloc(32, 0x5a) }, 'k2') });
      // Header and segments byte for byte.
      const segEnd = reader.index.segments.at(-1)!.offset + reader.index.segments.at(-1)!.storedLength;
      expect(after.subarray(0, segEnd).equals(before[i]!.subarray(0, segEnd))).toBe(true);
      expect(reader.crypto?.key.keyId).toBe('k2');
      expect(await reader.readProvider('info')).toEqual(encryptedState(i + 1).info);
      await reader.close();
    }
    // The old key no longer opens them.
    expect((await cli(['inspect', join(store, '000000000001.ckpt'), '--key-file', GOLDEN_KEY])).code).toBe(7);
    // The index key stays (same data key): the index is sealed under a new nonce, so its
    // ciphertext differs from the one before (one nonce twice would give the same bytes).
    for (const [i, id] of ['000000000001', '000000000002'].entries()) {
      const after = await readFile(join(store, `${id}.ckpt`));
      const sealedIndex = (b: Buffer): Buffer => {
        const t = decodeTrailer(b.subarray(b.length - TRAILER_SIZE), b.length);
        return b.subarray(t.indexOffset, t.indexOffset + t.indexLength - 16);
      };
      expect(sealedIndex(after).equals(sealedIndex(before[i]!))).toBe(false);
    }
  });

  it('rekey stopped part-way is finished by running it again: images the new key opens are left alone', async () => {
    const store = await goldenCopy();
    const dir = await temp();
    const newKey = join(dir, 'k2.bin');
    await writeFile(newKey, Buffer.alloc(32, 0x5a));
    const first = await cli(['rekey', store, '--from-key', GOLDEN_KEY, '--to-key', newKey, '--to-key-id', 'k2']);
    expect(first.code).toBe(0);
    // As if killed after the first image: image 1 is back under k1, image 2 under k2.
    await cp(join(GOLDEN, '000000000001.ckpt'), join(store, '000000000001.ckpt'));
    const again = await cli(['rekey', store, '--from-key', GOLDEN_KEY, '--to-key', newKey, '--to-key-id', 'k2', '--json']);
    expect(again.code).toBe(0);
    const report = JSON.parse(again.stdout) as { rekeyed: unknown[]; alreadyRekeyed: string[] };
    expect(report.rekeyed).toEqual([{ id: '000000000001', from: 'k1', to: 'k2' }]);
    expect(report.alreadyRekeyed).toEqual(['000000000002']);
    const fs = new FsStore(store);
    for (const [i, id] of ['000000000001', '000000000002'].entries()) {
      const reader = await ImageReader.open(await fs.open(id), { keys: ring({ k2: Buffer.alloc(32, 0x5a) }, 'k2') });
      expect(await reader.readProvider('info')).toEqual(encryptedState(i + 1).info);
      await reader.close();
    }
    // A key that opens neither image still changes nothing.
    const wrongKey = join(dir, 'wrong.bin');
    await writeFile(wrongKey, Buffer.alloc(32, 0x11));
    const other = join(dir, 'k3.bin');
    await writeFile(other, Buffer.alloc(32, 0x33));
    expect((await cli(['rekey', store, '--from-key', wrongKey, '--to-key', other])).code).toBe(7);
  });
});
