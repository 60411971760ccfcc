/**
 * @module test/secret/helpers
 *
 * For the secret-path tests: distinctive secret values, a state that holds
 * them at every kind of place a path can reach, and `imageText`: every byte
 * an image stores, both as the file holds them (index, compressed segments)
 * and decompressed (every segment's raw bytes, read through the reader, so
 * by-reference segments come from the image that holds them). Images are
 * zstd-compressed, so a search of the file alone would prove nothing.
 */
import { readdir, readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { FsStore } from '../../src/index.js';
import { openStoreImage } from '../../src/format/index.js';

export const API_KEY = 'sk-live-APIKEY-5d1c9e7b2a4f8d0c6e3b';
export const DB_PASSWORD = 'DBPASS-hunter2-8b7a6c5d4e3f2a1b';
export const TOKEN_ALICE = 'TOKEN-ALICE-0f9e8d7c6b5a4938271605';
export const TOKEN_BOB = 'TOKEN-BOB-a1b2c3d4e5f60718293a4b';
export const SESSION_0 = 'SESSION-ZERO-77aa88bb99cc00dd11ee';
export const SESSION_1 = 'SESSION-ONE-12ab34cd56ef78a9b0c1';
export const MAP_PASSWORD = 'MAPPASS-c0ffee-d00d-feed-beef42';
export const VISIBLE = 'VISIBLE-NOTE-3e4f5a6b7c8d9e0f1a2b';

/** Every secret string of {@link makeState}. */
export const SECRET_STRINGS = [API_KEY, DB_PASSWORD, TOKEN_ALICE, TOKEN_BOB, SESSION_0, SESSION_1, MAP_PASSWORD] as const;

/** Bytes that look like nothing else: a seeded xorshift stream. */
export function distinctiveBytes(n: number, seed: number): Uint8Array {
  const out = new Uint8Array(n);
  let x = seed >>> 0 || 1;
  for (let i = 0; i < n; i++) {
    x ^= x << 13;
    x ^= x >>> 17;
    x ^= x << 5;
    x >>>= 0;
    out[i] = x & 0xff;
  }
  return out;
}

/** The application's state: secrets at paths of every kind, and visible values beside them. */
export interface SecretState {
  apiKey: string | undefined;
  db: { host: string; password: string | undefined };
  /** The same object as `db` (identity mode keeps it shared). */
  dbAgain: { host: string; password: string | undefined };
  tokens: Map<string, string | undefined>;
  /** Large: a blob when saved. */
  weights: Uint8Array | undefined;
  /** Small: inline when saved. */
  pin: Float64Array | undefined;
  sessions: { user: string; token: string | undefined }[];
  creds: Map<string, string | undefined>;
  visible: { note: string; data: Uint8Array };
}

export const SECRET_PATHS = [
  'apiKey',
  'db.password',
  'tokens.*',
  'weights',
  'pin',
  'sessions.*.token',
  'creds.password',
  // Lead nowhere: a missing parent, a parent that is a string, a missing key.
  'missing.parent.key',
  'db.host.length',
  'visible.absent',
];

/** The state; `visibleBytes` sizes the visible array (large: the stream and blobs go through the compression pool). */
export function makeState(visibleBytes = 128 * 1024): SecretState {
  const db = { host: 'db.internal', password: DB_PASSWORD };
  return {
    apiKey: API_KEY,
    db,
    dbAgain: db,
    tokens: new Map([
      ['alice', TOKEN_ALICE],
      ['bob', TOKEN_BOB],
    ]),
    weights: distinctiveBytes(256 * 1024, 0x5ec2e7),
    pin: new Float64Array(distinctiveBytes(64, 0xb1a5).buffer),
    sessions: [
      { user: 'u0', token: SESSION_0 },
      { user: 'u1', token: SESSION_1 },
    ],
    creds: new Map([
      ['user', 'service-account'],
      ['password', MAP_PASSWORD],
    ]),
    visible: { note: VISIBLE, data: distinctiveBytes(visibleBytes, 0x71e7) },
  };
}

/** The file of image `id` in the FsStore directory `dir`. */
export async function imageFile(dir: string, id: string): Promise<string> {
  const names = (await readdir(dir)).filter((n) => n.startsWith(id) && n.endsWith('.ckpt'));
  if (names.length !== 1) throw new Error(`expected one file for image ${id} in ${dir}, found ${JSON.stringify(names)}`);
  return join(dir, names[0]!);
}

/** The image's file bytes, then every segment's raw (decompressed) bytes. */
export async function imageText(dir: string, id: string): Promise<{ file: Buffer; raw: Buffer; segments: number }> {
  const file = await readFile(await imageFile(dir, id));
  const reader = await openStoreImage(new FsStore(dir), id);
  try {
    const parts: Uint8Array[] = [];
    for (let n = 0; n < reader.index.segments.length; n++) parts.push(await reader.readRawSegment(n));
    return { file, raw: Buffer.concat(parts), segments: parts.length };
  } finally {
    await reader.close();
  }
}

/** The secret byte patterns searched for: each string (UTF-8) and a 64-byte window of each secret binary value. */
export function secretNeedles(state: SecretState): { name: string; bytes: Buffer }[] {
  const out: { name: string; bytes: Buffer }[] = SECRET_STRINGS.map((s) => ({ name: s, bytes: Buffer.from(s, 'utf8') }));
  out.push({ name: 'weights', bytes: Buffer.from(state.weights!.subarray(100_000, 100_064)) });
  out.push({ name: 'pin', bytes: Buffer.from(new Uint8Array(state.pin!.buffer, 8, 48)) });
  return out;
}
