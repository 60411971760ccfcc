// Reader fuzzing, shared by the CI test (fuzz.test.ts) and the long run
// (scripts/fuzz.ts): a corpus of small valid images, mutators that damage
// them (raw byte damage that checksums must catch, and checksum-fixing
// structural damage that reaches the index validator, the zstd bounds and the
// value decoder), and an oracle that reads every input with the ImageReader.
//
// The oracle's rules, for every input:
// - the read ends with values or a CkptError of an allowed code — never
//   another exception;
// - raw damage (checksums not fixed) never yields values, unless the bytes
//   are those of a corpus image;
// - no allocation of an ArrayBuffer/Uint8Array larger than the reader's
//   limits (forged segment, run and zstd frame sizes are refused first);
// - Object.prototype and the other built-in prototypes are unchanged, and no
//   decoded object has a prototype taken from the data;
// - no input takes longer than a time bound (a hang is caught by the
//   watchdog of scripts/fuzz.ts, which runs inputs in worker threads);
// - verify() never throws and agrees with a full read.
//
// Every input is a pure function of (seed, index), so `--replay seed:index`
// rebuilds it exactly.
import { crc32 } from 'node:zlib';
import { ClassRegistry } from '../../src/codec/class-registry.js';
import { encodeState } from '../../src/codec/encode.js';
import { Ext } from '../../src/codec/types.js';
import { CkptError, ErrorCodes, isCkptError } from '../../src/errors.js';
import { SegmentCodec } from '../../src/image/constants.js';
import { indexPackr } from '../../src/image/index-common.js';
import { ImageReader, type ReadLimits, type ReadOptions } from '../../src/image/reader.js';
import { attachHolderSource } from '../../src/image/open-store.js';
import { keySource, type KeySource } from '../../src/crypto/keys.js';
import { readdir, readFile } from 'node:fs/promises';
import { join } from 'node:path';
import type { CapturedProvider } from '../../src/image/writer.js';
import { imageBytes } from '../helpers/image-bytes.js';
import { SegmentCompressor, SegmentDecompressor } from '../../src/image/zstd.js';
import type { ImageSource } from '../../src/store/store.js';
import { prng } from './crash-harness.js';

/** Limits the fuzzed reader runs with: small, so any forged size is far above them. */
export const FUZZ_LIMITS = {
  maxSegmentBytes: 1 << 20,
  maxIndexBytes: 1 << 20,
  maxSegments: 4096,
  maxStateBytes: 4 << 20,
  maxImageBytes: 8 << 20,
  maxDepth: 500,
} as const satisfies Omit<Required<ReadLimits>, 'maxBigIntBytes'>;

/** Largest single buffer the reader may allocate under {@link FUZZ_LIMITS}. */
export const MAX_ALLOCATION = FUZZ_LIMITS.maxStateBytes + 1024;

/**
 * Most bytes the reader may allocate in all while reading one image: every
 * provider's runs (bounded by maxImageBytes), a copy of each for inline
 * binary values at most, plus stored-segment scratch and the index.
 */
export const MAX_IMAGE_ALLOCATION = 2 * FUZZ_LIMITS.maxImageBytes + 2 * FUZZ_LIMITS.maxSegmentBytes + FUZZ_LIMITS.maxIndexBytes;

/** Codes a damaged or hostile image may produce. */
export const ALLOWED_CODES: ReadonlySet<string> = new Set([
  'CKPT_ERR_CORRUPT',
  'CKPT_ERR_LIMIT',
  'CKPT_ERR_FORMAT_NEWER',
  'CKPT_ERR_UNSUPPORTED_FEATURE',
  'CKPT_ERR_UNKNOWN_CLASS',
]);

// ----------------------------------------------------------------- corpus

/** One stored segment of an image model. */
export interface Seg {
  readonly stored: Buffer;
  readonly codec: number;
  readonly raw: number;
  readonly flags: number;
  /** Decompressed bytes (corpus segments only). */
  readonly plain?: Buffer;
}

export interface ProvModel {
  fields: Record<string, unknown>;
  stream: Seg[];
  blobs: { kind: number; segs: Seg[] }[];
}

/** An image taken apart: enough to rebuild it with consistent offsets, lengths and checksums. */
export interface Model {
  readonly version: number;
  readonly header: Buffer;
  /** The index's top-level map minus segments and providers (key order kept). */
  readonly top: Record<string, unknown>;
  readonly providers: ProvModel[];
}

/** A valid image of the corpus. */
export interface CorpusImage {
  readonly name: string;
  readonly bytes: Buffer;
  /** The image taken apart; undefined for an encrypted image (its index is sealed): raw damage only. */
  readonly model: Model | undefined;
}

/** A corpus image that can be taken apart (plaintext). */
type ModelledImage = CorpusImage & { readonly model: Model };

function modelled(c: CorpusImage): c is ModelledImage {
  return c.model !== undefined;
}

/**
 * The encrypted images of the corpus: the golden format-5 chain (a full
 * image, references, XOR deltas, references to deltas) under the golden
 * test key. A damaged one is read with its intact holders reachable, so
 * the damage — not a missing holder — decides.
 */
// From the repository root (the long run bundles this module elsewhere, so not relative to it).
const GOLDEN_CHAIN = join(process.cwd(), 'test/fixtures/images/v5/chain');
const GOLDEN_KEY = join(process.cwd(), 'test/fixtures/images/v4/golden-k1.bin');
const sealedHolders = new Map<string, Buffer>();
let fuzzKeys: KeySource | undefined;

async function sealedCorpus(): Promise<CorpusImage[]> {
  const key = await readFile(GOLDEN_KEY);
  // allowPlaintext: the plaintext corpus images read as before.
  fuzzKeys = keySource({ keys: { k1: key }, current: 'k1', allowPlaintext: true });
  const out: CorpusImage[] = [];
  for (const f of (await readdir(GOLDEN_CHAIN)).filter((x) => x.endsWith('.ckpt')).sort()) {
    const bytes = await readFile(join(GOLDEN_CHAIN, f));
    sealedHolders.set(f.slice(0, -'.ckpt'.length), bytes);
    out.push({ name: `encrypted chain ${f}`, bytes, model: undefined });
  }
  return out;
}

