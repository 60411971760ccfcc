/**
 * @module image/writer
 *
 * Streams one image into a store sink: header, then every provider's value
 * stream and blobs cut into segments (each compressed on its own, kept raw when
 * compression does not help, and checksummed), then the index and trailer.
 * Memory held here is one segment and its compressed copy at a time; blob
 * bytes are read straight from the captured views.
 */
import { crc32 } from 'node:zlib';
import type { EncodedState } from '../codec/types.js';
import type { ImageSink } from '../store/store.js';
import { hostname } from 'node:os';
import { encodeIndexOfVersion } from '../convert/index-chain.js';
import { CODEC_ID, FORMAT_VERSION, HEADER_SIZE, SegmentCodec, TRAILER_SIZE } from './constants.js';
import { encodeHeader, encodeTrailer } from './header.js';
import type { BlobEntry, ProviderEntry, SegmentRun } from './index-common.js';
import type { ImageIndex, Manifest, SegmentEntry } from './index-model.js';
import { SegmentCompressor } from './zstd.js';

/** One provider's captured state, ready to persist. */
export interface CapturedProvider {
  /** Provider id. */
  readonly id: string;
  /** Schema version of the state. */
  readonly version: number;
  /** Whether the state was encoded in tree mode. */
  readonly tree: boolean;
  /** The encoded state. */
  readonly encoded: EncodedState;
}

/** Settings for writing one image. */
export interface WriteSettings {
  /** zstd level (1..19). */
  readonly level: number;
  /** Raw bytes per segment. */
  readonly segmentSize: number;
  /** Blob threshold used at capture (recorded in the index). */
  readonly blobThreshold: number;
  /** Stop between segments when aborted (a stop deadline); the reason is thrown. */
  readonly signal?: AbortSignal;
  /** Format version to write (default: the current one; older ones for tests and conversion). */
  readonly formatVersion?: number;
}

/** The manifest as the writer takes it: format-2 fields default to this host, no parent, no meta. */
export type ManifestInput = Omit<Manifest, 'hostname' | 'parent' | 'meta'> & Partial<Pick<Manifest, 'hostname' | 'parent' | 'meta'>>;

/** What was written. */
export interface WriteResult {
  /** Total image size in bytes. */
  readonly bytes: number;
  /** The index that was written (in the current model, whatever version was written). */
  readonly index: ImageIndex;
  /** The format version written. */
  readonly formatVersion: number;
}

/** Compressor cache: zstd contexts are reused across images of the same level. */
const compressors = new Map<number, SegmentCompressor>();
function compressorFor(level: number): SegmentCompressor {
  let c = compressors.get(level);
  if (c === undefined) {
    c = new SegmentCompressor(level);
    compressors.set(level, c);
  }
  return c;
}

class ImageStreamWriter {
  readonly segments: SegmentEntry[] = [];
  offset = 0;
  readonly #compressor: SegmentCompressor;

  constructor(
    readonly sink: ImageSink,
    readonly settings: WriteSettings,
  ) {
    this.#compressor = compressorFor(settings.level);
  }

  async write(bytes: Uint8Array): Promise<void> {
    await this.sink.write(bytes);
    this.offset += bytes.length;
  }

  /** Write `data` as a run of segments of at most segmentSize raw bytes. */
  async writeRun(data: Uint8Array): Promise<SegmentRun> {
    const first = this.segments.length;
    const size = this.settings.segmentSize;
    // An empty stream still gets one (empty) segment so every run has a place.
    const count = data.length === 0 ? 1 : Math.ceil(data.length / size);
    for (let i = 0; i < count; i++) {
      if (this.settings.signal?.aborted === true) throw this.settings.signal.reason;
      const raw = data.subarray(i * size, Math.min(data.length, (i + 1) * size));
      const packed = raw.length === 0 ? raw : this.#compressor.compress(raw);
      const useRaw = packed.length >= raw.length;
      const stored = useRaw ? raw : packed;
      this.segments.push({
        offset: this.offset,
        storedLength: stored.length,
        rawLength: raw.length,
        crc: crc32(stored),
        codec: useRaw ? SegmentCodec.RAW : SegmentCodec.ZSTD,
        flags: 0,
      });
      await this.write(stored);
    }
    return { first, count, rawLength: data.length };
  }
}

/**
 * Write a complete image into `sink` (without committing it). The caller
 * commits on success and aborts on failure.
 */
export async function writeImage(
  sink: ImageSink,
  manifest: ManifestInput,
  providers: readonly CapturedProvider[],
  settings: WriteSettings,
): Promise<WriteResult> {
  const formatVersion = settings.formatVersion ?? FORMAT_VERSION;
  const w = new ImageStreamWriter(sink, settings);
  await w.write(encodeHeader({ formatVersion, codecId: CODEC_ID, requiredFlags: 0, optionalFlags: 0 }));
  const entries: ProviderEntry[] = [];
  for (const p of providers) {
    const stream = await w.writeRun(p.encoded.stream);
    const blobs: BlobEntry[] = [];
    for (const blob of p.encoded.blobs) {
      const r = await w.writeRun(blob.bytes);
      blobs.push({ kind: blob.kind, ...r });
    }
    entries.push({ id: p.id, version: p.version, tree: p.tree, stream, blobs });
  }
  const index: ImageIndex = {
    manifest: { ...manifest, hostname: manifest.hostname ?? hostname(), parent: manifest.parent ?? null, meta: manifest.meta ?? {} },
    codec: { values: 1, level: settings.level, segmentSize: settings.segmentSize, blobThreshold: settings.blobThreshold },
    segments: w.segments,
    providers: entries,
  };
  const indexBytes = encodeIndexOfVersion(index, formatVersion);
  const indexOffset = w.offset;
  await w.write(indexBytes);
  await w.write(encodeTrailer({ indexOffset, indexLength: indexBytes.length, indexCrc: crc32(indexBytes) }));
  return { bytes: w.offset, index, formatVersion };
}

/** Smallest possible image size: header + trailer (used by readers for quick rejects). */
export const MIN_IMAGE_SIZE = HEADER_SIZE + TRAILER_SIZE;
