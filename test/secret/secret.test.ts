// Secret paths end to end: the plaintext of every secret is absent from the
// image (file bytes and decompressed segments, full and incremental images),
// restore sees undefined exactly there and everything else intact, the live
// state is not touched, in identity and tree mode, sync and async persist.
import { afterEach, describe, expect, it } from 'vitest';
import { Checkpointer, type CheckpointerOptions, type Provider } from '../../src/index.js';
import { ErrorCodes } from '../../src/errors.js';
import { removeTempDirs, tempDir } from '../checkpointer/helpers.js';
import { expectCode, expectThrowCode } from '../helpers/errors.js';
import { runCliInProcess } from '../helpers/cli-in-process.js';
import { API_KEY, DB_PASSWORD, distinctiveBytes, imageFile, imageText, makeState, SECRET_PATHS, SECRET_STRINGS, secretNeedles, TOKEN_ALICE, VISIBLE, type SecretState } from './helpers.js';

afterEach(removeTempDirs);

function checkpointer(dir: string, options: Partial<CheckpointerOptions> = {}): Checkpointer {
  return new Checkpointer({ store: dir, signals: false, segmentSize: 64 * 1024, compression: { level: 3, threads: 0 }, ...options });
}

function provider(box: { state: SecretState | undefined }, tree: boolean): Provider<SecretState> {
  return {
    id: 'client',
    tree,
    secret: SECRET_PATHS,
    snapshot: () => box.state!,
    restore: (s) => {
      box.state = s;
    },
  };
}

/** A deep copy of the state (structuredClone keeps Maps and typed arrays; the shared `db` stays shared). */
function copyOf(s: SecretState): SecretState {
  return structuredClone(s);
}

async function expectNoSecret(dir: string, id: string, state: SecretState): Promise<void> {
  const { file, raw, segments } = await imageText(dir, id);
  expect(segments).toBeGreaterThan(0);
  for (const needle of secretNeedles(state)) {
    expect(file.includes(needle.bytes), `${needle.name} in the file bytes of ${id}`).toBe(false);
    expect(raw.includes(needle.bytes), `${needle.name} in the decompressed segments of ${id}`).toBe(false);
  }
  // The search does find what is saved: the visible note and a window of the visible array.
  expect(raw.includes(Buffer.from(VISIBLE)), 'the visible note is in the decompressed segments').toBe(true);
  expect(raw.includes(Buffer.from(state.visible.data.subarray(5000, 5064))), 'the visible array is in the decompressed segments').toBe(true);
}

function expectRestored(got: SecretState, want: SecretState, tree: boolean): void {
  expect(Object.keys(got)).toEqual(Object.keys(want));
  expect('apiKey' in got).toBe(true);
  expect(got.apiKey).toBeUndefined();
  expect(got.db).toEqual({ host: 'db.internal', password: undefined });
  expect(got.dbAgain).toEqual({ host: 'db.internal', password: undefined });
  if (!tree) expect(got.dbAgain).toBe(got.db); // identity mode keeps the shared object shared
  expect([...got.tokens]).toEqual([
    ['alice', undefined],
    ['bob', undefined],
  ]);
  expect(got.weights).toBeUndefined();
  expect(got.pin).toBeUndefined();
  expect(got.sessions).toEqual([
    { user: 'u0', token: undefined },
    { user: 'u1', token: undefined },
  ]);
  expect([...got.creds]).toEqual([
    ['user', 'service-account'],
    ['password', undefined],
  ]);
  expect(got.visible.note).toBe(VISIBLE);
  expect(Buffer.from(got.visible.data).equals(Buffer.from(want.visible.data))).toBe(true);
}