class Particle {
  x = 1;
  y = 2;
}

function pollutingObject(): Record<string, unknown> {
  // Own properties named like prototype machinery (JSON.parse makes "__proto__" an own key).
  const o = JSON.parse('{"__proto__":{"polluted":1},"constructor":{"prototype":{"polluted":2}},"prototype":{"polluted":3},"toString":"x"}') as Record<string, unknown>;
  const np = Object.create(null) as Record<string, unknown>;
  Object.defineProperty(np, '__proto__', { value: { polluted: 4 }, enumerable: true, writable: true, configurable: true });
  o['nullProto'] = np;
  o['map'] = new Map<unknown, unknown>([['__proto__', { polluted: 5 }], [{ k: 1 }, 'objkey']]);
  return o;
}

function corpusStates(): { name: string; providers: { id: string; state: unknown; tree?: boolean; version?: number }[]; settings?: { segmentSize?: number; blobThreshold?: number; level?: number; formatVersion?: number } }[] {
  const shared = { s: 'shared' };
  const cyc: Record<string, unknown> = { name: 'cycle' };
  cyc['self'] = cyc;
  const sparse = [1, , 3]; // eslint-disable-line no-sparse-arrays
  const grid = new Float64Array(3000).map((_, i) => Math.sin(i / 30));
  const text = Array.from({ length: 200 }, (_, i) => `record-${i % 17}`).join(' ');
  const p = new Particle();
  return [
    {
      name: 'values',
      providers: [
        {
          id: 'values',
          state: { n: 1, neg: -5, f: 1.5, nz: -0, nan: NaN, inf: -Infinity, big: -12345678901234567890123n, s: 'hi', u: undefined, nil: null, t: true, d: new Date(0), re: /a+b/gi, sparse, uni: 'é€😀\ud800', m: new Map<unknown, unknown>([[1, 'x']]), set: new Set([1, 'a']) },
        },
      ],
    },
    {
      name: 'typed',
      providers: [
        {
          id: 'typed',
          state: {
            i8: new Int8Array([1, -1]), u8: new Uint8Array([1, 2]), c8: new Uint8ClampedArray([3]), i16: new Int16Array([-2]), u16: new Uint16Array([9]), i32: new Int32Array([-7]),
            u32: new Uint32Array([7]), f32: new Float32Array([0.5]), f64: new Float64Array([2.5]), b64: new BigInt64Array([-1n]), bu64: new BigUint64Array([1n]),
            ab: new ArrayBuffer(4), dv: new DataView(new ArrayBuffer(3)), buf: Buffer.from('buf'),
          },
        },
      ],
    },
    { name: 'identity', providers: [{ id: 'graph', state: { a: shared, b: shared, cyc, list: [shared, cyc] } }] },
    { name: 'tree', providers: [{ id: 'tree', tree: true, state: { rows: [[1, 2], [3, 4]], m: new Map([['k', { v: 1 }]]) } }] },
    { name: 'pollution', providers: [{ id: 'bait', state: pollutingObject() }] },
    { name: 'class', providers: [{ id: 'cls', state: { p, list: [p, new Particle()] } }] },
    {
      name: 'blobs',
      providers: [
        { id: 'grid', state: { grid, ints: new Int32Array(600).map((_, i) => i * 3) } },
        { id: 'text', state: { text }, version: 3 },
      ],
      settings: { segmentSize: 4096, blobThreshold: 1024 },
    },
    { name: 'multi', providers: [{ id: 'a', state: 1 }, { id: 'b', state: 'two', version: 2 }, { id: 'c/d:e', state: [null, undefined] }] },
    { name: 'v1', providers: [{ id: 'old', state: { n: 1, t: new Float64Array([1.5, -0]) } }], settings: { formatVersion: 1 } },
    {
      name: 'v1-blobs',
      providers: [{ id: 'grid', state: { grid: grid.subarray(0, 1000) } }],
      settings: { formatVersion: 1, segmentSize: 2048, blobThreshold: 512 },
    },
  ];
}

/** An image of `providers` in memory (64 KiB segments unless told; a fixed manifest, with format-2 fields when written as format 2). */
function writeToBuffer(providers: CapturedProvider[], settings: { segmentSize?: number; blobThreshold?: number; level?: number; formatVersion?: number }): Promise<Buffer> {
  return imageBytes(providers, { ...settings, segmentSize: settings.segmentSize ?? 64 * 1024 }, {
    imageId: '000000000001', app: 'fuzz', createdAt: '2026-01-01T00:00:00.000Z', step: 7, label: null, library: 'ckpt fuzz', node: 'v0.0.0', platform: 'test',
    ...(settings.formatVersion === 1 ? {} : { hostname: 'fuzz-host', meta: { run: 'a', n: 1 } }),
  });
}

const decompressor = new SegmentDecompressor();

/** Take a valid image apart (it must be valid: used for the corpus only). */
export function parseModel(bytes: Buffer): Model {
  const header = Buffer.from(bytes.subarray(0, 32));
  const version = header.readUInt16LE(8);
  const t = bytes.subarray(bytes.length - 40);
  const indexOffset = Number(t.readBigUInt64LE(0));
  const indexLength = Number(t.readBigUInt64LE(8));
  const wire = indexPackr.unpack(bytes.subarray(indexOffset, indexOffset + indexLength)) as Record<string, unknown>;
  const segWire = wire['segments'] as number[][];
  const segs: Seg[] = segWire.map((w) => {
    const stored = Buffer.from(bytes.subarray(w[0], w[0]! + w[1]!));
    let plain = stored;
    if (w[4] === SegmentCodec.ZSTD) {
      plain = Buffer.alloc(w[2]!);
      decompressor.decompressInto(stored, plain, 'corpus');
    }
    return { stored, codec: w[4]!, raw: w[2]!, flags: w[5] ?? 0, plain };
  });
  const run = (r: number[], off = 0): Seg[] => segs.slice(r[off], r[off]! + r[off + 1]!);
  const providers = (wire['providers'] as Record<string, unknown>[]).map((p): ProvModel => {
    const fields: Record<string, unknown> = {};
    for (const [k, v] of Object.entries(p)) if (k !== 'stream' && k !== 'blobs') fields[k] = v;
    return {
      fields,
      stream: run(p['stream'] as number[]),
      blobs: (p['blobs'] as number[][]).map((b) => ({ kind: b[0]!, segs: run(b, 1) })),
    };
  });
  const top: Record<string, unknown> = {};
  for (const [k, v] of Object.entries(wire)) top[k] = k === 'segments' || k === 'providers' ? null : v;
  return { version, header, top, providers };
}

