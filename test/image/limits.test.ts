// Read limits on hostile images: every size an image claims is checked
// against the limits (and Node's largest buffer) before anything is
// allocated, and every failure while reading is a ckpt code (never a raw
// RangeError), so restore can fall back past the image.
import { constants as bufferConstants } from 'node:buffer';
import { crc32 } from 'node:zlib';
import { describe, expect, it, vi } from 'vitest';
import { ClassRegistry } from '../../src/codec/class-registry.js';
import { encodeState } from '../../src/codec/encode.js';
import { BinaryKind } from '../../src/codec/types.js';
import { CkptError, ErrorCodes } from '../../src/errors.js';
import { CODEC_ID, DEFAULT_MAX_IMAGE_BYTES, DEFAULT_MAX_STATE_BYTES, FORMAT_VERSION, HEADER_SIZE, SegmentCodec } from '../../src/image/constants.js';
import { decodeTrailer, encodeHeader, encodeTrailer } from '../../src/image/header.js';
import { indexPackr } from '../../src/image/index-common.js';
import { maxIndexContainers, maxIndexEntries, prepassIndex } from '../../src/image/index-prepass.js';
import { decodeIndexV2, encodeIndexV2 } from '../../src/image/index-v2.js';
import type { ImageIndex, SegmentEntry } from '../../src/image/index-model.js';
import { ImageReader, type ReadLimits } from '../../src/image/reader.js';
import { Checkpointer, MemoryStore } from '../../src/index.js';
import { SegmentCompressor } from '../../src/image/zstd.js';
import { captured, FIXED_MANIFEST, imageBytes, memorySource } from '../helpers/image-bytes.js';

async function errorOf(p: Promise<unknown>): Promise<unknown> {
  try {
    await p;
    return 'ok';
  } catch (err) {
    return err;
  }
}

function codeOf(err: unknown): string {
  return err instanceof CkptError ? err.code : `non-ckpt: ${String(err)}`;
}

/**
 * A small image whose provider "a" holds a stream referencing one
 * Float64Array blob, and that blob's run made of `copies` zstd segments of
 * `segBytes` zero bytes each (one frame, stored `copies` times).
 */
function forgedBlobImage(segBytes: number, copies: number): Buffer {
  const encoded = encodeState({ x: new Float64Array(8192) }, { tree: false, classes: new ClassRegistry(), blobThreshold: 1024, maxDepth: 2000 });
  const stream = Buffer.from(encoded.stream);
  const frame = new SegmentCompressor(3).compress(new Uint8Array(segBytes));
  const segments: SegmentEntry[] = [];
  const chunks: Buffer[] = [encodeHeader({ formatVersion: FORMAT_VERSION, codecId: CODEC_ID, requiredFlags: 0, optionalFlags: 0 })];
  let offset = HEADER_SIZE;
  segments.push({ offset, storedLength: stream.length, rawLength: stream.length, crc: crc32(stream), codec: SegmentCodec.RAW, flags: 0 });
  chunks.push(stream);
  offset += stream.length;
  for (let i = 0; i < copies; i++) {
    segments.push({ offset, storedLength: frame.length, rawLength: segBytes, crc: crc32(frame), codec: SegmentCodec.ZSTD, flags: 0 });
    chunks.push(frame);
    offset += frame.length;
  }
  const index: ImageIndex = {
    manifest: { ...FIXED_MANIFEST, hostname: null, parent: null, meta: {} },
    codec: { values: 1, level: 3, segmentSize: segBytes, blobThreshold: 1024 },
    segments,
    providers: [{ id: 'a', version: 1, tree: false, stream: { first: 0, count: 1, rawLength: stream.length }, blobs: [{ kind: encoded.blobs[0]!.kind, first: 1, count: copies, rawLength: segBytes * copies }] }],
  };
  const ix = encodeIndexV2(index);
  chunks.push(ix, encodeTrailer({ indexOffset: offset, indexLength: ix.length, indexCrc: crc32(ix) }));
  return Buffer.concat(chunks);
}

