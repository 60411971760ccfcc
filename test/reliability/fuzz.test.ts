// Reader fuzzing, short version (the long one is `npm run fuzz`, see
// docs/reliability.md): fast-check properties over damaged and forged images
// (the corpus includes the golden encrypted incremental chain, read with its
// key and its intact holders)
// and over states full of prototype-pollution bait, a slice of the seeded
// mutation loop of the long run, and the forged sizes that must be refused
// before anything of that size is allocated.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import fc from 'fast-check';
import { crc32 } from 'node:zlib';
import { ClassRegistry } from '../../src/codec/class-registry.js';
import { encodeState } from '../../src/codec/encode.js';
import { isCkptError } from '../../src/errors.js';
import { SegmentCodec } from '../../src/image/constants.js';
import { ImageReader } from '../../src/image/reader.js';
import { SegmentCompressor } from '../../src/image/zstd.js';
import { deepDiff } from '../helpers/deep-equal.js';
import {
  FUZZ_LIMITS,
  allocations,
  buildCorpus,
  check,
  forgeImage,
  fuzzRange,
  installAllocationGuard,
  parseModel,
  prototypesIntact,
  rawSegment,
  type CorpusImage,
} from './fuzz-lib.js';

const SEED_INPUTS = Number(process.env['CKPT_FUZZ_CI_INPUTS'] ?? 4000);
const RUNS = Number(process.env['CKPT_FUZZ_CI_RUNS'] ?? 300);

let corpus: CorpusImage[];
let uninstall: () => void;
const figures = { inputs: 0, failures: 0 };

beforeAll(async () => {
  corpus = await buildCorpus();
  uninstall = installAllocationGuard();
});

afterAll(() => {
  uninstall();
  console.log(`fuzz (short): ${figures.inputs} inputs, ${figures.failures} failures, largest allocation ${allocations.max} bytes`);
});

async function outcome(bytes: Buffer, fixed: boolean): Promise<string | undefined> {
  figures.inputs++;
  const o = await check({ bytes, desc: 'fast-check', fixed }, corpus, { verify: true });
  if (o.failure !== undefined) figures.failures++;
  return o.failure;
}

