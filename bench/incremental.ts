/**
 * Incremental images against full ones, every figure measured in the same
 * run (medians over the repetitions): the table of docs/incremental.md.
 *
 *   1 % dirty, clustered        one contiguous run of 1 % of the state changed
 *   1 % dirty, scattered, xor   every 100th element of every array changed (`delta: 'xor'`)
 *   nothing changed             the same state again
 *   object graph, 1 % records   1 % of the records changed in place (segments, and xor)
 *
 * For each: bytes written and time of the durable (sync) checkpoint against
 * a full checkpoint of the same state (a Checkpointer without `incremental`);
 * the async pause of a clustered incremental checkpoint against a full async
 * one; and the restore time of an incremental image (references; XOR at the
 * maximum chain depth) against the restore of the full image.
 *
 * Sizes: default 1 GiB of typed state (3 Float64Arrays + 2 Int32Arrays) and
 * 1M records; --mb N, --records N, --reps N (default 3); --smoke (16 MiB,
 * 20k records, 1 repetition: checks the script works, figures meaningless).
 * --dir PATH: scratch directory (default the OS temp dir).
 *
 * Run: npm run build && node --expose-gc --import tsx bench/incremental.ts [--mb 256]
 */
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import { Checkpointer, type CheckpointerOptions, type CheckpointInfo } from 'ckpt';
import { records, simBytes, simState, type Rec, type SimState } from './lib/data.js';
import { collect, fmt, machine, median, MiB, settle, writeResults } from './lib/stats.js';

const { values } = parseArgs({
  options: {
    smoke: { type: 'boolean', default: false },
    mb: { type: 'string' },
    records: { type: 'string' },
    reps: { type: 'string' },
    dir: { type: 'string' },
  },
});
const smoke = values.smoke;
const mb = Number(values.mb ?? (smoke ? 16 : 1024));
const nRecords = Number(values.records ?? (smoke ? 20_000 : 1_000_000));
const reps = Number(values.reps ?? (smoke ? 1 : 3));
const log = (s: string): void => void process.stderr.write(`${s}\n`);
const command = `node ${process.execArgv.join(' ')} bench/incremental.ts ${process.argv.slice(2).join(' ')}`.replace(/\s+/g, ' ').trim();

const arraysOf = (s: SimState): (Float64Array | Int32Array)[] => [s.temperature, s.pressure, s.velocity, s.neighbour, s.material];

/** 1 % of the state's bytes changed in one contiguous run (inside the temperature field). */
function dirtyClustered(s: SimState, k: number): void {
  const n = Math.floor(simBytes(s) / 100 / 8);
  const start = ((k * 7919 * 4096) % (s.temperature.length - n)) | 0;
  for (let i = start; i < start + n; i++) s.temperature[i]! += 0.001 * k;
}

/** 1 % of the elements of every array changed, at scattered places. */
function dirtyScattered(s: SimState, k: number): void {
  for (const a of arraysOf(s)) for (let i = k % 100; i < a.length; i += 100) a[i]! += a instanceof Float64Array ? 0.001 * k : 1;
}

/**
 * 1 % of the records changed in place, with values of the same encoded size
 * (a flag flipped, a small counter moved): the value stream keeps its
 * layout. A change of size (an integer becoming a fraction) shifts every
 * later byte of the stream, and then every later segment differs.
 */
function dirtyRecords(rs: Rec[], k: number): void {
  for (let i = k % 100; i < rs.length; i += 100) {
    const r = rs[i]!;
    r.active = !r.active;
    r.history[0] = (r.history[0]! + 1) % 100;
  }
}

interface Box {
  sim?: SimState;
  recs?: Rec[];
}

function checkpointer(dir: string, box: Box, options: Partial<CheckpointerOptions>): Checkpointer {
  const ckpt = new Checkpointer({ store: dir, signals: false, compression: { level: 1 }, unregisteredResources: 'off', ...options });
  if (box.sim !== undefined) {
    ckpt.register<SimState>({
      id: 'sim',
      snapshot: () => box.sim!,
      restore: (s) => {
        box.sim = s;
      },
    });
  }
  if (box.recs !== undefined) {
    ckpt.register<Rec[]>({
      id: 'records',
      snapshot: () => box.recs!,
      restore: (s) => {
        box.recs = s;
      },
    });
  }
  return ckpt;
}