describe('read limits', () => {
  // 65 segments of 64 MiB: 4.06 GiB from about 130 KB of image. That is above
  // the largest buffer on Node 20 (4 GiB); Node 22 and later allocate far
  // larger buffers (2^53 - 1), so there a run this size is bounded only by
  // maxStateBytes / maxImageBytes (tested below) and this case cannot occur.
  it.runIf(bufferConstants.MAX_LENGTH < 65 * 64 * 1024 * 1024)('a blob run above the largest buffer Node can allocate (4 GiB) is CKPT_ERR_LIMIT in readProvider, readRaw and verify — never a RangeError', async () => {
    const img = forgedBlobImage(64 * 1024 * 1024, 65);
    expect(img.length).toBeLessThan(1024 * 1024);
    // Raised state limits: the runtime's buffer maximum is what refuses it.
    const reader = await ImageReader.open(memorySource(img), { maxStateBytes: 2 ** 40, maxImageBytes: 2 ** 40 });
    const err = await errorOf(reader.readProvider('a'));
    expect(codeOf(err)).toBe(ErrorCodes.LIMIT);
    expect((err as CkptError).message).toContain('largest buffer');
    expect(codeOf(await errorOf(reader.readRaw('a')))).toBe(ErrorCodes.LIMIT);
    const report = await reader.verify();
    expect(report.ok).toBe(false);
    expect(report.problems.map((p) => p.code)).toEqual([ErrorCodes.LIMIT]);
    await reader.close();
  });

  it('maxImageBytes bounds the decoded bytes of all providers of an image together', async () => {
    const img = await imageBytes([captured('a', new Uint8Array(300_000)), captured('b', new Uint8Array(300_000))]);
    const reader = await ImageReader.open(memorySource(img), { maxImageBytes: 500_000, maxStateBytes: 400_000 });
    const err = await errorOf(reader.readProvider('a'));
    expect(codeOf(err)).toBe(ErrorCodes.LIMIT);
    expect((err as CkptError).message).toContain('maxImageBytes');
    const report = await reader.verify();
    expect(report.problems.map((p) => p.code)).toEqual([ErrorCodes.LIMIT, ErrorCodes.LIMIT]);
    await reader.close();
    // Within the limit the same image reads.
    const ok = await ImageReader.open(memorySource(img), { maxImageBytes: 700_000 });
    expect(Buffer.from((await ok.readProvider('b')) as Uint8Array).equals(Buffer.alloc(300_000))).toBe(true);
    await ok.close();
  });

  it('maxSegments refuses an index listing more segments, at open', async () => {
    const state = Uint8Array.from({ length: 40_000 }, (_, i) => (i * 7919) % 251);
    const img = await imageBytes([captured('a', { s: state }, { blobThreshold: 1 << 20 })], { segmentSize: 8192 });
    const reader = await ImageReader.open(memorySource(img));
    const n = reader.index.segments.length;
    await reader.close();
    expect(n).toBeGreaterThan(2);
    const err = await errorOf(ImageReader.open(memorySource(img), { maxSegments: n - 1 }));
    expect(codeOf(err)).toBe(ErrorCodes.LIMIT);
    expect((err as CkptError).message).toContain('maxSegments');
    expect(await errorOf(ImageReader.open(memorySource(img), { maxSegments: n }).then((r) => r.close()))).toBe('ok');
  });

  it('the default index limit refuses a 9 MiB index before reading it', async () => {
    const indexLength = 9 * 1024 * 1024;
    const img = Buffer.alloc(HEADER_SIZE + indexLength + 40);
    encodeHeader({ formatVersion: FORMAT_VERSION, codecId: CODEC_ID, requiredFlags: 0, optionalFlags: 0 }).copy(img, 0);
    encodeTrailer({ indexOffset: HEADER_SIZE, indexLength, indexCrc: 0 }).copy(img, HEADER_SIZE + indexLength);
    let reads = 0;
    const source = memorySource(img);
    const counted = { ...source, read: (o: number, l: number) => { reads += l >= indexLength ? 1 : 0; return source.read(o, l); } };
    const err = await errorOf(ImageReader.open(counted));
    expect(codeOf(err)).toBe(ErrorCodes.LIMIT);
    expect((err as CkptError).message).toContain('maxIndexBytes');
    expect(reads).toBe(0);
  });
});

