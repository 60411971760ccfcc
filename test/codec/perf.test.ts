/**
 * @module test/codec/perf
 *
 * A smoke run of the codec over many small records (300,000; CKPT_PERF_RECORDS
 * sets another count, e.g. 1000000) that prints its timings (never asserts them).
 */

import { describe, expect, it } from 'vitest';

import { ClassRegistry } from '../../src/codec/class-registry.js';
import { decodeState } from '../../src/codec/decode.js';
import { encodeState } from '../../src/codec/encode.js';

/**
 * Not a benchmark (bench/ has those): a smoke test that many small records go
 * through the codec in reasonable time. Timings are printed, never asserted.
 */
const n = Number(process.env['CKPT_PERF_RECORDS'] ?? 300_000);

describe(`${String(n)} small records`, () => {
  it('encode + decode, identity and tree mode', () => {
    const records: { id: number; name: string; x: number; y: number; tags: string[] }[] = [];
    for (let i = 0; i < n; i++) {
      records.push({ id: i, name: `item-${String(i)}`, x: i * 0.25, y: -i / 3, tags: ['a', i % 7 === 0 ? 'seven' : 'other'] });
    }
    const classes = new ClassRegistry();
    for (const tree of [false, true]) {
      let t = performance.now();
      const encoded = encodeState(records, { tree, classes, blobThreshold: 64 * 1024, maxDepth: 64 });
      const encodeMs = performance.now() - t;
      t = performance.now();
      const back = decodeState(encoded.stream, { tree, classes, blobs: [], maxDepth: 64 }) as typeof records;
      const decodeMs = performance.now() - t;
      console.log(
        `codec ${tree ? 'tree    ' : 'identity'} mode, ${String(n)} records: encode ${encodeMs.toFixed(0)} ms, ` +
          `decode ${decodeMs.toFixed(0)} ms, stream ${(encoded.stream.length / 1e6).toFixed(1)} MB`,
      );
      expect(back).toHaveLength(n);
      for (const i of [0, 1, 7, Math.floor(n / 3), n - 1]) expect(back[i]).toEqual(records[i]);
    }
    // For scale on this machine (timings vary with load): the same records through JSON.
    let t = performance.now();
    const json = JSON.stringify(records);
    const stringifyMs = performance.now() - t;
    t = performance.now();
    const parsed = JSON.parse(json) as unknown[];
    const parseMs = performance.now() - t;
    console.log(`reference: JSON.stringify ${stringifyMs.toFixed(0)} ms, JSON.parse ${parseMs.toFixed(0)} ms, ${(json.length / 1e6).toFixed(1)} MB`);
    expect(parsed).toHaveLength(n);
  });
});
