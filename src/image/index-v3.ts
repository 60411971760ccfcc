/**
 * @module image/index-v3
 *
 * Image format version 3: its index layout and types (frozen once released)
 * and the step from version 2. Compared with v2 it adds what incremental
 * images need: a random `uuid` in the manifest, the list of images holding
 * bytes this one refers to (`refs`), and per segment an xxh3-64 `hash` of the
 * raw bytes, a reference (`ref`, for segments stored by reference) and an XOR
 * base (`base`, for segments of codec `XOR_ZSTD`).
 *
 * ```
 * { manifest: { …v2 fields…, uuid },
 *   codec: { values, level, segmentSize, blobThreshold },
 *   refs: [[imageId, uuid], …],
 *   segments: [[offset, storedLength, rawLength, crc32, codec, flags, hash, ref, base], …],
 *   providers: [ …same as v1… ] }
 * ```
 *
 * - `uuid`: 32 lowercase hex digits, or nil (an image converted up from v2
 *   has none, and so can hold nothing another image refers to).
 * - `hash`: bin 8, the xxh3-64 of the raw bytes big-endian, or nil.
 * - `ref`: nil, or `[refIndex, segmentIndex]` when flags has bit 1
 *   (`BY_REFERENCE`): the bytes are segment `segmentIndex` of the image
 *   `refs[refIndex]`; offset, stored length, CRC-32 and codec are that
 *   segment's (in the holder's file), so a by-reference row takes no bytes in
 *   this image. References are flattened: the holder holds the bytes itself.
 * - `base`: nil, or `[refIndex, segmentIndex]` for a segment of this image of
 *   codec 2 (`XOR_ZSTD`): its stored bytes are zstd(raw XOR base raw). A
 *   by-reference row has no base (its holder's row has it).
 *
 * Segments this image holds lie back to back from the header to the index, as
 * in v2; by-reference rows are skipped in that walk. Upgrading a v2 index
 * gives `uuid: nil`, `refs: []` and nil hash/ref/base on every segment.
 * Downgrading drops uuid and hashes (only used to find unchanged segments)
 * and refuses an index with references or XOR segments: those have to be
 * materialized first (`ckpt convert --to 2` does it).
 */
import { CkptError, ErrorCodes } from '../errors.js';
import { DEFAULT_MAX_SEGMENTS, HEADER_SIZE, SegmentCodec } from './constants.js';
import { defineFormatVersion } from './format-version.js';
import {
  IndexChecker,
  checkCodec,
  checkProviders,
  codecToWire,
  packIndex,
  providersToWire,
  unpackIndex,
  type CodecSettings,
  type IndexLimits,
  type ProviderEntry,
  type SegmentBase,
} from './index-common.js';
import { checkManifestV2, type ImageIndexV2, type ManifestV2 } from './index-v2.js';

/** The v3 manifest: the v2 fields plus `uuid`. */
export interface ManifestV3 extends ManifestV2 {
  /** 32 lowercase hex digits, or null (converted up from an older format). */
  readonly uuid: string | null;
}

/** A holder named by a v3 index. */
export interface ImageRefV3 {
  readonly imageId: string;
  readonly uuid: string;
}

/** A segment of a holder: position in `refs` and segment index in the holder. */
export interface SegmentRefV3 {
  readonly image: number;
  readonly segment: number;
}

/** A v3 segment entry. */
export interface SegmentEntryV3 extends SegmentBase {
  readonly flags: number;
  /** xxh3-64 of the raw bytes, or null. */
  readonly hash: bigint | null;
  /** Where the bytes are (flag `BY_REFERENCE`), or null. */
  readonly ref: SegmentRefV3 | null;
  /** The XOR base (codec `XOR_ZSTD`), or null. */
  readonly base: SegmentRefV3 | null;
}

/** A v3 index. */
export interface ImageIndexV3 {
  readonly manifest: ManifestV3;
  readonly codec: CodecSettings;
  readonly refs: readonly ImageRefV3[];
  readonly segments: readonly SegmentEntryV3[];
  readonly providers: readonly ProviderEntry[];
}

