/**
 * @module crypto/block
 *
 * The crypto block of an encrypted image (format 4): clear, CRC'd, between
 * the segments and the (encrypted) index; the trailer's bytes 20..27 hold its
 * offset. It records how to get the image's data key (the wrapped DEK, the
 * key id, scrypt parameters), the image uuid, the key commitment, and a
 * small public manifest so `ckpt ls` and retention work without the key.
 * The whole block is associated data of the index, so it cannot be edited
 * without the index failing authentication.
 *
 * ```
 * u32 LE body length | body (msgpack map) | u32 LE CRC-32 of the body
 * body: { v: 1, alg: "aes-256-gcm", kek: "keyring"|"passphrase"|"kms", keyId: str,
 *         wrapped: bin, uuid: bin 16, kdf: nil | { N, r, p, salt: bin 16 },
 *         commit: bin 32, public: { createdAt: str, step: num|nil, label: str|nil },
 *         indexNonce?: bin 12 }   // only after `ckpt rekey`: the nonce the index is sealed with
 * ```
 *
 * Without `indexNonce` the index is sealed with nonce domain 1, counter 0.
 * `ckpt rekey` keeps the data key (and so the index key) and seals the index
 * again under new associated data, so it records a fresh random nonce: the
 * index key never seals two plaintexts under one nonce.
 */
import { crc32 } from 'node:zlib';
import { CkptError, ErrorCodes } from '../errors.js';
import { indexPackr } from '../image/index-common.js';
import type { KdfRecord, WrappedKey } from './keys.js';
import { UUID_BYTES } from './seal.js';

/** Largest crypto block body accepted (a KMS-wrapped key is at most 8 KiB). */
export const MAX_CRYPTO_BLOCK = 64 * 1024;

/** What an image shows without its key. */
export interface PublicManifest {
  /** ISO 8601 creation time. */
  readonly createdAt: string;
  /** Step number given to checkpoint(), or null. */
  readonly step: number | null;
  /** Label given to checkpoint(), or null. */
  readonly label: string | null;
}

/** A decoded crypto block. */
export interface CryptoBlock {
  /** How the DEK is wrapped. */
  readonly key: WrappedKey;
  /** The image uuid (16 bytes). */
  readonly uuid: Uint8Array;
  /** HMAC-SHA256(DEK, "ckpt commit" ‖ uuid). */
  readonly commit: Uint8Array;
  /** The public manifest. */
  readonly public: PublicManifest;
  /** The index's nonce (12 bytes), recorded by `ckpt rekey`; absent: domain 1, counter 0. */
  readonly indexNonce?: Uint8Array;
}

/** Serialize a crypto block (length, body, CRC). */
export function encodeCryptoBlock(b: CryptoBlock): Buffer {
  const k = b.key;
  const body = indexPackr.pack({
    v: 1,
    alg: 'aes-256-gcm',
    kek: k.kek,
    keyId: k.keyId,
    wrapped: Buffer.from(k.wrapped),
    uuid: Buffer.from(b.uuid),
    kdf: k.kdf === undefined ? null : { N: k.kdf.N, r: k.kdf.r, p: k.kdf.p, salt: Buffer.from(k.kdf.salt) },
    commit: Buffer.from(b.commit),
    public: { createdAt: b.public.createdAt, step: b.public.step, label: b.public.label },
    ...(b.indexNonce === undefined ? {} : { indexNonce: Buffer.from(b.indexNonce) }),
  });
  const out = Buffer.alloc(body.length + 8);
  out.writeUInt32LE(body.length, 0);
  body.copy(out, 4);
  out.writeUInt32LE(crc32(body), 4 + body.length);
  return out;
}

function corrupt(image: string, what: string): CkptError {
  return new CkptError(ErrorCodes.CORRUPT, `image ${image}: crypto block ${what}; the image is damaged`, { image, where: 'crypto block' });
}

