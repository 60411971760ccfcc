/**
 * @module crypto/keys
 *
 * The `encryption` option and what it becomes: a {@link KeySource} that
 * wraps a fresh data key (DEK) for each image written and unwraps the DEK of
 * an image read — with a keyring of 32-byte keys by id, a passphrase (scrypt,
 * parameters recorded in the image), or asynchronous KMS hooks. Bad options
 * fail with `CKPT_ERR_INVALID_ARGUMENT`; a key that cannot open an image fails
 * with `CKPT_ERR_KEY` naming the key id the image needs.
 */
import { randomBytes, scrypt as scryptCb, type ScryptOptions } from 'node:crypto';
import { CkptError, ErrorCodes } from '../errors.js';
import { KEY_BYTES, unwrapKey, wrapKey } from './seal.js';

/** What a KMS hook is told about the image whose data key it wraps or unwraps. */
export interface KmsContext {
  /** The image's uuid, 32 lowercase hex digits (bound into the image). */
  readonly imageUuid: string;
}

/** What {@link KmsHooks.wrap} resolves. */
export interface KmsWrapped {
  /** Id of the KMS key that wrapped the data key (recorded in the image, passed to `unwrap`). */
  readonly keyId: string;
  /** The wrapped data key (1..8192 bytes). */
  readonly wrapped: Uint8Array;
}

/** Asynchronous hooks wrapping data keys with a key management service (AWS KMS, Vault, …). */
export interface KmsHooks {
  /** Wrap (encrypt) a 32-byte data key; returns the wrapped bytes and the id of the key that wrapped them. */
  wrap(dataKey: Uint8Array, context: KmsContext): Promise<KmsWrapped>;
  /** Unwrap bytes returned by `wrap` (with the `keyId` it returned) back to the 32-byte data key. */
  unwrap(wrapped: Uint8Array, keyId: string, context: KmsContext): Promise<Uint8Array>;
}

/** scrypt cost parameters (recorded in each image). */
export interface ScryptParams {
  /** CPU/memory cost, a power of two (default 2^15). */
  readonly N: number;
  /** Block size (default 8). */
  readonly r: number;
  /** Parallelism (default 1). */
  readonly p: number;
}

/** Options every way of giving keys shares. */
export interface EncryptionCommon {
  /**
   * Read plaintext images while encryption is configured (a migration from an
   * unencrypted store). Default false: a plaintext image is refused with
   * `CKPT_ERR_NOT_ENCRYPTED`. New images are always encrypted.
   */
  readonly allowPlaintext?: boolean;
}

/** A keyring: 32-byte keys by id; new images use `current`, any listed key reads. */
export interface KeyringEncryption extends EncryptionCommon {
  /** Key-encryption keys (32 bytes each) by id. */
  readonly keys: Readonly<Record<string, Uint8Array>>;
  /** Id of the key new images are wrapped with. */
  readonly current: string;
}

/** A passphrase: the key-encryption key is scrypt(passphrase, salt), the parameters in each image. */
export interface PassphraseEncryption extends EncryptionCommon {
  /** The passphrase (not empty). */
  readonly passphrase: string;
  /** scrypt parameters for new images (default N 2^15, r 8, p 1). */
  readonly scrypt?: Partial<ScryptParams>;
}

/** A key management service: data keys are wrapped and unwrapped by the hooks. */
export interface KmsEncryption extends EncryptionCommon {
  /** The hooks. */
  readonly kms: KmsHooks;
}

/**
 * The `encryption` option of a Checkpointer (see docs/encryption.md): exactly
 * one of `keys` + `current`, `passphrase` or `kms`.
 */
export type EncryptionOptions = KeyringEncryption | PassphraseEncryption | KmsEncryption;

/** How a DEK is wrapped, as the crypto block records it. */
export type KekKind = 'keyring' | 'passphrase' | 'kms';

/** scrypt parameters and salt as recorded in an image. */
export interface KdfRecord extends ScryptParams {
  /** 16 random bytes. */
  readonly salt: Uint8Array;
}