async function timed(ckpt: Checkpointer): Promise<{ info: CheckpointInfo; ms: number }> {
  collect();
  await settle();
  const t = performance.now();
  const info = await ckpt.checkpoint();
  return { info, ms: performance.now() - t };
}

async function restoreMs(dir: string, box: Box, id: string): Promise<number> {
  const shape: Box = { ...(box.sim === undefined ? {} : { sim: simState(0) }), ...(box.recs === undefined ? {} : { recs: [] }) };
  const ckpt = checkpointer(dir, shape, { readOnly: true });
  collect();
  await settle();
  const t = performance.now();
  await ckpt.restore(id);
  const ms = performance.now() - t;
  await ckpt.close();
  return ms;
}

interface Figures {
  bytes: number;
  ms: number;
  pauseMs: number;
}

const scratch = await mkdtemp(join(values.dir ?? tmpdir(), 'ckpt-bench-incr-'));
let nth = 0;
const fresh = (): string => join(scratch, `s${nth++}`);

/** Full checkpoints of `box` (no incremental), `reps` times: medians; the last image's dir and id for restores. */
async function full(box: Box, persist: 'sync' | 'async'): Promise<Figures & { dir: string; id: string }> {
  const dir = fresh();
  const ckpt = checkpointer(dir, box, { persist });
  // Untimed: the first checkpoint of a Checkpointer starts its threads (the incremental runs start with a full image too).
  await ckpt.checkpoint();
  const runs: { info: CheckpointInfo; ms: number }[] = [];
  for (let r = 0; r < reps; r++) runs.push(await timed(ckpt));
  await ckpt.close();
  const last = runs.at(-1)!.info;
  return { bytes: median(runs.map((x) => x.info.bytesWritten)), ms: median(runs.map((x) => x.ms)), pauseMs: median(runs.map((x) => x.info.pauseMs)), dir, id: last.id };
}

/** A full incremental image, then `reps` incremental ones after `dirty`: medians of the incremental ones. */
async function incremental(box: Box, options: Partial<CheckpointerOptions>, dirty: (k: number) => void, count = reps): Promise<Figures & { dir: string; id: string; kinds: string[] }> {
  const dir = fresh();
  const ckpt = checkpointer(dir, box, options);
  await ckpt.checkpoint();
  const runs: { info: CheckpointInfo; ms: number }[] = [];
  for (let r = 1; r <= count; r++) {
    dirty(r);
    runs.push(await timed(ckpt));
  }
  await ckpt.close();
  return {
    bytes: median(runs.map((x) => x.info.bytesWritten)),
    ms: median(runs.map((x) => x.ms)),
    pauseMs: median(runs.map((x) => x.info.pauseMs)),
    dir,
    id: runs.at(-1)!.info.id,
    kinds: runs.map((x) => x.info.kind),
  };
}

const pct = (a: number, b: number): string => `${fmt((100 * a) / b, a / b < 0.01 ? 3 : 1)} %`;
const times = (a: number, b: number): string => `${fmt(a / b, 2)}×`;