describe('index and stream agree', () => {
  it('a blob whose kind in the index differs from the kind in the value stream is CKPT_ERR_CORRUPT (read and verify)', async () => {
    const img = await imageBytes([captured('a', { x: new Float64Array(16_384) })]);
    const t = decodeTrailer(img.subarray(img.length - 40), img.length);
    const index = decodeIndexV2(img.subarray(t.indexOffset, t.indexOffset + t.indexLength), t.indexOffset, { maxSegmentBytes: 1 << 26 });
    expect(index.providers[0]!.blobs.map((b) => b.kind)).toEqual([BinaryKind.Float64Array]);
    const forgedIndex: ImageIndex = { ...index, providers: index.providers.map((p) => ({ ...p, blobs: p.blobs.map((b) => ({ ...b, kind: BinaryKind.Uint8Array })) })) };
    const ix = encodeIndexV2(forgedIndex);
    const forged = Buffer.concat([img.subarray(0, t.indexOffset), ix, encodeTrailer({ indexOffset: t.indexOffset, indexLength: ix.length, indexCrc: crc32(ix) })]);
    const reader = await ImageReader.open(memorySource(forged));
    const err = await errorOf(reader.readProvider('a'));
    expect(codeOf(err)).toBe(ErrorCodes.CORRUPT);
    expect((err as CkptError).message).toMatch(/Float64Array in the stream but a Uint8Array in the index/);
    const report = await reader.verify();
    expect(report.problems.map((p) => p.code)).toEqual([ErrorCodes.CORRUPT]);
    await reader.close();
    // The unforged image reads.
    const good = await ImageReader.open(memorySource(img));
    expect(((await good.readProvider('a')) as { x: Float64Array }).x).toBeInstanceOf(Float64Array);
    await good.close();
  });
});

describe('default state limits', () => {
  it('a forged 4 GiB blob run is refused by the default maxStateBytes, and the message names the option to raise', async () => {
    // 65 segments claiming 64 MiB each: about 130 KB of image. Node 22+ would
    // allocate a buffer this large; the default limit refuses it first.
    const img = forgedBlobImage(64 * 1024 * 1024, 65);
    const reader = await ImageReader.open(memorySource(img));
    const err = await errorOf(reader.readProvider('a'));
    expect(codeOf(err)).toBe(ErrorCodes.LIMIT);
    expect((err as CkptError).message).toContain('limits.maxStateBytes');
    expect(codeOf(await errorOf(reader.checkSegments(['a'])))).toBe(ErrorCodes.LIMIT);
    await reader.close();
  });

  it('the per-image default is at least the per-provider default, and both are below the 4 GiB a forged 130 KB image can claim', () => {
    expect(DEFAULT_MAX_IMAGE_BYTES).toBeGreaterThanOrEqual(DEFAULT_MAX_STATE_BYTES);
    expect(DEFAULT_MAX_STATE_BYTES).toBeLessThan(65 * 64 * 1024 * 1024);
  });
});

