// Exhaustive corruption of whole images, shared by corruption.test.ts (CI)
// and scripts/corruption.ts (long run): every single-byte change, every
// truncation, and seeded random multi-byte garbage of a small and a medium
// image (several providers, zstd and raw segments, blobs). Each damaged image
// must be refused with CKPT_ERR_CORRUPT (or a more specific ckpt code) —
// never read as a value, never another exception — and a Checkpointer whose
// newest image is damaged must fall back to the previous one and say so.
import { ClassRegistry } from '../../src/codec/class-registry.js';
import { encodeState } from '../../src/codec/encode.js';
import { Checkpointer, CkptError, ErrorCodes, isCkptError } from '../../src/index.js';
import type { AcquireOptions, ImageSink, ImageSource, Store, StoreEntry, WriterLock } from '../../src/index.js';
import { ImageReader } from '../../src/image/reader.js';
import type { CapturedProvider } from '../../src/image/writer.js';
import { imageBytes } from '../helpers/image-bytes.js';
import { allocations, ALLOWED_CODES } from './fuzz-lib.js';
import { prng } from './crash-harness.js';

/** An image of the corruption suite and what its providers hold. */
export interface TestImage {
  readonly name: string;
  readonly bytes: Buffer;
  readonly providers: readonly { readonly id: string; readonly version: number }[];
  /** For each byte: index of the provider whose segments hold it, or -1 (header, index, trailer). */
  readonly owner: Int16Array;
}

/** An image of `providers` in memory (level 3, a fixed manifest with meta). */
function write(providers: CapturedProvider[], settings: { segmentSize: number; blobThreshold: number }): Promise<Buffer> {
  return imageBytes(providers, settings, { imageId: '000000000001', app: 'corruption', createdAt: '2026-01-01T00:00:00.000Z', step: 1, label: null, library: 'ckpt test', node: 'v0.0.0', platform: 'test', hostname: 'h', meta: { k: 'v' } });
}

function capture(id: string, state: unknown, blobThreshold: number, version = 1, tree = false): CapturedProvider {
  return { id, version, tree, encoded: encodeState(state, { tree, classes: new ClassRegistry(), blobThreshold, maxDepth: 2000 }) };
}

async function ownerMap(bytes: Buffer): Promise<Int16Array> {
  const owner = new Int16Array(bytes.length).fill(-1);
  const reader = await ImageReader.open(memorySource(bytes));
  reader.index.providers.forEach((p, pi) => {
    for (const run of [p.stream, ...p.blobs]) {
      for (let s = run.first; s < run.first + run.count; s++) {
        const seg = reader.index.segments[s]!;
        owner.fill(pi, seg.offset, seg.offset + seg.storedLength);
      }
    }
  });
  return owner;
}

/**
 * The small image (two providers, one segment each) and the medium one
 * (`scale` 1: ~30 KB in 2 KiB segments — three providers: a compressible
 * Float64Array blob, records in zstd stream segments, incompressible bytes in
 * raw segments).
 */
export async function testImages(scale = 1, variant = 0): Promise<TestImage[]> {
  const out: TestImage[] = [];
  const small = await write(
    [
      capture('a', { n: 1 + variant, list: [1, 'two', null], m: new Map([[1, 'x']]), when: new Date(0) }, 64 * 1024),
      capture('b', { t: new Int32Array([1, -2, 3]), big: 12345678901234567890n, s: new Set(['k']) }, 64 * 1024, 2),
    ],
    { segmentSize: 64 * 1024, blobThreshold: 64 * 1024 },
  );
  out.push({ name: 'small', bytes: small, providers: [{ id: 'a', version: 1 }, { id: 'b', version: 2 }], owner: await ownerMap(small) });
  const r = prng(11 + variant);
  const grid = new Float64Array(2000 * scale).map((_, i) => Math.round(Math.sin(i / 40) * 1000) / 8 + variant + (i % 7 === 0 ? r() : 0));
  const records = Array.from({ length: 400 * scale }, (_, i) => ({ id: i, name: `rec-${i % 37}`, tags: ['a', 'b'], v: Math.round(r() * 1e6) + variant }));
  const noise = new Uint8Array(12_000 * scale).map(() => Math.floor(r() * 256));
  const medium = await write(
    [capture('grid', { grid }, 1024), capture('records', records, 1024, 3, true), capture('noise', { noise }, 1024)],
    { segmentSize: 2048 * scale, blobThreshold: 1024 },
  );
  out.push({ name: 'medium', bytes: medium, providers: [{ id: 'grid', version: 1 }, { id: 'records', version: 3 }, { id: 'noise', version: 1 }], owner: await ownerMap(medium) });
  return out;
}

