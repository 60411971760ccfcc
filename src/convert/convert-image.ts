/**
 * @module convert/convert-image
 *
 * Writes a converted copy of an image in another format version — the
 * user-space conversion the seed asks for. The original is never touched;
 * the copy is written atomically (temp file, fsync, rename, fsync directory).
 * Every segment's checksum is verified before it is copied, unchanged: the
 * header and trailer keep their sizes in every version, so segment offsets
 * do not move and nothing is recompressed. A dry run reports what would
 * change, in the words of the format list's steps (`image/format-registry`).
 *
 * An incremental image (format 3, segments by reference or XOR deltas)
 * converted to a format without references is materialized: referenced
 * segments are copied from their holders (found next to the input file, as a
 * store keeps them), deltas decoded and compressed again, so the result
 * stands alone.
 */
import { crc32 } from 'node:zlib';
import { CkptError, ErrorCodes } from '../errors.js';
import { BY_REFERENCE_SINCE_FORMAT, CODEC_ID, RequiredFlag, SegmentCodec, type SegmentCodecId } from '../image/constants.js';
import type { FormatList } from '../image/format-list.js';
import { FORMATS } from '../image/format-registry.js';
import { encodeHeader, encodeTrailer } from '../image/header.js';
import type { ImageIndex, SegmentEntry } from '../image/index-model.js';
import { attachHolderSource } from '../image/open-store.js';
import { ImageReader, type ReadLimits } from '../image/reader.js';
import { SegmentPipeline } from '../image/segment-pipeline.js';
import { createAtomicFile } from '../store/atomic-file.js';
import { openImageFileSource } from '../store/fs-image-source.js';
import { siblingImages } from '../store/open-image-file.js';

/** Options of {@link convertImageFile}. */
export interface ConvertOptions {
  /** Target format version (default: the current one). */
  readonly to?: number;
  /** Only report what would change; write nothing. */
  readonly dryRun?: boolean;
  /** Reader limits. */
  readonly limits?: ReadLimits;
}

/** What a conversion did (or would do). */
export interface ConvertReport {
  /** Format version of the input. */
  readonly from: number;
  /** Format version of the output. */
  readonly to: number;
  /** Human-readable list of changes (empty when from === to). */
  readonly changes: readonly string[];
  /** Bytes written (0 for a dry run). */
  readonly bytes: number;
  /** Segments verified and copied (or that would be). */
  readonly segments: number;
  /** Segments copied in from the images they referred to, or decoded from XOR deltas (materialized); 0 for a standalone image. */
  readonly materialized?: number;
}

/**
 * Convert the image file `input` to format `options.to` into the new file
 * `output` (which must not exist). Fails with the reader's codes for a bad
 * input, `CKPT_ERR_INVALID_ARGUMENT` for a version that cannot be written or
 * an output that exists, `CKPT_ERR_STORE_IO` for write failures.
 */
export async function convertImageFile(input: string, output: string, options: ConvertOptions = {}): Promise<ConvertReport> {
  return convertImageFileWith(FORMATS, input, output, options);
}

/**
 * {@link convertImageFile} through the format list `formats` (this ckpt's
 * for the public function; tests of a new format version pass their own).
 */
export async function convertImageFileWith(formats: FormatList, input: string, output: string, options: ConvertOptions = {}): Promise<ConvertReport> {
  const to = options.to ?? formats.current;
  if (!formats.writable.includes(to)) {
    throw new CkptError(ErrorCodes.INVALID_ARGUMENT, `cannot convert to format version ${to}; this ckpt writes versions ${formats.writable.join(', ')}`);
  }
  const source = await openImageFileSource(input);
  let reader: ImageReader;
  try {
    reader = await ImageReader.openWith(formats, source, options.limits ?? {});
  } catch (err) {
    await source.close().catch(() => undefined);
    throw err;
  }
  attachHolderSource(reader, siblingImages(input), options.limits ?? {});
  try {
    const from = reader.header.formatVersion;
    const segments = reader.index.segments.length;
    if (reader.incremental && to < BY_REFERENCE_SINCE_FORMAT) return await materialize(formats, reader, output, to, options.dryRun === true);
    // Encoding first also proves the target can hold everything (e.g. no meta for format 1).
    const indexBytes = formats.encodeIndex(reader.index, to);
    if (options.dryRun === true) {
      for (let n = 0; n < segments; n++) await reader.readStoredSegment(n);
      return { from, to, changes: formats.changes(from, to), bytes: 0, segments };
    }
    const out = await createAtomicFile(output);
    let bytes = 0;
    try {
      const write = async (b: Uint8Array): Promise<void> => {
        await out.write(b);
        bytes += b.length;
      };
      await write(encodeHeader({ formatVersion: to, codecId: CODEC_ID, requiredFlags: reader.header.requiredFlags, optionalFlags: reader.header.optionalFlags }));
      for (let n = 0; n < segments; n++) await write(await reader.readStoredSegment(n));
      const indexOffset = bytes;
      await write(indexBytes);
      await write(encodeTrailer({ indexOffset, indexLength: indexBytes.length, indexCrc: crc32(indexBytes) }));
      await out.commit();
    } catch (err) {
      await out.abort();
      throw err;
    }
    return { from, to, changes: formats.changes(from, to), bytes, segments };
  } finally {
    await reader.close();
  }
}

