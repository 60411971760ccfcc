/**
 * End-to-end property test of incremental images. A seeded PRNG (a failure
 * names its seed, so it can be replayed) draws, per run:
 *
 * - a real `Checkpointer` over an `FsStore` with `incremental` on, a random
 *   `fullEvery`, a random `delta` ('segments' or 'xor'), random retention
 *   policies and sync or async persist;
 * - a sequence of checkpoints, each after a random mix of changes: nothing,
 *   a clustered range of the typed field, scattered elements, the whole
 *   field, edits of the object graph (records changed, inserted, removed),
 *   a provider added or removed.
 *
 * After every checkpoint, every listed image's holders are listed (retention
 * never deleted anything a kept image refers to). After the sequence, every
 * listed image restores (through the store, holders included) to exactly the
 * state it was taken from, compared by value. Then one byte of one stored
 * segment of one image is flipped, and:
 *
 * - an image that needs the damaged segment (directly, by reference, or as
 *   the base of a XOR delta at any depth) fails to restore with
 *   `CKPT_ERR_CORRUPT` or `CKPT_ERR_MISSING_REFERENCE`; every other image
 *   still restores to exactly its state;
 * - `restore()` without an id falls back to the newest image that does not
 *   need the damaged segment and reports each newer image it skipped.
 *
 * Every third seed runs with encryption (format 5: references sealed under
 * their holder's key), with the same expectations.
 *
 * Runs come from CKPT_INCR_PROP_RUNS (short by default; `npm run
 * soak:incremental` runs many), the first seed from CKPT_INCR_PROP_SEED.
 */
import { afterAll, afterEach, describe, expect, it } from 'vitest';
import { open } from 'node:fs/promises';
import { join } from 'node:path';
import { Checkpointer, CkptError, ErrorCodes, FsStore, type CheckpointInfo, type EncryptionOptions, type RetentionOptions } from '../../src/index.js';
import { SegmentCodec } from '../../src/image/constants.js';
import { SegmentFlag, type ImageIndex } from '../../src/image/index-model.js';
import { removeTempDirs, tempDir } from '../checkpointer/helpers.js';
import { deepDiff } from '../helpers/deep-equal.js';
import { indexOf } from './helpers.js';
import { keySource } from '../../src/crypto/keys.js';
import { openStoreImage } from '../../src/image/open-store.js';

const RUNS = Number(process.env['CKPT_INCR_PROP_RUNS'] ?? 16);
const SEED = Number(process.env['CKPT_INCR_PROP_SEED'] ?? 20261205);
const SEGMENT = 64 * 1024;

afterEach(async () => {
  await removeTempDirs();
});

/** What the runs exercised, printed at the end (so a change that makes the runs trivial shows). */
const coverage = { runs: 0, images: 0, incremental: 0, encryptedIncremental: 0, xorSegments: 0, referencedSegments: 0, pinnedWarnings: 0, damagedOthers: 0, fellBack: 0, noValidImage: 0 };
afterAll(() => {
  console.log(`incremental property coverage: ${JSON.stringify(coverage)}`);
});

