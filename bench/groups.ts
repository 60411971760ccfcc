/**
 * A checkpoint group against its parts alone and against one Checkpointer
 * writing the same bytes, measured in the same run (medians over the
 * repetitions, the variants interleaved): the figures of docs/groups.md.
 *
 *   group pause       the slowest part's pause (its safepoint: capture and
 *                     hand-over) in a group of `--parts` worker threads
 *   one-part pause    the pause of the only part of a one-part group holding
 *                     the same state as each part above
 *   group total       group.checkpoint(): request → image committed (fsynced)
 *   one Checkpointer  checkpoint() of a main-thread Checkpointer holding all
 *                     the parts' arrays (sync persist), into the same kind of
 *                     store — the same bytes; repeated on one instance, as
 *                     the group's checkpoints are
 *
 * Targets (issue): group pause ≤ one-part pause + 5 ms; group total ≤ 1.25×
 * one Checkpointer. The first group checkpoint captures into fresh memory;
 * later ones into the memory the coordinator gave back: both are printed.
 * Default: 4 parts × 256 MiB, 4 repetitions; --mib N (per part), --parts N,
 * --reps N, --smoke (4 × 4 MiB, 2 repetitions), --dir PATH.
 *
 * Run: npm run bench:groups [-- --mib 64]
 */
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { performance } from 'node:perf_hooks';
import { parseArgs } from 'node:util';
import { Worker } from 'node:worker_threads';
import { Checkpointer, CheckpointGroup } from 'ckpt';
import { collect, fmt, machine, median, MiB, settle, writeResults } from './lib/stats.js';

const { values } = parseArgs({
  options: { smoke: { type: 'boolean', default: false }, mib: { type: 'string' }, parts: { type: 'string' }, reps: { type: 'string' }, dir: { type: 'string' } },
});
const smoke = values.smoke;
const mib = Number(values.mib ?? (smoke ? 4 : 256));
const parts = Number(values.parts ?? 4);
const reps = Number(values.reps ?? (smoke ? 2 : 4));
const elements = Math.floor((mib * MiB) / 8);
const log = (s: string): void => void process.stderr.write(`${s}\n`);

const PART = new URL('./lib/group-part.ts', import.meta.url);
function tsWorker(data: unknown): Worker {
  const tsx = import.meta.resolve('tsx/esm/api');
  const code = `import(${JSON.stringify(tsx)}).then((m) => { m.register(); return import(${JSON.stringify(PART.href)}); })`;
  return new Worker(code, { eval: true, workerData: data });
}

interface Running {
  readonly group: CheckpointGroup;
  readonly run: Promise<unknown>;
  readonly pauses: Map<number, number[]>;
  readonly dir: string;
}

/** A group of `n` parts over a fresh directory, every part ready. */
async function startGroup(n: number): Promise<Running> {
  const dir = await mkdtemp(join(values.dir ?? tmpdir(), 'ckpt-bench-group-'));
  const group = new CheckpointGroup({ store: dir, signals: false, retention: { keepLast: 1 }, deadlineMs: 600_000 });
  const pauses = new Map<number, number[]>();
  let ready = 0;
  let allReady: () => void = () => undefined;
  const whenReady = new Promise<void>((resolve) => (allReady = resolve));
  for (let i = 0; i < n; i++) {
    const w = tsWorker({ elements });
    w.on('message', (m: { type: string; epoch?: number; ms?: number }) => {
      if (m.type === 'ready' && ++ready === n) allReady();
      if (m.type === 'pause') {
        const list = pauses.get(m.epoch!) ?? [];
        list.push(m.ms!);
        pauses.set(m.epoch!, list);
      }
    });
    group.addWorker(w);
  }
  const run = group.run();
  await Promise.race([whenReady, run]);
  return { group, run, pauses, dir };
}

async function stopGroup(g: Running): Promise<void> {
  g.group.requestStop();
  await g.run;
  await rm(g.dir, { recursive: true, force: true });
}

/** One group checkpoint: its total time and the slowest part's pause. */
async function groupCheckpoint(g: Running, n: number): Promise<{ total: number; pause: number; write: number }> {
  collect();
  await settle();
  const t = performance.now();
  const info = await g.group.checkpoint();
  const total = performance.now() - t;
  // Every part posts its pause right after its safepoint returns: before the commit, or moments after.
  while ((g.pauses.get(info.epoch)?.length ?? 0) < n) await settle(5);
  return { total, pause: Math.max(...g.pauses.get(info.epoch)!), write: info.image.totalMs };
}

