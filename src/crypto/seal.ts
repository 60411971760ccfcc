/**
 * @module crypto/seal
 *
 * The cryptographic primitives of encrypted images (format 4,
 * `docs/FORMAT.md#format-4-encrypted-images`): per-image subkeys derived
 * from the image's data key (DEK), the nonce of a segment or of the index,
 * the associated data that binds a segment to its image and place, AES-256-GCM
 * in small pieces into reused memory, the key commitment, and wrapping a DEK
 * under a key-encryption key (KEK).
 *
 * Everything here is deterministic given its inputs (the DEK, the image uuid
 * and the nonce of a wrap are chosen by the caller), so the known-answer test
 * vector of FORMAT.md is checked against these functions directly.
 */
import { createCipheriv, createDecipheriv, createHmac, hkdfSync, randomBytes, timingSafeEqual } from 'node:crypto';

/** Bytes of a DEK, a KEK and every subkey (AES-256). */
export const KEY_BYTES = 32;
/** Bytes of an image uuid. */
export const UUID_BYTES = 16;
/** Bytes of an AES-GCM tag appended to every sealed segment and to the index. */
export const TAG_BYTES = 16;
/** Bytes of an AES-GCM nonce. */
export const NONCE_BYTES = 12;
/**
 * Largest piece given to one cipher `update()` call. Node's `update()`
 * returns fresh memory each call; above ~64 KiB that memory costs a page
 * fault per 4 KiB (see docs/encryption.md#costs), so bytes go through in
 * pieces copied into the caller's reused buffer.
 */
export const PIECE_BYTES = 64 * 1024;

/** Nonce domain of segments (first 4 bytes of the nonce). */
export const NONCE_DOMAIN_SEGMENT = 0;
/** Nonce domain of the index. */
export const NONCE_DOMAIN_INDEX = 1;

/** HKDF info strings of the two subkeys. */
const INFO_SEGMENTS = 'ckpt v4 segments';
const INFO_INDEX = 'ckpt v4 index';
/** Prefix of a segment's associated data. */
const AAD_SEGMENT = Buffer.from('ckpt4seg', 'latin1');
/** Prefix of the commitment input. */
const COMMIT_PREFIX = Buffer.from('ckpt commit', 'latin1');
/** Prefix of a wrap's associated data. */
const AAD_WRAP = Buffer.from('ckpt4wrap', 'latin1');

/** The two subkeys of one image. */
export interface ImageKeys {
  /** Encrypts the segments. */
  readonly segments: Buffer;
  /** Encrypts the index. */
  readonly index: Buffer;
}

/** `HKDF-SHA256(dek, salt = uuid, info)` for the segment and index subkeys. */
export function deriveImageKeys(dek: Uint8Array, uuid: Uint8Array): ImageKeys {
  return {
    segments: Buffer.from(hkdfSync('sha256', dek, uuid, INFO_SEGMENTS, KEY_BYTES)),
    index: Buffer.from(hkdfSync('sha256', dek, uuid, INFO_INDEX, KEY_BYTES)),
  };
}

/**
 * The 96-bit nonce of item `counter` of `domain`: u32 big-endian domain ‖
 * u64 big-endian counter. Under one image's subkeys (fresh per image) the
 * pair (domain, counter) is never used twice, so no nonce repeats under a key.
 */
export function nonceOf(domain: number, counter: number): Buffer {
  const n = Buffer.alloc(NONCE_BYTES);
  n.writeUInt32BE(domain >>> 0, 0);
  n.writeBigUInt64BE(BigInt(counter), 4);
  return n;
}

/**
 * Associated data of segment `index`: `"ckpt4seg" ‖ uuid ‖ u32 index ‖ u16
 * flags ‖ u8 codec ‖ u32 rawLength` (integers big-endian). A sealed segment
 * moved to another place, another image, or given other flags, codec or
 * length fails authentication.
 */
export function segmentAad(uuid: Uint8Array, index: number, flags: number, codec: number, rawLength: number): Buffer {
  const b = Buffer.alloc(AAD_SEGMENT.length + UUID_BYTES + 11);
  AAD_SEGMENT.copy(b, 0);
  b.set(uuid.subarray(0, UUID_BYTES), AAD_SEGMENT.length);
  let o = AAD_SEGMENT.length + UUID_BYTES;
  o = b.writeUInt32BE(index >>> 0, o);
  o = b.writeUInt16BE(flags & 0xffff, o);
  o = b.writeUInt8(codec & 0xff, o);
  b.writeUInt32BE(rawLength >>> 0, o);
  return b;
}