export function memorySource(bytes: Uint8Array, id = 'img'): ImageSource {
  return {
    id,
    size: bytes.length,
    read(offset, length) {
      if (offset < 0 || length < 0 || offset + length > bytes.length) {
        return Promise.reject(new CkptError(ErrorCodes.CORRUPT, `read of ${length} bytes at ${offset} is outside the image (${bytes.length} bytes)`));
      }
      return Promise.resolve(bytes.slice(offset, offset + length));
    },
    close: () => Promise.resolve(),
  };
}

/**
 * Read a damaged image. A byte inside provider k's segments can only change
 * what reading provider k gives (the header, index and trailer are read by
 * open() for every provider), so only that provider is read: the result is
 * the same as a full read, at a fraction of the cost.
 */
export async function outcomeOf(bytes: Uint8Array, owner?: number): Promise<string> {
  try {
    const reader = await ImageReader.open(memorySource(bytes));
    const ps = reader.index.providers;
    for (let i = 0; i < ps.length; i++) if (owner === undefined || owner < 0 || owner === i) await reader.readProvider(ps[i]!.id);
    return 'ok';
  } catch (err) {
    if (!isCkptError(err)) return `non-ckpt exception: ${err instanceof Error ? `${err.name}: ${err.message}` : String(err)}`;
    return err.code;
  }
}

/** One damaged copy of an image. */
export interface Mutation {
  readonly kind: 'byte' | 'truncate' | 'garbage';
  readonly desc: string;
  readonly bytes: Buffer;
  /** The provider whose segments were damaged (single-byte changes), or undefined (read everything). */
  readonly owner?: number;
}

/**
 * Every mutation of `img`: each byte replaced by each value in `values(original)`,
 * every truncation, and `garbage` seeded multi-byte damages.
 */
export function* mutations(img: TestImage, values: (b: number, at: number) => readonly number[], garbage: number, seed = 1): Generator<Mutation> {
  const src = img.bytes;
  const work = Buffer.from(src);
  for (let at = 0; at < src.length; at++) {
    const orig = src[at]!;
    for (const v of values(orig, at)) {
      if (v === orig) continue;
      work[at] = v;
      yield { kind: 'byte', desc: `byte ${at}: ${orig} → ${v}`, bytes: work, owner: img.owner[at]! };
    }
    work[at] = orig;
  }
  for (let len = 0; len < src.length; len++) yield { kind: 'truncate', desc: `truncated to ${len}`, bytes: src.subarray(0, len) };
  const r = prng(seed);
  const rnd = (n: number): number => Math.floor(r() * n);
  for (let g = 0; g < garbage; g++) {
    const b = Buffer.from(src);
    const how = rnd(5);
    let desc: string;
    if (how === 0) {
      const at = rnd(b.length);
      const len = 2 + rnd(64);
      for (let i = at; i < Math.min(b.length, at + len); i++) b[i] = rnd(256);
      desc = `${len} random bytes at ${at}`;
    } else if (how === 1) {
      const k = 2 + rnd(8);
      for (let i = 0; i < k; i++) b[rnd(b.length)] = rnd(256);
      desc = `${k} random bytes scattered`;
    } else if (how === 2) {
      const at = rnd(b.length);
      b.fill(rnd(2) === 0 ? 0 : 0xff, at, Math.min(b.length, at + 2 + rnd(512)));
      desc = `zeroed/filled block at ${at}`;
    } else if (how === 3) {
      const at = rnd(b.length);
      const len = 1 + rnd(32);
      const bytes = Buffer.concat([b.subarray(0, at), Buffer.alloc(len, rnd(256)), b.subarray(at)]);
      yield { kind: 'garbage', desc: `${len} bytes inserted at ${at}`, bytes };
      continue;
    } else {
      const len = 1 + rnd(64);
      const junk = Buffer.alloc(len).map(() => rnd(256));
      const bytes = rnd(2) === 0 ? Buffer.concat([b, junk]) : Buffer.concat([junk, b]);
      yield { kind: 'garbage', desc: `${len} bytes ${bytes[0] === b[0] ? 'appended' : 'prepended'}`, bytes };
      continue;
    }
    if (b.equals(src)) continue;
    yield { kind: 'garbage', desc, bytes: b };
  }
}

