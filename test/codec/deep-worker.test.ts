/**
 * @module test/codec/deep-worker
 *
 * Decoding depth does not depend on the size of the call stack: a Worker
 * thread whose stack is a fraction of the default decodes states nested
 * maxDepth deep, of every container kind. The worker runs the built decoder
 * (dist/, `npm run build` first) and reports only counts (posting the deep
 * value back would clone it recursively).
 */

import { Worker } from 'node:worker_threads';
import { describe, expect, it } from 'vitest';

import { DEFAULT_MAX_DEPTH } from '../../src/image/constants.js';
import { CYCLE_LEAF, KINDS, chainStream, type Kind } from './deep-streams.js';

/** Stack of the worker, in MiB (the default is about 1). */
const STACK_MB = 0.5;

const WORKER = `
const { parentPort, workerData } = require('node:worker_threads');
(async () => {
  const { decodeState } = await import(workerData.decode);
  const { ClassRegistry } = await import(workerData.registry);
  class Link { constructor() { this.next = null; } }
  const classes = new ClassRegistry();
  classes.register(Link, 'Link');
  const results = [];
  for (const { name, stream, tree } of workerData.streams) {
    let v;
    try {
      v = decodeState(stream, { tree, classes, blobs: [], maxDepth: workerData.maxDepth });
    } catch (err) {
      results.push({ name, error: String(err && err.code) + ' ' + String(err && err.message).slice(0, 200) });
      continue;
    }
    // Walk down the chain without recursion, counting levels and class instances.
    const root = v;
    let levels = 0, links = 0;
    for (;;) {
      if (Array.isArray(v)) v = v[0];
      else if (v instanceof Map) { const [k, x] = [...v][0]; v = typeof k === 'object' ? k : x; }
      else if (v instanceof Set) v = [...v][0];
      else if (v instanceof Link) { links++; v = v.next; }
      else if (typeof v === 'object' && v !== null && 'a' in v) v = v.a;
      else break;
      levels++;
    }
    const leaf = typeof v === 'object' && v !== null ? (v.root === root ? 'cycle to the root' : 'object') : v;
    results.push({ name, levels, links, leaf });
  }
  parentPort.postMessage(results);
})().catch((err) => parentPort.postMessage(String(err)));
`;

interface Job {
  name: string;
  stream: Uint8Array;
  tree: boolean;
}

async function inWorker(jobs: Job[]): Promise<unknown> {
  const worker = new Worker(WORKER, {
    eval: true,
    resourceLimits: { stackSizeMb: STACK_MB },
    workerData: {
      decode: new URL('../../dist/codec/decode.js', import.meta.url).href,
      registry: new URL('../../dist/codec/class-registry.js', import.meta.url).href,
      maxDepth: DEFAULT_MAX_DEPTH,
      streams: jobs,
    },
  });
  try {
    return await new Promise((resolve, reject) => {
      worker.once('message', resolve);
      worker.once('error', reject);
      worker.once('exit', (code) => reject(new Error(`worker exited (${String(code)}) without an answer`)));
    });
  } finally {
    await worker.terminate();
  }
}

describe(`a Worker with a ${String(STACK_MB)} MiB stack`, () => {
  it('decodes maxDepth-deep states of every container kind, tree and identity mode', async () => {
    const chains: [string, readonly Kind[]][] = [...KINDS.map((k) => [k, [k]] as [string, Kind[]]), ['mixed', KINDS]];
    const jobs: Job[] = chains.flatMap(([name, kinds]) => [
      { name: `${name} tree`, stream: chainStream(kinds, DEFAULT_MAX_DEPTH), tree: true },
      // Identity mode: the innermost container (an object) points back to the root.
      { name: `${name} identity`, stream: chainStream(kinds, DEFAULT_MAX_DEPTH - 1, CYCLE_LEAF), tree: false },
    ]);
    const results = await inWorker(jobs);
    const linksIn = (kinds: readonly Kind[]): number => Array.from({ length: DEFAULT_MAX_DEPTH - 1 }, (_, i) => kinds[i % kinds.length]).filter((k) => k === 'class').length;
    expect(results).toEqual(
      chains.flatMap(([name, kinds]) => [
        { name: `${name} tree`, levels: DEFAULT_MAX_DEPTH, links: linksIn(kinds) + (kinds[(DEFAULT_MAX_DEPTH - 1) % kinds.length] === 'class' ? 1 : 0), leaf: 1 },
        { name: `${name} identity`, levels: DEFAULT_MAX_DEPTH - 1, links: linksIn(kinds), leaf: 'cycle to the root' },
      ]),
    );
  }, 120_000);
});
