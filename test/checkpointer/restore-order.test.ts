// Restore holds one provider's state at a time: every segment's checksum is
// checked first (a damaged image is still skipped before any hook runs), then
// each provider is read, decoded and restored before the next one is read.
// Which provider's segments are read when is observed through the store.
import { afterEach, describe, expect, it } from 'vitest';
import { Checkpointer, ErrorCodes, MemoryStore, type CkptWarning, type ImageSource, type Store, type StoreEntry } from '../../src/index.js';
import { ImageReader } from '../../src/image/reader.js';
import type { CapturedProvider } from '../../src/image/writer.js';
import { captured, FIXED_MANIFEST, imageBytes } from '../helpers/image-bytes.js';
import { expectCode } from './helpers.js';

/** A read-only store over fixed image bytes that logs which provider's segments each read touches. */
class BytesStore implements Store {
  readonly description = 'bytes';
  readonly log: string[] = [];
  readonly #images = new Map<string, Uint8Array>();
  /** image id → [segment offset, end, provider id] */
  readonly #owners = new Map<string, [number, number, string][]>();

  async add(id: string, bytes: Uint8Array): Promise<void> {
    this.#images.set(id, bytes);
    const reader = await ImageReader.open(this.#plainSource(id, bytes));
    const owners: [number, number, string][] = [];
    for (const p of reader.index.providers) {
      for (const run of [p.stream, ...p.blobs]) {
        for (let s = run.first; s < run.first + run.count; s++) {
          const seg = reader.index.segments[s]!;
          owners.push([seg.offset, seg.offset + seg.storedLength, p.id]);
        }
      }
    }
    this.#owners.set(id, owners);
    await reader.close();
  }

  #plainSource(id: string, bytes: Uint8Array, onRead?: (offset: number, length: number) => void): ImageSource {
    return {
      id,
      size: bytes.length,
      read: (offset, length) => {
        onRead?.(offset, length);
        return Promise.resolve(bytes.slice(offset, offset + length));
      },
      close: () => Promise.resolve(),
    };
  }

  list(): Promise<StoreEntry[]> {
    return Promise.resolve([...this.#images].map(([id, b]) => ({ id, size: b.length })).sort((x, y) => (x.id < y.id ? 1 : -1)));
  }

  open(id: string): Promise<ImageSource> {
    const bytes = this.#images.get(id)!;
    const owners = this.#owners.get(id)!;
    return Promise.resolve(
      this.#plainSource(id, bytes, (offset, length) => {
        for (const [from, to, p] of owners) if (offset < to && offset + length > from) this.log.push(`read:${p}`);
      }),
    );
  }

  acquireWriter(): never {
    throw new Error('read-only');
  }
  create(): never {
    throw new Error('read-only');
  }
  delete(): never {
    throw new Error('read-only');
  }
  cleanup(): never {
    throw new Error('read-only');
  }
}

/** `log` with runs of the same entry collapsed into one. */
function collapsed(log: readonly string[]): string[] {
  return log.filter((e, i) => i === 0 || log[i - 1] !== e);
}

/** A provider state with a large typed array (a blob) and some msgpack structure. */
function stateOf(tag: string, n: number): { tag: string; rows: { i: number; name: string }[]; field: Float64Array } {
  return { tag, rows: Array.from({ length: 50 }, (_, i) => ({ i, name: `${tag}-${i}` })), field: new Float64Array(n).fill(n) };
}

/** A provider "id" whose value stream is not valid msgpack (0xc1 is never used), with correct checksums. */
function undecodable(id: string): CapturedProvider {
  return { id, version: 1, tree: false, encoded: { stream: Uint8Array.of(0xc1), blobs: [] } };
}

function manifest(id: string): typeof FIXED_MANIFEST {
  return { ...FIXED_MANIFEST, imageId: id };
}

/** A reader Checkpointer over `store` with providers `ids`, logging restore() calls into `log`. */
function readerFor(store: Store, ids: readonly string[], log: string[], options: { missingProviders?: 'error' | 'allow' } = {}): { ckpt: Checkpointer; restored: Map<string, unknown>; warnings: CkptWarning[] } {
  const ckpt = new Checkpointer({ store, readOnly: true, ...options });
  const restored = new Map<string, unknown>();
  const warnings: CkptWarning[] = [];
  ckpt.on('warning', (w) => warnings.push(w));
  for (const id of ids) {
    ckpt.register({
      id,
      snapshot: () => null,
      restore: (s) => {
        log.push(`restore:${id}`);
        restored.set(id, s);
      },
    });
  }
  return { ckpt, restored, warnings };
}

