/**
 * @module image/index-common
 *
 * What every index layout shares: ckpt's own msgpackr `Packr` (no records,
 * no extensions, so the process-wide msgpackr extension table never matters),
 * a field checker that turns any malformed field into `CKPT_ERR_CORRUPT`
 * naming it, and the validation of segment tables and provider runs. Each
 * format version's layout (`index-v1`, `index-v2`) is built from these parts,
 * so a released part's behaviour never changes: a version that needs
 * something else adds a part. The types here are the parts' own, not the
 * live model's (`index-model`).
 */
import { Packr } from 'msgpackr';
import { BinaryKind, type BinaryKindCode } from '../codec/types.js';
import { CkptError, ErrorCodes } from '../errors.js';
import { DEFAULT_MAX_SEGMENTS, HEADER_SIZE, SegmentCodec, type SegmentCodecId } from './constants.js';

/** The one Packr used for every index. */
export const indexPackr = new Packr({ useRecords: false, mapsAsObjects: true, moreTypes: false, bundleStrings: false, encodeUndefinedAsNil: true });

/** Serialize an index wire object (copied out: pack() results share one ArrayBuffer). */
export function packIndex(wire: unknown): Buffer {
  return Buffer.from(indexPackr.pack(wire));
}

/** Codec settings the reader must apply (same in every format version so far). */
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

/** The fields of a segment every format version has. */
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

/** Limits applied while validating an index. */
export interface IndexLimits {
  /** Largest raw segment accepted. */
  readonly maxSegmentBytes: number;
  /** Most segments accepted (default {@link DEFAULT_MAX_SEGMENTS}). */
  readonly maxSegments?: number;
}

/** Field checks that fail with CORRUPT naming the field. */
export class IndexChecker {
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