function bin(v: unknown, n: number | undefined, image: string, field: string): Uint8Array {
  if (!(v instanceof Uint8Array) || (n !== undefined && v.length !== n)) throw corrupt(image, `field ${field} is not ${n === undefined ? 'bytes' : `${n} bytes`}`);
  return v;
}

function uint(v: unknown, image: string, field: string): number {
  if (typeof v !== 'number' || !Number.isSafeInteger(v) || v < 0) throw corrupt(image, `field ${field} is not an unsigned integer`);
  return v;
}

/** Parse and check a crypto block occupying all of `bytes`. Fails with `CKPT_ERR_CORRUPT`. */
export function decodeCryptoBlock(bytes: Uint8Array, image: string): CryptoBlock {
  if (bytes.length < 8) throw corrupt(image, 'is too short');
  const b = Buffer.from(bytes.buffer, bytes.byteOffset, bytes.length);
  const n = b.readUInt32LE(0);
  if (n > MAX_CRYPTO_BLOCK || n + 8 !== bytes.length) throw corrupt(image, 'length does not match its place');
  const body = b.subarray(4, 4 + n);
  if (crc32(body) !== b.readUInt32LE(4 + n)) throw corrupt(image, 'checksum mismatch');
  let o: Record<string, unknown>;
  try {
    o = indexPackr.unpack(body) as Record<string, unknown>;
  } catch {
    throw corrupt(image, 'is not valid msgpack');
  }
  if (typeof o !== 'object' || o === null) throw corrupt(image, 'is not a map');
  if (o['v'] !== 1 || o['alg'] !== 'aes-256-gcm') throw corrupt(image, `names an unknown version or algorithm (${String(o['alg'])})`);
  const kek = o['kek'];
  if (kek !== 'keyring' && kek !== 'passphrase' && kek !== 'kms') throw corrupt(image, `names an unknown key kind ${JSON.stringify(kek)}`);
  const keyId = o['keyId'];
  if (typeof keyId !== 'string' || keyId.length === 0 || keyId.length > 1024) throw corrupt(image, 'key id is not a string');
  const wrapped = bin(o['wrapped'], undefined, image, 'wrapped');
  let kdf: KdfRecord | undefined;
  if (kek === 'passphrase') {
    const k = o['kdf'] as Record<string, unknown> | null;
    if (typeof k !== 'object' || k === null) throw corrupt(image, 'passphrase key without kdf parameters');
    kdf = { N: uint(k['N'], image, 'kdf.N'), r: uint(k['r'], image, 'kdf.r'), p: uint(k['p'], image, 'kdf.p'), salt: bin(k['salt'], 16, image, 'kdf.salt') };
  } else if (o['kdf'] !== null && o['kdf'] !== undefined) throw corrupt(image, 'kdf parameters on a key that is not a passphrase');
  const pub = o['public'] as Record<string, unknown> | null;
  if (typeof pub !== 'object' || pub === null) throw corrupt(image, 'public manifest missing');
  const createdAt = pub['createdAt'];
  const step = pub['step'] ?? null;
  const label = pub['label'] ?? null;
  if (typeof createdAt !== 'string' || (step !== null && typeof step !== 'number') || (label !== null && typeof label !== 'string')) throw corrupt(image, 'public manifest has fields of the wrong type');
  if (!Number.isFinite(Date.parse(createdAt)) || (step !== null && !Number.isFinite(step))) throw corrupt(image, 'public manifest has an invalid time or step');
  const indexNonce = o['indexNonce'] === undefined || o['indexNonce'] === null ? undefined : bin(o['indexNonce'], 12, image, 'indexNonce');
  return {
    ...(indexNonce === undefined ? {} : { indexNonce }),
    key: { kek: kek, keyId, wrapped, kdf },
    uuid: bin(o['uuid'], UUID_BYTES, image, 'uuid'),
    commit: bin(o['commit'], 32, image, 'commit'),
    public: { createdAt, step, label },
  };
}