/**
 * Write `reader`'s image as a standalone image of format `to`: segments it
 * holds are copied as they are, referenced ones copied from their holders
 * (checked there), XOR deltas decoded and compressed again.
 */
async function materialize(formats: FormatList, reader: ImageReader, output: string, to: number, dryRun: boolean): Promise<ConvertReport> {
  const from = reader.header.formatVersion;
  const index = reader.index;
  const pipeline = new SegmentPipeline();
  let materialized = 0;
  /** Segment n as stored in the standalone image. */
  const storedOf = async (n: number): Promise<{ stored: Uint8Array; codec: SegmentCodecId; crc: number }> => {
    const seg = index.segments[n]!;
    if (seg.codec !== SegmentCodec.XOR_ZSTD) return { stored: await reader.readStoredSegment(n), codec: seg.codec, crc: seg.crc };
    const raw = await reader.readRawSegment(n);
    const s = pipeline.encode(raw, new Uint8Array(SegmentPipeline.outputBytes(raw.length)), index.codec.level);
    return { stored: s.stored, codec: s.codec, crc: s.crc };
  };
  const changes = [...formats.changes(from, to)];
  const refs = index.segments.filter((s) => s.ref !== undefined).length;
  const deltas = index.segments.filter((s) => s.ref === undefined && s.codec === SegmentCodec.XOR_ZSTD).length;
  changes.push(`segments: materialized — ${refs} stored by reference copied from ${(index.refs ?? []).map((r) => r.imageId).join(', ') || 'their holders'}, ${deltas} XOR deltas decoded; manifest.parent cleared; the result stands alone`);
  if (dryRun) {
    for (let n = 0; n < index.segments.length; n++) await storedOf(n);
    // Proves the target can hold everything else (meta for format 1 …).
    formats.encodeIndex(standalone(index, index.segments), to);
    return { from, to, changes, bytes: 0, segments: index.segments.length, materialized: index.segments.filter((s) => s.ref !== undefined || s.codec === SegmentCodec.XOR_ZSTD).length };
  }
  const out = await createAtomicFile(output);
  let bytes = 0;
  try {
    const write = async (b: Uint8Array): Promise<void> => {
      await out.write(b);
      bytes += b.length;
    };
    await write(encodeHeader({ formatVersion: to, codecId: CODEC_ID, requiredFlags: reader.header.requiredFlags & ~RequiredFlag.SEGMENTS_BY_REFERENCE, optionalFlags: reader.header.optionalFlags }));
    const segments: SegmentEntry[] = [];
    for (let n = 0; n < index.segments.length; n++) {
      const seg = index.segments[n]!;
      const s = await storedOf(n);
      if (seg.ref !== undefined || seg.codec === SegmentCodec.XOR_ZSTD) materialized++;
      segments.push({ offset: bytes, storedLength: s.stored.length, rawLength: seg.rawLength, crc: s.crc, codec: s.codec, flags: 0, ...(seg.hash === undefined ? {} : { hash: seg.hash }) });
      await write(s.stored);
    }
    const indexBytes = formats.encodeIndex(standalone(index, segments), to);
    const indexOffset = bytes;
    await write(indexBytes);
    await write(encodeTrailer({ indexOffset, indexLength: indexBytes.length, indexCrc: crc32(indexBytes) }));
    await out.commit();
  } catch (err) {
    await out.abort();
    throw err;
  }
  return { from, to, changes, bytes, segments: index.segments.length, materialized };
}

/** `index` with `segments` and without references (nor a parent: it no longer depends on one). */
function standalone(index: ImageIndex, segments: readonly SegmentEntry[]): ImageIndex {
  const { refs: _refs, ...rest } = index;
  return {
    ...rest,
    manifest: { ...index.manifest, parent: null },
    segments: segments.map(({ offset, storedLength, rawLength, crc, codec, hash }) => ({
      offset,
      storedLength,
      rawLength,
      crc,
      codec: codec === SegmentCodec.XOR_ZSTD ? SegmentCodec.ZSTD : codec,
      flags: 0,
      ...(hash === undefined ? {} : { hash }),
    })),
  };
}