/** Key commitment: `HMAC-SHA256(dek, "ckpt commit" ‖ uuid)`. */
export function commitmentOf(dek: Uint8Array, uuid: Uint8Array): Buffer {
  return createHmac('sha256', dek).update(COMMIT_PREFIX).update(uuid).digest();
}

/** Whether `commit` is the commitment of `dek` for `uuid` (constant time). */
export function checkCommitment(dek: Uint8Array, uuid: Uint8Array, commit: Uint8Array): boolean {
  const expected = commitmentOf(dek, uuid);
  return commit.length === expected.length && timingSafeEqual(expected, commit);
}

/**
 * AES-256-GCM of `src` into `dst` (at least `src.length + 16` bytes):
 * ciphertext then the 16-byte tag. Returns the bytes written. `src` goes
 * through in pieces of at most {@link PIECE_BYTES}; `src` and `dst` must not
 * overlap.
 */
export function sealInto(key: Uint8Array, nonce: Uint8Array, aad: Uint8Array, src: Uint8Array, dst: Uint8Array): number {
  const c = createCipheriv('aes-256-gcm', key, nonce, { authTagLength: TAG_BYTES });
  c.setAAD(aad);
  let o = 0;
  for (let i = 0; i < src.length; i += PIECE_BYTES) {
    const out = c.update(src.subarray(i, Math.min(src.length, i + PIECE_BYTES)));
    dst.set(out, o);
    o += out.length;
  }
  const last = c.final();
  dst.set(last, o);
  o += last.length;
  dst.set(c.getAuthTag(), o);
  return o + TAG_BYTES;
}

/**
 * Check and decrypt `src` (ciphertext ‖ tag) into `dst` (at least
 * `src.length - 16` bytes). Returns the plaintext length, or -1 when
 * authentication fails (then `dst` holds unauthenticated bytes: the caller
 * must not use them). Pieces as {@link sealInto}.
 */
export function openInto(key: Uint8Array, nonce: Uint8Array, aad: Uint8Array, src: Uint8Array, dst: Uint8Array): number {
  if (src.length < TAG_BYTES) return -1;
  const n = src.length - TAG_BYTES;
  const d = createDecipheriv('aes-256-gcm', key, nonce, { authTagLength: TAG_BYTES });
  d.setAAD(aad);
  d.setAuthTag(src.subarray(n));
  let o = 0;
  for (let i = 0; i < n; i += PIECE_BYTES) {
    const out = d.update(src.subarray(i, Math.min(n, i + PIECE_BYTES)));
    dst.set(out, o);
    o += out.length;
  }
  try {
    const last = d.final();
    dst.set(last, o);
    o += last.length;
  } catch {
    return -1;
  }
  return o;
}

/** Associated data of a wrapped DEK: `"ckpt4wrap" ‖ uuid ‖ keyId (UTF-8)`. */
function wrapAad(uuid: Uint8Array, keyId: string): Buffer {
  return Buffer.concat([AAD_WRAP, uuid, Buffer.from(keyId, 'utf8')]);
}

/**
 * Wrap a DEK under a KEK: `nonce(12) ‖ AES-256-GCM(kek, nonce, aad, dek) ‖
 * tag(16)`, the associated data binding the image uuid and the key id.
 * `nonce` defaults to random (a test vector passes a fixed one).
 */
export function wrapKey(kek: Uint8Array, dek: Uint8Array, uuid: Uint8Array, keyId: string, nonce: Uint8Array = randomBytes(NONCE_BYTES)): Buffer {
  const out = Buffer.alloc(NONCE_BYTES + dek.length + TAG_BYTES);
  out.set(nonce, 0);
  sealInto(kek, nonce, wrapAad(uuid, keyId), dek, out.subarray(NONCE_BYTES));
  return out;
}

/** Unwrap a DEK wrapped by {@link wrapKey}; undefined when the KEK is not the one it was wrapped with (or the bytes were changed). */
export function unwrapKey(kek: Uint8Array, wrapped: Uint8Array, uuid: Uint8Array, keyId: string): Buffer | undefined {
  if (wrapped.length !== NONCE_BYTES + KEY_BYTES + TAG_BYTES) return undefined;
  const dek = Buffer.alloc(KEY_BYTES);
  const n = openInto(kek, wrapped.subarray(0, NONCE_BYTES), wrapAad(uuid, keyId), wrapped.subarray(NONCE_BYTES), dek);
  return n === KEY_BYTES ? dek : undefined;
}
