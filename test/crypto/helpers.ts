/**
 * @module test/crypto/helpers
 *
 * Encrypted images in memory: write one with a fixed keyring (optionally a
 * fixed data key and uuid), read it back, and flip or cut its bytes.
 */
import { crc32 } from 'node:zlib';
import { openIndex, sealIndex } from '../../src/crypto/image-seal.js';
import { keySource, type KeySource } from '../../src/crypto/keys.js';
import { NONCE_DOMAIN_INDEX, deriveImageKeys, nonceOf } from '../../src/crypto/seal.js';
import { HEADER_SIZE, TRAILER_SIZE } from '../../src/image/constants.js';
import { FORMATS, modelOfV4 } from '../../src/image/format-registry.js';
import { formatV4 } from '../../src/image/index-v4.js';
import { decodeTrailer, encodeTrailer } from '../../src/image/header.js';
import type { ImageIndex } from '../../src/image/index-model.js';
import type { ZstdPool } from '../../src/image/pool.js';
import { ImageReader, useReaderPool } from '../../src/image/reader.js';
import type { CapturedProvider, ManifestInput } from '../../src/image/writer.js';
import { FIXED_MANIFEST, captured, imageBytes, memorySource } from '../helpers/image-bytes.js';

/** Test keys: 32 bytes of one repeated value. */
export const KEY_A = new Uint8Array(32).fill(0xa1);
export const KEY_B = new Uint8Array(32).fill(0xb2);

/** A keyring source holding `keys`, current `current`. */
export function ring(keys: Record<string, Uint8Array>, current: string, allowPlaintext = false): KeySource {
  return keySource({ keys, current, allowPlaintext });
}

/** A small state with a blob, a value stream and an object graph. */
export function smallState(): unknown {
  const shared = { tag: 'shared' };
  return { n: 42, s: 'secret text', list: [shared, shared], blob: new Float64Array(200).map((_, i) => i / 3), bytes: new Uint8Array(300).fill(9) };
}

/** Providers of {@link smallState} (blob threshold 256, so the arrays are blobs). */
export function smallProviders(): CapturedProvider[] {
  return [captured('app', smallState(), { blobThreshold: 256 }), captured('count', { n: 1 })];
}

/** Write an encrypted image into memory. */
export function encryptedImage(
  source: KeySource,
  providers: CapturedProvider[] = smallProviders(),
  opts: { segmentSize?: number; manifest?: ManifestInput; fixed?: { dek: Uint8Array; uuid: Uint8Array } } = {},
): Promise<Buffer> {
  return imageBytes(
    providers,
    { segmentSize: opts.segmentSize ?? 4096, blobThreshold: 256, encryption: source, ...(opts.fixed === undefined ? {} : { fixedSeal: opts.fixed }) },
    opts.manifest ?? FIXED_MANIFEST,
  );
}

/** Read every provider of an image with `keys` (through `pool`'s threads when given). */
export async function readWith(bytes: Uint8Array, keys: KeySource | undefined, id = 'mem', pool?: ZstdPool): Promise<Map<string, unknown>> {
  const reader = await ImageReader.open(memorySource(bytes, id), keys === undefined ? {} : { keys });
  useReaderPool(reader, pool);
  return readAllProviders(reader);
}

/** Every provider of an open reader, read in index order; the reader is closed after. */
export async function readAllProviders(reader: ImageReader): Promise<Map<string, unknown>> {
  try {
    const out = new Map<string, unknown>();
    for (const p of reader.providers) out.set(p.id, await reader.readProvider(p.id));
    return out;
  } finally {
    await reader.close();
  }
}

/** A fixed data key and uuid, so a test can re-seal an image's index (what an attacker without the key cannot). */
export const FIXED_DEK = Uint8Array.from({ length: 32 }, (_, i) => i);
export const FIXED_UUID = Uint8Array.from({ length: 16 }, (_, i) => i * 17);

/**
 * Rewrite the index of an encrypted image written with {@link FIXED_DEK}
 * and {@link FIXED_UUID}: decrypt it, let `change` edit the model, seal it
 * again and fix the trailer's CRC — so only the segments' own
 * authentication can tell what changed.
 */
export function resealIndex(bytes: Buffer, change: (index: ImageIndex) => ImageIndex): Buffer {
  const t = decodeTrailer(bytes.subarray(bytes.length - TRAILER_SIZE), bytes.length);
  const block = bytes.subarray(t.cryptoOffset, t.indexOffset);
  const aad = Buffer.concat([bytes.subarray(0, HEADER_SIZE), block]);
  const keys = deriveImageKeys(FIXED_DEK, FIXED_UUID);
  const seal = { uuid: Buffer.from(FIXED_UUID), keys, indexNonce: nonceOf(NONCE_DOMAIN_INDEX, 0) };
  const plain = openIndex(seal, aad, bytes.subarray(t.indexOffset, t.indexOffset + t.indexLength), 'test');
  const model = FORMATS.decodeIndex(4, plain, t.cryptoOffset!, { maxSegmentBytes: 1 << 26 });
  // Encoded in format 4's layout directly: a forged index may hold what format 4 never writes.
  const sealed = sealIndex(seal, aad, formatV4.encode(modelOfV4.fromModel(change(model))));
  const out = Buffer.concat([bytes.subarray(0, t.indexOffset), sealed, encodeTrailer({ indexOffset: t.indexOffset, indexLength: sealed.length, indexCrc: crc32(sealed), cryptoOffset: t.cryptoOffset! })]);
  return out;
}