describe('checkpoints the reader would refuse are not written', () => {
  /** A store holding one committed image with state "small", and a writer over it. */
  async function storeWithOneImage(limits: ReadLimits, extra: { segmentSize?: number } = {}): Promise<{ store: MemoryStore; writer: Checkpointer; state: { value: unknown } }> {
    const store = new MemoryStore();
    const state: { value: unknown } = { value: 'small' };
    const writer = new Checkpointer({ store, limits, ...extra });
    writer.register({ id: 'p', snapshot: () => state.value, restore: () => undefined });
    await writer.checkpoint();
    return { store, writer, state };
  }

  async function expectRefused(store: MemoryStore, writer: Checkpointer, option: string): Promise<void> {
    const err = await errorOf(writer.checkpoint());
    expect(codeOf(err)).toBe(ErrorCodes.LIMIT);
    expect((err as CkptError).message).toContain(`limits.${option}`);
    expect((err as CkptError).message).toContain('nothing was written');
    // The earlier image is untouched and still the newest.
    expect((await store.list()).map((e) => e.id)).toEqual(['000000000001']);
    await writer.close();
    const reader = new Checkpointer({ store, readOnly: true });
    let restored: unknown;
    reader.register({ id: 'p', snapshot: () => null, restore: (s) => void (restored = s) });
    expect((await reader.restore())?.fellBack).toBe(false);
    expect(restored).toBe('small');
    await reader.close();
  }

  for (const persist of ['sync', 'async'] as const) {
    it(`a state above limits.maxStateBytes fails checkpoint() with CKPT_ERR_LIMIT (${persist} persist)`, async () => {
      const store = new MemoryStore();
      const writer = new Checkpointer({ store, persist, limits: { maxStateBytes: 100_000 } });
      let value: unknown = 'small';
      writer.register({ id: 'p', snapshot: () => value, restore: () => undefined });
      await writer.checkpoint();
      value = { big: new Float64Array(20_000) }; // 160 000 bytes of blob
      await expectRefused(store, writer, 'maxStateBytes');
    });
  }

  it('all providers together above limits.maxImageBytes fail checkpoint() with CKPT_ERR_LIMIT', async () => {
    const { store, writer, state } = await storeWithOneImage({ maxImageBytes: 100_000 });
    writer.register({ id: 'q', snapshot: () => new Uint8Array(60_000), restore: () => undefined });
    state.value = new Uint8Array(60_000);
    await expectRefused(store, writer, 'maxImageBytes');
  });

  it('more segments than limits.maxSegments fail checkpoint() with CKPT_ERR_LIMIT', async () => {
    const { store, writer, state } = await storeWithOneImage({ maxSegments: 8 }, { segmentSize: 64 * 1024 });
    state.value = new Uint8Array(1024 * 1024); // 16 segments of 64 KiB
    await expectRefused(store, writer, 'maxSegments');
  });

  it('a segment size above limits.maxSegmentBytes fails checkpoint() with CKPT_ERR_LIMIT', async () => {
    const store = new MemoryStore();
    const writer = new Checkpointer({ store, segmentSize: 1024 * 1024, limits: { maxSegmentBytes: 256 * 1024 } });
    writer.register({ id: 'p', snapshot: () => 'small', restore: () => undefined });
    const err = await errorOf(writer.checkpoint());
    expect(codeOf(err)).toBe(ErrorCodes.LIMIT);
    expect((err as CkptError).message).toContain('limits.maxSegmentBytes');
    expect(await store.list()).toEqual([]);
    await writer.close();
  });

  it('an index above limits.maxIndexBytes fails checkpoint() with CKPT_ERR_LIMIT, the written bytes are discarded', async () => {
    const { store, writer, state } = await storeWithOneImage({ maxIndexBytes: 1024 }, { segmentSize: 64 * 1024 });
    state.value = Array.from({ length: 80 }, () => new Uint8Array(64 * 1024)); // 80 blobs: a longer index
    await expectRefused(store, writer, 'maxIndexBytes');
  });

  it('a BigInt above limits.maxBigIntBytes is refused at checkpoint(); raising the limit writes one a reader with the same limit restores', async () => {
    const big = (1n << 200n) + 12345n; // 26 bytes of magnitude
    const { store, writer, state } = await storeWithOneImage({ maxBigIntBytes: 16 });
    state.value = big;
    const err = await errorOf(writer.checkpoint());
    expect(codeOf(err)).toBe(ErrorCodes.SNAPSHOT_FAILED);
    expect(codeOf((err as CkptError).cause)).toBe(ErrorCodes.UNSERIALIZABLE);
    expect((err as CkptError).message).toContain('maxBigIntBytes (16)');
    expect((await store.list()).map((e) => e.id)).toEqual(['000000000001']);
    await writer.close();
    const { store: store2, writer: writer2, state: state2 } = await storeWithOneImage({ maxBigIntBytes: 32 });
    state2.value = big;
    await writer2.checkpoint();
    await writer2.close();
    const reader = new Checkpointer({ store: store2, readOnly: true, limits: { maxBigIntBytes: 32 } });
    let restored: unknown;
    reader.register({ id: 'p', snapshot: () => null, restore: (s) => void (restored = s) });
    expect((await reader.restore())?.image.id).toBe('000000000002');
    expect(restored).toBe(big);
    await reader.close();
  });

  it('within the limits the same checkpoint is written and restores', async () => {
    const { store, writer, state } = await storeWithOneImage({ maxStateBytes: 200_000 });
    state.value = new Uint8Array(150_000).fill(7);
    await writer.checkpoint();
    await writer.close();
    const reader = new Checkpointer({ store, readOnly: true, limits: { maxStateBytes: 200_000 } });
    let restored: unknown;
    reader.register({ id: 'p', snapshot: () => null, restore: (s) => void (restored = s) });
    expect((await reader.restore())?.image.id).toBe('000000000002');
    expect(Buffer.from(restored as Uint8Array).equals(Buffer.alloc(150_000, 7))).toBe(true);
    await reader.close();
  });
});