/** mulberry32: small, seeded, good enough to draw test cases. */
function prng(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

class Draw {
  readonly #r: () => number;
  constructor(seed: number) {
    this.#r = prng(seed);
  }
  /** An integer in [lo, hi]. */
  int(lo: number, hi: number): number {
    return lo + Math.floor(this.#r() * (hi - lo + 1));
  }
  pick<T>(xs: readonly T[]): T {
    return xs[this.int(0, xs.length - 1)]!;
  }
  chance(p: number): boolean {
    return this.#r() < p;
  }
}

interface Rec {
  id: number;
  name: string;
  tags: string[];
  score: number;
}

/** The application's state: a typed field, an object graph, a counter and an optional provider. */
interface State {
  field: Float64Array;
  ids: Int32Array;
  records: Rec[];
  counter: { step: number };
  extra: { tag: string; bytes: Uint8Array } | undefined;
}

function freshState(segments: number, records: number): State {
  const n = (segments * SEGMENT) / 8;
  return {
    field: Float64Array.from({ length: n }, (_, i) => 100 + Math.sin(i / 300) * 40 + (i % 11) * 1e-3),
    ids: Int32Array.from({ length: 512 }, (_, i) => i * 7),
    records: Array.from({ length: records }, (_, i) => ({ id: i, name: `r${i}`, tags: i % 4 === 0 ? ['x', 'y'] : ['z'], score: i / 3 })),
    counter: { step: 0 },
    extra: undefined,
  };
}

function copyState(s: State): State {
  return {
    field: s.field.slice(),
    ids: s.ids.slice(),
    records: s.records.map((r) => ({ ...r, tags: [...r.tags] })),
    counter: { ...s.counter },
    extra: s.extra === undefined ? undefined : { tag: s.extra.tag, bytes: s.extra.bytes.slice() },
  };
}

type Change = 'none' | 'clustered' | 'scattered' | 'whole' | 'graph' | 'insert' | 'provider';
const CHANGES: readonly Change[] = ['none', 'clustered', 'clustered', 'scattered', 'whole', 'graph', 'insert', 'provider'];

/** Apply one change to `s`; 'provider' toggles the extra provider (the caller registers/unregisters it). */
function change(s: State, c: Change, d: Draw, k: number): void {
  const n = s.field.length;
  switch (c) {
    case 'none':
      return;
    case 'clustered': {
      const len = d.int(1, Math.max(1, Math.floor(n / 50)));
      const start = d.int(0, n - len);
      for (let i = start; i < start + len; i++) s.field[i]! += k;
      return;
    }
    case 'scattered': {
      const every = d.int(50, 400);
      for (let i = d.int(0, every - 1); i < n; i += every) s.field[i]! += 0.5 * k;
      return;
    }
    case 'whole':
      for (let i = 0; i < n; i++) s.field[i] = (s.field[i]! * 1.0001 + k) % 1000;
      s.ids[d.int(0, s.ids.length - 1)] = k;
      return;
    case 'graph':
      for (let i = d.int(0, 49); i < s.records.length; i += 50) {
        const r = s.records[i]!;
        r.score += k;
        if (d.chance(0.2)) r.tags.push(`t${k}`);
      }
      return;
    case 'insert':
      if (d.chance(0.5) && s.records.length > 10) s.records.splice(d.int(0, s.records.length - 1), 1);
      else s.records.splice(d.int(0, s.records.length), 0, { id: 10_000 + k, name: `new${k}`, tags: [], score: k });
      return;
    case 'provider':
      s.extra = s.extra === undefined ? { tag: `extra${k}`, bytes: Uint8Array.from({ length: d.int(10, 100_000) }, (_, i) => (i * k) & 255) } : undefined;
      return;
  }
}

/** A Checkpointer over the state in `box`; 'extra' is registered when `box.state.extra` is set (see `syncExtra`). */
function makeCheckpointer(dir: string, box: { state: State }, options: Partial<ConstructorParameters<typeof Checkpointer>[0]>): { ckpt: Checkpointer; syncExtra: () => void } {
  const ckpt = new Checkpointer({ store: new FsStore(dir), signals: false, segmentSize: SEGMENT, compression: { level: 1, threads: 0 }, ...options });
  ckpt.on('warning', (w) => {
    if (w.code === 'CKPT_WARN_RETENTION_PINNED') coverage.pinnedWarnings++;
  });
  ckpt.register<{ field: Float64Array; ids: Int32Array }>({
    id: 'field',
    snapshot: () => ({ field: box.state.field, ids: box.state.ids }),
    restore: (s) => {
      box.state.field = s.field;
      box.state.ids = s.ids;
    },
  });
  ckpt.register<Rec[]>({ id: 'records', snapshot: () => box.state.records, restore: (s) => void (box.state.records = s) });
  ckpt.register<{ step: number }>({ id: 'counter', snapshot: () => box.state.counter, restore: (s) => void (box.state.counter = s) });
  let unregister: (() => void) | undefined;
  const extraProvider = {
    id: 'extra',
    snapshot: () => box.state.extra!,
    restore: (s: { tag: string; bytes: Uint8Array }) => void (box.state.extra = s),
  };
  const syncExtra = (): void => {
    if (box.state.extra !== undefined && unregister === undefined) unregister = ckpt.register(extraProvider);
    else if (box.state.extra === undefined && unregister !== undefined) {
      unregister();
      unregister = undefined;
    }
  };
  return { ckpt, syncExtra };
}

/** Restore image `id` (or the newest valid one) of `dir` into an empty state, with every provider registered. */
async function restoreFrom(dir: string, id?: string, encryption?: EncryptionOptions): Promise<{ state: State; id: string; skipped: readonly { id: string; code: string }[] }> {
  const box = { state: freshState(0, 0) };
  const { ckpt } = makeCheckpointer(dir, box, { readOnly: true, missingProviders: 'allow', ...(encryption === undefined ? {} : { encryption }) });
  ckpt.register<{ tag: string; bytes: Uint8Array }>({ id: 'extra', snapshot: () => box.state.extra!, restore: (s) => void (box.state.extra = s) });
  try {
    const r = await ckpt.restore(id);
    if (r === undefined) throw new Error(`no image in ${dir}`);
    return { state: box.state, id: r.image.id, skipped: r.skipped };
  } finally {
    await ckpt.close();
  }
}

/** The index of image `id` (opened with the keys of `encryption`, if any). */
async function indexWith(store: FsStore, id: string, encryption: EncryptionOptions | undefined): Promise<ImageIndex> {
  if (encryption === undefined) return indexOf(store, id);
  const reader = await openStoreImage(store, id, { keys: keySource(encryption) });
  try {
    return reader.index;
  } finally {
    await reader.close();
  }
}

/** Index reader with a cache (images are immutable once listed). */
function indexCache(store: FsStore, encryption: EncryptionOptions | undefined): (id: string) => Promise<ImageIndex> {
  const cache = new Map<string, ImageIndex>();
  return async (id) => {
    let x = cache.get(id);
    if (x === undefined) {
      x = await indexWith(store, id, encryption);
      cache.set(id, x);
    }
    return x;
  };
}

/**
 * Whether reading image `id` needs the stored bytes of segment `seg` of
 * image `damaged`: through a by-reference row, or as the base of a XOR
 * delta at any depth (followed through the holders' own indexes).
 */
async function needs(idx: (id: string) => Promise<ImageIndex>, id: string, damaged: string, seg: number): Promise<boolean> {
  const seen = new Set<string>();
  const walk = async (imageId: string, s: number): Promise<boolean> => {
    const key = `${imageId}/${s}`;
    if (seen.has(key)) return false;
    seen.add(key);
    const index = await idx(imageId);
    const e = index.segments[s]!;
    if ((e.flags & SegmentFlag.BY_REFERENCE) !== 0) return walk(index.refs![e.ref!.image]!.imageId, e.ref!.segment);
    if (imageId === damaged && s === seg) return true;
    if (e.codec === SegmentCodec.XOR_ZSTD) return walk(index.refs![e.base!.image]!.imageId, e.base!.segment);
    return false;
  };
  const top = await idx(id);
  for (let s = 0; s < top.segments.length; s++) if (await walk(id, s)) return true;
  return false;
}

function retentionOf(d: Draw): RetentionOptions | undefined {
  switch (d.int(0, 3)) {
    case 0:
      return undefined;
    case 1:
      return { keepLast: d.int(1, 4) };
    case 2:
      return { keepEverySteps: d.int(2, 5) };
    default:
      return { keepLast: d.int(1, 3), keepEverySteps: d.int(3, 6) };
  }
}

const seeds = Array.from({ length: RUNS }, (_, i) => SEED + i);

describe('incremental images: random sequences, retention and one damaged segment', () => {
  it.each(seeds)('seed %i', async (seed) => {
    const d = new Draw(seed);
    const dir = await tempDir('ckpt-incr-prop-');
    const incremental = { fullEvery: d.int(1, 7), delta: d.pick(['segments', 'xor'] as const) };
    const retention = retentionOf(d);
    const persist = d.pick(['sync', 'async'] as const);
    // Every third seed encrypted (format 5), decided without a draw: the other draws stay what they were.
    const enc: EncryptionOptions | undefined = seed % 3 === 0 ? { keys: { k1: new Uint8Array(32).fill(seed & 0xff) }, current: 'k1' } : undefined;
    const setup = `seed ${seed}: ${JSON.stringify({ incremental, retention, persist, encrypted: enc !== undefined })}`;
    const box = { state: freshState(d.int(2, 5), d.int(50, 800)) };
    const { ckpt, syncExtra } = makeCheckpointer(dir, box, { incremental, persist, ...(retention === undefined ? {} : { retention }), ...(enc === undefined ? {} : { encryption: enc }) });
    const store = new FsStore(dir);
    const expected = new Map<number, State>();
    const infos: CheckpointInfo[] = [];
    const history: string[] = [];
    try {
      const steps = d.int(4, 11);
      for (let k = 1; k <= steps; k++) {
        const changes = Array.from({ length: d.int(1, 2) }, () => d.pick(CHANGES));
        for (const c of changes) change(box.state, c, d, k);
        syncExtra();
        box.state.counter.step = k;
        expected.set(k, copyState(box.state));
        const info = await ckpt.checkpoint({ step: k });
        infos.push(info);
        history.push(`${k}:${changes.join('+')}→${info.kind}[${info.references.join(',')}]`);
        // Nothing a listed image refers to was deleted.
        const listed = new Set((await store.list()).map((e) => e.id));
        expect(listed.has(info.id), `${setup} ${history.join(' ')}`).toBe(true);
        for (const id of listed) {
          for (const ref of (await indexWith(store, id, enc)).refs ?? []) {
            expect(listed.has(ref.imageId), `${setup}: image ${id} refers to ${ref.imageId}, which is no longer listed (${history.join(' ')})`).toBe(true);
          }
        }
      }
    } finally {
      await ckpt.close();
    }
    const ctx = `${setup} ${history.join(' ')}`;
    // A chain starts full; the image after it is written against it unless every image is full.
    expect(infos[0]!.kind, ctx).toBe('full');
    expect(infos[1]!.kind, ctx).toBe(incremental.fullEvery > 1 ? 'incremental' : 'full');

    // Every listed image restores to exactly the state of its step.
    const listing = (await store.list()).map((e) => e.id); // newest first
    const idx = indexCache(store, enc);
    const stepOf = new Map<string, number>();
    coverage.runs++;
    for (const id of listing) {
      const index = await idx(id);
      coverage.images++;
      if ((index.refs?.length ?? 0) > 0) coverage.incremental++;
      if ((index.refs?.length ?? 0) > 0 && index.segments.some((e) => (e.flags & SegmentFlag.ENCRYPTED) !== 0)) coverage.encryptedIncremental++;
      // Encrypted runs write every row encrypted; the others none.
      expect(index.segments.every((e) => ((e.flags & SegmentFlag.ENCRYPTED) !== 0) === (enc !== undefined)), `${ctx}: image ${id}`).toBe(true);
      for (const e of index.segments) {
        if ((e.flags & SegmentFlag.BY_REFERENCE) !== 0) coverage.referencedSegments++;
        else if (e.codec === SegmentCodec.XOR_ZSTD) coverage.xorSegments++;
      }
      const step = index.manifest.step!;
      stepOf.set(id, step);
      const got = await restoreFrom(dir, id, enc);
      expect(deepDiff(got.state, expected.get(step), false), `${ctx}: image ${id} (step ${step})`).toBeUndefined();
    }

    // Damage one byte of one stored segment of one image.
    const victim = d.pick(listing);
    const vIndex = await idx(victim);
    const stored = vIndex.segments.map((s, i) => ({ s, i })).filter(({ s }) => (s.flags & SegmentFlag.BY_REFERENCE) === 0 && s.storedLength > 0);
    expect(stored.length, ctx).toBeGreaterThan(0);
    const { s: seg, i: segNo } = d.pick(stored);
    const at = seg.offset + d.int(0, seg.storedLength - 1);
    const fh = await open(join(dir, `${victim}.ckpt`), 'r+');
    try {
      const b = Buffer.alloc(1);
      await fh.read(b, 0, 1, at);
      b[0] = b[0]! ^ d.int(1, 255);
      await fh.write(b, 0, 1, at);
    } finally {
      await fh.close();
    }
    const damaged = `${ctx}; damaged byte ${at} of segment ${segNo} of image ${victim}`;

    const affected = new Set<string>();
    for (const id of listing) if (await needs(idx, id, victim, segNo)) affected.add(id);
    expect(affected.has(victim), damaged).toBe(true);
    coverage.damagedOthers += affected.size - 1;
    for (const id of listing) {
      if (affected.has(id)) {
        const err = await restoreFrom(dir, id, enc).then(
          () => undefined,
          (e: unknown) => e,
        );
        expect(err, `${damaged}: image ${id} needs the damaged segment and must not restore`).toBeInstanceOf(CkptError);
        expect([ErrorCodes.CORRUPT, ErrorCodes.MISSING_REFERENCE], `${damaged}: image ${id}: ${String(err)}`).toContain((err as CkptError).code);
      } else {
        const got = await restoreFrom(dir, id, enc);
        expect(deepDiff(got.state, expected.get(stepOf.get(id)!), false), `${damaged}: image ${id} does not need it and must restore exactly`).toBeUndefined();
      }
    }

    // restore() falls back to the newest image whose whole reference set is intact and says what it skipped.
    const newestIntact = listing.find((id) => !affected.has(id));
    const skippedExpected = listing.slice(0, newestIntact === undefined ? listing.length : listing.indexOf(newestIntact));
    if (newestIntact === undefined) {
      const err = await restoreFrom(dir, undefined, enc).then(
        () => undefined,
        (e: unknown) => e,
      );
      expect((err as CkptError | undefined)?.code, damaged).toBe(ErrorCodes.NO_VALID_IMAGE);
      coverage.noValidImage++;
    } else {
      const got = await restoreFrom(dir, undefined, enc);
      expect(got.id, damaged).toBe(newestIntact);
      expect(got.skipped.map((s) => s.id), damaged).toEqual(skippedExpected);
      if (skippedExpected.length > 0) coverage.fellBack++;
      for (const s of got.skipped) expect([ErrorCodes.CORRUPT, ErrorCodes.MISSING_REFERENCE], damaged).toContain(s.code);
      expect(deepDiff(got.state, expected.get(stepOf.get(newestIntact)!), false), damaged).toBeUndefined();
    }
  }, 180_000);
});