describe.each([
  { tree: false, persist: 'sync' as const },
  { tree: true, persist: 'sync' as const },
  { tree: false, persist: 'async' as const },
  { tree: true, persist: 'async' as const },
])('secret paths (tree: $tree, persist: $persist)', ({ tree, persist }) => {
  it('leave every secret out of the image, restore undefined there and everything else intact, and leave the live state alone', async () => {
    const dir = await tempDir('ckpt-secret-');
    const box: { state: SecretState | undefined } = { state: makeState() };
    const live = box.state!;
    const before = copyOf(live);
    const liveDb = live.db;
    const liveTokens = live.tokens;
    const ckpt = checkpointer(dir, { persist });
    ckpt.register(provider(box, tree));
    const info = await ckpt.checkpoint();
    await ckpt.close();

    // The live state: same objects, same values, nothing deleted or set to undefined.
    expect(live).toEqual(before);
    expect(live.db).toBe(liveDb);
    expect(live.dbAgain).toBe(liveDb);
    expect(live.tokens).toBe(liveTokens);
    expect(live.db.password).toBe(DB_PASSWORD);
    expect(live.tokens.get('alice')).toBe(TOKEN_ALICE);
    expect(live.apiKey).toBe(API_KEY);

    await expectNoSecret(dir, info.id, live);

    const into: { state: SecretState | undefined } = { state: undefined };
    const again = checkpointer(dir);
    again.register(provider(into, tree));
    const restored = await again.restore();
    await again.close();
    expect(restored?.image.id).toBe(info.id);
    expectRestored(into.state!, live, tree);
  });
});

describe('secret paths with the compression pool', () => {
  it('a state large enough for the pool (compressed during capture, async persist) holds no secret either', async () => {
    const dir = await tempDir('ckpt-secret-pool-');
    const box: { state: SecretState | undefined } = { state: makeState(12 * 1024 * 1024) };
    // Many small records in the value stream, so it too is large enough to be compressed while it is encoded.
    const records = Array.from({ length: 200_000 }, (_, i) => ({ i, label: `record-${i}` }));
    const ckpt = checkpointer(dir, { persist: 'async', compression: { level: 1, threads: 2 } });
    ckpt.register(provider(box, false));
    ckpt.register({ id: 'records', snapshot: () => records, restore: () => undefined });
    const info = await ckpt.checkpoint();
    await ckpt.close();
    await expectNoSecret(dir, info.id, box.state!);
    const into: { state: SecretState | undefined } = { state: undefined };
    const again = checkpointer(dir);
    again.register(provider(into, false));
    again.register({ id: 'records', snapshot: () => [], restore: () => undefined });
    await again.restore();
    await again.close();
    expectRestored(into.state!, box.state!, false);
  });
});

describe('secret paths in incremental images', () => {
  it('an incremental image refers to no secret: neither the old nor the new secret is in either image', async () => {
    const dir = await tempDir('ckpt-secret-incr-');
    const box: { state: SecretState | undefined } = { state: makeState() };
    const ckpt = checkpointer(dir, { incremental: true });
    ckpt.register(provider(box, false));
    const first = await ckpt.checkpoint();
    const firstNeedles = secretNeedles(box.state!);
    // New secrets (same sizes, so the rest of the stream stays aligned) and an unchanged visible part.
    const state = box.state!;
    state.apiKey = API_KEY.replace('APIKEY', 'ROTATD');
    state.weights = distinctiveBytes(256 * 1024, 0xabcdef);
    const second = await ckpt.checkpoint();
    await ckpt.close();
    expect(second.kind).toBe('incremental');
    expect(second.references).toEqual([first.id]);
    expect(second.bytesReferenced).toBeGreaterThan(0);
    for (const id of [first.id, second.id]) {
      const { file, raw } = await imageText(dir, id);
      for (const needle of [...firstNeedles, ...secretNeedles(state)]) {
        expect(file.includes(needle.bytes), `${needle.name} in the file of ${id}`).toBe(false);
        expect(raw.includes(needle.bytes), `${needle.name} in the segments of ${id}`).toBe(false);
      }
      expect(raw.includes(Buffer.from(VISIBLE))).toBe(true);
    }
    const into: { state: SecretState | undefined } = { state: undefined };
    const again = checkpointer(dir, { incremental: true });
    again.register(provider(into, false));
    await again.restore();
    await again.close();
    expectRestored(into.state!, state, false);
  });
});