/** What a suite of mutations found. */
export interface CorruptionStats {
  images: number;
  mutations: number;
  /** Most bytes allocated while reading one damaged image (seen by the allocation guard, when installed). */
  maxImageAllocation: number;
  byCode: Record<string, number>;
  restores: number;
  fallbacks: number;
  failures: string[];
}

export function newStats(): CorruptionStats {
  return { images: 0, mutations: 0, maxImageAllocation: 0, byCode: {}, restores: 0, fallbacks: 0, failures: [] };
}

const budgets = new WeakMap<TestImage, number>();

/**
 * Most bytes reading a damaged copy of `img` may allocate in all: what
 * reading the intact image needs at most — each provider's runs and a copy of
 * each (inline binary values), stored-segment scratch, the index — plus
 * 16 KiB. A damaged copy that makes the reader allocate more was trusted for
 * a size before it was checked.
 */
async function budgetOf(img: TestImage): Promise<number> {
  let b = budgets.get(img);
  if (b === undefined) {
    const reader = await ImageReader.open(memorySource(img.bytes));
    const raw = reader.providers.reduce((n, p) => n + p.rawBytes, 0);
    const stored = reader.index.segments.reduce((n, s) => Math.max(n, s.storedLength), 0);
    b = 2 * raw + 2 * stored + img.bytes.length + 16 * 1024;
    budgets.set(img, b);
  }
  return b;
}

/**
 * Check one mutation at the reader: a ckpt code (CORRUPT for a single-byte
 * change or a truncation), never a value, and — with the allocation guard of
 * fuzz-lib installed — no buffer above the guard's bound and no more bytes in
 * all than the intact image needs ({@link budgetOf}).
 */
export async function checkMutation(img: TestImage, m: Mutation, stats: CorruptionStats): Promise<void> {
  const budget = await budgetOf(img);
  const overBefore = allocations.over;
  allocations.total = 0;
  const code = await outcomeOf(m.bytes, m.owner);
  if (allocations.total > stats.maxImageAllocation) stats.maxImageAllocation = allocations.total;
  if (allocations.over > overBefore) stats.failures.push(`${img.name}, ${m.desc}: allocation of ${allocations.lastOver} bytes above the guard's bound`);
  if (allocations.total > budget) stats.failures.push(`${img.name}, ${m.desc}: ${allocations.total} bytes allocated in all, above the ${budget} reading the intact image needs`);
  stats.mutations++;
  stats.byCode[code] = (stats.byCode[code] ?? 0) + 1;
  const strict = m.kind !== 'garbage';
  if (code === 'ok') stats.failures.push(`${img.name}, ${m.desc}: read without an error (a wrong value)`);
  else if (strict ? code !== ErrorCodes.CORRUPT : !ALLOWED_CODES.has(code)) stats.failures.push(`${img.name}, ${m.desc}: ${code}`);
}