const closers: Checkpointer[] = [];
afterEach(async () => {
  for (const c of closers.splice(0)) await c.close();
});

describe('restore one provider at a time', () => {
  it("the segments of every provider but the first are checksummed first (the first is read whole before any hook); then provider k's segments are read only after provider k-1's restore() ran", async () => {
    const store = new BytesStore();
    const ids = ['a', 'b', 'c'];
    // Small segments: each provider spans several, read in more than one call.
    await store.add('000000000001', await imageBytes(ids.map((id) => captured(id, stateOf(id, 40_000))), { segmentSize: 64 * 1024 }, manifest('000000000001')));
    const { ckpt, restored } = readerFor(store, ids, store.log);
    closers.push(ckpt);
    const result = await ckpt.restore();
    expect(result?.image.id).toBe('000000000001');
    expect(collapsed(store.log)).toEqual([
      // The checksum pass, over the providers not read before the first hook.
      'read:b', 'read:c',
      // Then read + restore, one provider after the other (a: read, checksums
      // included, before any hook runs, so it needs no pass of its own).
      'read:a', 'restore:a',
      'read:b', 'restore:b',
      'read:c', 'restore:c',
    ]);
    for (const id of ids) {
      const { tag, rows, field } = restored.get(id) as ReturnType<typeof stateOf>;
      const want = stateOf(id, 40_000);
      expect([tag, rows]).toEqual([want.tag, want.rows]);
      expect(Buffer.from(field.buffer, field.byteOffset, field.byteLength).equals(Buffer.from(want.field.buffer))).toBe(true);
    }
  });

  it('a checksum mismatch in the last provider skips the image before any restore() ran (fallback to the older image)', async () => {
    const store = new BytesStore();
    const ids = ['a', 'b', 'c'];
    await store.add('000000000001', await imageBytes(ids.map((id) => captured(id, stateOf(`old-${id}`, 10_000))), {}, manifest('000000000001')));
    const newer = await imageBytes(ids.map((id) => captured(id, stateOf(`new-${id}`, 10_000))), {}, manifest('000000000002'));
    const reader = await ImageReader.open({ id: 'x', size: newer.length, read: (o, l) => Promise.resolve(newer.subarray(o, o + l)), close: () => Promise.resolve() });
    const lastSegment = reader.index.segments[reader.index.providers[2]!.blobs[0]!.first]!;
    await reader.close();
    newer[lastSegment.offset + 10]! ^= 0xff;
    await store.add('000000000002', newer);
    const log: string[] = [];
    const { ckpt, restored, warnings } = readerFor(store, ids, log);
    closers.push(ckpt);
    const result = await ckpt.restore();
    expect(result?.fellBack).toBe(true);
    expect(result?.skipped.map((s) => [s.id, s.code])).toEqual([['000000000002', ErrorCodes.CORRUPT]]);
    expect(warnings.map((w) => w.code)).toEqual(['CKPT_WARN_IMAGE_SKIPPED']);
    // Each restore() ran once, with the older image's state.
    expect(log).toEqual(['restore:a', 'restore:b', 'restore:c']);
    for (const id of ids) expect((restored.get(id) as { tag: string }).tag).toBe(`old-${id}`);
  });

  it('the first provider failing to decode (checksums intact) still skips the image: no restore() ran yet', async () => {
    const store = new BytesStore();
    await store.add('000000000001', await imageBytes([captured('a', 'old-a'), captured('b', 'old-b')], {}, manifest('000000000001')));
    await store.add('000000000002', await imageBytes([undecodable('a'), captured('b', 'new-b')], {}, manifest('000000000002')));
    const log: string[] = [];
    const { ckpt, restored } = readerFor(store, ['a', 'b'], log);
    closers.push(ckpt);
    const result = await ckpt.restore();
    expect(result?.skipped.map((s) => s.code)).toEqual([ErrorCodes.CORRUPT]);
    expect(log).toEqual(['restore:a', 'restore:b']);
    expect([...restored.values()]).toEqual(['old-a', 'old-b']);
  });

  it('a later provider failing to decode after an earlier one was restored: the older image is restored whole (every provider again), with a warning naming them', async () => {
    const store = new BytesStore();
    await store.add('000000000001', await imageBytes([captured('a', 'old-a'), captured('b', 'old-b'), captured('c', 'old-c')], {}, manifest('000000000001')));
    await store.add('000000000002', await imageBytes([captured('a', 'new-a'), undecodable('b'), captured('c', 'new-c')], {}, manifest('000000000002')));
    const log: string[] = [];
    const { ckpt, restored, warnings } = readerFor(store, ['a', 'b', 'c'], log);
    closers.push(ckpt);
    const result = await ckpt.restore();
    expect(result?.image.id).toBe('000000000001');
    expect(result?.skipped.map((x) => [x.id, x.code])).toEqual([['000000000002', ErrorCodes.CORRUPT]]);
    // a came from the newer image first, then every provider from the older one: never a mix.
    expect(log).toEqual(['restore:a', 'restore:a', 'restore:b', 'restore:c']);
    expect([...restored.entries()]).toEqual([
      ['a', 'old-a'],
      ['b', 'old-b'],
      ['c', 'old-c'],
    ]);
    expect(warnings.map((w) => w.code)).toEqual(['CKPT_WARN_IMAGE_SKIPPED']);
    expect(warnings[0]!.message).toContain('Providers already restored from it (a) are restored again from the next older image');
  });

  it('the same failure when restoring an image by id: the reader\'s code (not RESTORE_FAILED), naming what was restored', async () => {
    const store = new BytesStore();
    await store.add('000000000001', await imageBytes([captured('a', 'old-a'), captured('b', 'old-b')], {}, manifest('000000000001')));
    await store.add('000000000002', await imageBytes([captured('a', 'new-a'), undecodable('b')], {}, manifest('000000000002')));
    const log: string[] = [];
    const { ckpt, restored } = readerFor(store, ['a', 'b'], log);
    closers.push(ckpt);
    const err = await expectCode(ckpt.restore('000000000002'), ErrorCodes.CORRUPT);
    expect(err.message).toContain('Already restored: a');
    expect(err.message).toContain('partly restored');
    expect(err.provider).toBe('b');
    expect(log).toEqual(['restore:a']);
    expect(restored.get('a')).toBe('new-a');
  });

  it('no mix of two images: when the older image lacks a provider already restored from the newer one, nothing more is restored and the error says so', async () => {
    const store = new BytesStore();
    await store.add('000000000001', await imageBytes([captured('b', 'old-b')], {}, manifest('000000000001')));
    await store.add('000000000002', await imageBytes([captured('a', 'new-a'), undecodable('b')], {}, manifest('000000000002')));
    const log: string[] = [];
    const { ckpt, restored } = readerFor(store, ['a', 'b'], log, { missingProviders: 'allow' });
    closers.push(ckpt);
    const err = await expectCode(ckpt.restore(), ErrorCodes.MISSING_PROVIDER);
    expect(err.message).toContain('image 000000000001 holds no state for "a", already restored from image 000000000002');
    expect(err.message).toContain('partly restored');
    // Only a's restore from the newer image ran: b was not restored from the older one.
    expect(log).toEqual(['restore:a']);
    expect([...restored.entries()]).toEqual([['a', 'new-a']]);
  });

  it('a late failure with no older image to fall back to: NO_VALID_IMAGE says the state is partly restored', async () => {
    const store = new BytesStore();
    await store.add('000000000001', await imageBytes([captured('a', 'new-a'), undecodable('b')], {}, manifest('000000000001')));
    const log: string[] = [];
    const { ckpt } = readerFor(store, ['a', 'b'], log);
    closers.push(ckpt);
    const err = await expectCode(ckpt.restore(), ErrorCodes.NO_VALID_IMAGE);
    expect(err.message).toContain('The application state is partly restored: a from image 000000000001');
    expect(log).toEqual(['restore:a']);
  });

  it('a missing class in a later provider keeps its code (UNKNOWN_CLASS) and says the state is partly restored', async () => {
    class Point {
      x = 1;
    }
    const writer = new Checkpointer({ store: new MemoryStore() });
    closers.push(writer);
    writer.registerClass(Point, 'Point');
    writer.register({ id: 'a', snapshot: () => 'plain', restore: () => undefined });
    writer.register({ id: 'b', snapshot: () => new Point(), restore: () => undefined });
    await writer.checkpoint();
    const log: string[] = [];
    const { ckpt } = readerFor(writer.store, ['a', 'b'], log);
    closers.push(ckpt);
    const err = await expectCode(ckpt.restore(), ErrorCodes.UNKNOWN_CLASS);
    expect(err.message).toContain('partly restored');
    expect(log).toEqual(['restore:a']);
  });
});
