/**
 * @module test/helpers/incremental-images
 *
 * Builds format-3 images the way an incremental checkpointer would, byte by
 * byte and independently of the production writer, so the reader, verify,
 * convert and retention can be tested against images with segments stored by
 * reference and as XOR deltas. {@link writeChainImage} encodes the providers'
 * states, cuts every run into segments like the writer does, and compares
 * each segment with the same segment (provider, run, ordinal) of the parent
 * image: equal → a by-reference row into the image that holds the bytes
 * (flattened: never into an image that refers on); different and `delta:
 * 'xor'` → an XOR delta over it; otherwise written here (zstd or raw).
 */
import { crc32 } from 'node:zlib';
import { xxh3 } from '@node-rs/xxhash';
import { ClassRegistry } from '../../src/codec/class-registry.js';
import { encodeState } from '../../src/codec/encode.js';
import { CODEC_ID, HEADER_SIZE, RequiredFlag, SegmentCodec } from '../../src/image/constants.js';
import { FORMATS } from '../../src/image/format-registry.js';
import { encodeHeader, encodeTrailer } from '../../src/image/header.js';
import { SegmentFlag, type ImageIndex, type ImageRef, type ProviderEntry, type SegmentEntry, type SegmentRef, type SegmentRun } from '../../src/image/index-model.js';
import { openStoreImage } from '../../src/image/open-store.js';
import type { ImageReader } from '../../src/image/reader.js';
import { SegmentPipeline } from '../../src/image/segment-pipeline.js';
import { xorBytes } from '../../src/image/xor.js';
import { SegmentCompressor } from '../../src/image/zstd.js';
import type { Store } from '../../src/store/store.js';

/** One provider's state for {@link writeChainImage}. */
export interface ChainProvider {
  readonly id: string;
  readonly state: unknown;
  readonly version?: number;
  readonly tree?: boolean;
}

/** Options of {@link writeChainImage}. */
export interface ChainImageOptions {
  /** Image of the store to compare with (omitted: a full image, every segment written). */
  readonly parent?: string;
  /** Changed segments: rewritten (`segments`, default) or XOR deltas over the parent's (`xor`). */
  readonly delta?: 'segments' | 'xor';
  /** Raw bytes per segment (default 4096). */
  readonly segmentSize?: number;
  /** Binary values this large go into blobs (default 1024). */
  readonly blobThreshold?: number;
  /** zstd level (default 3). */
  readonly level?: number;
  /** The image's uuid (default: random). */
  readonly uuid?: string;
  /** Manifest fields (createdAt, step, label…); imageId is the store's. */
  readonly manifest?: Partial<Pick<ImageIndex['manifest'], 'app' | 'createdAt' | 'step' | 'label' | 'library' | 'node' | 'platform' | 'hostname' | 'meta'>>;
}

/** What {@link writeChainImage} wrote. */
export interface ChainImage {
  readonly id: string;
  readonly uuid: string;
  readonly index: ImageIndex;
  /** Image size in bytes. */
  readonly bytes: number;
  /** Segments stored by reference. */
  readonly referenced: number;
  /** Segments stored as XOR deltas. */
  readonly xor: number;
  /** Segments written in full. */
  readonly written: number;
}

/** A random uuid as format 3 writes it (32 lowercase hex digits). */
export function randomImageUuid(): string {
  return crypto.randomUUID().replaceAll('-', '');
}

/** xxh3-64 of a segment's raw bytes. */
export function segmentHash(raw: Uint8Array): bigint {
  return xxh3.xxh64(raw);
}

interface Planned {
  readonly entry: SegmentEntry;
  /** Bytes to write in this image (undefined: by reference). */
  readonly stored?: Uint8Array;
}

/** The parent's segment at the same place: provider id, run (0 stream, k blob k-1), ordinal. */
function parentSegment(parent: ImageReader | undefined, id: string, run: number, ordinal: number): number | undefined {
  const p = parent?.provider(id);
  if (p === undefined) return undefined;
  const r: SegmentRun | undefined = run === 0 ? p.stream : p.blobs[run - 1];
  if (r === undefined || ordinal >= r.count) return undefined;
  return r.first + ordinal;
}

/**
 * Write one image into `store` (see the module comment). The parent, and
 * every holder it names, must be in the store.
 */
