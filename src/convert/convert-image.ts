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
 */
import { crc32 } from 'node:zlib';
import { CkptError, ErrorCodes } from '../errors.js';
import { CODEC_ID } from '../image/constants.js';
import type { FormatList } from '../image/format-list.js';
import { FORMATS } from '../image/format-registry.js';
import { encodeHeader, encodeTrailer } from '../image/header.js';
import { ImageReader, type ReadLimits } from '../image/reader.js';
import { createAtomicFile } from '../store/atomic-file.js';
import { openImageFileSource } from '../store/fs-image-source.js';

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
  try {
    const from = reader.header.formatVersion;
    const segments = reader.index.segments.length;
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