  strOrNull(v: unknown, where: string, maxLen = 4096): string | null {
    return v === null || v === undefined ? null : this.str(v, where, maxLen);
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

/** Unpack index bytes into a top-level map. */
export function unpackIndex(bytes: Uint8Array, c: IndexChecker): Record<string, unknown> {
  let raw: unknown;
  try {
    raw = indexPackr.unpack(bytes);
  } catch (cause) {
    throw new CkptError(ErrorCodes.CORRUPT, `${c.image}: index is not valid msgpack; the image is damaged`, { where: 'index', image: c.image, cause });
  }
  return c.obj(raw, 'root');
}

/** Check the codec settings map. */
export function checkCodec(c: IndexChecker, v: unknown): CodecSettings {
  const cw = c.obj(v, 'codec');
  const codec: CodecSettings = {
    values: c.uint(cw['values'], 'codec.values', 1),
    level: c.uint(cw['level'], 'codec.level', 100),
    segmentSize: c.uint(cw['segmentSize'], 'codec.segmentSize'),
    blobThreshold: c.uint(cw['blobThreshold'], 'codec.blobThreshold'),
  };
  if (codec.values !== 1) c.fail('codec.values', `value encoding ${codec.values} is unknown`);
  return codec;
}

/** The codec settings as written. */
export function codecToWire(codec: CodecSettings): Record<string, number> {
  return { values: codec.values, level: codec.level, segmentSize: codec.segmentSize, blobThreshold: codec.blobThreshold };
}

/**
 * Check a segment table whose entries are arrays of at least 5 fields
 * (offset, storedLength, rawLength, crc, codec, …extra). Segments must lie
 * back to back from the end of the header to the index. `extra` reads the
 * fields after the fifth.
 */
export function checkSegments<T extends SegmentBase>(
  c: IndexChecker,
  v: unknown,
  fields: number,
  indexOffset: number,
  limits: IndexLimits,
  extra: (w: unknown[], where: string, base: SegmentBase) => T,
): T[] {
  const wire = c.arr(v, 'segments');
  const maxSegments = limits.maxSegments ?? DEFAULT_MAX_SEGMENTS;
  if (wire.length > maxSegments) {
    throw new CkptError(
      ErrorCodes.LIMIT,
      `${c.image}: index lists ${wire.length} segments, above this reader's limit of ${maxSegments} (limits.maxSegments); raise the limit if the image is trusted, or it is damaged`,
      { where: 'index.segments', image: c.image },
    );
  }
  const segments: T[] = [];
  let expectedOffset = HEADER_SIZE;
  for (let i = 0; i < wire.length; i++) {
    const where = `segments[${i}]`;
    const w = c.arr(wire[i], where);
    if (w.length !== fields) c.fail(where, `expected ${fields} fields`);
    const offset = c.uint(w[0], `${where}.offset`);
    const storedLength = c.uint(w[1], `${where}.storedLength`);
    const rawLength = c.uint(w[2], `${where}.rawLength`);
    // Over the limit is not proof of damage (the writer may have used larger
    // segments): fail closed with LIMIT, never fall back past it silently.
    if (rawLength > limits.maxSegmentBytes || storedLength > limits.maxSegmentBytes + 1024) {
      throw new CkptError(
        ErrorCodes.LIMIT,
        `${c.image}: segment ${i} holds ${Math.max(rawLength, storedLength)} bytes, above this reader's limit of ${limits.maxSegmentBytes} (limits.maxSegmentBytes); raise the limit if the image is trusted, or it is damaged`,
        { where: `index.${where}`, image: c.image },
      );
    }
    const crc = c.uint(w[3], `${where}.crc`, 0xffffffff);
    const codecId = c.uint(w[4], `${where}.codec`, 255);
    if (codecId !== SegmentCodec.RAW && codecId !== SegmentCodec.ZSTD) c.fail(`${where}.codec`, `unknown segment codec ${codecId}`);
    if (codecId === SegmentCodec.RAW && storedLength !== rawLength) c.fail(where, 'raw segment with differing lengths');
    if (offset !== expectedOffset) c.fail(`${where}.offset`, `expected ${expectedOffset}`);
    expectedOffset = offset + storedLength;
    if (expectedOffset > indexOffset) c.fail(where, 'extends into the index');
    segments.push(extra(w, where, { offset, storedLength, rawLength, crc, codec: codecId }));
  }
  if (expectedOffset !== indexOffset) c.fail('segments', 'do not end where the index starts');
  return segments;
}

const KNOWN_KINDS = new Set<number>(Object.values(BinaryKind));

/**
 * Check the provider list: unique ids, versions ≥ 1, and runs that cover
 * every segment exactly once with totals that add up.
 */
export function checkProviders(c: IndexChecker, v: unknown, segments: readonly SegmentBase[]): ProviderEntry[] {
  const owner = new Uint8Array(segments.length);
  const run = (rv: unknown, where: string, offset = 0): SegmentRun => {
    const w = c.arr(rv, where);
    if (w.length !== 3 + offset) c.fail(where, `expected ${3 + offset} fields`);
    const first = c.uint(w[offset], `${where}.first`);
    const count = c.uint(w[offset + 1], `${where}.count`);
    const rawLength = c.uint(w[offset + 2], `${where}.rawLength`);
    if (first + count > segments.length) c.fail(where, 'refers to segments that do not exist');
    let sum = 0;
    for (let s = first; s < first + count; s++) {
      if (owner[s] !== 0) c.fail(where, `segment ${s} is used twice`);
      owner[s] = 1;
      sum += segments[s]!.rawLength;
    }
    if (sum !== rawLength) c.fail(where, `segments hold ${sum} bytes, run says ${rawLength}`);
    return { first, count, rawLength };
  };
  const wire = c.arr(v, 'providers');
  const providers: ProviderEntry[] = [];
  const seen = new Set<string>();
  for (let i = 0; i < wire.length; i++) {
    const where = `providers[${i}]`;
    const pw = c.obj(wire[i], where);
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
      blobs.push({ kind: kind as BinaryKindCode, ...run(bw, `${where}.blobs[${j}]`, 1) });
    }
    providers.push({ id, version, tree, stream, blobs });
  }
  for (let s = 0; s < owner.length; s++) if (owner[s] === 0) c.fail(`segments[${s}]`, 'belongs to no provider');
  return providers;
}

function runToWire(r: SegmentRun): number[] {
  return [r.first, r.count, r.rawLength];
}

/** The provider list as written. */
export function providersToWire(providers: readonly ProviderEntry[]): unknown[] {
  return providers.map((p) => ({
    id: p.id,
    version: p.version,
    tree: p.tree,
    stream: runToWire(p.stream),
    blobs: p.blobs.map((b) => [b.kind, ...runToWire(b)]),
  }));
}