// ------------------------------------------------------------ restore fallback

/** A read-only store of two images: a good older one and a (damaged) newest one. */
export class TwoImageStore implements Store {
  readonly description = 'two-images';
  newest: Uint8Array;

  constructor(
    readonly older: Uint8Array,
    newest: Uint8Array,
  ) {
    this.newest = newest;
  }

  list(): Promise<StoreEntry[]> {
    return Promise.resolve([
      { id: '000000000002', size: this.newest.length },
      { id: '000000000001', size: this.older.length },
    ]);
  }

  open(id: string): Promise<ImageSource> {
    if (id === '000000000002') return Promise.resolve(memorySource(this.newest, id));
    if (id === '000000000001') return Promise.resolve(memorySource(this.older, id));
    return Promise.reject(new CkptError(ErrorCodes.NOT_FOUND, `no image ${id}`));
  }

  acquireWriter(_options?: AcquireOptions): Promise<WriterLock> {
    return Promise.reject(new Error('read-only'));
  }
  create(): Promise<ImageSink> {
    return Promise.reject(new Error('read-only'));
  }
  delete(): Promise<void> {
    return Promise.reject(new Error('read-only'));
  }
  cleanup(): Promise<string[]> {
    return Promise.resolve([]);
  }
}

/** A Checkpointer over a {@link TwoImageStore} with `img`'s providers registered. */
export function fallbackReader(img: TestImage, older: Uint8Array): { ckpt: Checkpointer; store: TwoImageStore; restored: Map<string, unknown>; warnings: string[] } {
  const store = new TwoImageStore(older, img.bytes);
  const ckpt = new Checkpointer({ store, signals: false, readOnly: true });
  const restored = new Map<string, unknown>();
  const warnings: string[] = [];
  for (const p of img.providers) {
    const migrations: Record<number, (s: unknown) => unknown> = {};
    for (let v = 2; v <= p.version; v++) migrations[v] = (s) => s;
    ckpt.register({ id: p.id, version: p.version, migrations, tree: p.id === 'records', snapshot: () => null, restore: (s) => void restored.set(p.id, s) });
  }
  ckpt.on('warning', (w) => void warnings.push(w.code));
  return { ckpt, store, restored, warnings };
}

/**
 * restore() with the damaged newest image: it must restore the older image,
 * report `fellBack` with the damaged id in `skipped` and emit one
 * CKPT_WARN_IMAGE_SKIPPED warning.
 */
export async function checkFallback(r: ReturnType<typeof fallbackReader>, img: TestImage, m: Mutation, expectOlder: (restored: Map<string, unknown>) => string | undefined, stats: CorruptionStats): Promise<void> {
  r.store.newest = m.bytes;
  r.restored.clear();
  r.warnings.length = 0;
  stats.restores++;
  const where = `${img.name}, ${m.desc}: restore()`;
  try {
    const res = await r.ckpt.restore();
    if (res === undefined) return void stats.failures.push(`${where} found no image`);
    if (res.image.id !== '000000000001' || !res.fellBack) return void stats.failures.push(`${where} restored ${res.image.id} (fellBack ${String(res.fellBack)})`);
    if (res.skipped.length !== 1 || res.skipped[0]!.id !== '000000000002') return void stats.failures.push(`${where}: skipped ${JSON.stringify(res.skipped)}`);
    if (r.warnings.join() !== 'CKPT_WARN_IMAGE_SKIPPED') return void stats.failures.push(`${where}: warnings ${r.warnings.join()}`);
    const diff = expectOlder(r.restored);
    if (diff !== undefined) return void stats.failures.push(`${where}: restored state differs from the older image: ${diff}`);
    stats.fallbacks++;
  } catch (err) {
    stats.failures.push(`${where} threw ${isCkptError(err) ? err.code : 'non-ckpt'}: ${String(err)}`);
  }
}
