/**
 * Retention after each checkpoint: it decides on the images of the store as
 * `list()` describes them, but opens only the image just committed (a write
 * torn after its commit must not cost the last readable image) and images
 * it has not described before or whose size changed — O(1) opens per
 * checkpoint, not one per image kept. Foreign and unreadable images are handled as
 * `list()` handles them.
 */
import { describe, expect, it } from 'vitest';
import { Checkpointer, MemoryStore, WarningCodes, keepLast } from '../../src/index.js';
import type { AcquireOptions, CheckpointerOptions, CkptWarning, ImageInfo, ImageSink, ImageSource, RetentionPolicy, WriterLock } from '../../src/index.js';
import { TestStore, imageLayout } from '../checkpointer/helpers.js';

/** A store that counts `open()` calls and can add an image written by someone else. */
class CountingStore extends TestStore {
  opens = 0;
  lock: WriterLock | undefined;

  override open(id: string): Promise<ImageSource> {
    this.opens++;
    return super.open(id);
  }

  override async acquireWriter(options?: AcquireOptions): Promise<WriterLock> {
    this.lock = await super.acquireWriter(options);
    return this.lock;
  }

  /** Commit a copy of image `id` of `from` under a new id, as another writer of this store would. */
  async addForeign(from: MemoryStore, id: string): Promise<string> {
    const src = await from.open(id);
    const bytes = await src.read(0, src.size);
    await src.close();
    const sink = await this.inner.create(this.lock!);
    await sink.write(bytes);
    await sink.commit();
    return sink.id;
  }
}

function checkpointer(store: CountingStore, options: Partial<CheckpointerOptions> = {}): Checkpointer {
  const ckpt = new Checkpointer({ store, signals: false, ...options });
  ckpt.register({ id: 'p', snapshot: (ctx) => ({ step: ctx.step }), restore: () => undefined });
  return ckpt;
}

/** Opens made by each of `n` checkpoints (steps first..first+n-1). */
async function opensPerCheckpoint(ckpt: Checkpointer, store: CountingStore, first: number, n: number): Promise<number[]> {
  const out: number[] = [];
  for (let s = first; s < first + n; s++) {
    const before = store.opens;
    await ckpt.checkpoint({ step: s });
    out.push(store.opens - before);
  }
  return out;
}

describe('retention opens O(1) images per checkpoint', () => {
  it('keepLast(5) over 20 checkpoints: at most one open each, and the 5 newest images are kept', async () => {
    const store = new CountingStore();
    const ckpt = checkpointer(store, { retention: { keepLast: 5 } });
    const opens = await opensPerCheckpoint(ckpt, store, 1, 20);
    expect(opens).toHaveLength(20);
    expect(opens).toEqual(Array.from({ length: 20 }, () => 1)); // the image just committed, nothing else
    expect((await ckpt.list()).map((i) => i.step)).toEqual([20, 19, 18, 17, 16]);
    await ckpt.close();
  });

  it('a store holding images of an earlier run: they are described once, by the first retention only', async () => {
    const store = new CountingStore();
    const first = checkpointer(store);
    await opensPerCheckpoint(first, store, 1, 8);
    await first.close();
    const ckpt = checkpointer(store, { retention: { keepLast: 10 } });
    const opens = await opensPerCheckpoint(ckpt, store, 9, 12);
    expect(opens[0]).toBe(9); // the 8 earlier images and the new one
    expect(Math.max(...opens.slice(1))).toBeLessThanOrEqual(1);
    expect((await ckpt.list()).map((i) => i.step)).toEqual([20, 19, 18, 17, 16, 15, 14, 13, 12, 11]);
    await ckpt.close();
  });
});

