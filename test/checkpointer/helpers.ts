/**
 * Shared helpers of the Checkpointer tests: error assertions, a store wrapper
 * that records what the Checkpointer does and can damage bytes on read, temp
 * directories, and a deferred promise for holding a lifecycle hook open.
 */
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { MemoryStore } from '../../src/index.js';
import { ImageReader } from '../../src/format/index.js';
import type { AcquireOptions, ImageSink, ImageSource, Store, StoreEntry, WriterLock } from '../../src/index.js';

export { expectCode, expectThrowCode } from '../helpers/errors.js';
export { deferred, tick, type Deferred } from '../helpers/async.js';

/**
 * A Store wrapper around a MemoryStore that logs sink writes, commits and
 * deletes into `log`, can fail writes or deletes, and flips bytes of chosen
 * images when they are read (which is what a damaged file looks like to a reader).
 */
export class TestStore implements Store {
  readonly inner: MemoryStore;
  readonly log: string[] = [];
  /** image id → byte offsets to flip (xor 0xff) on every read. */
  readonly #damage = new Map<string, number[]>();
  failWrites: Error | undefined;
  failDeletes: Error | undefined;

  constructor(inner: MemoryStore = new MemoryStore()) {
    this.inner = inner;
  }

  get description(): string {
    return `test(${this.inner.description})`;
  }

  /** Make every later read of image `id` see the byte at `offset` flipped. */
  damage(id: string, offset: number): void {
    const list = this.#damage.get(id) ?? [];
    list.push(offset);
    this.#damage.set(id, list);
  }

  list(): Promise<StoreEntry[]> {
    return this.inner.list();
  }

  async open(id: string): Promise<ImageSource> {
    const src = await this.inner.open(id);
    const flips = this.#damage.get(id) ?? [];
    return {
      id: src.id,
      size: src.size,
      async read(offset: number, length: number): Promise<Uint8Array> {
        const bytes = await src.read(offset, length);
        for (const at of flips) {
          if (at >= offset && at < offset + length) bytes[at - offset]! ^= 0xff;
        }
        return bytes;
      },
      close: () => src.close(),
    };
  }

  acquireWriter(options?: AcquireOptions): Promise<WriterLock> {
    return this.inner.acquireWriter(options);
  }

  async create(lock: WriterLock): Promise<ImageSink> {
    const sink = await this.inner.create(lock);
    let wrote = false;
    const log = this.log;
    const failure = (): Error | undefined => this.failWrites;
    return {
      id: sink.id,
      write(chunk: Uint8Array): Promise<void> {
        const err = failure();
        if (err !== undefined) return Promise.reject(err);
        if (!wrote) log.push(`write:${sink.id}`);
        wrote = true;
        return sink.write(chunk);
      },
      async commit(): Promise<void> {
        await sink.commit();
        log.push(`commit:${sink.id}`);
      },
      async abort(): Promise<void> {
        log.push(`abort:${sink.id}`);
        await sink.abort();
      },
    };
  }

  async delete(lock: WriterLock, id: string): Promise<void> {
    if (this.failDeletes !== undefined) throw this.failDeletes;
    await this.inner.delete(lock, id);
    this.log.push(`delete:${id}`);
  }

  cleanup(lock: WriterLock): Promise<string[]> {
    return this.inner.cleanup(lock);
  }
}

/** Byte offsets of the parts of an image: first segment of each provider, the index. */
export async function imageLayout(store: Store, id: string): Promise<{ size: number; indexOffset: number; providerSegment: Map<string, number> }> {
  const source = await store.open(id);
  try {
    const reader = await ImageReader.open(source);
    const providerSegment = new Map<string, number>();
    for (const p of reader.index.providers) providerSegment.set(p.id, reader.index.segments[p.stream.first]!.offset);
    const last = reader.index.segments[reader.index.segments.length - 1]!;
    return { size: reader.size, indexOffset: last.offset + last.storedLength, providerSegment };
  } finally {
    await source.close();
  }
}

/** Flip one byte of a file in place. */
export async function flipFileByte(path: string, offset: number): Promise<void> {
  const bytes = await readFile(path);
  bytes[offset]! ^= 0xff;
  await writeFile(path, bytes);
}

/** Temp directories, removed by {@link removeTempDirs} (call it in afterEach). */
const dirs: string[] = [];

export async function tempDir(prefix = 'ckpt-checkpointer-'): Promise<string> {
  const d = await mkdtemp(join(tmpdir(), prefix));
  dirs.push(d);
  return d;
}

export async function removeTempDirs(): Promise<void> {
  for (const d of dirs.splice(0)) await rm(d, { recursive: true, force: true });
}