describe('reader fuzzing', () => {
  it(`the seeded mutation loop of the long run: ${SEED_INPUTS} inputs, no failure`, async () => {
    const stats = await fuzzRange(corpus, 20260101, 0, SEED_INPUTS);
    figures.inputs += stats.inputs;
    figures.failures += stats.failures.length;
    expect(stats.failures).toEqual([]);
    expect(stats.results['ok']).toBeGreaterThan(0);
    expect(stats.results['CKPT_ERR_CORRUPT']).toBeGreaterThan(0);
  }, 60_000);

  it('the encrypted corpus images (golden format-5 chain) read back whole with their key and holders: damage, not a missing key or holder, decides', async () => {
    const sealed = corpus.filter((c) => c.model === undefined);
    expect(sealed.length).toBeGreaterThanOrEqual(4);
    for (const c of sealed) expect(await check({ bytes: c.bytes, desc: c.name, fixed: false }, corpus, { verify: true })).toMatchObject({ result: 'ok' });
  });

  it('fast-check: raw byte edits and truncations of any corpus image are refused (checksums), never read as a value', async () => {
    await fc.assert(
      fc.asyncProperty(
        fc.nat(),
        fc.array(fc.record({ at: fc.nat(), v: fc.integer({ min: 0, max: 255 }) }), { minLength: 1, maxLength: 8 }),
        fc.option(fc.nat(), { nil: undefined }),
        async (pick, edits, cut) => {
          const c = corpus[pick % corpus.length]!;
          let b = Buffer.from(c.bytes);
          for (const e of edits) b[e.at % b.length] = e.v;
          if (cut !== undefined) b = b.subarray(0, cut % (b.length + 1));
          expect(await outcome(b, false)).toBeUndefined();
        },
      ),
      { numRuns: RUNS, seed: 11 },
    );
  }, 60_000);

  it('fast-check: edits of a decompressed value stream, checksums fixed, give a value or a ckpt code — never a crash or a polluted prototype', async () => {
    await fc.assert(
      fc.asyncProperty(
        fc.nat(),
        fc.nat(),
        fc.array(fc.record({ at: fc.nat(), v: fc.integer({ min: 0, max: 255 }), insert: fc.boolean() }), { minLength: 1, maxLength: 6 }),
        async (pick, prov, edits) => {
          // The plaintext images (an encrypted one's value stream cannot be edited without its key).
          const modelled = corpus.filter((x) => x.model !== undefined);
          const c = modelled[pick % modelled.length]!;
          const bytes = forgeImage(c, (m) => {
            const p = m.providers[prov % m.providers.length]!;
            let plain = Buffer.concat(p.stream.map((s) => s.plain ?? s.stored));
            for (const e of edits) {
              if (e.insert || plain.length === 0) {
                const at = e.at % (plain.length + 1);
                plain = Buffer.concat([plain.subarray(0, at), Buffer.from([e.v]), plain.subarray(at)]);
              } else {
                plain = Buffer.from(plain);
                plain[e.at % plain.length] = e.v;
              }
            }
            p.stream = [rawSegment(plain)];
          });
          expect(await outcome(bytes, true)).toBeUndefined();
        },
      ),
      { numRuns: RUNS, seed: 12 },
    );
  }, 60_000);

  it('fast-check: states whose keys are __proto__, constructor, prototype… round-trip as own data and never touch a prototype', async () => {
    const key = fc.constantFrom('__proto__', 'constructor', 'prototype', 'polluted', 'toString', 'valueOf', 'hasOwnProperty', 'a');
    const own = (entries: [string, unknown][], proto: object | null): Record<string, unknown> => {
      const o = Object.create(proto) as Record<string, unknown>;
      for (const [k, v] of entries) Object.defineProperty(o, k, { value: v, enumerable: true, writable: true, configurable: true });
      return o;
    };
    const { tree } = fc.letrec((tie) => ({
      tree: fc.oneof({ depthSize: 'small' }, tie('leaf'), tie('obj'), tie('nullObj'), tie('map'), tie('arr')),
      leaf: fc.oneof(fc.integer(), fc.string(), fc.constant(null), fc.boolean()),
      obj: fc.array(fc.tuple(key, tie('tree')), { maxLength: 4 }).map((e) => own(e, Object.prototype)),
      nullObj: fc.array(fc.tuple(key, tie('tree')), { maxLength: 3 }).map((e) => own(e, null)),
      map: fc.array(fc.tuple(key, tie('tree')), { maxLength: 3 }).map((e) => new Map(e)),
      arr: fc.array(tie('tree'), { maxLength: 3 }),
    }));
    await fc.assert(
      fc.asyncProperty(tree, fc.boolean(), async (state, treeMode) => {
        const encoded = encodeState(state, { tree: treeMode, classes: new ClassRegistry(), blobThreshold: 1 << 16, maxDepth: 2000 });
        const bytes = forgeImage(corpus.find((c) => c.name === 'values')!, (m) => {
          const p = m.providers[0]!;
          p.fields['tree'] = treeMode;
          p.stream = [rawSegment(Buffer.from(encoded.stream))];
        });
        figures.inputs++;
        const reader = await ImageReader.open({ id: 'x', size: bytes.length, read: (o, l) => Promise.resolve(bytes.subarray(o, o + l)), close: () => Promise.resolve() }, FUZZ_LIMITS);
        const back = await reader.readProvider('values');
        expect(deepDiff(back, state, !treeMode)).toBeUndefined();
        expect(prototypesIntact()).toBe(true);
      }),
      { numRuns: RUNS, seed: 13 },
    );
  }, 60_000);
});