/** Build the corpus: varied states, modes, segment layouts and both format versions. */
export async function buildCorpus(extra: readonly { name: string; bytes: Buffer }[] = []): Promise<CorpusImage[]> {
  const classes = new ClassRegistry();
  classes.register(Particle, 'Particle');
  const out: CorpusImage[] = [];
  for (const c of corpusStates()) {
    const settings = c.settings ?? {};
    const captured: CapturedProvider[] = c.providers.map((p) => ({
      id: p.id,
      version: p.version ?? 1,
      tree: p.tree ?? false,
      encoded: encodeState(p.state, { tree: p.tree ?? false, classes, blobThreshold: settings.blobThreshold ?? 64 * 1024, maxDepth: 2000 }),
    }));
    const bytes = await writeToBuffer(captured, settings);
    out.push({ name: c.name, bytes, model: parseModel(bytes) });
  }
  for (const e of extra) out.push({ name: e.name, bytes: e.bytes, model: parseModel(e.bytes) });
  out.push(...(await sealedCorpus()));
  return out;
}

// --------------------------------------------------------------- assembly

function fixHeaderCrc(h: Buffer): void {
  h.writeUInt32LE(crc32(h.subarray(0, 28)), 28);
}

export type WireHook = (wire: Record<string, unknown>) => void;

/** Lay out a model as image bytes: offsets, lengths, run totals and every checksum consistent. */
function assemble(m: Model, hook?: WireHook, rawIndex?: Buffer): Buffer {
  const segWire: unknown[] = [];
  const chunks: Buffer[] = [];
  let offset = 32;
  const fields = m.version === 1 ? 5 : 6;
  const layRun = (segs: readonly Seg[]): number[] => {
    const first = segWire.length;
    let raw = 0;
    for (const s of segs) {
      const e = [offset, s.stored.length, s.raw, crc32(s.stored), s.codec];
      if (fields === 6) e.push(s.flags);
      segWire.push(e);
      chunks.push(s.stored);
      offset += s.stored.length;
      raw += s.raw;
    }
    return [first, segs.length, raw];
  };
  const provWire = m.providers.map((p) => ({ ...p.fields, stream: layRun(p.stream), blobs: p.blobs.map((b) => [b.kind, ...layRun(b.segs)]) }));
  // A hook may change nested maps (manifest, codec): give it its own copy, so
  // the corpus stays intact and every input depends on (seed, index) only.
  const top = hook === undefined ? m.top : structuredClone<Record<string, unknown>>(m.top);
  const wire: Record<string, unknown> = { ...top, segments: segWire, providers: provWire };
  hook?.(wire);
  const index = rawIndex ?? Buffer.from(indexPackr.pack(wire));
  const header = Buffer.from(m.header);
  fixHeaderCrc(header);
  const trailer = Buffer.alloc(40);
  trailer.writeBigUInt64LE(BigInt(offset), 0);
  trailer.writeBigUInt64LE(BigInt(index.length), 8);
  trailer.writeUInt32LE(crc32(index), 16);
  trailer.writeUInt32LE(crc32(trailer.subarray(0, 28)), 28);
  Buffer.from('CKPTEND\x1a', 'latin1').copy(trailer, 32);
  return Buffer.concat([header, ...chunks, index, trailer]);
}

// ----------------------------------------------------------------- inputs

type Rand = () => number;

/** One fuzz input. */
export interface FuzzInput {
  readonly bytes: Buffer;
  /** Short description of the mutation, for reports. */
  readonly desc: string;
  /** Checksums were fixed after the mutation: the image may legitimately be valid. */
  readonly fixed: boolean;
}

const int = (r: Rand, n: number): number => Math.floor(r() * n);
const pick = <T>(r: Rand, xs: readonly T[]): T => xs[int(r, xs.length)]!;

function randomBytes(r: Rand, n: number): Buffer {
  const b = Buffer.allocUnsafe(n);
  for (let i = 0; i < n; i++) b[i] = int(r, 256);
  return b;
}

/** Damage a buffer in one of several ways (returns a new buffer). */
function damage(r: Rand, src: Buffer): { bytes: Buffer; how: string } {
  const b = Buffer.from(src);
  const n = b.length;
  switch (int(r, 8)) {
    case 0: {
      const k = 1 + int(r, 4);
      for (let i = 0; i < k && n > 0; i++) b[int(r, n)]! ^= 1 << int(r, 8);
      return { bytes: b, how: `flip ${k} bits` };
    }
    case 1: {
      const k = 1 + int(r, 8);
      for (let i = 0; i < k && n > 0; i++) b[int(r, n)] = pick(r, [0, 0xff, 0x7f, 0x80, int(r, 256)]);
      return { bytes: b, how: `set ${k} bytes` };
    }
    case 2: {
      const at = int(r, n + 1);
      const len = 1 + int(r, 64);
      randomBytes(r, len).copy(b, at);
      return { bytes: b, how: `garbage ${len} @${at}` };
    }
    case 3: {
      const len = int(r, n);
      return { bytes: b.subarray(0, len), how: `truncate to ${len}` };
    }
    case 4: {
      const at = int(r, n + 1);
      return { bytes: Buffer.concat([b.subarray(0, at), randomBytes(r, 1 + int(r, 16)), b.subarray(at)]), how: `insert @${at}` };
    }
    case 5: {
      const at = int(r, n + 1);
      const len = 1 + int(r, 16);
      return { bytes: Buffer.concat([b.subarray(0, at), b.subarray(at + len)]), how: `delete ${len} @${at}` };
    }
    case 6: {
      const from = int(r, n + 1);
      const len = int(r, 32);
      const to = int(r, n + 1);
      return { bytes: Buffer.concat([b.subarray(0, to), b.subarray(from, from + len), b.subarray(to)]), how: `duplicate ${len} @${from}→${to}` };
    }
    default: {
      const at = int(r, n + 1);
      b.fill(pick(r, [0, 0xff]), at, Math.min(n, at + 1 + int(r, 16)));
      return { bytes: b, how: `fill @${at}` };
    }
  }
}

