/**
 * @module image/index-v4
 *
 * Image format version 4: encrypted images. Its index layout and types
 * (frozen once released) and the step from version 3. The index is v3's,
 * field for field; what v4 adds is the segment flag bit 0 (`ENCRYPTED`) and
 * the header's required flag bit 0 (`ENCRYPTED_SEGMENTS`): in an encrypted
 * image every segment's stored bytes are AES-256-GCM ciphertext ‖ 16-byte tag
 * of the bytes its codec describes (so a raw row's stored length is its raw
 * length + 16), a clear crypto block lies between the segments and the index,
 * and the index itself is encrypted (docs/FORMAT.md, "Format 4").
 *
 * ```
 * { manifest: { …v3 fields… }, codec: { … }, refs: [ … ],
 *   segments: [[offset, storedLength, rawLength, crc32, codec, flags, hash, ref, base], …],
 *   providers: [ … ] }
 * ```
 *
 * Upgrading a v3 index changes nothing. Downgrading is refused for an index
 * with encrypted segments (a plaintext copy would need the key and an
 * explicit request; not built); a plaintext v4 index is v3 as it is.
 */
import { CkptError, ErrorCodes } from '../errors.js';
import { DEFAULT_MAX_SEGMENTS, HEADER_SIZE, SegmentCodec } from './constants.js';
import { defineFormatVersion } from './format-version.js';
import {
  IndexChecker,
  checkCodec,
  checkProviders,
  unpackIndex,
  type IndexLimits,
} from './index-common.js';
import { checkManifestV2 } from './index-v2.js';
import { checkHash, checkRefs, checkSegmentRef, encodeIndexV3, isImageUuid, type ImageIndexV3, type ImageRefV3, type ManifestV3, type SegmentEntryV3, type SegmentRefV3 } from './index-v3.js';

/** The v4 manifest (as v3). */
export type ManifestV4 = ManifestV3;
/** A holder named by a v4 index (as v3). */
export type ImageRefV4 = ImageRefV3;
/** A segment of a holder (as v3). */
export type SegmentRefV4 = SegmentRefV3;
/** A v4 segment entry (as v3; `flags` may have bit 0, `ENCRYPTED`). */
export type SegmentEntryV4 = SegmentEntryV3;
/** A v4 index (as v3). */
export type ImageIndexV4 = ImageIndexV3;

/** Segment flag bit 0: encrypted (format 4). */
const ENCRYPTED = 1 << 0;
/** Segment flag bit 1: stored by reference. */
const BY_REFERENCE = 1 << 1;
/** Bytes of an AES-GCM tag. */
const TAG_BYTES = 16;

/** Serialize a v4 index (the v3 layout). */
export function encodeIndexV4(index: ImageIndexV4): Buffer {
  return encodeIndexV3(index);
}

/**
 * Check a v4 segment table: v3's rules (the segments this image holds back
 * to back from the header to the crypto block or index; by-reference rows on
 * their own, their offset is in the holder), plus encrypted rows (flag bit
 * 0: stored length includes the 16-byte tag; in format 4 never by reference
 * nor an XOR delta — format 5 allows both, `references`).
 */
