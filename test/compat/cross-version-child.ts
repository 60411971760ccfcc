/**
 * @module test/compat/cross-version-child
 *
 * The program test/compat/cross-version.test.ts runs under each tested Node
 * binary (through tsx, from the sources).
 *
 *   write <dir>          checkpoint {@link providers} into the FsStores
 *                        <dir>/pool and <dir>/main-thread ({@link WRITERS})
 *   read <dir> [<dir>…]  restore each of those stores' newest image with a
 *                        fresh Checkpointer and compare every provider's state
 *                        with what was written, here, under this Node version
 *
 * Prints one JSON line per store (in that order) to stdout: `{ node, dir, id?, diffs? }`,
 * where `diffs` maps each provider id to its first difference (`null` when
 * the state came back exactly). `write` also writes <dir>/channel-message.v8
 * (a group channel message as its image holds it); `read` then prints one
 * line per <dir>, `{ node, dir, v8 }`: that message read here, its first
 * difference or `null`.
 */
import { readFile, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { deserialize, serialize } from 'node:v8';
import { Checkpointer } from '../../src/index.js';
import { classesState, largeState, multiProviders, Particle, valuesState } from '../fixtures/images/expected.js';
import { deepDiff } from '../helpers/deep-equal.js';
import { WRITERS } from './cross-version-writers.js';

/** One provider of the cross-version image. */
interface Provider {
  readonly id: string;
  readonly version: number;
  readonly tree: boolean;
  readonly state: () => unknown;
}

/**
 * A state large enough (about 10 MB encoded) to go through the compression
 * worker pool, and compressible (quantized values, repeated strings) so that
 * its segments really are zstd frames, not stored raw.
 */
function poolState(): { readonly grid: Float64Array; readonly items: { i: number; name: string; even: boolean }[] } {
  const grid = new Float64Array(1_000_000);
  for (let i = 0; i < grid.length; i++) grid[i] = Math.round(Math.cos(i / 777) * 1e3) / 4;
  const items = Array.from({ length: 50_000 }, (_, i) => ({ i, name: `item-${i % 100}`, even: i % 2 === 0 }));
  return { grid, items };
}

/** Every value kind, registered classes with shared references and cycles, blob segments, schema versions, a tree provider. */
const providers: readonly Provider[] = [
  { id: 'values', version: 1, tree: false, state: valuesState },
  { id: 'classes', version: 1, tree: false, state: classesState },
  { id: 'large', version: 1, tree: false, state: largeState },
  { id: 'pool', version: 1, tree: false, state: poolState },
  ...multiProviders,
];

function checkpointer(dir: string, threads: number, restored?: Map<string, unknown>): Checkpointer {
  // Fixed settings: the bytes must depend on nothing but the state.
  const ckpt = new Checkpointer({ store: dir, app: 'cross-version', segmentSize: 256 * 1024, compression: { level: 3, threads }, signals: false });
  ckpt.registerClass(Particle, 'fixture.Particle');
  for (const p of providers) {
    ckpt.register({ id: p.id, version: p.version, tree: p.tree, snapshot: p.state, restore: (s) => void restored?.set(p.id, s) });
  }
  return ckpt;
}

async function write(dir: string, threads: number): Promise<void> {
  const ckpt = checkpointer(dir, threads);
  try {
    const info = await ckpt.checkpoint({ step: 7, label: 'cross-version', meta: { purpose: 'cross-version' } });
    console.log(JSON.stringify({ node: process.version, dir, id: info.id }));
  } finally {
    await ckpt.close();
  }
}

async function read(dir: string, threads: number): Promise<void> {
  const restored = new Map<string, unknown>();
  const ckpt = checkpointer(dir, threads, restored);
  try {
    const res = await ckpt.restore();
    const diffs: Record<string, string | null> = {};
    for (const p of providers) {
      diffs[p.id] = restored.has(p.id) ? (deepDiff(restored.get(p.id), p.state(), !p.tree) ?? null) : 'not restored';
    }
    console.log(JSON.stringify({ node: process.version, dir, id: res?.image.id ?? null, imageNode: res?.image.node ?? null, diffs }));
  } finally {
    await ckpt.close();
  }
}

/**
 * A channel message as CheckpointGroup channels keep it in a group image
 * (`v8.serialize` bytes, src/group/channel.ts): a value of every kind a
 * message may hold, so an image with messages in flight written under one
 * Node version is read under another.
 */
function channelMessage(): unknown {
  return {
    n: 1,
    f: 0.1,
    neg0: -0,
    nan: Number.NaN,
    big: 2n ** 70n,
    s: 'héllo ✓ 𝄞',
    list: [1, 'a', null, undefined, [2, { deep: true }]],
    map: new Map<unknown, unknown>([
      ['k', { a: 1 }],
      [2, 'two'],
    ]),
    set: new Set([1, 'x']),
    date: new Date(1_700_000_000_000),
    re: /a+b/gi,
    f64: Float64Array.from([1.5, -2, Number.POSITIVE_INFINITY]),
    u8: Uint8Array.from([1, 2, 255]),
    i32: Int32Array.from([-1, 7]),
  };
}

const MESSAGE_FILE = 'channel-message.v8';

const [command, ...dirs] = process.argv.slice(2);
if (command === 'write' && dirs.length === 1) {
  for (const w of WRITERS) await write(join(dirs[0]!, w.store), w.threads);
  await writeFile(join(dirs[0]!, MESSAGE_FILE), serialize(channelMessage()));
} else if (command === 'read' && dirs.length > 0) {
  for (const d of dirs) for (const w of WRITERS) await read(join(d, w.store), w.threads);
  // Then one line per directory: the channel message written there, read here.
  for (const d of dirs) console.log(JSON.stringify({ node: process.version, dir: d, v8: deepDiff(deserialize(await readFile(join(d, MESSAGE_FILE))), channelMessage()) ?? null }));
} else {
  console.error('usage: cross-version-child.ts write <dir> | read <dir>...');
  process.exitCode = 2;
}