/** `reps` checkpoints of one main-thread Checkpointer holding every part's array: their times. */
async function checkpointerRuns(): Promise<number[]> {
  const dir = await mkdtemp(join(values.dir ?? tmpdir(), 'ckpt-bench-group-one-'));
  try {
    const ckpt = new Checkpointer({ store: dir, retention: { keepLast: 1 }, signals: false });
    for (let i = 0; i < parts; i++) {
      const cells = new Float64Array(elements);
      for (let k = 0; k < elements; k++) cells[k] = Math.sin((k + i * 977) * 1e-4) * 100 + (((k * 2654435761) >>> 0) % 1000) * 1e-6;
      ckpt.register<Float64Array>({ id: `cells-${String(i)}`, snapshot: () => cells, restore: () => undefined });
    }
    const times: number[] = [];
    for (let r = 0; r < reps; r++) {
      collect();
      await settle();
      const t = performance.now();
      await ckpt.checkpoint();
      times.push(performance.now() - t);
      log(`  rep ${String(r + 1)}: one Checkpointer ${fmt(times.at(-1)!)} ms`);
    }
    await ckpt.close();
    return times;
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
}

log(`groups bench: ${String(parts)} parts × ${fmt(mib)} MiB, ${String(reps)} repetition(s); ${machine()}`);
// One group at a time: a group's Checkpointer would count another group's ports as unregistered resources.
const samples = { groupPause: [] as number[], groupTotal: [] as number[], groupWrite: [] as number[], onePause: [] as number[], checkpointer: [] as number[] };
const many = await startGroup(parts);
for (let r = 0; r < reps; r++) {
  const g = await groupCheckpoint(many, parts);
  samples.groupPause.push(g.pause);
  samples.groupTotal.push(g.total);
  samples.groupWrite.push(g.write);
  log(`  rep ${String(r + 1)}: group pause ${fmt(g.pause, 1)} ms, total ${fmt(g.total)} ms (image written in ${fmt(g.write)} ms)`);
}
await stopGroup(many);
const one = await startGroup(1);
for (let r = 0; r < reps; r++) {
  const o = await groupCheckpoint(one, 1);
  samples.onePause.push(o.pause);
  log(`  rep ${String(r + 1)}: one-part pause ${fmt(o.pause, 1)} ms`);
}
await stopGroup(one);
samples.checkpointer.push(...(await checkpointerRuns()));
// The first group checkpoint captures into fresh memory (page faults); later ones into the memory the coordinator gave back.
const steady = (xs: readonly number[]): number => median(xs.length > 1 ? xs.slice(1) : xs);
const gp = steady(samples.groupPause);
const op = steady(samples.onePause);
const gt = steady(samples.groupTotal);
const ct = steady(samples.checkpointer);
const rows = [
  `| ${String(parts)} parts × ${fmt(mib)} MiB | first | later (median) | target |`,
  '| --- | ---: | ---: | --- |',
  `| group pause (slowest part) | ${fmt(samples.groupPause[0]!, 1)} ms | ${fmt(gp, 1)} ms | |`,
  `| one-part pause | ${fmt(samples.onePause[0]!, 1)} ms | ${fmt(op, 1)} ms | |`,
  `| group pause − one-part pause | ${fmt(samples.groupPause[0]! - samples.onePause[0]!, 1)} ms | ${fmt(gp - op, 1)} ms | ≤ 5 ms |`,
  `| group checkpoint total | ${fmt(samples.groupTotal[0]!)} ms | ${fmt(gt)} ms | |`,
  `| of which writing the image | ${fmt(samples.groupWrite[0]!)} ms | ${fmt(steady(samples.groupWrite))} ms | |`,
  `| one Checkpointer, same bytes | ${fmt(samples.checkpointer[0]!)} ms | ${fmt(ct)} ms | |`,
  `| group total / one Checkpointer | ${(samples.groupTotal[0]! / samples.checkpointer[0]!).toFixed(2)}× | ${(gt / ct).toFixed(2)}× | ≤ 1.25× |`,
];
for (const row of rows) console.log(row);
log(`results: ${writeResults(`groups-${smoke ? 'smoke' : 'default'}`, { command: process.argv.slice(1), machine: machine(), parts, mib, reps, samples, rows })}`);