const KEYS = ['a', 'id', '__proto__', 'constructor', 'prototype', 'polluted', 'toString', 'hasOwnProperty', 'valueOf', 'length', '0', ''];
const INTERESTING = [0, 1, -1, 2, 31, 32, 255, 256, 65535, 65536, 2 ** 31 - 1, 2 ** 31, 2 ** 32 - 1, 2 ** 32, 2 ** 53 - 1, 2 ** 53, 1e300, -1e300, 0.5, -0, NaN, Infinity, FUZZ_LIMITS.maxSegmentBytes, FUZZ_LIMITS.maxSegmentBytes + 1, FUZZ_LIMITS.maxStateBytes, 2 ** 40];

function u32be(n: number): Buffer {
  const b = Buffer.alloc(4);
  b.writeUInt32BE(n >>> 0);
  return b;
}

/** A random msgpack value in (or near) the ckpt value encoding, with forged lengths now and then. */
function genValue(r: Rand, depth: number, budget: { n: number }): Buffer {
  budget.n--;
  const forge = r() < 0.05;
  const count = (real: number): number => (forge ? pick(r, [real + 1, real + 1000, 2 ** 31, 2 ** 32 - 1]) : real);
  const leaf = depth > 6 || budget.n <= 0;
  const choice = leaf ? int(r, 8) : int(r, 17);
  switch (choice) {
    case 0:
      return Buffer.from([int(r, 0x80)]);
    case 1:
      return Buffer.from([0xe0 + int(r, 32)]);
    case 2:
      return Buffer.from([pick(r, [0xc0, 0xc2, 0xc3, 0xc1, 0xc4])]);
    case 3: {
      const b = Buffer.alloc(9);
      b[0] = 0xcb;
      b.writeDoubleBE(pick(r, INTERESTING), 1);
      return b;
    }
    case 4: {
      const t = pick(r, [0xcc, 0xcd, 0xce, 0xcf, 0xd0, 0xd1, 0xd2, 0xd3, 0xca]);
      const len = { 0xcc: 1, 0xcd: 2, 0xce: 4, 0xcf: 8, 0xd0: 1, 0xd1: 2, 0xd2: 4, 0xd3: 8, 0xca: 4 }[t]!;
      return Buffer.concat([Buffer.from([t]), randomBytes(r, len)]);
    }
    case 5: {
      const s = r() < 0.7 ? Buffer.from(pick(r, KEYS)) : randomBytes(r, int(r, 40));
      if (s.length < 32 && !forge) return Buffer.concat([Buffer.from([0xa0 | s.length]), s]);
      return Buffer.concat([Buffer.from([0xdb]), u32be(count(s.length)), s]);
    }
    case 6: {
      // fixext with a small ckpt type
      const sizes = [[0xd4, 1], [0xd5, 2], [0xd6, 4], [0xd7, 8], [0xd8, 16]] as const;
      const [t, len] = pick(r, sizes);
      const type = pick(r, [Ext.UNDEFINED, Ext.HOLE, Ext.REF, Ext.DATE, Ext.WTF16, Ext.BLOB, int(r, 256)]);
      const payload = r() < 0.5 ? Buffer.alloc(len) : randomBytes(r, len);
      if (type === Ext.REF && len === 4 && r() < 0.7) payload.fill(0).writeUInt32LE(int(r, 4), 0);
      return Buffer.concat([Buffer.from([t, type]), payload]);
    }
    case 7: {
      // BLOB reference: ext8 of 5 bytes, kind + u32 LE index
      const p = Buffer.alloc(5);
      p[0] = int(r, 16);
      p.writeUInt32LE(r() < 0.8 ? int(r, 3) : int(r, 2 ** 32), 1);
      return Buffer.concat([Buffer.from([0xc7, 5, Ext.BLOB]), p]);
    }
    case 8:
    case 9: {
      const n = int(r, 5);
      const items = Array.from({ length: n }, () => genValue(r, depth + 1, budget));
      const c = count(n);
      return Buffer.concat([c < 16 ? Buffer.from([0x90 | c]) : Buffer.concat([Buffer.from([0xdd]), u32be(c)]), ...items]);
    }
    case 10:
    case 11: {
      const n = int(r, 5);
      const items: Buffer[] = [];
      for (let i = 0; i < n; i++) {
        const k = Buffer.from(r() < 0.9 ? pick(r, KEYS) : 'k' + String(i));
        items.push(Buffer.from([0xa0 | k.length]), k, genValue(r, depth + 1, budget));
      }
      const c = count(n);
      return Buffer.concat([c < 16 ? Buffer.from([0x80 | c]) : Buffer.concat([Buffer.from([0xdf]), u32be(c)]), ...items]);
    }
    case 12:
    case 13: {
      // ext32 container: MAP, SET, REGEXP, CLASS, NULL_PROTO, BYTES, BIGINT
      const type = pick(r, [Ext.MAP, Ext.SET, Ext.REGEXP, Ext.CLASS, Ext.NULL_PROTO, Ext.BYTES, Ext.BIGINT, Ext.WTF16]);
      let payload: Buffer;
      if (type === Ext.BYTES) payload = Buffer.concat([Buffer.from([int(r, 16)]), randomBytes(r, int(r, 24))]);
      else if (type === Ext.BIGINT) payload = Buffer.concat([Buffer.from([int(r, 3)]), randomBytes(r, int(r, 12))]);
      else if (type === Ext.WTF16) payload = randomBytes(r, int(r, 12));
      else if (type === Ext.REGEXP) {
        const src = Buffer.from(pick(r, ['a+', '(a|b)*c', '[', '(?<x>.)\\k<x>', '']));
        const flags = Buffer.from(pick(r, ['g', 'gi', 'zz', '', 'dgimsuy']));
        payload = Buffer.concat([Buffer.from([0x92, 0xa0 | src.length]), src, Buffer.from([0xa0 | flags.length]), flags]);
      } else if (type === Ext.CLASS) {
        const name = Buffer.from(pick(r, ['Particle', '__proto__', 'Object', 'constructor', '']));
        payload = Buffer.concat([Buffer.from([0x92, 0xa0 | name.length]), name, genValue(r, depth + 1, budget)]);
      } else payload = genValue(r, depth + 1, budget);
      return Buffer.concat([Buffer.from([0xc9]), u32be(count(payload.length)), Buffer.from([type]), payload]);
    }
    case 14:
      return Buffer.from([0xd4, Ext.HOLE, 0]);
    case 15: {
      // deep nesting
      const d = pick(r, [10, 100, 499, 501, 3000]);
      return Buffer.concat([Buffer.alloc(d, 0x91), Buffer.from([0xc0])]);
    }
    default:
      return randomBytes(r, 1 + int(r, 8));
  }
}