/** A wrapped DEK and how to unwrap it. */
export interface WrappedKey {
  /** How the DEK is wrapped. */
  readonly kek: KekKind;
  /** Id of the key-encryption key (`passphrase` for a passphrase; the KMS's id for `kms`). */
  readonly keyId: string;
  /** The wrapped DEK. */
  readonly wrapped: Uint8Array;
  /** scrypt parameters and salt (`passphrase` only). */
  readonly kdf?: KdfRecord | undefined;
}

/** Default scrypt parameters (about 32 MiB and 0.1 s per derivation; one derivation per salt and process). */
export const DEFAULT_SCRYPT: ScryptParams = { N: 1 << 15, r: 8, p: 1 };
/** Largest scrypt parameters an image may ask a reader to use (bounds the memory and time a forged image costs). */
const MAX_SCRYPT: ScryptParams = { N: 1 << 20, r: 32, p: 16 };
/** Largest scrypt memory (128·N·r bytes) an image may ask for: 1 GiB. */
const MAX_SCRYPT_MEMORY = 1024 * 1024 * 1024;
/** Largest scrypt work (N·r·p) an image may ask for: 2^24, 64× the default (seconds, not minutes). */
const MAX_SCRYPT_WORK = 1 << 24;

/** Why scrypt parameters are out of range (each field and their memory and work together), or undefined. */
function scryptProblem(k: ScryptParams): string | undefined {
  if (!Number.isSafeInteger(k.N) || k.N < 2 || (k.N & (k.N - 1)) !== 0 || k.N > MAX_SCRYPT.N) return 'N must be a power of two 2..2^20';
  if (!Number.isSafeInteger(k.r) || k.r < 1 || k.r > MAX_SCRYPT.r) return `r must be an integer 1..${MAX_SCRYPT.r}`;
  if (!Number.isSafeInteger(k.p) || k.p < 1 || k.p > MAX_SCRYPT.p) return `p must be an integer 1..${MAX_SCRYPT.p}`;
  if (128 * k.N * k.r > MAX_SCRYPT_MEMORY) return 'memory 128·N·r must be at most 1 GiB';
  if (k.N * k.r * k.p > MAX_SCRYPT_WORK) return 'work N·r·p must be at most 2^24';
  return undefined;
}
/** Key id recorded for passphrase-wrapped keys. */
export const PASSPHRASE_KEY_ID = 'passphrase';

function invalid(message: string): CkptError {
  return new CkptError(ErrorCodes.INVALID_ARGUMENT, message);
}

function keyError(message: string, image: string | undefined, cause?: unknown): CkptError {
  return new CkptError(ErrorCodes.KEY, message, { ...(image === undefined ? {} : { image }), ...(cause === undefined ? {} : { cause }) });
}

function scryptAsync(passphrase: string, salt: Uint8Array, p: ScryptParams): Promise<Buffer> {
  const options: ScryptOptions = { N: p.N, r: p.r, p: p.p, maxmem: 128 * p.N * p.r * p.p + 16 * 1024 * 1024 };
  return new Promise((resolve, reject) => scryptCb(passphrase, salt, KEY_BYTES, options, (err, key) => (err === null ? resolve(key) : reject(err))));
}

/**
 * Wraps and unwraps image data keys: built from a checked
 * {@link EncryptionOptions} by {@link keySource}.
 */
export class KeySource {
  /** Whether plaintext images may be read. */
  readonly allowPlaintext: boolean;
  readonly #keys: ReadonlyMap<string, Buffer> | undefined;
  readonly #current: string | undefined;
  readonly #passphrase: string | undefined;
  readonly #scrypt: ScryptParams;
  readonly #kms: KmsHooks | undefined;
  /** A key tried for any key id the keyring lacks (a key file given on the command line, which names no id). */
  readonly #anyId: Buffer | undefined;
  /** Passphrase KEKs by salt and parameters (scrypt is slow on purpose: once per salt per process). */
  readonly #derived = new Map<string, Promise<Buffer>>();
  /** The salt new images of this source use (so one derivation serves every image written). */
  readonly #salt = randomBytes(16);

