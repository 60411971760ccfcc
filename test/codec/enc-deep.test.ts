/**
 * @module test/codec/enc-deep
 *
 * The encoder does not depend on the call stack for depth: a Worker with a
 * 1 MiB stack encodes states nested up to maxDepth of every container kind,
 * to the very bytes the main thread writes; the explicit-stack encoder that
 * takes over from DEEP_FROM writes what the recursive one writes (same
 * bytes, ids, paths, limits).
 */

import { createRequire } from 'node:module';
import { pathToFileURL } from 'node:url';
import { Worker } from 'node:worker_threads';

import { describe, expect, it } from 'vitest';

import { ClassRegistry } from '../../src/codec/class-registry.js';
import { decodeState } from '../../src/codec/decode.js';
import { DEEP_FROM, encodeState } from '../../src/codec/encode.js';
import { ErrorCodes } from '../../src/errors.js';
import { decOptions, encOptions, expectCkptError } from '../helpers/codec.js';
import { KINDS, deepOptions, deepState, type DeepJob, type DeepResult, type Kind } from './enc-deep-states.js';

/** Deep enough that the recursive encoder overflows a 1 MiB stack. */
const MAX_DEPTH = 20_000;

/** The worker: registers tsx (loader hooks are per thread), then loads the TypeScript entry. */
const TSX_API = pathToFileURL(createRequire(import.meta.url).resolve('tsx/esm/api').replace(/\.cjs$/, '.mjs')).href;
const WORKER_CODE = `
import(${JSON.stringify(TSX_API)})
  .then((tsx) => { tsx.register(); return import(${JSON.stringify(new URL('./enc-deep-states.ts', import.meta.url).href)}); });
`;

function inWorker(job: DeepJob): Promise<DeepResult> {
  const worker = new Worker(WORKER_CODE, { eval: true, workerData: job, resourceLimits: { stackSizeMb: 1 } });
  return new Promise<DeepResult>((resolve, reject) => {
    worker.once('message', (m: DeepResult) => resolve(m));
    worker.once('error', reject);
    worker.once('exit', (code) => reject(new Error(`worker exited (${String(code)}) without an answer`)));
  }).finally(() => void worker.terminate());
}

describe('a Worker with a 1 MiB stack encodes maxDepth-deep states', () => {
  const cases: [Kind, boolean][] = [];
  for (const kind of KINDS) for (const identity of [true, false]) cases.push([kind, identity]);
  it.each(cases)('%s, identity %s: same bytes as the main thread', async (kind, identity) => {
    // The state is exactly maxDepth containers deep: one more would be refused.
    const job: DeepJob = { kind, levels: MAX_DEPTH, identity, maxDepth: MAX_DEPTH };
    const result = await inWorker(job);
    const main = encodeState(deepState(kind, MAX_DEPTH, identity), deepOptions(identity, MAX_DEPTH));
    expect(result).not.toHaveProperty('error');
    if (!('stream' in result)) return;
    expect(result.blobs).toBe(main.blobs.length);
    expect(Buffer.from(result.stream).equals(Buffer.from(main.stream))).toBe(true);
  }, 60_000);

  it('one level more than maxDepth is refused in the worker too, with the maxDepth message', async () => {
    const result = await inWorker({ kind: 'mixed', levels: MAX_DEPTH + 1, identity: true, maxDepth: MAX_DEPTH });
    expect(result).toHaveProperty('error');
    if (!('error' in result)) return;
    expect(result.error).toMatch(/is nested deeper than maxDepth \(20000\)/);
  }, 60_000);
});

/** `inner` wrapped in `n` one-element arrays. */
function nest(inner: unknown, n: number): unknown {
  let v = inner;
  for (let i = 0; i < n; i++) v = [v];
  return v;
}

