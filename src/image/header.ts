/**
 * @module image/header
 *
 * The fixed 32-byte header at offset 0 of every image and the fixed 40-byte
 * trailer at its end. Both are little-endian and carry their own CRC-32, so a
 * reader can tell "not an image", "damaged" and "too new" apart before it
 * trusts any length they contain.
 */
import { crc32 } from 'node:zlib';
import { CkptError, ErrorCodes } from '../errors.js';
import { CODEC_ID, END_MAGIC, HEADER_SIZE, MAGIC, TRAILER_SIZE, knownRequiredFlags } from './constants.js';
import { FORMATS } from './format-registry.js';

/** Decoded image header. */
export interface ImageHeader {
  /** Format version the image was written with. */
  readonly formatVersion: number;
  /** Codec settings id (1 in format v1). */
  readonly codecId: number;
  /** Required feature flags; unknown bits make the image unreadable. */
  readonly requiredFlags: number;
  /** Optional feature flags; unknown bits are ignored. */
  readonly optionalFlags: number;
}

/** Decoded image trailer: where the index is and how to check it. */
export interface ImageTrailer {
  /** Byte offset of the index. */
  readonly indexOffset: number;
  /** Length of the index in bytes. */
  readonly indexLength: number;
  /** CRC-32 of the index bytes. */
  readonly indexCrc: number;
  /**
   * Format 4 encrypted images: offset of the crypto block (the u64 at trailer
   * bytes 20..27, reserved and zero in every other image).
   */
  readonly cryptoOffset?: number;
}

/** Serialize a header. */
export function encodeHeader(h: ImageHeader): Buffer {
  const b = Buffer.alloc(HEADER_SIZE);
  b.set(MAGIC, 0);
  b.writeUInt16LE(h.formatVersion, 8);
  b.writeUInt16LE(HEADER_SIZE, 10);
  b.writeUInt32LE(h.requiredFlags >>> 0, 12);
  b.writeUInt32LE(h.optionalFlags >>> 0, 16);
  b.writeUInt16LE(h.codecId, 20);
  // bytes 22..27 reserved, zero
  b.writeUInt32LE(crc32(b.subarray(0, 28)), 28);
  return b;
}

function corrupt(message: string, where: string, image?: string, hint?: string): CkptError {
  return new CkptError(ErrorCodes.CORRUPT, message, { where, ...(image === undefined ? {} : { image }), ...(hint === undefined ? {} : { hint }) });
}

/** What to do when a file is not an image at all. */
const NOT_AN_IMAGE_HINT = 'pass an image file written by ckpt (a store keeps them as 000000000001.ckpt, …)';

/** True when `bytes` starts with the image magic. */
export function hasMagic(bytes: Uint8Array): boolean {
  if (bytes.length < MAGIC.length) return false;
  for (let i = 0; i < MAGIC.length; i++) if (bytes[i] !== MAGIC[i]) return false;
  return true;
}

/**
 * Parse and check a header. Order matters: magic, then CRC, then version and
 * flags — so damage is reported as CORRUPT and a genuine newer image as
 * FORMAT_NEWER / UNSUPPORTED_FEATURE. `image` is the image's id, for the
 * messages and the errors' `image` field; `newest` the newest format version
 * the reader's format list reads (default: this ckpt's).
 */
