/**
 * @module image/constants
 *
 * Fixed numbers of the image format: magic bytes, sizes of the fixed-length
 * header and trailer, the default format version written, flag bits, segment codecs and
 * default limits. `docs/FORMAT.md` describes every byte; these constants are
 * the single source of those numbers in code.
 */

/** First 8 bytes of every image: `89 43 4B 50 54 0D 0A 1A` (PNG-style: detects text-mode mangling). */
export const MAGIC = Uint8Array.of(0x89, 0x43, 0x4b, 0x50, 0x54, 0x0d, 0x0a, 0x1a);
/** Last 8 bytes of every image: `"CKPTEND"` + 0x1A. */
export const END_MAGIC = Uint8Array.of(0x43, 0x4b, 0x50, 0x54, 0x45, 0x4e, 0x44, 0x1a);
/** Size of the fixed header at offset 0. */
export const HEADER_SIZE = 32;
/** Size of the fixed trailer at the end of the image. */
export const TRAILER_SIZE = 40;
/**
 * The format version this code writes by default. Which versions exist (and
 * so the newest one read) is the format list's business (`format-registry`);
 * this is only the choice of default among them.
 */
export const FORMAT_VERSION = 2;
/** Codec id 1: ckpt value encoding v1 in msgpack, segments zstd or raw, index msgpack (formats 1 and 2). */
export const CODEC_ID = 1;

/**
 * Required flags: a reader that does not know a set bit must refuse the image.
 * None are defined in formats 1 and 2; format 3 defines bit 1 (segments stored
 * by reference or as XOR deltas: the image needs other images to be read);
 * format 4 defines bit 0 (encrypted segments and index, a crypto block).
 */
export const RequiredFlag = {
  ENCRYPTED_SEGMENTS: 1 << 0,
  SEGMENTS_BY_REFERENCE: 1 << 1,
} as const;
/** Required flags this code implements (in images of format 3 and newer; none in older ones). */
export const KNOWN_REQUIRED_FLAGS: number = RequiredFlag.SEGMENTS_BY_REFERENCE;
/** First format version in which {@link RequiredFlag.SEGMENTS_BY_REFERENCE} is defined. */
export const BY_REFERENCE_SINCE_FORMAT = 3;
/** First format version in which {@link RequiredFlag.ENCRYPTED_SEGMENTS} is defined (encrypted images). */
export const ENCRYPTED_SINCE_FORMAT = 4;
/** The format version of encrypted images (written only when encryption is configured). */
export const ENCRYPTED_FORMAT_VERSION = 4;
/** The format version of incremental images (written when `incremental` is configured; the default is {@link FORMAT_VERSION}). */
export const INCREMENTAL_FORMAT_VERSION = 3;
/** The format version of encrypted incremental images (encryption and `incremental` configured together). */
export const ENCRYPTED_INCREMENTAL_FORMAT_VERSION = 5;

/** The required flags format `version` defines (a reader refuses an image with any other set). */
export function knownRequiredFlags(version: number): number {
  return (version >= BY_REFERENCE_SINCE_FORMAT ? RequiredFlag.SEGMENTS_BY_REFERENCE : 0) | (version >= ENCRYPTED_SINCE_FORMAT ? RequiredFlag.ENCRYPTED_SEGMENTS : 0);
}
/** Longest chain of XOR deltas (a delta whose base is a delta …) a reader follows. */
export const MAX_XOR_CHAIN = 8;

/** How a segment's stored bytes relate to its raw bytes. */
export const SegmentCodec = {
  /** Stored as is (used when compression would not make it smaller). */
  RAW: 0,
  /** One zstd frame with content size and content checksum. */
  ZSTD: 1,
  /** Format 3: one zstd frame of (raw bytes XOR the raw bytes of the segment's `base`). */
  XOR_ZSTD: 2,
} as const;
/** A segment codec number. */
export type SegmentCodecId = 0 | 1 | 2;

/** Default raw size of one segment. */
export const DEFAULT_SEGMENT_SIZE = 4 * 1024 * 1024;
/** Binary values this large or larger go into raw blob segments. */
export const DEFAULT_BLOB_THRESHOLD = 64 * 1024;
/** Largest raw segment any reader accepts by default (bounds one allocation). */
export const DEFAULT_MAX_SEGMENT_BYTES = 64 * 1024 * 1024;
/** Largest index accepted by default (an index of 65 536 segments is about 2 MiB). */
export const DEFAULT_MAX_INDEX_BYTES = 8 * 1024 * 1024;
/** Most segments an index may list by default. */
export const DEFAULT_MAX_SEGMENTS = 65536;
/**
 * Largest decoded state of one provider accepted by default (value stream +
 * blobs): 2 GiB. A stored image is untrusted input — a forged 50 KB file can
 * claim gigabytes of zero-filled state, and since Node 22 a single buffer may
 * be that large — so this bounds what one provider can make a reader
 * allocate. Raise it with `limits.maxStateBytes`; a checkpoint whose state is
 * above the configured limit fails with `CKPT_ERR_LIMIT` before anything is
 * written, so a state that grows past it is found at the checkpoint, not at
 * the next restart.
 */
export const DEFAULT_MAX_STATE_BYTES = 2 * 1024 * 1024 * 1024;
/**
 * Largest total decoded size of all providers of one image accepted by
 * default: 4 GiB (two providers at the per-provider default). Raise it with
 * `limits.maxImageBytes`; checkpoints are held to it like to
 * {@link DEFAULT_MAX_STATE_BYTES}.
 */
export const DEFAULT_MAX_IMAGE_BYTES = 4 * 1024 * 1024 * 1024;
/** Default zstd level. */
export const DEFAULT_COMPRESSION_LEVEL = 3;
/** Default maximum nesting depth of a state. */
export const DEFAULT_MAX_DEPTH = 2000;