/** Most holders one v3 index may name. */
export const MAX_REFS = 256;
/** Segment flag bit 1: stored by reference (the only flag format 3 defines). */
const BY_REFERENCE = 1 << 1;
/** A uuid as written: 32 lowercase hex digits. */
const UUID = /^[0-9a-f]{32}$/;

/** Whether a string is a well-formed image uuid (32 lowercase hex digits). */
export function isImageUuid(v: string): boolean {
  return UUID.test(v);
}

function hashToWire(h: bigint | null): Buffer | null {
  if (h === null) return null;
  const b = Buffer.alloc(8);
  b.writeBigUInt64BE(BigInt.asUintN(64, h));
  return b;
}

function refToWire(r: SegmentRefV3 | null): number[] | null {
  return r === null ? null : [r.image, r.segment];
}

/** The wire object of a v3 index (field order fixed so equal inputs give equal bytes). */
export function indexV3ToWire(index: ImageIndexV3): Record<string, unknown> {
  const m = index.manifest;
  return {
    manifest: {
      imageId: m.imageId,
      app: m.app,
      createdAt: m.createdAt,
      step: m.step,
      label: m.label,
      library: m.library,
      node: m.node,
      platform: m.platform,
      hostname: m.hostname,
      parent: m.parent,
      meta: { ...m.meta },
      uuid: m.uuid,
    },
    codec: codecToWire(index.codec),
    refs: index.refs.map((r) => [r.imageId, r.uuid]),
    segments: index.segments.map((s) => [s.offset, s.storedLength, s.rawLength, s.crc, s.codec, s.flags, hashToWire(s.hash), refToWire(s.ref), refToWire(s.base)]),
    providers: providersToWire(index.providers),
  };
}

/** Serialize a v3 index. */
export function encodeIndexV3(index: ImageIndexV3): Buffer {
  return packIndex(indexV3ToWire(index));
}

/** @internal Shared with format 4, whose index is v3's. */
export function checkRefs(c: IndexChecker, v: unknown, self: string): ImageRefV3[] {
  const wire = c.arr(v, 'refs');
  if (wire.length > MAX_REFS) c.fail('refs', `more than ${MAX_REFS} images`);
  const seen = new Set<string>();
  return wire.map((rv, i) => {
    const where = `refs[${i}]`;
    const w = c.arr(rv, where);
    if (w.length !== 2) c.fail(where, 'expected 2 fields');
    const imageId = c.str(w[0], `${where}.imageId`, 256);
    const uuid = c.str(w[1], `${where}.uuid`, 32);
    if (!UUID.test(uuid)) c.fail(`${where}.uuid`, 'expected 32 lowercase hex digits');
    if (imageId === self) c.fail(where, 'an image cannot refer to itself');
    if (seen.has(imageId)) c.fail(where, `image ${JSON.stringify(imageId)} is listed twice`);
    seen.add(imageId);
    return { imageId, uuid };
  });
}

/** @internal Shared with format 4, whose index is v3's. */
export function checkSegmentRef(c: IndexChecker, v: unknown, where: string, refs: number): SegmentRefV3 | null {
  if (v === null || v === undefined) return null;
  const w = c.arr(v, where);
  if (w.length !== 2) c.fail(where, 'expected 2 fields');
  const image = c.uint(w[0], `${where}.image`);
  if (image >= refs) c.fail(`${where}.image`, `names refs[${image}], the index lists ${refs}`);
  return { image, segment: c.uint(w[1], `${where}.segment`, DEFAULT_MAX_SEGMENTS * 1024) };
}

/** @internal Shared with format 4, whose index is v3's. */
export function checkHash(c: IndexChecker, v: unknown, where: string): bigint | null {
  if (v === null || v === undefined) return null;
  if (!(v instanceof Uint8Array) || v.length !== 8) c.fail(where, 'expected 8 bytes or nil');
  return Buffer.from(v.buffer, v.byteOffset, 8).readBigUInt64BE(0);
}

/**
 * Check a v3 segment table: the v2 rules for the segments this image holds
 * (back to back from the header to the index); by-reference rows are checked
 * on their own (their offset is in the holder).
 */