describe('index cost is bounded before the index is unpacked', () => {
  /** An image whose index (within maxIndexBytes) is a map whose "segments" array holds `n` copies of `item`. */
  function forgedIndexImage(item: number, n: number): Buffer {
    const ix = Buffer.alloc(15 + n, item);
    ix[0] = 0x81; // map of 1
    ix[1] = 0xa8; // str of 8
    ix.write('segments', 2, 'latin1');
    ix[10] = 0xdd; // array32
    ix.writeUInt32BE(n, 11);
    const head = encodeHeader({ formatVersion: FORMAT_VERSION, codecId: CODEC_ID, requiredFlags: 0, optionalFlags: 0 });
    return Buffer.concat([head, ix, encodeTrailer({ indexOffset: HEADER_SIZE, indexLength: ix.length, indexCrc: crc32(ix) })]);
  }

  for (const [what, item] of [['empty maps', 0x80], ['empty arrays', 0x90], ['small integers', 0x00]] as const) {
    it(`an index of millions of ${what} is CKPT_ERR_LIMIT naming maxSegments, without being unpacked`, async () => {
      const img = forgedIndexImage(item, 4 * 1024 * 1024);
      const unpack = vi.spyOn(indexPackr, 'unpack');
      try {
        const err = await errorOf(ImageReader.open(memorySource(img)));
        expect(codeOf(err)).toBe(ErrorCodes.LIMIT);
        expect((err as CkptError).message).toContain('limits.maxSegments');
        expect(unpack).not.toHaveBeenCalled();
      } finally {
        unpack.mockRestore();
      }
    });
  }

  it('the walk stops at the bound: it visits at most maxIndexEntries values, however many the index claims', () => {
    const ix = Buffer.alloc(15 + 4 * 1024 * 1024, 0x00);
    ix[0] = 0xdd;
    ix.writeUInt32BE(0xffffffff, 1);
    const err = (() => {
      try {
        return prepassIndex(ix, 100, 'forged');
      } catch (e) {
        return e;
      }
    })();
    expect(codeOf(err)).toBe(ErrorCodes.LIMIT);
    // A well-formed index within the bound is walked whole, every value counted once.
    const small = Buffer.from([0x82, 0xa1, 0x61, 0x93, 0x01, 0x02, 0x03, 0xa1, 0x62, 0x80]); // {a: [1, 2, 3], b: {}}
    expect(prepassIndex(small, 1, 'ok')).toEqual({ entries: 8, containers: 3 });
  });

  it('real indexes of the densest shapes (one segment per provider, one per blob) stay within the bounds of their own segment count', async () => {
    const manyProviders = await imageBytes(Array.from({ length: 300 }, (_, i) => captured(`provider-${i}`, { i })));
    const manyBlobs = await imageBytes([captured('a', Array.from({ length: 300 }, (_, i) => new Uint8Array(64).fill(i)), { blobThreshold: 64 })]);
    for (const img of [manyProviders, manyBlobs]) {
      const t = decodeTrailer(img.subarray(img.length - 40), img.length);
      const indexBytes = img.subarray(t.indexOffset, t.indexOffset + t.indexLength);
      const reader = await ImageReader.open(memorySource(img));
      const segments = reader.index.segments.length;
      await reader.close();
      expect(segments).toBeGreaterThanOrEqual(300);
      const shape = prepassIndex(indexBytes, segments, 'real');
      expect(shape.entries).toBeLessThanOrEqual(maxIndexEntries(segments));
      expect(shape.containers).toBeLessThanOrEqual(maxIndexContainers(segments));
      // and the image opens with maxSegments set to exactly its segment count
      expect(await errorOf(ImageReader.open(memorySource(img), { maxSegments: segments }).then((r) => r.close()))).toBe('ok');
    }
  });
});