function cloneModel(m: Model, providers = m.providers.map((p) => ({ fields: { ...p.fields }, stream: [...p.stream], blobs: p.blobs.map((b) => ({ kind: b.kind, segs: [...b.segs] })) }))): Model {
  return { version: m.version, header: Buffer.from(m.header), top: { ...m.top }, providers };
}

function rawSeg(bytes: Buffer): Seg {
  return { stored: bytes, codec: SegmentCodec.RAW, raw: bytes.length, flags: 0, plain: bytes };
}

let compressor: SegmentCompressor | undefined;

function allSegs(m: Model): { p: number; list: Seg[]; i: number }[] {
  const out: { p: number; list: Seg[]; i: number }[] = [];
  m.providers.forEach((p, pi) => {
    const runs = [p.stream, ...p.blobs.map((b) => b.segs)];
    for (const list of runs) list.forEach((_, i) => out.push({ p: pi, list, i }));
  });
  return out;
}

/** A random path into a wire object, and a setter/deleter for it. */
function wirePaths(v: unknown, path: string, out: { path: string; parent: Record<string, unknown> | unknown[]; key: string | number }[], depth = 0): void {
  if (depth > 5 || typeof v !== 'object' || v === null) return;
  if (Array.isArray(v)) {
    v.forEach((x, i) => {
      out.push({ path: `${path}[${i}]`, parent: v, key: i });
      wirePaths(x, `${path}[${i}]`, out, depth + 1);
    });
    return;
  }
  for (const [k, x] of Object.entries(v)) {
    out.push({ path: `${path}.${k}`, parent: v as Record<string, unknown>, key: k });
    wirePaths(x, `${path}.${k}`, out, depth + 1);
  }
}

function interestingValue(r: Rand): unknown {
  switch (int(r, 8)) {
    case 0:
      return pick(r, INTERESTING);
    case 1:
      return pick(r, ['', 'x', '__proto__', 'x'.repeat(5000), '000000000001']);
    case 2:
      return null;
    case 3:
      return pick(r, [true, false]);
    case 4:
      return [];
    case 5:
      return JSON.parse('{"__proto__":{"polluted":1},"constructor":{"prototype":{"polluted":1}}}') as unknown;
    case 6:
      return [pick(r, INTERESTING), pick(r, INTERESTING), pick(r, INTERESTING)];
    default:
      return int(r, 8);
  }
}

