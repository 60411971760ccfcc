/**
 * @module image/index-model
 *
 * The live in-memory model of an image index: what everything above the
 * image layer sees, whatever version an image was written in. Its types are
 * its own — no format version module returns or aliases them — so the model
 * can grow while released format modules stay frozen. The format list
 * (`format-registry`) maps the newest format version's index to this model
 * and back; older versions reach it through their upgrade steps.
 */
import type { BinaryKindCode } from '../codec/types.js';
import type { SegmentCodecId } from './constants.js';

/** Codec settings the reader must apply. */
export interface CodecSettings {
  /** Value encoding version (1). */
  readonly values: number;
  /** zstd level used (informational). */
  readonly level: number;
  /** Target raw segment size used by the writer (informational). */
  readonly segmentSize: number;
  /** Blob threshold used by the writer (informational). */
  readonly blobThreshold: number;
}

/** The fields every segment has. */
export interface SegmentBase {
  /** Absolute byte offset in the image. */
  readonly offset: number;
  /** Stored (possibly compressed) length. */
  readonly storedLength: number;
  /** Raw (decompressed) length. */
  readonly rawLength: number;
  /** CRC-32 of the stored bytes. */
  readonly crc: number;
  /** How the stored bytes encode the raw bytes. */
  readonly codec: SegmentCodecId;
}

/** A run of consecutive segments. */
export interface SegmentRun {
  /** Index of the first segment in the segment table. */
  readonly first: number;
  /** Number of segments. */
  readonly count: number;
  /** Total raw bytes of the run. */
  readonly rawLength: number;
}

/** A blob: one large binary value of a provider, stored as raw segments. */
export interface BlobEntry extends SegmentRun {
  /** Binary kind (which typed array class etc.). */
  readonly kind: BinaryKindCode;
}

/** One provider's place in the image. */
export interface ProviderEntry {
  /** Provider id. */
  readonly id: string;
  /** Schema version of the saved state. */
  readonly version: number;
  /** Whether the state was written in tree mode. */
  readonly tree: boolean;
  /** Segments holding the msgpack value stream. */
  readonly stream: SegmentRun;
  /** Blobs referenced by the stream, in index order. */
  readonly blobs: readonly BlobEntry[];
}

/** A value allowed in user metadata (`checkpoint({ meta })`). */
export type MetaValue = string | number | boolean | null;

/** Who wrote an image, when, and at which point of the program. */
export interface Manifest {
  /** Image id as assigned by the store. */
  readonly imageId: string;
  /** Application name given to the Checkpointer, or null. */
  readonly app: string | null;
  /** When the checkpoint was taken (ISO 8601). */
  readonly createdAt: string;
  /** Application step (loop iteration) of the checkpoint, or null. */
  readonly step: number | null;
  /** Label given to the checkpoint, or null. */
  readonly label: string | null;
  /** ckpt version that wrote the image (`ckpt 0.1.0`). */
  readonly library: string;
  /** Node version that wrote the image (informational only: images never depend on it). */
  readonly node: string;
  /** `platform-arch` of the writer (informational). */
  readonly platform: string;
  /** Host name of the writer, or null (format 2; null in converted v1 images). */
  readonly hostname: string | null;
  /** Image this one was written against (incremental images; informational — `ImageIndex.refs` is authoritative), or null. */
  readonly parent: string | null;
  /**
   * Random id of this image (32 lowercase hex digits; format 3), or null in
   * images of older formats. A reference names its holder by image id and
   * uuid, so an image written again under the same id is never mistaken for
   * the holder.
   */
  readonly uuid?: string | null;
  /** User metadata given to `checkpoint({ meta })` (format 2; empty in converted v1 images). */
  readonly meta: Readonly<Record<string, MetaValue>>;
}

/** Segment flags. Reserved: a set flag needs the matching required header flag. */
export const SegmentFlag = {
  /**
   * Format 4: the stored bytes are AES-256-GCM ciphertext ‖ 16-byte tag of
   * the bytes `codec` describes. Set on every segment of an image whose header
   * has the required flag `ENCRYPTED_SEGMENTS`, and on no other.
   */
  ENCRYPTED: 1 << 0,
  /**
   * The segment's bytes are held by another image (format 3): `ref` names
   * the holder and its segment; offset, stored length, CRC and codec are the
   * holder's. Needs the required header flag `SEGMENTS_BY_REFERENCE`.
   */
  BY_REFERENCE: 1 << 1,
} as const;

/** An image that holds bytes this image refers to (format 3). */
export interface ImageRef {
  /** The holder's image id. */
  readonly imageId: string;
  /** The holder's manifest uuid (checked when the holder is opened). */
  readonly uuid: string;
}

/** A segment of another image: which holder (position in {@link ImageIndex.refs}) and which of its segments. */
export interface SegmentRef {
  /** Position of the holder in this image's `refs`. */
  readonly image: number;
  /** Index of the segment in the holder's segment table. */
  readonly segment: number;
}

/** One segment: a run of stored bytes. */
export interface SegmentEntry extends SegmentBase {
  /** Segment flags (0 in images written before format 3, or without references). */
  readonly flags: number;
  /** xxh3-64 of the raw bytes (format 3; absent in older images), compared with the parent's to find unchanged segments. */
  readonly hash?: bigint;
  /**
   * With `SegmentFlag.BY_REFERENCE`: where the bytes physically are. References
   * are flattened when written, so the holder never refers on (one hop).
   */
  readonly ref?: SegmentRef;
  /**
   * With codec `XOR_ZSTD`: the segment whose raw bytes this delta is XORed
   * with (in a holder named by `refs`); the base may itself be a delta, up to
   * the writer's chain depth bound.
   */
  readonly base?: SegmentRef;
}

/** The whole index. */
export interface ImageIndex {
  /** Who wrote the image, when, at which step. */
  readonly manifest: Manifest;
  /** Codec settings the reader applies. */
  readonly codec: CodecSettings;
  /** Every segment, in file order. */
  readonly segments: readonly SegmentEntry[];
  /** Every provider's runs, in the order they were written. */
  readonly providers: readonly ProviderEntry[];
  /** Images holding bytes this image refers to (format 3; absent or empty for a full image). */
  readonly refs?: readonly ImageRef[];
}