try {
  log(`state: ${mb} MiB typed, ${nRecords} records; ${reps} repetition(s); ${machine()}`);
  const sim: Box = { sim: simState(mb * MiB) };
  log('full, sync');
  const fullSync = await full(sim, 'sync');
  log('full, async');
  const fullAsync = await full(sim, 'async');
  log('clustered, sync');
  const clustered = await incremental(sim, { incremental: { fullEvery: 1024 } }, (k) => dirtyClustered(sim.sim!, k));
  log('clustered, async');
  const clusteredAsync = await incremental(sim, { incremental: { fullEvery: 1024 }, persist: 'async' }, (k) => dirtyClustered(sim.sim!, 100 + k));
  log('clustered, xor');
  const clusteredXor = await incremental(sim, { incremental: { fullEvery: 1024, delta: 'xor' } }, (k) => dirtyClustered(sim.sim!, 300 + k));
  log('scattered, xor');
  const scattered = await incremental(sim, { incremental: { fullEvery: 1024, delta: 'xor' } }, (k) => dirtyScattered(sim.sim!, k));
  log('scattered, segments');
  const scatteredSeg = await incremental(sim, { incremental: { fullEvery: 1024 } }, (k) => dirtyScattered(sim.sim!, 50 + k));
  log('unchanged');
  const unchanged = await incremental(sim, { incremental: { fullEvery: 1024 } }, () => undefined);
  log('xor chain at maximum depth (8)');
  const deep = await incremental(sim, { incremental: { fullEvery: 1024, delta: 'xor' } }, (k) => dirtyScattered(sim.sim!, 200 + k), 8);
  log('restores');
  const restores = { full: [] as number[], refs: [] as number[], xor8: [] as number[] };
  for (let r = 0; r < reps; r++) {
    restores.full.push(await restoreMs(fullSync.dir, sim, fullSync.id));
    restores.refs.push(await restoreMs(clustered.dir, sim, clustered.id));
    restores.xor8.push(await restoreMs(deep.dir, sim, deep.id));
  }
  delete sim.sim;

  const objs: Box = { recs: records(nRecords) };
  log('object graph: full');
  const objFull = await full(objs, 'sync');
  log('object graph: 1 % of records, segments');
  const objSeg = await incremental(objs, { incremental: { fullEvery: 1024 } }, (k) => dirtyRecords(objs.recs!, k));
  log('object graph: 1 % of records, xor');
  const objXor = await incremental(objs, { incremental: { fullEvery: 1024, delta: 'xor' } }, (k) => dirtyRecords(objs.recs!, 10 + k));

  const out: string[] = [];
  const print = (s = ''): void => {
    out.push(s);
    console.log(s);
  };
  print(`Incremental images — ${mb} MiB typed state, ${nRecords} records, ${reps} repetition(s), medians. ${machine()}`);
  print(`Command: ${command}`);
  print();
  print(`Full durable checkpoint: ${fmt(fullSync.bytes / MiB, 1)} MiB written in ${fmt(fullSync.ms)} ms (sync); async pause ${fmt(fullAsync.pauseMs, 1)} ms. Object graph full: ${fmt(objFull.bytes / MiB, 1)} MiB in ${fmt(objFull.ms)} ms.`);
  print();
  print('| scenario | bytes written vs full | time vs full durable checkpoint | other |');
  print('| --- | ---: | ---: | --- |');
  print(`| 1 % dirty, clustered | ${pct(clustered.bytes, fullSync.bytes)} | ${pct(clustered.ms, fullSync.ms)} | async pause ${fmt(clusteredAsync.pauseMs, 1)} ms vs full async ${fmt(fullAsync.pauseMs, 1)} ms (${times(clusteredAsync.pauseMs, fullAsync.pauseMs)}); async until durable ${pct(clusteredAsync.ms, fullSync.ms)}; with \`delta: 'xor'\`: ${pct(clusteredXor.bytes, fullSync.bytes)} bytes, ${pct(clusteredXor.ms, fullSync.ms)} time |`);
  print(`| 1 % dirty, scattered, \`delta: 'xor'\` | ${pct(scattered.bytes, fullSync.bytes)} | ${pct(scattered.ms, fullSync.ms)} | without xor: ${pct(scatteredSeg.bytes, fullSync.bytes)} bytes |`);
  print(`| nothing changed | ${pct(unchanged.bytes, fullSync.bytes)} | ${pct(unchanged.ms, fullSync.ms)} | |`);
  print(`| object graph, 1 % of records changed | ${pct(objSeg.bytes, objFull.bytes)} (xor: ${pct(objXor.bytes, objFull.bytes)}) | ${pct(objSeg.ms, objFull.ms)} (xor: ${pct(objXor.ms, objFull.ms)}) | |`);
  print();
  print(`Restore: full ${fmt(median(restores.full))} ms; incremental (references) ${times(median(restores.refs), median(restores.full))}; XOR at depth 8 ${times(median(restores.xor8), median(restores.full))}.`);
  const path = writeResults(`incremental-${smoke ? 'smoke' : `${mb}mb`}`, {
    command,
    machine: machine(),
    mb,
    records: nRecords,
    reps,
    fullSync,
    fullAsync,
    clustered,
    clusteredAsync,
    clusteredXor,
    scattered,
    scatteredSeg,
    unchanged,
    deep,
    restores,
    objFull,
    objSeg,
    objXor,
    table: out,
  });
  log(`results: ${path}`);
} finally {
  await rm(scratch, { recursive: true, force: true });
}