/** Structural mutations of a model whose checksums are then fixed by {@link assemble}. */
function structural(r: Rand, c: ModelledImage, corpus: readonly ModelledImage[]): FuzzInput {
  const m = cloneModel(c.model);
  const segs = allSegs(m);
  const kind = int(r, 11);
  switch (kind) {
    case 0: {
      // Damage one segment's stored bytes (zstd frames included), checksum fixed.
      const s = pick(r, segs);
      const old = s.list[s.i]!;
      const d = damage(r, old.stored);
      s.list[s.i] = old.codec === SegmentCodec.RAW ? rawSeg(d.bytes) : { ...old, stored: d.bytes, raw: r() < 0.8 ? old.raw : d.bytes.length };
      return { bytes: assemble(m), desc: `${c.name}: segment ${d.how}`, fixed: true };
    }
    case 1:
    case 2: {
      // Damage a provider's decompressed value stream, stored raw or recompressed.
      const p = pick(r, m.providers);
      const plain = Buffer.concat(p.stream.map((s) => s.plain ?? s.stored));
      const d = damage(r, plain);
      let seg = rawSeg(d.bytes);
      if (r() < 0.3 && d.bytes.length > 0) {
        compressor ??= new SegmentCompressor(1);
        seg = { stored: compressor.compress(d.bytes), codec: SegmentCodec.ZSTD, raw: d.bytes.length, flags: 0 };
      }
      p.stream = [seg];
      return { bytes: assemble(m), desc: `${c.name}: stream ${d.how}`, fixed: true };
    }
    case 3:
    case 4: {
      // Replace a provider's stream with a generated msgpack value.
      const p = pick(r, m.providers);
      const v = genValue(r, 0, { n: 40 });
      p.stream = [rawSeg(v)];
      return { bytes: assemble(m), desc: `${c.name}: generated stream (${v.length} bytes)`, fixed: true };
    }
    case 5: {
      // A forged field anywhere in the index (type, size, count, pollution keys).
      const how: string[] = [];
      const bytes = assemble(m, (wire) => {
        const paths: { path: string; parent: Record<string, unknown> | unknown[]; key: string | number }[] = [];
        wirePaths(wire, 'index', paths);
        const k = 1 + int(r, 3);
        for (let i = 0; i < k; i++) {
          const t = pick(r, paths);
          const op = int(r, 4);
          if (op === 0 && !Array.isArray(t.parent)) {
            delete t.parent[t.key as string];
            how.push(`delete ${t.path}`);
          } else if (op === 1 && !Array.isArray(t.parent)) {
            const key = pick(r, KEYS);
            Object.defineProperty(t.parent, key, { value: interestingValue(r), enumerable: true, writable: true, configurable: true });
            how.push(`add ${t.path}→${key}`);
          } else {
            (t.parent as Record<string | number, unknown>)[t.key] = interestingValue(r);
            how.push(`set ${t.path}`);
          }
        }
      });
      return { bytes, desc: `${c.name}: index ${how.join(', ')}`, fixed: true };
    }
    case 6: {
      // Forged sizes with consistent totals: a segment or a whole run above the limits.
      const huge = pick(r, [FUZZ_LIMITS.maxSegmentBytes + 1, FUZZ_LIMITS.maxSegmentBytes, 2 ** 32, 2 ** 40, 2 ** 53 - 1]);
      const many = r() < 0.3;
      const bytes = assemble(m, (wire) => {
        const sw = wire['segments'] as number[][];
        const pw = wire['providers'] as { stream: number[]; blobs: number[][] }[];
        if (many) {
          // Every segment claims the segment limit: a run of ≥ 5 exceeds maxStateBytes.
          for (const e of sw) if (e[4] === SegmentCodec.ZSTD) e[2] = FUZZ_LIMITS.maxSegmentBytes;
        } else {
          const e = pick(r, sw);
          e[2] = huge;
          if (r() < 0.5) e[1] = huge;
        }
        for (const p of pw) for (const run of [p.stream, ...p.blobs.map((b) => b.slice(1))]) {
          let sum = 0;
          for (let s = run[0]!; s < run[0]! + run[1]!; s++) sum += sw[s]?.[2] ?? 0;
          if (run === p.stream) p.stream[2] = sum;
          else p.blobs.find((b) => b[1] === run[0])![3] = sum;
        }
      });
      return { bytes, desc: `${c.name}: forged size ${many ? 'all segments at the limit' : huge}`, fixed: true };
    }
    case 7: {
      // Header fields with the header checksum fixed.
      const h = m.header;
      const f = int(r, 5);
      if (f === 0) h.writeUInt16LE(pick(r, [0, 1, 2, 3, 0xffff]), 8);
      else if (f === 1) h.writeUInt16LE(pick(r, [0, 31, 33, 0xffff]), 10);
      else if (f === 2) h.writeUInt32LE(pick(r, [1, 2, 4, 0x80000000, 0xffffffff]) >>> 0, 12);
      else if (f === 3) h.writeUInt32LE(int(r, 2 ** 32) >>> 0, 16);
      else h.writeUInt16LE(pick(r, [0, 2, 0xffff]), 20);
      return { bytes: assemble({ ...m, version: m.version }), desc: `${c.name}: header field ${f}`, fixed: true };
    }
    case 8: {
      // Blob table: wrong kinds, lengths, missing or extra blobs, swapped.
      const p = pick(r, m.providers);
      const op = int(r, 4);
      if (op === 0 && p.blobs.length > 0) p.blobs[int(r, p.blobs.length)]!.kind = int(r, 20);
      else if (op === 1 && p.blobs.length > 0) {
        const b = p.blobs[int(r, p.blobs.length)]!;
        const plain = Buffer.concat(b.segs.map((s) => s.plain ?? s.stored));
        b.segs = [rawSeg(plain.subarray(0, int(r, plain.length + 1)))];
      } else if (op === 2) p.blobs.push({ kind: int(r, 14), segs: [rawSeg(randomBytes(r, 8 * int(r, 4)))] });
      else p.blobs.reverse();
      return { bytes: assemble(m), desc: `${c.name}: blob table op ${op}`, fixed: true };
    }
    case 9: {
      // Provider list: duplicate, drop, swap with another image's provider, flip tree, change id/version.
      const ps = m.providers;
      const op = int(r, 5);
      if (op === 0) ps.push(ps[int(r, ps.length)]!);
      else if (op === 1) ps.splice(int(r, ps.length), 1);
      else if (op === 2) ps.push(pick(r, pick(r, corpus).model.providers));
      else if (op === 3) {
        const p = ps[int(r, ps.length)]!;
        ps[ps.indexOf(p)] = { ...p, fields: { ...p.fields, tree: !(p.fields['tree'] as boolean) } };
      } else {
        const p = ps[int(r, ps.length)]!;
        ps[ps.indexOf(p)] = { ...p, fields: { ...p.fields, [pick(r, ['id', 'version'])]: interestingValue(r) } };
      }
      return { bytes: assemble(m), desc: `${c.name}: provider op ${op}`, fixed: true };
    }
    default: {
      // The index replaced by random msgpack.
      const bytes = assemble(m, undefined, genValue(r, 0, { n: 30 }));
      return { bytes, desc: `${c.name}: random index`, fixed: true };
    }
  }
}

/** Input number `index` of the run seeded `seed`: a pure function of both. */
export function makeInput(corpus: readonly CorpusImage[], seed: number, index: number): FuzzInput {
  const r = prng((Math.imul(seed, 0x9e3779b1) ^ Math.imul(index, 0x85ebca6b)) >>> 0);
  r();
  const c = pick(r, corpus);
  const x = r();
  // An encrypted image cannot be taken apart: it gets raw damage where a plaintext one gets structural damage.
  if (x < 0.3 || (x >= 0.37 && !modelled(c))) {
    const d = damage(r, c.bytes);
    return { bytes: d.bytes, desc: `${c.name}: ${d.how}`, fixed: false };
  }
  if (x < 0.34) {
    // Splice two images.
    const o = pick(r, corpus);
    const a = int(r, c.bytes.length + 1);
    const b = int(r, o.bytes.length + 1);
    return { bytes: Buffer.concat([c.bytes.subarray(0, a), o.bytes.subarray(b)]), desc: `splice ${c.name}[0:${a}] + ${o.name}[${b}:]`, fixed: false };
  }
  if (x < 0.37) {
    // Random bytes, sometimes behind a valid header and before a valid-looking trailer.
    const body = randomBytes(r, int(r, 600));
    if (r() < 0.5) return { bytes: body, desc: `random ${body.length} bytes`, fixed: false };
    return { bytes: Buffer.concat([c.bytes.subarray(0, 32), body, c.bytes.subarray(c.bytes.length - 40)]), desc: `random body ${body.length} bytes`, fixed: false };
  }
  return structural(r, c as ModelledImage, corpus.filter(modelled));
}

