/**
 * @module test/incremental/helpers
 *
 * A small application for the incremental tests: a typed field (several
 * segments), an object graph of records and a counter, each its own
 * provider; ways to change 1 % of it (clustered or scattered); a deep copy of
 * the state at each checkpoint; and readers of what an image's index says
 * (references, deltas, XOR depth).
 */
import { unlink } from 'node:fs/promises';
import { join } from 'node:path';
import type { Store } from '../../src/index.js';
import { Checkpointer, type CheckpointerOptions, type CheckpointInfo, type EncryptionOptions, type ReadStore } from '../../src/index.js';
import { keySource } from '../../src/crypto/keys.js';
import { SegmentCodec } from '../../src/image/constants.js';
import { SegmentFlag, type ImageIndex } from '../../src/image/index-model.js';
import { ImageReader } from '../../src/image/reader.js';

/** The application's state. */
export interface AppState {
  field: Float64Array;
  ids: Int32Array;
  records: { id: number; name: string; tags: string[]; score: number }[];
  counter: { step: number };
}

/** A state whose field spans `segments` segments of 64 KiB. */
export function makeState(segments = 8, records = 2000): AppState {
  const n = (segments * 64 * 1024) / 8;
  return {
    field: Float64Array.from({ length: n }, (_, i) => 300 + 50 * Math.sin(i / 500) + (i % 7) * 1e-3),
    ids: Int32Array.from({ length: n / 4 }, (_, i) => i * 3),
    records: Array.from({ length: records }, (_, i) => ({ id: i, name: `r${i}`, tags: i % 3 === 0 ? ['a', 'b'] : ['c'], score: i / 7 })),
    counter: { step: 0 },
  };
}

/** A deep copy (typed arrays copied). */
export function copyState(s: AppState): AppState {
  return { field: s.field.slice(), ids: s.ids.slice(), records: s.records.map((r) => ({ ...r, tags: [...r.tags] })), counter: { ...s.counter } };
}

/** Change 1 % of the field in one contiguous run starting at `at` (a fraction of its length). */
export function dirtyClustered(s: AppState, at: number, k: number): void {
  const len = Math.max(1, Math.floor(s.field.length / 100));
  const start = Math.floor(at * (s.field.length - len));
  for (let i = start; i < start + len; i++) s.field[i]! += k;
}

/** Change 1 % of the field's elements at scattered places (every segment is touched). */
export function dirtyScattered(s: AppState, k: number): void {
  const every = 100;
  for (let i = (k * 13) % every; i < s.field.length; i += every) s.field[i]! += 0.25 * k;
}

/** Change 1 % of the records. */
export function dirtyRecords(s: AppState, k: number): void {
  for (let i = k % 100; i < s.records.length; i += 100) s.records[i]!.score += k;
}

/** A Checkpointer over the state in `box` (providers: field, records, counter). */
export function app(store: string | Store, box: { state: AppState }, options: Partial<CheckpointerOptions> = {}): Checkpointer {
  const ckpt = new Checkpointer({ store, signals: false, segmentSize: 64 * 1024, compression: { level: 1, threads: 0 }, incremental: true, ...options });
  ckpt.register<{ field: Float64Array; ids: Int32Array }>({
    id: 'field',
    snapshot: () => ({ field: box.state.field, ids: box.state.ids }),
    restore: (s) => {
      box.state.field = s.field;
      box.state.ids = s.ids;
    },
  });
  ckpt.register<AppState['records']>({
    id: 'records',
    snapshot: () => box.state.records,
    restore: (s) => {
      box.state.records = s;
    },
  });
  ckpt.register<{ step: number }>({
    id: 'counter',
    snapshot: () => box.state.counter,
    restore: (s) => {
      box.state.counter = s;
    },
  });
  return ckpt;
}

/** The index of image `id` (an encrypted one opened with `encryption`'s keys). */
export async function indexOf(store: ReadStore, id: string, encryption?: EncryptionOptions): Promise<ImageIndex> {
  const source = await store.open(id);
  try {
    return (await ImageReader.open(source, encryption === undefined ? {} : { keys: keySource(encryption) })).index;
  } finally {
    await source.close();
  }
}

/** How the segments of an image are stored. */
export interface Kinds {
  readonly referenced: number;
  readonly deltas: number;
  readonly written: number;
}

/** Count the by-reference, XOR and other segments of an index. */
export function kinds(index: ImageIndex): Kinds {
  let referenced = 0;
  let deltas = 0;
  let written = 0;
  for (const s of index.segments) {
    if ((s.flags & SegmentFlag.BY_REFERENCE) !== 0) referenced++;
    else if (s.codec === SegmentCodec.XOR_ZSTD) deltas++;
    else written++;
  }
  return { referenced, deltas, written };
}

/**
 * The longest XOR chain restoring image `id` needs: a delta's depth is one
 * more than its base's (followed through the holders' indexes).
 */
export async function maxXorDepth(store: ReadStore, id: string): Promise<number> {
  const cache = new Map<string, ImageIndex>();
  const idx = async (i: string): Promise<ImageIndex> => {
    let x = cache.get(i);
    if (x === undefined) {
      x = await indexOf(store, i);
      cache.set(i, x);
    }
    return x;
  };
  const depth = async (imageId: string, seg: number): Promise<number> => {
    const index = await idx(imageId);
    const s = index.segments[seg]!;
    if ((s.flags & SegmentFlag.BY_REFERENCE) !== 0) return depth(index.refs![s.ref!.image]!.imageId, s.ref!.segment);
    if (s.codec !== SegmentCodec.XOR_ZSTD) return 0;
    return 1 + (await depth(index.refs![s.base!.image]!.imageId, s.base!.segment));
  };
  const top = await idx(id);
  let max = 0;
  for (let i = 0; i < top.segments.length; i++) max = Math.max(max, await depth(id, i));
  return max;
}

/** Restore image `id` of `dir` into a fresh state with a read-only Checkpointer (with `encryption`, if given). */
export async function restoreCopy(dir: string, id: string, encryption?: EncryptionOptions): Promise<AppState> {
  const box = { state: makeState(1, 0) };
  const ckpt = app(dir, box, { readOnly: true, ...(encryption === undefined ? {} : { encryption }) });
  try {
    await ckpt.restore(id);
  } finally {
    await ckpt.close();
  }
  return box.state;
}

/** Remove image `id` from the file store in `dir` behind the writer's back. */
export async function removeImageFile(dir: string, id: string): Promise<void> {
  await unlink(join(dir, `${id}.ckpt`));
}

/** A short description of an info for failure messages. */
export function describeInfo(i: CheckpointInfo): string {
  return `${i.id} ${i.kind} written=${i.bytesWritten} referenced=${i.bytesReferenced} refs=${i.references.join(',')}`;
}
