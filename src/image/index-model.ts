/**
 * @module image/index-model
 *
 * The in-memory model of an image index, in the shape of the newest format
 * version (2). Readers of older images convert their index to this model
 * (`convert/`), so everything above the image layer sees one shape.
 */
import type { CodecSettings, ProviderEntry, SegmentBase } from './index-common.js';

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
  /** Image this one builds on (reserved for incremental images; always null so far). */
  readonly parent: string | null;
  /** User metadata given to `checkpoint({ meta })` (format 2; empty in converted v1 images). */
  readonly meta: Readonly<Record<string, MetaValue>>;
}

/** Segment flags (format 2). Reserved: a set flag needs the matching required header flag. */
export const SegmentFlag = {
  /** The stored bytes are encrypted (reserved). */
  ENCRYPTED: 1 << 0,
  /** The segment is stored by reference (content hash) elsewhere (reserved). */
  BY_REFERENCE: 1 << 1,
} as const;

/** One segment: a run of stored bytes. */
export interface SegmentEntry extends SegmentBase {
  /** Segment flags (0 in images written so far). */
  readonly flags: number;
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
}