describe('secret paths: registration', () => {
  const base = { id: 'p', snapshot: () => ({}), restore: () => undefined };

  it.each([
    ['an empty path', ['']],
    ['an empty segment', ['a..b']],
    ['a leading dot', ['.a']],
    ['a trailing dot', ['a.']],
    ['a lone backslash at the end', ['a\\']],
    ['an unknown escape', ['a\\x']],
    ['a star inside a key', ['tok*']],
    ['a star after an escape', ['\\.*']],
    ['a number', [5]],
    ['null', [null]],
    ['a path longer than 4096 characters', ['a'.repeat(4097)]],
  ])('reject %s with CKPT_ERR_INVALID_ARGUMENT', (_what, secret) => {
    const ckpt = new Checkpointer({ store: '/nonexistent-ckpt-secret', signals: false });
    const err = expectThrowCode(() => ckpt.register({ ...base, secret: secret as string[] }), ErrorCodes.INVALID_ARGUMENT);
    expect(err.message).toContain('provider "p"');
    expect(err.message).toContain('secret');
  });

  it('rejects a secret option that is not an array, and more than 1024 paths', () => {
    const ckpt = new Checkpointer({ store: '/nonexistent-ckpt-secret', signals: false });
    expectThrowCode(() => ckpt.register({ ...base, secret: 'apiKey' as unknown as string[] }), ErrorCodes.INVALID_ARGUMENT);
    expectThrowCode(() => ckpt.register({ ...base, secret: Array.from({ length: 1025 }, (_, i) => `k${i}`) }), ErrorCodes.INVALID_ARGUMENT);
    // Nothing was registered by the failed calls: the id is still free.
    ckpt.register({ ...base, secret: ['a\\.b', '\\*', '*', 'a.*.b', '0', 'a\\\\b', 'apiKey', 'apiKey'] });
  });
});

describe('secret paths: what the encoder refuses or leaves out elsewhere', () => {
  it('refuses a binary value that shares memory with a secret one (it would save the secret bytes)', async () => {
    const dir = await tempDir('ckpt-secret-');
    const bytes = distinctiveBytes(1024, 7);
    const ckpt = checkpointer(dir);
    ckpt.register({ id: 'k', secret: ['key'], snapshot: () => ({ key: bytes.subarray(0, 32), all: bytes }), restore: () => undefined });
    const err = await expectCode(ckpt.checkpoint(), ErrorCodes.SNAPSHOT_FAILED);
    const inner = err.errors[0] ?? err;
    expect(inner.message).toContain('shares memory with the secret value at "key"');
    await ckpt.close();
  });

  it('leaves an object found at a secret path out wherever else it appears (identity and tree mode)', async () => {
    for (const tree of [false, true]) {
      const dir = await tempDir('ckpt-secret-');
      const credentials = { token: API_KEY };
      const ckpt = checkpointer(dir);
      ckpt.register({ id: 'c', tree, secret: ['creds'], snapshot: () => ({ creds: credentials, alias: credentials, list: [credentials], n: 1 }), restore: () => undefined });
      const info = await ckpt.checkpoint();
      await ckpt.close();
      const { file, raw } = await imageText(dir, info.id);
      expect(file.includes(Buffer.from(API_KEY))).toBe(false);
      expect(raw.includes(Buffer.from(API_KEY))).toBe(false);
      let got: unknown;
      const again = checkpointer(dir);
      again.register({ id: 'c', tree, secret: ['creds'], snapshot: () => ({}), restore: (s) => void (got = s) });
      await again.restore();
      await again.close();
      expect(got).toEqual({ creds: undefined, alias: undefined, list: [undefined], n: 1 });
    }
  });
});

describe('secret paths and the CLI', () => {
  it('ckpt inspect (with --provider, --full, --segments) and ckpt export show no secret, and show the visible values', async () => {
    const dir = await tempDir('ckpt-secret-cli-');
    const box: { state: SecretState | undefined } = { state: makeState() };
    const ckpt = checkpointer(dir);
    ckpt.register(provider(box, false));
    const info = await ckpt.checkpoint();
    await ckpt.close();
    const file = await imageFile(dir, info.id);
    const runs = [
      ['inspect', file, '--segments'],
      ['inspect', file, '--provider', 'client', '--full'],
      ['inspect', file, '--provider', 'client', '--full', '--json'],
      ['export', file, '--provider', 'client'],
    ];
    for (const args of runs) {
      const r = await runCliInProcess(args);
      expect(r.code, `${args.join(' ')}: ${r.stderr}`).toBe(0);
      for (const s of SECRET_STRINGS) expect(r.stdout.includes(s), `${s} in the output of ckpt ${args.join(' ')}`).toBe(false);
      if (args.includes('--provider')) expect(r.stdout, args.join(' ')).toContain(VISIBLE);
    }
    // The export is the whole state: every secret path is there, as undefined.
    const exported = await runCliInProcess(['export', file, '--provider', 'client']);
    const doc = JSON.parse(exported.stdout) as Record<string, unknown>;
    expect(doc['apiKey']).toEqual({ $type: 'undefined' });
    expect(doc['weights']).toEqual({ $type: 'undefined' });
  });
});
