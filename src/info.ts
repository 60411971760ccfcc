/**
 * @module info
 *
 * The plain descriptions of images that ckpt returns: {@link ImageInfo} for
 * any committed image, {@link CheckpointInfo} for one just taken (with its
 * timings), {@link RestoreResult} for a restore.
 */

/** A provider's entry in an image description. */
export interface ProviderInfo {
  /** Provider id. */
  readonly id: string;
  /** Schema version of the saved state. */
  readonly version: number;
  /** Raw (uncompressed) bytes of the state. */
  readonly rawBytes: number;
  /** Bytes the state occupies in the image. */
  readonly storedBytes: number;
}

/** A committed image. */
export interface ImageInfo {
  /** Image id (sortable; greater is newer). */
  readonly id: string;
  /** Step given to `checkpoint()`, or null. */
  readonly step: number | null;
  /** Label given to `checkpoint()`, or null. */
  readonly label: string | null;
  /** When the checkpoint was taken. */
  readonly createdAt: Date;
  /** Image size in bytes. */
  readonly bytes: number;
  /** Application name recorded in the image, or null. */
  readonly app: string | null;
  /** Image format version. */
  readonly formatVersion: number;
  /** ckpt version that wrote it. */
  readonly library: string;
  /** Node version that wrote it (informational). */
  readonly node: string;
  /** Host that wrote it, or null (images of format 1 do not record it). */
  readonly hostname: string | null;
  /** User metadata given to `checkpoint({ meta })` (empty for format 1 images). */
  readonly meta: Readonly<Record<string, string | number | boolean | null>>;
  /** Providers in the image, in the order they were written. */
  readonly providers: readonly ProviderInfo[];
}

/** A checkpoint just taken. */
export interface CheckpointInfo extends ImageInfo {
  /**
   * How long the application was held, in ms: from freeze through capture and
   * resume with `persist: 'async'`; from freeze to the commit with `persist: 'sync'`.
   */
  readonly pauseMs: number;
  /** Total time of the checkpoint including persist and commit, in ms. */
  readonly totalMs: number;
  /**
   * `'incremental'`: some segments are stored by reference to older images
   * (or as XOR deltas of them), listed in {@link references}; `'full'`: the
   * image holds all its bytes.
   */
  readonly kind: 'full' | 'incremental';
  /** Bytes written to the store for this image (the image's size). */
  readonly bytesWritten: number;
  /** Stored bytes of the segments this image refers to in older images instead of writing them (0 for a full image). */
  readonly bytesReferenced: number;
  /** Ids of the older images this image needs (its references), oldest first; empty for a full image. */
  readonly references: readonly string[];
}

/** An image skipped during restore because it failed verification. */
export interface SkippedImage {
  /** Image id. */
  readonly id: string;
  /** Why it was skipped (a `CKPT_ERR_*` code). */
  readonly code: string;
  /** The failure message. */
  readonly message: string;
  /**
   * The image whose damaged or missing bytes made this one unusable, when
   * that is not the image itself: an older image it refers to (incremental
   * images store unchanged bytes by reference). Every image that refers to a
   * damaged segment is skipped; restore goes on to the newest image whose
   * whole reference set verifies.
   */
  readonly dependsOn?: string;
}

/** One provider's migration during a restore. */
export interface MigrationRecord {
  /** Provider id (the registered one). */
  readonly id: string;
  /** Version in the image. */
  readonly from: number;
  /** Version after migration (the code's). */
  readonly to: number;
}

/** The result of a restore. */
export interface RestoreResult {
  /** The image that was restored. */
  readonly image: ImageInfo;
  /** Providers whose state was migrated. */
  readonly migrated: readonly MigrationRecord[];
  /** Newer images that were skipped because they were damaged (newest first). */
  readonly skipped: readonly SkippedImage[];
  /** True when the restored image is not the newest one (a fallback happened). */
  readonly fellBack: boolean;
}