describe('the explicit-stack encoder writes what the recursive one writes', () => {
  // Deep enough in itself to cross DEEP_FROM: every kind, sparse arrays, blobs, leaves.
  const rich = (): unknown => deepState('mixed', 40, false);

  it.each([true, false])('tree mode, state moved below DEEP_FROM: the same bytes after the wrappers (identity %s)', (identity) => {
    // Without shared objects there are no REFs, so ids do not show in the
    // bytes and identity mode must give the same suffix too.
    const o = deepOptions(identity, 10_000);
    const shallow = encodeState(rich(), o);
    for (const wrappers of [DEEP_FROM - 30, DEEP_FROM - 1, DEEP_FROM, DEEP_FROM + 25]) {
      const deep = encodeState(nest(rich(), wrappers), o);
      expect(deep.stream.length).toBe(wrappers + shallow.stream.length);
      expect(Buffer.from(deep.stream.subarray(0, wrappers)).equals(Buffer.alloc(wrappers, 0x91))).toBe(true);
      expect(Buffer.from(deep.stream.subarray(wrappers)).equals(Buffer.from(shallow.stream))).toBe(true);
      expect(deep.blobs.length).toBe(shallow.blobs.length);
    }
  });

  it('identity mode: shared objects and cycles below DEEP_FROM come back as the same objects', () => {
    const shared = { tag: 'shared' };
    const cyc: Record<string, unknown> = { name: 'cyc' };
    cyc['self'] = cyc;
    const state = nest({ a: shared, b: [shared, cyc], c: new Map([[shared, cyc]]) }, DEEP_FROM + 10);
    const { stream } = encodeState(state, encOptions());
    let back = decodeState(stream, decOptions([]));
    for (let i = 0; i < DEEP_FROM + 10; i++) back = (back as unknown[])[0];
    const b = back as { a: object; b: [object, Record<string, unknown>]; c: Map<object, object> };
    expect(b.b[0]).toBe(b.a);
    expect(b.b[1]['self']).toBe(b.b[1]);
    expect([...b.c.entries()]).toEqual([[b.a, b.b[1]]]);
    expect(b.c.get(b.a)).toBe(b.b[1]);
  });

  it.each([
    ['array', (v: unknown): unknown => [0, v], '[1]'],
    ['object', (v: unknown): unknown => ({ k: v }), '.k'],
    ['Map value', (v: unknown): unknown => new Map([['k', v]]), '.get("k")'],
    ['Map key', (v: unknown): unknown => new Map([[v, 1]]), '{key 0}'],
    ['Set', (v: unknown): unknown => new Set([1, v]), '{item 1}'],
  ] as const)('paths through deep %s frames are complete', (_name, wrapOne, segment) => {
    let v: unknown = { f: () => 1 };
    const levels = DEEP_FROM + 20;
    for (let i = 0; i < levels; i++) v = wrapOne(v);
    const err = expectCkptError(() => encodeState(v, encOptions({ maxDepth: 1000 })), ErrorCodes.UNSERIALIZABLE);
    const path = `${segment.repeat(levels)}.f`.replace(/^\./, '');
    expect(err.where).toBe(path);
    expect(err.message).toBe(
      `${path} is a function; functions cannot be checkpointed — remove it from the state returned by snapshot() or rebuild it in restore()`,
    );
  });

  it('maxDepth is checked the same below DEEP_FROM: the path of the first container too deep', () => {
    const levels = DEEP_FROM + 50;
    const state = nest(1, levels);
    const err = expectCkptError(() => encodeState(state, encOptions({ maxDepth: levels - 1 })), ErrorCodes.UNSERIALIZABLE);
    expect(err.where).toBe('[0]'.repeat(levels - 1));
    expect(err.message).toContain(`is nested deeper than maxDepth (${String(levels - 1)})`);
    expect(encodeState(state, encOptions({ maxDepth: levels })).stream.length).toBe(levels + 1);
  });

  it('tree mode: a cycle far below DEEP_FROM is found and names its ancestor', () => {
    const top: unknown[] = [];
    let cur = top;
    for (let i = 0; i < DEEP_FROM + 30; i++) {
      const next: unknown[] = [];
      cur.push(next);
      cur = next;
    }
    const target = nest([], 0) as unknown[];
    cur.push(target);
    target.push(nest(target, 3)); // target → [[[target]]]
    const err = expectCkptError(() => encodeState(top, encOptions({ tree: true, maxDepth: 1000 })), ErrorCodes.UNSERIALIZABLE);
    const ancestor = '[0]'.repeat(DEEP_FROM + 31);
    expect(err.message).toMatch(new RegExp(`^cycle at ${ancestor.replace(/[[\]]/g, '\\$&')}(\\[0\\]){4}: it refers back to ${ancestor.replace(/[[\]]/g, '\\$&')},`));
  });

  it('tree mode: an object met twice below DEEP_FROM (not a cycle) is written twice', () => {
    const leafObj = { x: 1 };
    const state = nest([leafObj, nest(leafObj, 3), leafObj], DEEP_FROM + 5);
    const { stream } = encodeState(state, encOptions({ tree: true, maxDepth: 1000 }));
    const one = encodeState(leafObj, encOptions({ tree: true })).stream;
    // The three copies of { x: 1 } appear in the stream.
    let count = 0;
    for (let i = Buffer.from(stream).indexOf(Buffer.from(one)); i !== -1; i = Buffer.from(stream).indexOf(Buffer.from(one), i + 1)) count++;
    expect(count).toBe(3);
  });

  it('registered class instances below DEEP_FROM keep their class name', () => {
    class Deep {
      v = 1;
    }
    const classes = new ClassRegistry();
    classes.register(Deep);
    const state = nest(new Deep(), DEEP_FROM + 3);
    const { stream } = encodeState(state, encOptions({ classes }));
    const back = decodeState(stream, decOptions([], { classes }));
    let inner: unknown = back;
    for (let i = 0; i < DEEP_FROM + 3; i++) inner = (inner as unknown[])[0];
    expect(inner).toBeInstanceOf(Deep);
  });
});