function checkSegmentsV4(c: IndexChecker, v: unknown, indexOffset: number, limits: IndexLimits, refs: number, references: boolean): SegmentEntryV4[] {
  const wire = c.arr(v, 'segments');
  const maxSegments = limits.maxSegments ?? DEFAULT_MAX_SEGMENTS;
  if (wire.length > maxSegments) {
    throw new CkptError(
      ErrorCodes.LIMIT,
      `${c.image}: index lists ${wire.length} segments, above this reader's limit of ${maxSegments} (limits.maxSegments); raise the limit if the image is trusted, or it is damaged`,
      { where: 'index.segments', image: c.image },
    );
  }
  const segments: SegmentEntryV4[] = [];
  let expectedOffset = HEADER_SIZE;
  for (let i = 0; i < wire.length; i++) {
    const where = `segments[${i}]`;
    const w = c.arr(wire[i], where);
    if (w.length !== 9) c.fail(where, 'expected 9 fields');
    const offset = c.uint(w[0], `${where}.offset`);
    const storedLength = c.uint(w[1], `${where}.storedLength`);
    const rawLength = c.uint(w[2], `${where}.rawLength`);
    if (rawLength > limits.maxSegmentBytes || storedLength > limits.maxSegmentBytes + 1024) {
      throw new CkptError(
        ErrorCodes.LIMIT,
        `${c.image}: segment ${i} holds ${Math.max(rawLength, storedLength)} bytes, above this reader's limit of ${limits.maxSegmentBytes} (limits.maxSegmentBytes); raise the limit if the image is trusted, or it is damaged`,
        { where: `index.${where}`, image: c.image },
      );
    }
    const crc = c.uint(w[3], `${where}.crc`, 0xffffffff);
    const codecId = c.uint(w[4], `${where}.codec`, 255);
    if (codecId !== SegmentCodec.RAW && codecId !== SegmentCodec.ZSTD && codecId !== SegmentCodec.XOR_ZSTD) c.fail(`${where}.codec`, `unknown segment codec ${codecId}`);
    const flags = c.uint(w[5], `${where}.flags`, 0xffff);
    if ((flags & ~(BY_REFERENCE | ENCRYPTED)) !== 0) c.fail(`${where}.flags`, `unknown segment flags 0x${(flags & ~(BY_REFERENCE | ENCRYPTED)).toString(16)}`);
    const sealed = (flags & ENCRYPTED) !== 0;
    if (!references && sealed && (flags & BY_REFERENCE) !== 0) c.fail(`${where}.flags`, 'an encrypted segment of a format-4 image cannot be stored by reference');
    if (!references && sealed && codecId === SegmentCodec.XOR_ZSTD) c.fail(`${where}.codec`, 'an encrypted segment of a format-4 image cannot be an XOR delta');
    if (sealed && storedLength < TAG_BYTES) c.fail(where, 'encrypted segment shorter than its tag');
    if (codecId === SegmentCodec.RAW && storedLength !== rawLength + (sealed ? TAG_BYTES : 0)) c.fail(where, 'raw segment with differing lengths');
    const hash = checkHash(c, w[6], `${where}.hash`);
    const ref = checkSegmentRef(c, w[7], `${where}.ref`, refs);
    const base = checkSegmentRef(c, w[8], `${where}.base`, refs);
    if ((flags & BY_REFERENCE) !== 0) {
      if (ref === null) c.fail(`${where}.ref`, 'a by-reference segment needs a reference');
      if (base !== null) c.fail(`${where}.base`, 'a by-reference segment has no base (its holder has it)');
    } else {
      if (ref !== null) c.fail(`${where}.ref`, 'set on a segment that is not stored by reference');
      if ((codecId === SegmentCodec.XOR_ZSTD) !== (base !== null)) c.fail(`${where}.base`, codecId === SegmentCodec.XOR_ZSTD ? 'an XOR segment needs a base' : 'set on a segment that is not an XOR delta');
      if (offset !== expectedOffset) c.fail(`${where}.offset`, `expected ${expectedOffset}`);
      expectedOffset = offset + storedLength;
      if (expectedOffset > indexOffset) c.fail(where, 'extends into the index');
    }
    segments.push({ offset, storedLength, rawLength, crc, codec: codecId, flags, hash, ref, base });
  }
  if (expectedOffset !== indexOffset) c.fail('segments', 'do not end where the crypto block or the index starts');
  return segments;
}

/** Decode and validate a v4 index (`indexOffset`: where the segments end — the crypto block of an encrypted image, else the index). */
export function decodeIndexV4(bytes: Uint8Array, indexOffset: number, limits: IndexLimits, image = 'image'): ImageIndexV4 {
  return decodeEncryptedIndex(bytes, indexOffset, limits, image, false);
}

/**
 * Decode and validate an index in the v3 layout of an image that may be
 * encrypted: format 4 (`references` false: it refers to no other image) and
 * format 5 (`references` true: encrypted rows may be by reference or XOR
 * deltas, the index may list holders).
 */
export function decodeEncryptedIndex(bytes: Uint8Array, indexOffset: number, limits: IndexLimits, image: string, references: boolean): ImageIndexV4 {
  const c = new IndexChecker(image);
  const top = unpackIndex(bytes, c);
  const mw = c.obj(top['manifest'], 'manifest');
  // The v2 manifest rules, then the uuid.
  const base = checkManifestV2(c, mw);
  const uuid = c.strOrNull(mw['uuid'], 'manifest.uuid', 32);
  if (uuid !== null && !isImageUuid(uuid)) c.fail('manifest.uuid', 'expected 32 lowercase hex digits');
  const manifest: ManifestV4 = { ...base, uuid };
  const codec = checkCodec(c, top['codec']);
  const refs = checkRefs(c, top['refs'], manifest.imageId);
  // Encrypted incremental images are format 5: format 4 refers to no other image.
  if (!references && refs.length > 0) c.fail('refs', 'a format-4 image refers to no other image');
  const segments = checkSegmentsV4(c, top['segments'], indexOffset, limits, refs.length, references);
  const providers = checkProviders(c, top['providers'], segments);
  return { manifest, codec, refs, segments, providers };
}

/** Upgrade a v3 index to v4: nothing changes. */
function upgradeFromV3(index: ImageIndexV3): ImageIndexV4 {
  return index;
}

/** Express a v4 index in v3: the same, unless its segments are encrypted (refused: decrypt first). */
function downgradeToV3(index: ImageIndexV4): ImageIndexV3 {
  if (index.segments.some((s) => (s.flags & ENCRYPTED) !== 0)) {
    throw new CkptError(
      ErrorCodes.INVALID_ARGUMENT,
      'this image is encrypted, which format 3 cannot hold; an encrypted image stays in format 4 (writing a decrypted plaintext copy is not supported)',
    );
  }
  return index;
}

/** Format version 4 as an entry of the format list. */
export const formatV4 = defineFormatVersion<ImageIndexV4, ImageIndexV3>({
  version: 4,
  decode: decodeIndexV4,
  encode: encodeIndexV4,
  previous: {
    upgrade: upgradeFromV3,
    downgrade: { supported: true, map: downgradeToV3 },
    upgradeChanges: ['header: defines required flag bit 0 (ENCRYPTED_SEGMENTS); index and segment bytes are copied unchanged'],
    downgradeChanges: ['header: required flag bit 0 must be clear (an encrypted image cannot be converted down)'],
  },
});
