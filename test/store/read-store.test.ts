// The read contract on its own: read-only stores pass the read conformance
// suite with list/open alone, are accepted wherever only reading happens,
// and readOnlyStore() refuses every write.
import { describe, it, expect, afterEach } from 'vitest';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { CkptError, ErrorCodes, isCkptError, MemoryStore, type ImageSource, type ReadStore, type Store, type StoreEntry } from '../../src/index.js';
import { readStoreConformanceCases, runReadStoreConformance } from '../../src/testing/index.js';
import { SingleImageStore } from '../../src/cli/single-image-store.js';
import { readOnlyStore } from '../../src/store/read-only-store.js';
import { formatImageId } from '../../src/store/image-ids.js';

/** A third-party read-only store: a fixed set of byte arrays, nothing else. */
class ArchiveStore implements ReadStore {
  readonly description = 'archive';
  readonly #images: ReadonlyMap<string, Uint8Array>;
  constructor(images: ReadonlyMap<string, Uint8Array>) {
    this.#images = images;
  }
  list(): Promise<StoreEntry[]> {
    return Promise.resolve([...this.#images].map(([id, b]) => ({ id, size: b.byteLength })).sort((a, b) => (a.id < b.id ? 1 : -1)));
  }
  open(id: string): Promise<ImageSource> {
    const bytes = this.#images.get(id);
    if (bytes === undefined) return Promise.reject(new CkptError(ErrorCodes.NOT_FOUND, `no image ${id} in the archive`));
    return Promise.resolve({
      id,
      size: bytes.byteLength,
      read(offset: number, length: number): Promise<Uint8Array> {
        if (!Number.isSafeInteger(offset) || !Number.isSafeInteger(length) || offset < 0 || length < 0 || offset + length > bytes.byteLength) {
          return Promise.reject(new CkptError(ErrorCodes.CORRUPT, `read outside image ${id}`));
        }
        return Promise.resolve(bytes.slice(offset, offset + length));
      },
      close: () => Promise.resolve(),
    });
  }
}

runReadStoreConformance(
  (images) => {
    const ids = images.map((_, i) => formatImageId(i + 1));
    return Promise.resolve({ store: new ArchiveStore(new Map(ids.map((id, i) => [id, images[i]!]))), ids, dispose: () => Promise.resolve() });
  },
  { describe, it },
  { name: 'a read-only store implementing ReadStore alone' },
);

const roots: string[] = [];
afterEach(async () => {
  for (const r of roots.splice(0)) await rm(r, { recursive: true, force: true });
});

runReadStoreConformance(
  async (images) => {
    const root = await mkdtemp(join(tmpdir(), 'ckpt-single-'));
    roots.push(root);
    const path = join(root, 'copy.ckpt');
    await writeFile(path, images[0]!);
    return { store: new SingleImageStore(path), ids: ['copy.ckpt'], dispose: () => Promise.resolve() };
  },
  { describe, it },
  { name: 'the CLI store of one image file', maxImages: 1 },
);

describe('read and write contracts', () => {
  it('the read suite leaves out the cases a small store cannot hold, and runs them all otherwise', () => {
    const registered: string[] = [];
    const runner = { describe: (_: string, body: () => void) => body(), it: (name: string) => registered.push(name) };
    runReadStoreConformance(() => Promise.reject(new Error('not run')), runner, { maxImages: 1 });
    const small = registered.splice(0);
    runReadStoreConformance(() => Promise.reject(new Error('not run')), runner);
    expect(registered).toEqual(readStoreConformanceCases.map((c) => c.name));
    expect(small).toEqual(readStoreConformanceCases.filter((c) => c.images <= 1).map((c) => c.name));
    expect(small.length).toBeLessThan(registered.length);
  });

  it('a store whose listing is oldest first fails the read suite', async () => {
    const oldestFirst = (images: readonly Uint8Array[]) => {
      const ids = images.map((_, i) => formatImageId(i + 1));
      const inner = new ArchiveStore(new Map(ids.map((id, i) => [id, images[i]!])));
      const store: ReadStore = { description: 'wrong order', list: async () => (await inner.list()).reverse(), open: (id) => inner.open(id) };
      return Promise.resolve({ store, ids, dispose: () => Promise.resolve() });
    };
    const listing = readStoreConformanceCases.find((c) => c.name.startsWith('lists the images newest first'));
    expect(listing).toBeDefined();
    await expect(listing!.run(oldestFirst)).rejects.toThrow(/newest first/);
  });

  it('a ReadStore is not a Store; readOnlyStore() makes one whose every write is refused and nothing is written', async () => {
    const memory = new MemoryStore();
    const lock = await memory.acquireWriter();
    const sink = await memory.create(lock);
    await sink.write(new Uint8Array([1, 2, 3]));
    await sink.commit();
    await lock.release();
    const read: ReadStore = { description: memory.description, list: () => memory.list(), open: (id) => memory.open(id) };
    // @ts-expect-error -- the read contract alone is not a writable store
    const notWritable: Store = read;
    expect(notWritable).toBe(read);
    const store = readOnlyStore(read);
    expect((await store.list()).map((e) => e.id)).toEqual([sink.id]);
    const refused = await Promise.all([store.acquireWriter(), store.create(lock), store.delete(lock, sink.id), store.cleanup(lock)].map((p) => p.then(() => undefined, (e: unknown) => e)));
    for (const err of refused) {
      expect(isCkptError(err, ErrorCodes.INVALID_ARGUMENT)).toBe(true);
      expect((err as Error).message).toMatch(/read-only/);
    }
    expect((await memory.list()).map((e) => e.id)).toEqual([sink.id]);
  });
});