describe('retention decides on what list() describes', () => {
  it('a policy sees exactly the images list() returns, the new one included (info, labels, meta, sizes)', async () => {
    const store = new CountingStore();
    const seen: ImageInfo[][] = [];
    const recordAll: RetentionPolicy = { name: 'recordAll', keep: (images) => (seen.push([...images]), images.map((i) => i.id)) };
    const ckpt = checkpointer(store, { retention: [recordAll], app: 'demo' });
    for (let s = 1; s <= 6; s++) {
      await ckpt.checkpoint({ step: s, ...(s % 2 === 0 ? { label: `l${s}` } : {}), meta: { n: s, tag: s % 3 === 0 ? null : 'x' } });
      expect(seen.at(-1)).toEqual(await ckpt.list());
    }
    expect(seen.map((images) => images.length)).toEqual([1, 2, 3, 4, 5, 6]);
    await ckpt.close();
  });

  it('an image another writer added is opened once and counted like any other', async () => {
    const other = new MemoryStore();
    const writer = new Checkpointer({ store: other, signals: false });
    writer.register({ id: 'p', snapshot: () => ({ foreign: true }), restore: () => undefined });
    const foreignSource = (await writer.checkpoint({ step: 100, label: 'foreign' })).id;
    await writer.close();

    const store = new CountingStore();
    const ckpt = checkpointer(store, { retention: [keepLast(3)] });
    await opensPerCheckpoint(ckpt, store, 1, 3);
    const foreign = await store.addForeign(other, foreignSource);
    const opens = await opensPerCheckpoint(ckpt, store, 4, 2);
    expect(opens).toEqual([2, 1]); // the foreign image once, the committed one each time
    const kept = await ckpt.list();
    expect(kept.map((i) => [i.step, i.label])).toEqual([
      [5, null],
      [4, null],
      [100, 'foreign'],
    ]);
    expect(kept[2]!.id).toBe(foreign);
    await ckpt.close();
  });

  it('an unreadable image is warned about at every retention and never deleted', async () => {
    const store = new CountingStore();
    const earlier = checkpointer(store);
    const damaged = (await earlier.checkpoint({ step: 1 })).id;
    await earlier.close();
    store.damage(damaged, (await imageLayout(store, damaged)).indexOffset);
    const ckpt = checkpointer(store, { retention: { keepLast: 1 } });
    const warnings: CkptWarning[] = [];
    ckpt.on('warning', (w) => warnings.push(w));
    const opens = await opensPerCheckpoint(ckpt, store, 2, 3);
    // The damaged image is reopened (and reported) each time, as list() does.
    expect(opens).toEqual([2, 2, 2]); // the damaged one and the committed one
    expect(warnings.map((w) => w.code)).toEqual([WarningCodes.IMAGE_UNREADABLE, WarningCodes.IMAGE_UNREADABLE, WarningCodes.IMAGE_UNREADABLE]);
    expect(warnings[0]!.message).toContain(damaged);
    expect((await store.list()).map((e) => e.id)).toContain(damaged);
    expect((await store.list()).length).toBe(2);
    await ckpt.close();
  });

  it('a failing delete is a warning; the next retention deletes what is left to delete', async () => {
    const store = new CountingStore();
    const ckpt = checkpointer(store, { retention: { keepLast: 2 } });
    const warnings: CkptWarning[] = [];
    ckpt.on('warning', (w) => warnings.push(w));
    await opensPerCheckpoint(ckpt, store, 1, 2);
    store.failDeletes = new Error('EIO');
    await ckpt.checkpoint({ step: 3 });
    expect(warnings.map((w) => w.code)).toEqual([WarningCodes.RETENTION_FAILED]);
    store.failDeletes = undefined;
    await ckpt.checkpoint({ step: 4 });
    expect((await ckpt.list()).map((i) => i.step)).toEqual([4, 3]);
    await ckpt.close();
  });

  it('an image torn after its commit is not counted: the older, readable image is kept (keepLast 1)', async () => {
    class TornStore extends CountingStore {
      tearNext = false;
      override async create(lock: WriterLock): Promise<ImageSink> {
        const sink = await super.create(lock);
        if (!this.tearNext) return sink;
        // eslint-disable-next-line @typescript-eslint/no-this-alias -- the sink's commit damages the image in this store
        const store = this;
        return {
          get id() {
            return sink.id;
          },
          write: (chunk) => sink.write(chunk),
          abort: () => sink.abort(),
          async commit() {
            await sink.commit();
            store.damage(sink.id, (await imageLayout(store, sink.id)).indexOffset);
          },
        };
      }
    }
    const store = new TornStore();
    const ckpt = checkpointer(store, { retention: { keepLast: 1 } });
    const warnings: CkptWarning[] = [];
    ckpt.on('warning', (w) => warnings.push(w));
    const good = (await ckpt.checkpoint({ step: 1 })).id;
    store.tearNext = true;
    const torn = (await ckpt.checkpoint({ step: 2 })).id;
    expect((await store.list()).map((e) => e.id)).toEqual([torn, good]);
    expect(warnings.map((w) => w.code)).toContain(WarningCodes.IMAGE_UNREADABLE);
    await ckpt.close();
  });
});