describe('forged sizes are refused before allocating', () => {
  const read = async (bytes: Buffer): Promise<{ code: string; max: number }> => {
    const before = allocations.max;
    allocations.max = 0;
    let code = 'ok';
    try {
      const reader = await ImageReader.open({ id: 'x', size: bytes.length, read: (o, l) => Promise.resolve(bytes.subarray(o, o + l)), close: () => Promise.resolve() }, FUZZ_LIMITS);
      for (const p of reader.index.providers) await reader.readProvider(p.id);
    } catch (err) {
      code = isCkptError(err) ? err.code : `non-ckpt ${String(err)}`;
    }
    const max = allocations.max;
    allocations.max = Math.max(before, max);
    return { code, max };
  };
  const sumRuns = (wire: Record<string, unknown>): void => {
    const sw = wire['segments'] as number[][];
    for (const p of wire['providers'] as { stream: number[]; blobs: number[][] }[]) {
      const total = (first: number, count: number): number => sw.slice(first, first + count).reduce((n, e) => n + e[2]!, 0);
      p.stream[2] = total(p.stream[0]!, p.stream[1]!);
      for (const b of p.blobs) b[3] = total(b[1]!, b[2]!);
    }
  };

  it('a segment whose raw length claims 2^40 bytes (totals consistent): CKPT_ERR_LIMIT, nothing large allocated', async () => {
    const bytes = forgeImage(corpus.find((c) => c.name === 'blobs')!, undefined, (wire) => {
      (wire['segments'] as number[][])[1]![2] = 2 ** 40;
      sumRuns(wire);
    });
    const r = await read(bytes);
    expect(r.code).toBe('CKPT_ERR_LIMIT');
    expect(r.max).toBeLessThan(64 * 1024);
  });

  it('segments each at the segment limit adding up above maxStateBytes: CKPT_ERR_LIMIT before the run buffer is allocated', async () => {
    const c = corpus.find((x) => x.name === 'blobs')!;
    const bytes = forgeImage(c, undefined, (wire) => {
      for (const e of wire['segments'] as number[][]) if (e[4] === SegmentCodec.ZSTD) e[2] = FUZZ_LIMITS.maxSegmentBytes;
      sumRuns(wire);
    });
    const zstdInGrid = parseModel(c.bytes).providers[0]!.blobs[0]!.segs.filter((s) => s.codec === SegmentCodec.ZSTD).length;
    expect(zstdInGrid * FUZZ_LIMITS.maxSegmentBytes).toBeGreaterThan(FUZZ_LIMITS.maxStateBytes);
    const r = await read(bytes);
    expect(r.code).toBe('CKPT_ERR_LIMIT');
    expect(r.max).toBeLessThan(FUZZ_LIMITS.maxSegmentBytes);
  });

  it('a zstd frame declaring 8 MiB in a segment the index sizes at a few KiB: CKPT_ERR_CORRUPT, only the index size allocated', async () => {
    const frame = new SegmentCompressor(1).compress(Buffer.alloc(8 << 20)); // (Buffer's pool is not guarded)
    const c = corpus.find((x) => x.name === 'blobs')!;
    const bytes = forgeImage(c, (m) => {
      const segs = m.providers[0]!.blobs[0]!.segs;
      const i = segs.findIndex((s) => s.codec === SegmentCodec.ZSTD);
      segs[i] = { ...segs[i]!, stored: frame };
    });
    const r = await read(bytes);
    expect(r.code).toBe('CKPT_ERR_CORRUPT');
    expect(r.max).toBeLessThan(64 * 1024);
  });

  it('a trailer whose index length is above maxIndexBytes: CKPT_ERR_LIMIT before the index is read', async () => {
    // A valid image whose index is padded above the limit (checksums right).
    const c = corpus.find((x) => x.name === 'values')!;
    const bytes = forgeImage(c, undefined, (wire) => {
      wire['padding'] = 'x'.repeat(FUZZ_LIMITS.maxIndexBytes + 10);
    });
    const t = bytes.subarray(bytes.length - 40);
    expect(crc32(t.subarray(0, 28))).toBe(t.readUInt32LE(28));
    const r = await read(bytes);
    expect(r.code).toBe('CKPT_ERR_LIMIT');
    expect(r.max).toBeLessThan(64 * 1024);
  });
});
