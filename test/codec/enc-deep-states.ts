/**
 * @module test/codec/enc-deep-states
 *
 * Deep states of every container kind, built the same way in the main thread
 * and in a small-stack Worker (test/codec/enc-deep.test.ts), and the worker's
 * entry point: when loaded as a Worker it encodes the state named in its
 * `workerData` and posts the stream back.
 */

import { isMainThread, parentPort, workerData } from 'node:worker_threads';

import { ClassRegistry } from '../../src/codec/class-registry.js';
import { encodeState } from '../../src/codec/encode.js';
import type { EncodeOptions } from '../../src/codec/types.js';

/** A registered class whose instances nest. */
export class Link {
  constructor(public next: unknown = null) {}
}

/** Container kinds a deep state can be made of. */
export const KINDS = ['array', 'object', 'nullProto', 'mapKey', 'mapValue', 'set', 'class', 'mixed'] as const;
/** One of {@link KINDS}. */
export type Kind = (typeof KINDS)[number];

function wrap(kind: Exclude<Kind, 'mixed'>, inner: unknown, level: number): unknown {
  switch (kind) {
    case 'array':
      return level % 5 === 0 ? [level, inner] : [inner];
    case 'object':
      return { depth: level, inner };
    case 'nullProto': {
      const o = Object.create(null) as Record<string, unknown>;
      o['inner'] = inner;
      return o;
    }
    case 'mapKey':
      return new Map<unknown, unknown>([['first', level], [inner, 'v']]);
    case 'mapValue':
      return new Map<unknown, unknown>([[`k${String(level)}`, inner]]);
    case 'set':
      return new Set<unknown>([level, inner]);
    case 'class':
      return new Link(inner);
  }
}

const CYCLE: readonly Exclude<Kind, 'mixed'>[] = ['array', 'object', 'nullProto', 'mapKey', 'mapValue', 'set', 'class'];

/**
 * A state of `kind` whose deepest container lies `levels` containers deep
 * (so it needs `maxDepth` ≥ `levels`), with leaves of every kind at the
 * bottom (and, in identity mode, one object shared at several depths, so REF
 * ids matter).
 */
export function deepState(kind: Kind, levels: number, identity: boolean): unknown {
  const shared = { shared: true, at: [1, 2, 3] };
  const sparse: unknown[] = [1];
  sparse[20] = 'x';
  let v: unknown = {
    s: 'bottom',
    n: -1.5,
    big: 12345678901234567890n,
    d: new Date(0),
    r: /a+/g,
    bytes: new Uint8Array([1, 2, 3]),
    blob: new Float64Array(64),
    u: undefined,
    sparse,
    inner: [[0]],
    ...(identity ? { shared } : {}),
  };
  // The bottom object holds containers 3 deep (itself, inner, inner[0]); the
  // wrappers around it, counted from the bottom, make up the rest.
  for (let level = 1; level <= levels - 3; level++) {
    const k = kind === 'mixed' ? CYCLE[level % CYCLE.length]! : kind;
    v = wrap(k, v, level);
    if (identity && level % 97 === 0 && k === 'object') (v as Record<string, unknown>)['again'] = shared;
  }
  return v;
}

/** Encode options shared by both threads. */
export function deepOptions(identity: boolean, maxDepth: number): EncodeOptions {
  const classes = new ClassRegistry();
  classes.register(Link);
  return { tree: !identity, classes, blobThreshold: 256, maxDepth };
}

/** What the main thread sends the worker. */
export interface DeepJob {
  readonly kind: Kind;
  readonly levels: number;
  readonly identity: boolean;
  readonly maxDepth: number;
}

/** What the worker answers. */
export type DeepResult = { readonly stream: Uint8Array; readonly blobs: number } | { readonly error: string };

if (!isMainThread && parentPort !== null) {
  const job = workerData as DeepJob;
  let result: DeepResult;
  try {
    const encoded = encodeState(deepState(job.kind, job.levels, job.identity), deepOptions(job.identity, job.maxDepth));
    result = { stream: encoded.stream.slice(), blobs: encoded.blobs.length };
  } catch (err) {
    result = { error: err instanceof Error ? err.message : String(err) };
  }
  parentPort.postMessage(result);
}
