/**
 * @module image/index-section
 *
 * The index: the image's table of contents, written after the segments and
 * located by the trailer. It holds the manifest (who wrote the image, when,
 * at which step), the codec settings the reader must use, the segment table
 * (offset, sizes, checksum, codec of every segment) and, per provider, which
 * segments hold its value stream and its blobs. It is plain msgpack written
 * with ckpt's own msgpackr `Packr` (no records, no extensions, so the
 * process-wide msgpackr extension table never matters), and every field is
 * validated on read before anything trusts it.
 */
import { Packr } from 'msgpackr';
import { CkptError, ErrorCodes } from '../errors.js';
import { BinaryKind, type BinaryKindCode } from '../codec/types.js';
import { HEADER_SIZE, SegmentCodec, type SegmentCodecId } from './constants.js';

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
}

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

/** One segment: a run of stored bytes. */
export interface SegmentEntry {
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

const packr = new Packr({ useRecords: false, mapsAsObjects: true, moreTypes: false, bundleStrings: false, encodeUndefinedAsNil: true });

function runToWire(r: SegmentRun): number[] {
  return [r.first, r.count, r.rawLength];
}

/** Serialize the index. Field order is fixed so equal inputs give equal bytes. */
export function encodeIndex(index: ImageIndex): Buffer {
  const m = index.manifest;
  const wire = {
    manifest: {
      imageId: m.imageId,
      app: m.app,
      createdAt: m.createdAt,
      step: m.step,
      label: m.label,
      library: m.library,
      node: m.node,
      platform: m.platform,
    },
    codec: {
      values: index.codec.values,
      level: index.codec.level,
      segmentSize: index.codec.segmentSize,
      blobThreshold: index.codec.blobThreshold,
    },
    segments: index.segments.map((s) => [s.offset, s.storedLength, s.rawLength, s.crc, s.codec]),
    providers: index.providers.map((p) => ({
      id: p.id,
      version: p.version,
      tree: p.tree,
      stream: runToWire(p.stream),
      blobs: p.blobs.map((b) => [b.kind, ...runToWire(b)]),
    })),
  };
  // pack() results share one ArrayBuffer across calls: copy out.
  return Buffer.from(packr.pack(wire));
}

class IndexChecker {
  constructor(readonly image: string) {}

  fail(where: string, what: string): never {
    throw new CkptError(ErrorCodes.CORRUPT, `${this.image}: invalid index (${where}: ${what}); the image is damaged`, { where: `index.${where}`, image: this.image });
  }

  obj(v: unknown, where: string): Record<string, unknown> {
    if (typeof v !== 'object' || v === null || Array.isArray(v)) this.fail(where, 'expected a map');
    return v as Record<string, unknown>;
  }

  arr(v: unknown, where: string): unknown[] {
    if (!Array.isArray(v)) this.fail(where, 'expected an array');
    return v;
  }

  uint(v: unknown, where: string, max = Number.MAX_SAFE_INTEGER): number {
    if (typeof v !== 'number' || !Number.isSafeInteger(v) || v < 0 || v > max) this.fail(where, `expected an integer 0..${max}`);
    return v;
  }

  str(v: unknown, where: string, maxLen = 4096): string {
    if (typeof v !== 'string' || v.length > maxLen) this.fail(where, 'expected a string');
    return v;
  }

  strOrNull(v: unknown, where: string): string | null {
    return v === null || v === undefined ? null : this.str(v, where);
  }

  numOrNull(v: unknown, where: string): number | null {
    if (v === null || v === undefined) return null;
    if (typeof v !== 'number' || !Number.isFinite(v)) this.fail(where, 'expected a finite number or nil');
    return v;
  }