// ------------------------------------------------------------------ guards

const originalArrayBuffer = globalThis.ArrayBuffer;
const originalUint8Array = globalThis.Uint8Array;

/** What the allocation guard saw. */
export const allocations = { max: 0, over: 0, lastOver: 0, outOfRangeReads: 0, total: 0, maxTotal: 0 };

/**
 * Count every `new ArrayBuffer(n)` / `new Uint8Array(n)` made by code that
 * looks the constructors up globally (the reader and the decoder do). Buffer's
 * own pool is internal and not seen; the index and the stream are bounded by
 * the limits before they are read.
 */
export function installAllocationGuard(): () => void {
  const note = (n: unknown): void => {
    if (typeof n === 'number') {
      if (n > allocations.max) allocations.max = n;
      allocations.total += n;
      if (n > MAX_ALLOCATION) {
        allocations.over++;
        allocations.lastOver = n;
        throw new RangeError(`allocation guard: ${n} bytes requested`);
      }
    }
  };
  globalThis.ArrayBuffer = new Proxy(originalArrayBuffer, {
    construct(target, args, newTarget) {
      note(args[0]);
      return Reflect.construct(target, args, newTarget === globalThis.ArrayBuffer ? target : newTarget) as object;
    },
  });
  globalThis.Uint8Array = new Proxy(originalUint8Array, {
    construct(target, args, newTarget) {
      note(args[0]);
      return Reflect.construct(target, args, newTarget === globalThis.Uint8Array ? target : newTarget) as object;
    },
  });
  return () => {
    globalThis.ArrayBuffer = originalArrayBuffer;
    globalThis.Uint8Array = originalUint8Array;
  };
}

const PROTOS: readonly [string, object][] = [
  ['Object', Object.prototype],
  ['Array', Array.prototype],
  ['Function', Function.prototype],
  ['Map', Map.prototype],
  ['Set', Set.prototype],
  ['String', String.prototype],
  ['RegExp', RegExp.prototype],
  ['Date', Date.prototype],
];

function protoSignature(): string {
  return PROTOS.map(([n, p]) => `${n}:${Reflect.ownKeys(p).map(String).join(',')}:${String(Object.getPrototypeOf(p) === null)}`).join('|');
}

const baseline = protoSignature();

/** Object.prototype (and friends) unchanged, and no stray property visible on plain objects. */
export function prototypesIntact(): boolean {
  const probe = {} as Record<string, unknown>;
  return protoSignature() === baseline && probe['polluted'] === undefined && ([] as unknown as Record<string, unknown>)['polluted'] === undefined;
}

const allowedProtos = new Set<object | null>([
  null,
  Object.prototype,
  Array.prototype,
  Map.prototype,
  Set.prototype,
  Date.prototype,
  RegExp.prototype,
  originalArrayBuffer.prototype,
  DataView.prototype,
  Buffer.prototype,
  ...[Int8Array, Uint8Array, Uint8ClampedArray, Int16Array, Uint16Array, Int32Array, Uint32Array, Float32Array, Float64Array, BigInt64Array, BigUint64Array].map((c) => c.prototype as object),
]);

/** Every object reachable from `v` has a built-in prototype or a class placeholder, never one taken from the data. */
export function prototypesOfValueOk(v: unknown): string | undefined {
  const seen = new Set<object>();
  const stack: unknown[] = [v];
  let budget = 20_000;
  while (stack.length > 0 && budget-- > 0) {
    const x = stack.pop();
    if (typeof x !== 'object' || x === null || seen.has(x)) continue;
    seen.add(x);
    const proto = Object.getPrototypeOf(x) as object | null;
    const placeholder = proto !== null && Object.getPrototypeOf(proto) === null && Object.getOwnPropertySymbols(proto).includes(Symbol.toStringTag);
    if (!allowedProtos.has(proto) && !placeholder) return `an object has a prototype that is not built in: ${Object.keys(proto ?? {}).join(',')}`;
    if (x instanceof Map) for (const [k, val] of x) stack.push(k, val);
    else if (x instanceof Set) for (const val of x) stack.push(val);
    else if (!ArrayBuffer.isView(x) && !(x instanceof originalArrayBuffer)) for (const k of Object.keys(x)) stack.push((x as Record<string, unknown>)[k]);
  }
  return undefined;
}

// ------------------------------------------------------------------ oracle

function memorySource(bytes: Uint8Array): ImageSource {
  return {
    id: 'fuzz',
    size: bytes.length,
    read(offset, length) {
      // The store contract: a range outside the image is CORRUPT. The reader
      // checks every range against the index first, so this is counted.
      if (!Number.isSafeInteger(offset) || !Number.isSafeInteger(length) || offset < 0 || length < 0 || offset + length > bytes.length) {
        allocations.outOfRangeReads++;
        return Promise.reject(new CkptError(ErrorCodes.CORRUPT, `read of ${length} bytes at ${offset} is outside the image (${bytes.length} bytes)`));
      }
      return Promise.resolve(bytes.slice(offset, offset + length));
    },
    close: () => Promise.resolve(),
  };
}

/** How one input ended. */
export interface Outcome {
  /** `ok` or a CkptError code. */
  readonly result: string;
  /** Why the input broke a rule (undefined: it did not). */
  readonly failure?: string;
  readonly ms: number;
}

/** The per-input time bound (a read of these small images takes well under a millisecond). */
export const TIME_BOUND_MS = 2000;

/** Read options of the oracle: the limits, and the golden key (plaintext allowed) once the corpus is built. */
function readOptions(): ReadOptions {
  return fuzzKeys === undefined ? FUZZ_LIMITS : { ...FUZZ_LIMITS, keys: fuzzKeys };
}