export function decodeHeader(bytes: Uint8Array, image?: string, newest: number = FORMATS.newest): ImageHeader {
  const name = image === undefined ? 'image' : `image ${image}`;
  if (bytes.length < HEADER_SIZE) throw corrupt(`${name} is too short to be a ckpt image (${bytes.length} bytes); it may be truncated or not an image at all`, 'header', image, NOT_AN_IMAGE_HINT);
  if (!hasMagic(bytes)) throw corrupt(`${name} is not a ckpt image (wrong magic bytes at offset 0)`, 'header', image, NOT_AN_IMAGE_HINT);
  const b = Buffer.from(bytes.buffer, bytes.byteOffset, HEADER_SIZE);
  if (crc32(b.subarray(0, 28)) !== b.readUInt32LE(28)) throw corrupt(`${name}: header checksum mismatch; the image is damaged`, 'header', image);
  const formatVersion = b.readUInt16LE(8);
  const headerSize = b.readUInt16LE(10);
  const requiredFlags = b.readUInt32LE(12);
  const optionalFlags = b.readUInt32LE(16);
  const codecId = b.readUInt16LE(20);
  if (formatVersion === 0) throw corrupt(`${name}: format version 0 is invalid`, 'header', image);
  if (formatVersion > newest) {
    throw new CkptError(
      ErrorCodes.FORMAT_NEWER,
      `${name} has image format version ${formatVersion}, but this ckpt reads format versions up to ${newest}; upgrade ckpt to restore it`,
      image === undefined ? { where: 'header' } : { where: 'header', image },
    );
  }
  if (headerSize !== HEADER_SIZE) throw corrupt(`${name}: header size ${headerSize} is invalid for format ${formatVersion}`, 'header', image);
  const unknown = requiredFlags & ~knownRequiredFlags(formatVersion);
  if (unknown !== 0) {
    throw new CkptError(
      ErrorCodes.UNSUPPORTED_FEATURE,
      `${name} requires features this ckpt does not implement (required flags 0x${(unknown >>> 0).toString(16)}); upgrade ckpt to restore it`,
      image === undefined ? { where: 'header' } : { where: 'header', image },
    );
  }
  if (codecId !== CODEC_ID) throw corrupt(`${name}: unknown codec id ${codecId} for format ${formatVersion}`, 'header', image);
  return { formatVersion, codecId, requiredFlags, optionalFlags };
}

/** Serialize a trailer. */
export function encodeTrailer(t: ImageTrailer): Buffer {
  const b = Buffer.alloc(TRAILER_SIZE);
  b.writeBigUInt64LE(BigInt(t.indexOffset), 0);
  b.writeBigUInt64LE(BigInt(t.indexLength), 8);
  b.writeUInt32LE(t.indexCrc >>> 0, 16);
  // 20..27: crypto block offset in encrypted images, else reserved, zero
  if (t.cryptoOffset !== undefined) b.writeBigUInt64LE(BigInt(t.cryptoOffset), 20);
  b.writeUInt32LE(crc32(b.subarray(0, 28)), 28);
  b.set(END_MAGIC, 32);
  return b;
}

/** Parse and check a trailer against the image size (`image`: the image's id, as for {@link decodeHeader}). */
export function decodeTrailer(bytes: Uint8Array, imageSize: number, image?: string): ImageTrailer {
  const name = image === undefined ? 'image' : `image ${image}`;
  if (bytes.length !== TRAILER_SIZE) throw corrupt(`${name}: trailer missing; the image is truncated`, 'trailer', image);
  const b = Buffer.from(bytes.buffer, bytes.byteOffset, TRAILER_SIZE);
  for (let i = 0; i < END_MAGIC.length; i++) {
    if (b[32 + i] !== END_MAGIC[i]) throw corrupt(`${name}: end marker missing; the image is truncated or was not completely written`, 'trailer', image);
  }
  if (crc32(b.subarray(0, 28)) !== b.readUInt32LE(28)) throw corrupt(`${name}: trailer checksum mismatch; the image is damaged`, 'trailer', image);
  const indexOffset = b.readBigUInt64LE(0);
  const indexLength = b.readBigUInt64LE(8);
  const max = BigInt(imageSize - TRAILER_SIZE);
  if (indexOffset < BigInt(HEADER_SIZE) || indexOffset > max || indexLength > max - indexOffset || indexOffset + indexLength !== max) {
    throw corrupt(`${name}: index position in the trailer does not fit the image size; the image is damaged`, 'trailer', image);
  }
  const crypto = b.readBigUInt64LE(20);
  if (crypto > BigInt(Number.MAX_SAFE_INTEGER)) throw corrupt(`${name}: trailer field at bytes 20..27 is out of range; the image is damaged`, 'trailer', image);
  return { indexOffset: Number(indexOffset), indexLength: Number(indexLength), indexCrc: b.readUInt32LE(16), ...(crypto === 0n ? {} : { cryptoOffset: Number(crypto) }) };
}
