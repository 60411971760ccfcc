/**
 * @module crypto/rekey
 *
 * Rewrapping an encrypted image's data key under another key-encryption key
 * (`ckpt rekey`): the header and segments stay byte for byte; the crypto block
 * gets the new wrapped key (and key id), and the index — whose associated
 * data is the header and the crypto block — is sealed again with the same
 * index key under a fresh random nonce recorded in the block (never a nonce
 * an earlier version of the image used). Works on the image's tail only (crypto block, index, trailer),
 * so the caller copies the segments without reading them.
 */
import { randomBytes } from 'node:crypto';
import { crc32 } from 'node:zlib';
import { CkptError, ErrorCodes } from '../errors.js';
import { HEADER_SIZE, RequiredFlag, TRAILER_SIZE } from '../image/constants.js';
import { decodeHeader, decodeTrailer, encodeTrailer } from '../image/header.js';
import type { ImageSource } from '../store/store.js';
import { decodeCryptoBlock, encodeCryptoBlock, MAX_CRYPTO_BLOCK } from './block.js';
import { openIndex, sealIndex } from './image-seal.js';
import { wrapWithKey, type KeySource } from './keys.js';
import { NONCE_DOMAIN_INDEX, checkCommitment, deriveImageKeys, nonceOf } from './seal.js';

/** What rekeying one image produces. */
export interface RekeyedTail {
  /** The image's key id before. */
  readonly fromKeyId: string;
  /** Where the new tail starts (the crypto block's offset: everything before stays). */
  readonly keep: number;
  /** New crypto block ‖ sealed index ‖ trailer. */
  readonly tail: Buffer;
  /** Size of the image after. */
  readonly size: number;
}

/**
 * The new tail of image `source` with its data key rewrapped under `to`
 * (`keyId` recorded). Undefined for an image that is not encrypted. Fails
 * with `CKPT_ERR_KEY` when `from` cannot open it and `CKPT_ERR_CORRUPT` when
 * it is damaged (nothing is written by this function).
 */
export async function rekeyTail(source: ImageSource, from: KeySource, to: { readonly key: Uint8Array; readonly keyId: string }): Promise<RekeyedTail | undefined> {
  const id = source.id;
  if (source.size < HEADER_SIZE + TRAILER_SIZE) throw new CkptError(ErrorCodes.CORRUPT, `image ${id} is truncated`, { image: id });
  const header = await source.read(0, HEADER_SIZE);
  const h = decodeHeader(header, id);
  if ((h.requiredFlags & RequiredFlag.ENCRYPTED_SEGMENTS) === 0) return undefined;
  const t = decodeTrailer(await source.read(source.size - TRAILER_SIZE, TRAILER_SIZE), source.size, id);
  const at = t.cryptoOffset;
  if (at === undefined || at < HEADER_SIZE || at >= t.indexOffset || t.indexOffset - at > MAX_CRYPTO_BLOCK + 8) throw new CkptError(ErrorCodes.CORRUPT, `image ${id}: no crypto block where the trailer says; the image is damaged`, { image: id, where: 'trailer' });
  const blockBytes = await source.read(at, t.indexOffset - at);
  const block = decodeCryptoBlock(blockBytes, id);
  const sealedIndex = await source.read(t.indexOffset, t.indexLength);
  if (crc32(sealedIndex) !== t.indexCrc) throw new CkptError(ErrorCodes.CORRUPT, `image ${id}: index checksum mismatch; the image is damaged`, { image: id, where: 'index' });
  const dek = await from.unwrap(block.key, block.uuid, id);
  try {
    if (!checkCommitment(dek, block.uuid, block.commit)) throw new CkptError(ErrorCodes.KEY, `image ${id}: the key given does not open it (key commitment mismatch)`, { image: id });
    const keys = deriveImageKeys(dek, block.uuid);
    const seal = { uuid: Buffer.from(block.uuid), keys, indexNonce: block.indexNonce === undefined ? nonceOf(NONCE_DOMAIN_INDEX, 0) : Buffer.from(block.indexNonce) };
    const index = openIndex(seal, Buffer.concat([header, blockBytes]), sealedIndex, id);
    // The index key stays (same data key) and the associated data changes: seal under a fresh random
    // nonce, recorded in the block, never the one any earlier version of this image used.
    let indexNonce = randomBytes(12);
    while (indexNonce.equals(seal.indexNonce) || indexNonce.equals(nonceOf(NONCE_DOMAIN_INDEX, 0))) indexNonce = randomBytes(12);
    const newBlock = encodeCryptoBlock({ ...block, key: wrapWithKey(to.key, dek, block.uuid, to.keyId), indexNonce });
    const newIndex = sealIndex({ ...seal, indexNonce }, Buffer.concat([header, newBlock]), index);
    const indexOffset = at + newBlock.length;
    const trailer = encodeTrailer({ indexOffset, indexLength: newIndex.length, indexCrc: crc32(newIndex), cryptoOffset: at });
    const tail = Buffer.concat([newBlock, newIndex, trailer]);
    return { fromKeyId: block.key.keyId, keep: at, tail, size: at + tail.length };
  } finally {
    dek.fill(0);
  }
}
