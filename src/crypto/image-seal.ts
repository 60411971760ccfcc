/**
 * @module crypto/image-seal
 *
 * One image's encryption state: a fresh random data key (DEK) and uuid per
 * image written, its subkeys, and its crypto block; or, for an image read,
 * the same recovered from the crypto block with a {@link KeySource}. Also the
 * sealing of the index (AES-256-GCM under the index subkey, nonce domain 1,
 * associated data = header ‖ crypto block).
 */
import { randomBytes } from 'node:crypto';
import { CkptError, ErrorCodes } from '../errors.js';
import { encodeCryptoBlock, type CryptoBlock, type PublicManifest } from './block.js';
import type { KeySource } from './keys.js';
import { KEY_BYTES, NONCE_DOMAIN_INDEX, TAG_BYTES, UUID_BYTES, checkCommitment, commitmentOf, deriveImageKeys, nonceOf, openInto, sealInto, type ImageKeys } from './seal.js';

/** The keys of one encrypted image (written or read). */
export interface ImageSeal {
  /** The image uuid (16 bytes). */
  readonly uuid: Buffer;
  /** Subkeys derived from the DEK. */
  readonly keys: ImageKeys;
  /** The nonce the index is sealed with (domain 1, counter 0, unless `ckpt rekey` recorded another). */
  readonly indexNonce: Buffer;
}

/** A new image's seal and the crypto block to write. */
export interface NewImageSeal extends ImageSeal {
  /** The encoded crypto block. */
  readonly block: Buffer;
}

/**
 * Start an encrypted image: a random DEK and uuid (`dek`/`uuid` fixed only by
 * test vectors), the DEK wrapped by `source`, the crypto block encoded.
 */
export async function newImageSeal(source: KeySource, pub: PublicManifest, fixed?: { dek: Uint8Array; uuid: Uint8Array }): Promise<NewImageSeal> {
  const dek = Buffer.from(fixed?.dek ?? randomBytes(KEY_BYTES));
  const uuid = Buffer.from(fixed?.uuid ?? randomBytes(UUID_BYTES));
  const key = await source.wrap(dek, uuid);
  const block: CryptoBlock = { key, uuid, commit: commitmentOf(dek, uuid), public: pub };
  const keys = deriveImageKeys(dek, uuid);
  dek.fill(0);
  return { uuid, keys, indexNonce: nonceOf(NONCE_DOMAIN_INDEX, 0), block: encodeCryptoBlock(block) };
}

/**
 * The seal of an image read: its DEK unwrapped by `source` (`CKPT_ERR_KEY`
 * when it cannot) and checked against the key commitment.
 */
export async function openImageSeal(source: KeySource, block: CryptoBlock, image: string): Promise<ImageSeal> {
  const dek = await source.unwrap(block.key, block.uuid, image);
  if (!checkCommitment(dek, block.uuid, block.commit)) {
    // A KMS may hand back another key; a keyring or passphrase unwrap is authenticated, so there it is damage.
    if (block.key.kek === 'kms') throw new CkptError(ErrorCodes.KEY, `image ${image}: the key encryption.kms.unwrap returned for key id ${JSON.stringify(block.key.keyId)} is not this image's key (key commitment mismatch)`, { image });
    throw new CkptError(ErrorCodes.CORRUPT, `image ${image}: key commitment mismatch; the image is damaged or tampered with`, { image, where: 'crypto block' });
  }
  const keys = deriveImageKeys(dek, block.uuid);
  dek.fill(0);
  return { uuid: Buffer.from(block.uuid), keys, indexNonce: block.indexNonce === undefined ? nonceOf(NONCE_DOMAIN_INDEX, 0) : Buffer.from(block.indexNonce) };
}

/** Seal index bytes: ciphertext ‖ tag, bound to the header and crypto block (`aad`). */
export function sealIndex(seal: ImageSeal, aad: Uint8Array, index: Uint8Array): Buffer {
  const out = Buffer.alloc(index.length + TAG_BYTES);
  sealInto(seal.keys.index, seal.indexNonce, aad, index, out);
  return out;
}

/** Open sealed index bytes; `CKPT_ERR_CORRUPT` when authentication fails. */
export function openIndex(seal: ImageSeal, aad: Uint8Array, sealed: Uint8Array, image: string): Buffer {
  const out = Buffer.alloc(Math.max(0, sealed.length - TAG_BYTES));
  if (openInto(seal.keys.index, seal.indexNonce, aad, sealed, out) !== out.length || sealed.length < TAG_BYTES) {
    throw new CkptError(ErrorCodes.CORRUPT, `image ${image}: index authentication failed (its bytes, the header or the crypto block were changed); the image is damaged or tampered with`, { image, where: 'index' });
  }
  return out;
}