  bool(v: unknown, where: string): boolean {
    if (typeof v !== 'boolean') this.fail(where, 'expected a boolean');
    return v;
  }
}

const KNOWN_KINDS = new Set<number>(Object.values(BinaryKind));

/** Limits applied while validating an index. */
export interface IndexLimits {
  /** Largest raw segment accepted. */
  readonly maxSegmentBytes: number;
}

/**
 * Decode and validate an index. Checks structure and types, that segments lie
 * between the header and the index without overlapping, that every segment
 * belongs to exactly one run, that run totals add up, and the size limits.
 */
export function decodeIndex(bytes: Uint8Array, indexOffset: number, limits: IndexLimits, image = 'image'): ImageIndex {
  const c = new IndexChecker(image);
  let raw: unknown;
  try {
    raw = packr.unpack(bytes);
  } catch (cause) {
    throw new CkptError(ErrorCodes.CORRUPT, `${image}: index is not valid msgpack; the image is damaged`, { where: 'index', image, cause });
  }
  const top = c.obj(raw, 'root');
  const mw = c.obj(top['manifest'], 'manifest');
  const manifest: Manifest = {
    imageId: c.str(mw['imageId'], 'manifest.imageId', 256),
    app: c.strOrNull(mw['app'], 'manifest.app'),
    createdAt: c.str(mw['createdAt'], 'manifest.createdAt', 64),
    step: c.numOrNull(mw['step'], 'manifest.step'),
    label: c.strOrNull(mw['label'], 'manifest.label'),
    library: c.str(mw['library'], 'manifest.library', 256),
    node: c.str(mw['node'], 'manifest.node', 256),
    platform: c.str(mw['platform'], 'manifest.platform', 256),
  };
  const cw = c.obj(top['codec'], 'codec');
  const codec: CodecSettings = {
    values: c.uint(cw['values'], 'codec.values', 1),
    level: c.uint(cw['level'], 'codec.level', 100),
    segmentSize: c.uint(cw['segmentSize'], 'codec.segmentSize'),
    blobThreshold: c.uint(cw['blobThreshold'], 'codec.blobThreshold'),
  };
  if (codec.values !== 1) c.fail('codec.values', `value encoding ${codec.values} is unknown`);

  const segWire = c.arr(top['segments'], 'segments');
  const segments: SegmentEntry[] = [];
  let expectedOffset = HEADER_SIZE;
  for (let i = 0; i < segWire.length; i++) {
    const w = c.arr(segWire[i], `segments[${i}]`);
    if (w.length !== 5) c.fail(`segments[${i}]`, 'expected 5 fields');
    const offset = c.uint(w[0], `segments[${i}].offset`);
    const storedLength = c.uint(w[1], `segments[${i}].storedLength`);
    const rawLength = c.uint(w[2], `segments[${i}].rawLength`);
    // Over the limit is not proof of damage (the writer may have used larger
    // segments): fail closed with LIMIT, never fall back past it silently.
    if (rawLength > limits.maxSegmentBytes || storedLength > limits.maxSegmentBytes + 1024) {
      throw new CkptError(
        ErrorCodes.LIMIT,
        `${image}: segment ${i} holds ${Math.max(rawLength, storedLength)} bytes, above this reader's limit of ${limits.maxSegmentBytes} (limits.maxSegmentBytes); raise the limit if the image is trusted, or it is damaged`,
        { where: `index.segments[${i}]`, image },
      );
    }
    const crc = c.uint(w[3], `segments[${i}].crc`, 0xffffffff);
    const codecId = c.uint(w[4], `segments[${i}].codec`, 255);
    if (codecId !== SegmentCodec.RAW && codecId !== SegmentCodec.ZSTD) c.fail(`segments[${i}].codec`, `unknown segment codec ${codecId}`);
    if (codecId === SegmentCodec.RAW && storedLength !== rawLength) c.fail(`segments[${i}]`, 'raw segment with differing lengths');
    // Segments are written back to back from the end of the header to the index.
    if (offset !== expectedOffset) c.fail(`segments[${i}].offset`, `expected ${expectedOffset}`);
    expectedOffset = offset + storedLength;
    if (expectedOffset > indexOffset) c.fail(`segments[${i}]`, 'extends into the index');
    segments.push({ offset, storedLength, rawLength, crc, codec: codecId as SegmentCodecId });
  }
  if (expectedOffset !== indexOffset) c.fail('segments', 'do not end where the index starts');

  const owner = new Int32Array(segments.length).fill(-1);
  let runNo = 0;
  const run = (v: unknown, where: string, offset = 0): SegmentRun => {
    const w = c.arr(v, where);
    if (w.length !== 3 + offset) c.fail(where, `expected ${3 + offset} fields`);
    const first = c.uint(w[offset], `${where}.first`);
    const count = c.uint(w[offset + 1], `${where}.count`);
    const rawLength = c.uint(w[offset + 2], `${where}.rawLength`);
    if (first + count > segments.length) c.fail(where, 'refers to segments that do not exist');
    let sum = 0;
    for (let s = first; s < first + count; s++) {
      if (owner[s] !== -1) c.fail(where, `segment ${s} is used twice`);
      owner[s] = runNo;
      sum += segments[s]!.rawLength;
    }
    runNo++;
    if (sum !== rawLength) c.fail(where, `segments hold ${sum} bytes, run says ${rawLength}`);
    return { first, count, rawLength };
  };

  const provWire = c.arr(top['providers'], 'providers');
  const providers: ProviderEntry[] = [];
  const seen = new Set<string>();
  for (let i = 0; i < provWire.length; i++) {
    const where = `providers[${i}]`;
    const pw = c.obj(provWire[i], where);
    const id = c.str(pw['id'], `${where}.id`, 256);
    if (seen.has(id)) c.fail(`${where}.id`, `duplicate provider id ${JSON.stringify(id)}`);
    seen.add(id);
    const version = c.uint(pw['version'], `${where}.version`, 0x7fffffff);
    if (version < 1) c.fail(`${where}.version`, 'must be >= 1');
    const tree = c.bool(pw['tree'], `${where}.tree`);
    const stream = run(pw['stream'], `${where}.stream`);
    if (stream.count === 0) c.fail(`${where}.stream`, 'a value stream needs at least one segment');
    const blobWire = c.arr(pw['blobs'], `${where}.blobs`);
    const blobs: BlobEntry[] = [];
    for (let j = 0; j < blobWire.length; j++) {
      const bw = c.arr(blobWire[j], `${where}.blobs[${j}]`);
      const kind = c.uint(bw[0], `${where}.blobs[${j}].kind`, 255);
      if (!KNOWN_KINDS.has(kind)) c.fail(`${where}.blobs[${j}].kind`, `unknown binary kind ${kind}`);
      const r = run(bw, `${where}.blobs[${j}]`, 1);
      blobs.push({ kind: kind as BinaryKindCode, ...r });
    }
    providers.push({ id, version, tree, stream, blobs });
  }
  for (let s = 0; s < owner.length; s++) if (owner[s] === -1) c.fail(`segments[${s}]`, 'belongs to no provider');
  return { manifest, codec, segments, providers };
}