function checkSegmentsV3(c: IndexChecker, v: unknown, indexOffset: number, limits: IndexLimits, refs: number): SegmentEntryV3[] {
  const wire = c.arr(v, 'segments');
  const maxSegments = limits.maxSegments ?? DEFAULT_MAX_SEGMENTS;
  if (wire.length > maxSegments) {
    throw new CkptError(
      ErrorCodes.LIMIT,
      `${c.image}: index lists ${wire.length} segments, above this reader's limit of ${maxSegments} (limits.maxSegments); raise the limit if the image is trusted, or it is damaged`,
      { where: 'index.segments', image: c.image },
    );
  }
  const segments: SegmentEntryV3[] = [];
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
    if (codecId === SegmentCodec.RAW && storedLength !== rawLength) c.fail(where, 'raw segment with differing lengths');
    const flags = c.uint(w[5], `${where}.flags`, 0xffff);
    if ((flags & ~BY_REFERENCE) !== 0) c.fail(`${where}.flags`, `unknown segment flags 0x${(flags & ~BY_REFERENCE).toString(16)}`);
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
  if (expectedOffset !== indexOffset) c.fail('segments', 'do not end where the index starts');
  return segments;
}

/** Decode and validate a v3 index. */
export function decodeIndexV3(bytes: Uint8Array, indexOffset: number, limits: IndexLimits, image = 'image'): ImageIndexV3 {
  const c = new IndexChecker(image);
  const top = unpackIndex(bytes, c);
  const mw = c.obj(top['manifest'], 'manifest');
  // The v2 manifest rules, then the uuid.
  const base = checkManifestV2(c, mw);
  const uuid = c.strOrNull(mw['uuid'], 'manifest.uuid', 32);
  if (uuid !== null && !UUID.test(uuid)) c.fail('manifest.uuid', 'expected 32 lowercase hex digits');
  const manifest: ManifestV3 = { ...base, uuid };
  const codec = checkCodec(c, top['codec']);
  const refs = checkRefs(c, top['refs'], manifest.imageId);
  const segments = checkSegmentsV3(c, top['segments'], indexOffset, limits, refs.length);
  const providers = checkProviders(c, top['providers'], segments);
  return { manifest, codec, refs, segments, providers };
}

/** Upgrade a v2 index to v3: no uuid, no refs, nil hash/ref/base. */
function upgradeFromV2(index: ImageIndexV2): ImageIndexV3 {
  return {
    manifest: { ...index.manifest, uuid: null },
    codec: index.codec,
    refs: [],
    segments: index.segments.map((s) => ({ ...s, hash: null, ref: null, base: null })),
    providers: index.providers,
  };
}

/** Express a v3 index in v2: uuid and hashes are dropped; references and XOR deltas are refused. */
function downgradeToV2(index: ImageIndexV3): ImageIndexV2 {
  if (index.refs.length > 0 || index.segments.some((s) => s.ref !== null || s.base !== null || s.codec === SegmentCodec.XOR_ZSTD || s.flags !== 0)) {
    throw new CkptError(
      ErrorCodes.INVALID_ARGUMENT,
      'this image refers to segments of other images (incremental image), which format 2 cannot hold; materialize it first — `ckpt convert --to 2` copies the referenced bytes into a standalone image',
    );
  }
  const m = index.manifest;
  return {
    manifest: { imageId: m.imageId, app: m.app, createdAt: m.createdAt, step: m.step, label: m.label, library: m.library, node: m.node, platform: m.platform, hostname: m.hostname, parent: m.parent, meta: m.meta },
    codec: index.codec,
    segments: index.segments.map(({ offset, storedLength, rawLength, crc, codec, flags }) => ({ offset, storedLength, rawLength, crc, codec, flags })),
    providers: index.providers,
  };
}

/** Format version 3 as an entry of the format list. */
export const formatV3 = defineFormatVersion<ImageIndexV3, ImageIndexV2>({
  version: 3,
  decode: decodeIndexV3,
  encode: encodeIndexV3,
  previous: {
    upgrade: upgradeFromV2,
    downgrade: { supported: true, map: downgradeToV2 },
    upgradeChanges: ['manifest: adds uuid (nil)', 'index: adds refs ([])', 'segments: each entry gains hash, ref and base fields (nil); segment bytes are copied unchanged'],
    downgradeChanges: ['manifest: drops uuid', 'index: drops refs (references and XOR deltas are materialized first)', 'segments: hash, ref and base fields removed'],
  },
});