  /** @internal Use {@link keySource}. */
  constructor(o: { keys?: ReadonlyMap<string, Buffer>; current?: string; passphrase?: string; scrypt?: ScryptParams; kms?: KmsHooks; anyId?: Buffer; allowPlaintext: boolean }) {
    this.#anyId = o.anyId;
    this.#keys = o.keys;
    this.#current = o.current;
    this.#passphrase = o.passphrase;
    this.#scrypt = o.scrypt ?? DEFAULT_SCRYPT;
    this.#kms = o.kms;
    this.allowPlaintext = o.allowPlaintext;
  }

  /** The key id new images are wrapped with (`passphrase` for a passphrase; `kms` until the hook names one). */
  get currentKeyId(): string {
    return this.#current ?? (this.#passphrase !== undefined ? PASSPHRASE_KEY_ID : 'kms');
  }

  #kek(passphrase: string, kdf: KdfRecord): Promise<Buffer> {
    const k = `${Buffer.from(kdf.salt).toString('hex')}:${kdf.N}:${kdf.r}:${kdf.p}`;
    let p = this.#derived.get(k);
    if (p === undefined) {
      p = scryptAsync(passphrase, kdf.salt, kdf);
      this.#derived.set(k, p);
    }
    return p;
  }

  /** Wrap `dek` for the image `uuid`. */
  async wrap(dek: Uint8Array, uuid: Uint8Array): Promise<WrappedKey> {
    if (this.#keys !== undefined && this.#current !== undefined) {
      return { kek: 'keyring', keyId: this.#current, wrapped: wrapKey(this.#keys.get(this.#current)!, dek, uuid, this.#current) };
    }
    if (this.#passphrase !== undefined) {
      const kdf: KdfRecord = { ...this.#scrypt, salt: this.#salt };
      return { kek: 'passphrase', keyId: PASSPHRASE_KEY_ID, wrapped: wrapKey(await this.#kek(this.#passphrase, kdf), dek, uuid, PASSPHRASE_KEY_ID), kdf };
    }
    const kms = this.#kms;
    if (kms === undefined) throw invalid('these keys only open images (a key file without a key id): no key to wrap a new image with');
    let r: { keyId: string; wrapped: Uint8Array };
    try {
      r = await kms.wrap(Uint8Array.from(dek), { imageUuid: Buffer.from(uuid).toString('hex') });
    } catch (err) {
      throw keyError(`encryption.kms.wrap failed (${err instanceof Error ? err.message : String(err)}); no image was written — check the KMS and its credentials`, undefined, err);
    }
    if (typeof r !== 'object' || r === null || typeof r.keyId !== 'string' || r.keyId.length === 0 || r.keyId.length > 1024 || !(r.wrapped instanceof Uint8Array) || r.wrapped.length === 0 || r.wrapped.length > 8192) {
      throw invalid('encryption.kms.wrap must resolve { keyId: non-empty string (≤ 1024 chars), wrapped: Uint8Array (1..8192 bytes) }');
    }
    return { kek: 'kms', keyId: r.keyId, wrapped: Uint8Array.from(r.wrapped) };
  }

  /**
   * Unwrap the DEK of image `image` (`uuid` its uuid). Fails with
   * `CKPT_ERR_KEY` when this source has no key for it or its key does not
   * open it; the message names the key id the image needs.
   */
  async unwrap(w: WrappedKey, uuid: Uint8Array, image: string): Promise<Buffer> {
    const needs = `image ${image} is encrypted with key id ${JSON.stringify(w.keyId)} (${w.kek})`;
    if (w.kek === 'keyring') {
      const kek = this.#keys?.get(w.keyId) ?? this.#anyId;
      if (kek === undefined && this.#keys === undefined) throw keyError(`${needs}, but encryption is not configured with a keyring; pass encryption: { keys: { ${JSON.stringify(w.keyId)}: key }, current } (CLI: --key-file)`, image);
      if (kek === undefined) throw keyError(`${needs}, which is not in the keyring (it has ${[...this.#keys!.keys()].map((k) => JSON.stringify(k)).join(', ')}); add that key to encryption.keys`, image);
      const dek = unwrapKey(kek, w.wrapped, uuid, w.keyId);
      if (dek === undefined) throw keyError(`${needs}, but the key ${this.#keys?.has(w.keyId) === true ? 'of that id in the keyring' : 'given'} does not open it (a wrong key); pass the right key`, image);
      return dek;
    }
    if (w.kek === 'passphrase') {
      if (this.#passphrase === undefined) throw keyError(`${needs}: it needs the passphrase it was written with (encryption: { passphrase }, CLI: CKPT_PASSPHRASE)`, image);
      const kdf = w.kdf!;
      const problem = scryptProblem(kdf);
      if (problem !== undefined) {
        throw new CkptError(ErrorCodes.CORRUPT, `image ${image}: scrypt parameters N ${kdf.N}, r ${kdf.r}, p ${kdf.p} are out of range (${problem}); the image is damaged`, { image, where: 'crypto block' });
      }
      const dek = unwrapKey(await this.#kek(this.#passphrase, kdf), w.wrapped, uuid, w.keyId);
      if (dek === undefined) throw keyError(`${needs}, and the passphrase given does not open it (a wrong passphrase)`, image);
      return dek;
    }
    if (this.#kms === undefined) throw keyError(`${needs}: it needs the KMS hooks it was written with (encryption: { kms })`, image);
    let dek: Uint8Array;
    try {
      dek = await this.#kms.unwrap(Uint8Array.from(w.wrapped), w.keyId, { imageUuid: Buffer.from(uuid).toString('hex') });
    } catch (err) {
      throw keyError(`${needs}, and encryption.kms.unwrap failed (${err instanceof Error ? err.message : String(err)}); check the KMS key and its permissions`, image, err);
    }
    if (!(dek instanceof Uint8Array) || dek.length !== KEY_BYTES) throw keyError(`${needs}, and encryption.kms.unwrap did not resolve a 32-byte key`, image);
    return Buffer.from(dek);
  }
}

/**
 * The keys a command line gives: a key file (tried for whatever keyring key
 * id an image names; with `writeKeyId`, also the key new images are wrapped
 * with, under that id) and/or a passphrase (which wraps new images when no
 * key file does). Undefined when neither is given.
 * @internal
 */
export function cliKeySource(o: { key?: Uint8Array | undefined; passphrase?: string | undefined; allowPlaintext?: boolean; writeKeyId?: string | undefined }): KeySource | undefined {
  if (o.key === undefined && (o.passphrase === undefined || o.passphrase.length === 0)) return undefined;
  if (o.key !== undefined && o.key.length !== KEY_BYTES) throw invalid(`a key must be 32 bytes, got ${o.key.length}`);
  // With `writeKeyId`, new images are wrapped with the key file under that id (else it only opens images).
  const writes = o.key !== undefined && o.writeKeyId !== undefined;
  return new KeySource({
    ...(writes ? { keys: new Map([[o.writeKeyId!, Buffer.from(o.key!)]]), current: o.writeKeyId! } : {}),
    ...(o.key === undefined ? {} : { anyId: Buffer.from(o.key) }),
    ...(o.passphrase === undefined || o.passphrase.length === 0 ? {} : { passphrase: o.passphrase }),
    allowPlaintext: o.allowPlaintext ?? true,
  });
}

/**
 * Wrap `dek` of image `uuid` under `kek` with key id `keyId` (the keyring
 * wrapping; `ckpt rekey`).
 * @internal
 */
export function wrapWithKey(kek: Uint8Array, dek: Uint8Array, uuid: Uint8Array, keyId: string): WrappedKey {
  return { kek: 'keyring', keyId, wrapped: wrapKey(kek, dek, uuid, keyId) };
}

function bytesOf(v: unknown): Buffer | undefined {
  if (v instanceof Uint8Array) return Buffer.from(v.buffer, v.byteOffset, v.byteLength);
  return undefined;
}

/**
 * Check the `encryption` option and build its {@link KeySource}. Fails with
 * `CKPT_ERR_INVALID_ARGUMENT` naming the problem: not exactly one of `keys`,
 * `passphrase`, `kms`; a key that is not 32 bytes; `current` not in `keys`;
 * an empty passphrase; hooks that are not functions; bad scrypt parameters.
 */
export function keySource(v: unknown, name = 'encryption'): KeySource {
  if (typeof v !== 'object' || v === null || Array.isArray(v)) throw invalid(`${name} must be an object: { keys, current } | { passphrase } | { kms: { wrap, unwrap } }`);
  const o = v as Record<string, unknown>;
  for (const k of Object.keys(o)) {
    if (!['keys', 'current', 'passphrase', 'scrypt', 'kms', 'allowPlaintext'].includes(k)) throw invalid(`${name}: unknown option ${JSON.stringify(k)} (known: keys, current, passphrase, scrypt, kms, allowPlaintext)`);
  }
  const ways = (['keys', 'passphrase', 'kms'] as const).filter((k) => o[k] !== undefined);
  if (ways.length !== 1) throw invalid(`${name} needs exactly one of keys (with current), passphrase or kms; got ${ways.length === 0 ? 'none' : ways.join(' and ')}`);
  const allow = o['allowPlaintext'] ?? false;
  if (typeof allow !== 'boolean') throw invalid(`${name}.allowPlaintext must be a boolean`);
  if (o['keys'] !== undefined) {
    const keys = o['keys'];
    if (typeof keys !== 'object' || keys === null || Array.isArray(keys) || keys instanceof Uint8Array) throw invalid(`${name}.keys must be an object of key id → 32-byte Uint8Array`);
    const map = new Map<string, Buffer>();
    for (const [id, key] of Object.entries(keys)) {
      if (id.length === 0 || id.length > 256) throw invalid(`${name}.keys: a key id must be 1..256 characters, got ${JSON.stringify(id)}`);
      const b = bytesOf(key);
      if (b === undefined || b.length !== KEY_BYTES) throw invalid(`${name}.keys[${JSON.stringify(id)}] must be 32 bytes (a Uint8Array), got ${b === undefined ? typeof key : `${b.length} bytes`}; make one with crypto.randomBytes(32)`);
      // A copy in memory of its own (Buffer.from would use Node's shared pool, which other buffers share).
      const own = Buffer.alloc(KEY_BYTES);
      own.set(b);
      map.set(id, own);
    }
    if (map.size === 0) throw invalid(`${name}.keys is empty; give at least the current key`);
    const current = o['current'];
    if (typeof current !== 'string' || !map.has(current)) throw invalid(`${name}.current must name a key of ${name}.keys (${[...map.keys()].map((k) => JSON.stringify(k)).join(', ')}), got ${JSON.stringify(current)}`);
    return new KeySource({ keys: map, current, allowPlaintext: allow });
  }
  if (o['current'] !== undefined) throw invalid(`${name}.current is only used with ${name}.keys`);
  if (o['passphrase'] !== undefined) {
    const pass = o['passphrase'];
    if (typeof pass !== 'string' || pass.length === 0) throw invalid(`${name}.passphrase must be a non-empty string`);
    const s = o['scrypt'] ?? {};
    if (typeof s !== 'object' || s === null) throw invalid(`${name}.scrypt must be an object { N?, r?, p? }`);
    const sp = s as Record<string, unknown>;
    const params: ScryptParams = { N: Number(sp['N'] ?? DEFAULT_SCRYPT.N), r: Number(sp['r'] ?? DEFAULT_SCRYPT.r), p: Number(sp['p'] ?? DEFAULT_SCRYPT.p) };
    const problem = scryptProblem(params);
    if (problem !== undefined) throw invalid(`${name}.scrypt: ${problem} (readers refuse larger parameters, which a forged image could use to make them spend memory and minutes)`);
    return new KeySource({ passphrase: pass, scrypt: params, allowPlaintext: allow });
  }
  if (o['scrypt'] !== undefined) throw invalid(`${name}.scrypt is only used with ${name}.passphrase`);
  const kms = o['kms'];
  if (typeof kms !== 'object' || kms === null || typeof (kms as KmsHooks).wrap !== 'function' || typeof (kms as KmsHooks).unwrap !== 'function') {
    throw invalid(`${name}.kms must be { wrap(dataKey, context), unwrap(wrapped, keyId, context) }, both async functions`);
  }
  return new KeySource({ kms: kms as KmsHooks, allowPlaintext: allow });
}
