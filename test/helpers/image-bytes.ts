/**
 * Test helpers: write an image into memory and read it back from memory,
 * without a store, so format tests control every byte.
 */
import { ClassRegistry } from '../../src/codec/class-registry.js';
import { encodeState } from '../../src/codec/encode.js';
import { ImageReader, type ReadLimits } from '../../src/image/reader.js';
import { writeImage, type CapturedProvider, type ManifestInput } from '../../src/image/writer.js';
import type { ImageSink, ImageSource } from '../../src/store/store.js';
import type { ZstdPool } from '../../src/image/pool.js';
import type { KeySource } from '../../src/crypto/keys.js';
import { CkptError, ErrorCodes } from '../../src/errors.js';

export const FIXED_MANIFEST: ManifestInput = {
  imageId: '000000000001',
  app: 'vector',
  createdAt: '2026-01-01T00:00:00.000Z',
  step: 7,
  label: null,
  library: 'ckpt test-vector',
  node: 'v0.0.0',
  platform: 'test',
  hostname: 'vector-host',
};

export function captured(id: string, state: unknown, opts: { version?: number; tree?: boolean; blobThreshold?: number } = {}): CapturedProvider {
  const tree = opts.tree ?? false;
  return {
    id,
    version: opts.version ?? 1,
    tree,
    encoded: encodeState(state, { tree, classes: new ClassRegistry(), blobThreshold: opts.blobThreshold ?? 64 * 1024, maxDepth: 2000 }),
  };
}

export async function imageBytes(
  providers: CapturedProvider[],
  settings: {
    level?: number;
    segmentSize?: number;
    blobThreshold?: number;
    formatVersion?: number;
    /** Write an encrypted image (format 4) with these keys. */
    encryption?: KeySource;
    /** The data key and uuid of an encrypted image (test vectors only). */
    fixedSeal?: { dek: Uint8Array; uuid: Uint8Array };
    /** Compress in these threads. */
    pool?: ZstdPool;
  } = {},
  manifest: ManifestInput = FIXED_MANIFEST,
): Promise<Buffer> {
  const chunks: Buffer[] = [];
  const sink: ImageSink = {
    id: manifest.imageId,
    write: (c) => {
      chunks.push(Buffer.from(c));
      return Promise.resolve();
    },
    commit: () => Promise.resolve(),
    abort: () => Promise.resolve(),
  };
  const res = await writeImage(sink, manifest, providers, {
    level: settings.level ?? 3,
    segmentSize: settings.segmentSize ?? 4 * 1024 * 1024,
    blobThreshold: settings.blobThreshold ?? 64 * 1024,
    ...(settings.formatVersion === undefined ? {} : { formatVersion: settings.formatVersion }),
    ...(settings.encryption === undefined ? {} : { encryption: settings.encryption }),
    ...(settings.fixedSeal === undefined ? {} : { fixedSeal: settings.fixedSeal }),
    ...(settings.pool === undefined ? {} : { pool: settings.pool }),
  });
  const bytes = Buffer.concat(chunks);
  if (bytes.length !== res.bytes) throw new Error(`image size mismatch: ${bytes.length} bytes written, the writer says ${res.bytes}`);
  return bytes;
}

export function memorySource(bytes: Uint8Array, id = 'mem'): ImageSource {
  return {
    id,
    size: bytes.length,
    read: (offset, length) => {
      if (offset < 0 || length < 0 || offset + length > bytes.length) {
        return Promise.reject(new CkptError(ErrorCodes.CORRUPT, `read outside image: ${offset}+${length}`));
      }
      return Promise.resolve(bytes.slice(offset, offset + length));
    },
    close: () => Promise.resolve(),
  };
}

export async function readAll(bytes: Uint8Array, limits: ReadLimits = {}): Promise<Map<string, unknown>> {
  const reader = await ImageReader.open(memorySource(bytes), limits);
  const out = new Map<string, unknown>();
  for (const p of reader.providers) out.set(p.id, await reader.readProvider(p.id));
  await reader.close();
  return out;
}