/** Open an input, the corpus's intact encrypted images reachable as holders (by id). */
async function openInput(bytes: Uint8Array): Promise<ImageReader> {
  const reader = await ImageReader.open(memorySource(bytes), readOptions());
  attachHolderSource(
    reader,
    {
      description: 'the fuzz corpus',
      open: (id) => {
        const b = sealedHolders.get(id);
        return b === undefined ? Promise.reject(new CkptError(ErrorCodes.NOT_FOUND, `no image ${id}`)) : Promise.resolve(memorySource(b));
      },
    },
    readOptions(),
  );
  return reader;
}

async function readEverything(bytes: Uint8Array): Promise<unknown[]> {
  const reader = await openInput(bytes);
  const out: unknown[] = [];
  for (const p of reader.index.providers) out.push(await reader.readProvider(p.id));
  return out;
}

/** Read one input and apply the oracle's rules. */
export async function check(input: FuzzInput, corpus: readonly CorpusImage[], options: { verify?: boolean } = {}): Promise<Outcome> {
  const t0 = performance.now();
  const overBefore = allocations.over;
  allocations.total = 0;
  let result: string;
  let failure: string | undefined;
  let values: unknown[] | undefined;
  try {
    values = await readEverything(input.bytes);
    result = 'ok';
  } catch (err) {
    if (isCkptError(err)) {
      result = err.code;
      if (!ALLOWED_CODES.has(err.code)) failure = `unexpected code ${err.code}: ${err.message}`;
    } else {
      result = 'non-ckpt error';
      failure = `non-ckpt exception: ${err instanceof Error ? `${err.name}: ${err.message}` : String(err)}`;
    }
  }
  if (failure === undefined && allocations.over > overBefore) failure = `allocation of ${allocations.lastOver} bytes above the limits`;
  if (allocations.total > allocations.maxTotal) allocations.maxTotal = allocations.total;
  if (failure === undefined && allocations.total > MAX_IMAGE_ALLOCATION) failure = `${allocations.total} bytes allocated in all for one image, above ${MAX_IMAGE_ALLOCATION}`;
  if (failure === undefined && result === 'ok' && !input.fixed && !corpus.some((c) => c.bytes.equals(input.bytes))) {
    failure = 'damaged image read without an error (a wrong value)';
  }
  if (failure === undefined && values !== undefined) {
    const bad = prototypesOfValueOk(values);
    if (bad !== undefined) failure = bad;
  }
  if (failure === undefined && !prototypesIntact()) failure = 'a built-in prototype was changed';
  if (failure === undefined && options.verify === true) {
    try {
      const reader = await openInput(input.bytes);
      const report = await reader.verify();
      if (report.ok !== (result === 'ok')) failure = `verify() says ok=${String(report.ok)} but reading gave ${result}: ${JSON.stringify(report.problems.slice(0, 2))}`;
    } catch (err) {
      if (result === 'ok') failure = `verify() threw on a readable image: ${String(err)}`;
      else if (!isCkptError(err)) failure = `verify() threw a non-ckpt exception: ${String(err)}`;
    }
  }
  const ms = performance.now() - t0;
  if (failure === undefined && ms > TIME_BOUND_MS) failure = `took ${Math.round(ms)} ms (bound ${TIME_BOUND_MS} ms)`;
  return failure === undefined ? { result, ms } : { result, failure, ms };
}

/** Totals of a fuzz run. */
export interface FuzzStats {
  inputs: number;
  fixedInputs: number;
  results: Record<string, number>;
  failures: { id: string; desc: string; failure: string }[];
  maxMs: number;
  /** The slowest input (seed:index). */
  slowest: string;
  maxAllocation: number;
  /** Most bytes allocated in all while reading one image. */
  maxImageAllocation: number;
}

/** Run inputs `from` … `to - 1` of `seed`. `progress` is called every 1000 inputs. */
export async function fuzzRange(
  corpus: readonly CorpusImage[],
  seed: number,
  from: number,
  to: number,
  progress?: (stats: FuzzStats, index: number) => void,
  onInput?: (index: number) => void,
): Promise<FuzzStats> {
  const stats: FuzzStats = { inputs: 0, fixedInputs: 0, results: {}, failures: [], maxMs: 0, slowest: '', maxAllocation: 0, maxImageAllocation: 0 };
  for (let i = from; i < to; i++) {
    onInput?.(i);
    const input = makeInput(corpus, seed, i);
    const o = await check(input, corpus, { verify: i % 10 === 0 });
    stats.inputs++;
    if (input.fixed) stats.fixedInputs++;
    stats.results[o.result] = (stats.results[o.result] ?? 0) + 1;
    if (o.ms > stats.maxMs) {
      stats.maxMs = o.ms;
      stats.slowest = `${seed}:${i}`;
    }
    if (o.failure !== undefined && stats.failures.length < 100) stats.failures.push({ id: `${seed}:${i}`, desc: input.desc, failure: o.failure });
    if (progress !== undefined && (i - from) % 1000 === 999) {
      stats.maxAllocation = allocations.max;
      stats.maxImageAllocation = allocations.maxTotal;
      progress(stats, i);
    }
  }
  stats.maxAllocation = allocations.max;
  stats.maxImageAllocation = allocations.maxTotal;
  return stats;
}

/**
 * Rebuild corpus image `c` after `change` edited a copy of its model (and
 * `hook` its index map); offsets, lengths, run totals and checksums are
 * recomputed, so the damage reaches past the checksums. For targeted tests.
 */
export function forgeImage(c: CorpusImage, change?: (m: Model) => void, hook?: WireHook): Buffer {
  if (!modelled(c)) throw new Error(`corpus image ${c.name} is encrypted: it cannot be forged`);
  const m = cloneModel(c.model);
  change?.(m);
  return assemble(m, hook);
}

/** A raw (stored as is) segment holding `bytes`. */
export function rawSegment(bytes: Buffer): Seg {
  return rawSeg(bytes);
}