export async function writeChainImage(store: Store, providers: readonly ChainProvider[], options: ChainImageOptions = {}): Promise<ChainImage> {
  const segmentSize = options.segmentSize ?? 4096;
  const blobThreshold = options.blobThreshold ?? 1024;
  const level = options.level ?? 3;
  const uuid = options.uuid ?? randomImageUuid();
  const parent = options.parent === undefined ? undefined : await openStoreImage(store, options.parent);
  const holders = new Map<string, ImageReader>();
  const refs: ImageRef[] = [];
  const refIndex = (r: ImageRef): number => {
    const at = refs.findIndex((x) => x.imageId === r.imageId);
    if (at !== -1) return at;
    refs.push({ imageId: r.imageId, uuid: r.uuid });
    return refs.length - 1;
  };
  /** Name holder `r` (and every holder its own XOR chains need) in this image's refs. */
  const useHolder = async (r: ImageRef): Promise<number> => {
    const at = refIndex(r);
    let h = holders.get(r.imageId);
    if (h === undefined) {
      h = await openStoreImage(store, r.imageId);
      holders.set(r.imageId, h);
    }
    for (const inner of h.index.refs ?? []) refIndex(inner);
    return at;
  };
  const pipeline = new SegmentPipeline();
  const zstd = new SegmentCompressor(level);
  const classes = new ClassRegistry();
  const planned: Planned[] = [];
  const entries: ProviderEntry[] = [];
  let referenced = 0;
  let xor = 0;
  let written = 0;
  try {
    for (const p of providers) {
      const tree = p.tree ?? false;
      const encoded = encodeState(p.state, { tree, classes, blobThreshold, maxDepth: 2000 });
      const runs: SegmentRun[] = [];
      const datas = [encoded.stream, ...encoded.blobs.map((b) => b.bytes)];
      for (let run = 0; run < datas.length; run++) {
        const data = datas[run]!;
        const first = planned.length;
        const count = data.length === 0 ? 1 : Math.ceil(data.length / segmentSize);
        for (let i = 0; i < count; i++) {
          const raw = data.subarray(i * segmentSize, Math.min(data.length, (i + 1) * segmentSize));
          const hash = segmentHash(raw);
          const ps = raw.length === 0 ? undefined : parentSegment(parent, p.id, run, i);
          const prow = ps === undefined ? undefined : parent!.index.segments[ps];
          if (prow !== undefined && prow.rawLength === raw.length) {
            // Where the parent's bytes physically are (references are flattened).
            const holder: ImageRef = prow.ref === undefined ? { imageId: parent!.id, uuid: parent!.manifest.uuid! } : parent!.index.refs![prow.ref.image]!;
            const at: SegmentRef = { image: await useHolder(holder), segment: prow.ref === undefined ? ps! : prow.ref.segment };
            const parentRaw = await parent!.readRawSegment(ps!);
            if (Buffer.from(parentRaw).equals(raw)) {
              const { offset, storedLength, rawLength, crc, codec } = prow;
              planned.push({ entry: { offset, storedLength, rawLength, crc, codec, flags: SegmentFlag.BY_REFERENCE, hash, ref: at } });
              referenced++;
              continue;
            }
            if (options.delta === 'xor') {
              const delta = Uint8Array.from(raw);
              xorBytes(delta, parentRaw, delta);
              const out = new Uint8Array(SegmentPipeline.outputBytes(delta.length));
              const stored = out.subarray(0, zstd.compressInto(delta, out));
              planned.push({ entry: { offset: 0, storedLength: stored.length, rawLength: raw.length, crc: crc32(stored), codec: SegmentCodec.XOR_ZSTD, flags: 0, hash, base: at }, stored });
              xor++;
              continue;
            }
          }
          const out = new Uint8Array(SegmentPipeline.outputBytes(raw.length));
          const s = pipeline.encode(raw, out, level);
          const stored = Uint8Array.from(s.stored);
          planned.push({ entry: { offset: 0, storedLength: stored.length, rawLength: raw.length, crc: s.crc, codec: s.codec, flags: 0, hash }, stored });
          written++;
        }
        runs.push({ first, count, rawLength: data.length });
      }
      entries.push({
        id: p.id,
        version: p.version ?? 1,
        tree,
        stream: runs[0]!,
        blobs: encoded.blobs.map((b, k) => ({ kind: b.kind, ...runs[k + 1]! })),
      });
      encoded.release?.();
    }
    const lock = await store.acquireWriter();
    try {
      const sink = await store.create(lock);
      const chunks: Uint8Array[] = [];
      let offset = HEADER_SIZE;
      const segments: SegmentEntry[] = planned.map((pl) => {
        if (pl.stored === undefined) return pl.entry;
        const e = { ...pl.entry, offset };
        offset += pl.stored.length;
        chunks.push(pl.stored);
        return e;
      });
      const index: ImageIndex = {
        manifest: {
          imageId: sink.id,
          app: options.manifest?.app ?? 'chain',
          createdAt: options.manifest?.createdAt ?? '2026-12-01T00:00:00.000Z',
          step: options.manifest?.step ?? null,
          label: options.manifest?.label ?? null,
          library: options.manifest?.library ?? 'ckpt test-chain',
          node: options.manifest?.node ?? 'v0.0.0',
          platform: options.manifest?.platform ?? 'test',
          hostname: options.manifest?.hostname ?? 'chain-host',
          parent: options.parent ?? null,
          meta: options.manifest?.meta ?? {},
          uuid,
        },
        codec: { values: 1, level, segmentSize, blobThreshold },
        segments,
        providers: entries,
        ...(refs.length === 0 ? {} : { refs }),
      };
      const incremental = refs.length > 0 || segments.some((s) => s.codec === SegmentCodec.XOR_ZSTD);
      const indexBytes = FORMATS.encodeIndex(index, 3);
      await sink.write(encodeHeader({ formatVersion: 3, codecId: CODEC_ID, requiredFlags: incremental ? RequiredFlag.SEGMENTS_BY_REFERENCE : 0, optionalFlags: 0 }));
      for (const c of chunks) await sink.write(c);
      await sink.write(indexBytes);
      await sink.write(encodeTrailer({ indexOffset: offset, indexLength: indexBytes.length, indexCrc: crc32(indexBytes) }));
      await sink.commit();
      return { id: sink.id, uuid, index, bytes: offset + indexBytes.length + 40, referenced, xor, written };
    } finally {
      await lock.release();
    }
  } finally {
    await parent?.close();
    for (const h of holders.values()) await h.close();
  }
}
