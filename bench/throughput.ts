/**
 * What checkpointing costs a running application: the steps per second of a
 * single-threaded simulation with no checkpoint, a sync checkpoint every
 * `--every` seconds and an async one, and the throughput each loses against
 * no checkpoint (as VeloC reports its overhead).
 *
 * The application: an explicit 1-D diffusion over one `--mb` MiB
 * Float64Array (default 128), updated in place, so every step reads and
 * writes the whole state; it runs in `ckpt.loop()` (the same loop, with the
 * same event-loop turns, in every variant; "none" has no `every` policy).
 * ckpt runs with its defaults (FsStore in the OS temp dir or `--dir`, zstd
 * level 3, one compression thread per core, `compression.backgroundThreads`
 * = cores − 1) except `keepLast: 1`. One more variant, "async, all cores",
 * gives the background compression every core (`backgroundThreads` =
 * `threads`) — what async persist did before it had a thread budget.
 *
 * Each variant runs `--seconds` per repetition; repetitions are interleaved
 * (repetition r starts at variant r) so a busy phase of a shared machine
 * hits all of them; medians are printed. Per variant also: checkpoints
 * taken, the median pause (what the loop waited for), and the process's CPU
 * time per wall second (how many cores it used).
 *
 * Modes: --smoke (CI: 8 MiB, 1 s apart, 3 s, 1 repetition: checks it works),
 * --quick (default: 128 MiB, every 2 s, 12 s × 3), --full (128 MiB, every
 * 2 s, 30 s × 5). JSON goes to bench/results/throughput-<mode>.json.
 *
 * Run: npm run bench:throughput [-- --full] (builds first; imports 'ckpt', i.e. dist/)
 */
import { mkdtemp, rm } from 'node:fs/promises';
import { availableParallelism, tmpdir } from 'node:os';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import { Checkpointer, LIBRARY_VERSION, type CheckpointerOptions } from 'ckpt';
import { collect, fmt, machine, median, MiB, settle, writeResults } from './lib/stats.js';

const { values } = parseArgs({
  options: {
    smoke: { type: 'boolean', default: false },
    quick: { type: 'boolean', default: false },
    full: { type: 'boolean', default: false },
    reps: { type: 'string' },
    mb: { type: 'string' },
    seconds: { type: 'string' },
    every: { type: 'string' },
    dir: { type: 'string' },
  },
});
const mode = values.full ? 'full' : values.smoke ? 'smoke' : 'quick';
const preset = { smoke: { reps: 1, mb: 8, seconds: 3, every: 1 }, quick: { reps: 3, mb: 128, seconds: 12, every: 2 }, full: { reps: 5, mb: 128, seconds: 30, every: 2 } }[mode];
const reps = Number(values.reps ?? preset.reps);
const mb = Number(values.mb ?? preset.mb);
const seconds = Number(values.seconds ?? preset.seconds);
const every = Number(values.every ?? preset.every);
const cores = availableParallelism();
const log = (s: string): void => void process.stderr.write(`${s}\n`);

// The state: a smooth field with noise in the low bits (it diffuses; neither constant nor random).
const n = Math.floor((mb * MiB) / 8);
const field = new Float64Array(n);
{
  let x = 0x9e3779b9 | 0;
  for (let i = 0; i < n; i++) {
    x ^= x << 13;
    x ^= x >>> 17;
    x ^= x << 5;
    field[i] = 300 + 20 * Math.sin(i / 5000) + ((x >>> 0) / 2 ** 32) * 1e-3;
  }
}

/** One explicit diffusion step over the whole array, in place. */
function diffuse(u: Float64Array): void {
  const k = 0.2;
  let prev = u[0]!;
  const last = u.length - 1;
  for (let i = 1; i < last; i++) {
    const cur = u[i]!;
    u[i] = cur + k * (prev - 2 * cur + u[i + 1]!);
    prev = cur;
  }
}

interface Variant {
  readonly name: string;
  /** Checkpointer options besides the store; undefined `every`: never checkpoints. */
  readonly options: Omit<CheckpointerOptions, 'store'>;
}

const variants: Variant[] = [
  { name: 'none', options: {} },
  { name: `sync every ${every} s`, options: { every: { seconds: every } } },
  { name: `async every ${every} s`, options: { every: { seconds: every }, persist: 'async' } },
  { name: `async every ${every} s, all cores`, options: { every: { seconds: every }, persist: 'async', compression: { backgroundThreads: cores } } },
];

interface Sample {
  stepsPerSecond: number;
  checkpoints: number;
  pauseMs: number;
  cores: number;
  /** Share of the wall time the loop was held by checkpoints (sum of pauseMs). */
  heldShare: number;
  /** Process CPU ms per step (the app's own step cost, in "none"). */
  cpuMsPerStep: number;
  steps: number;
  cpuMs: number;
}

async function runOnce(v: Variant, dir: string): Promise<Sample> {
  const store = await mkdtemp(join(dir, 'run-'));
  const ckpt = new Checkpointer({ store, retention: { keepLast: 1 }, signals: false, unregisteredResources: 'off', ...v.options });
  ckpt.register({ id: 'field', snapshot: () => field, restore: () => undefined });
  const pauses: number[] = [];
  ckpt.on('checkpoint', (info) => void pauses.push(info.pauseMs));
  // Warm the process up outside the timed window: the first checkpoint of a
  // Checkpointer starts its threads (and, async, prepares its capture memory).
  if (v.options.every !== undefined) await ckpt.checkpoint({ step: 0 });
  pauses.length = 0;
  let steps = 0;
  const cpu0 = process.cpuUsage();
  const t0 = performance.now();
  const end = t0 + seconds * 1000;
  for await (const _ of ckpt.loop({ restore: false, checkpointAtEnd: false })) {
    diffuse(field);
    steps++;
    if (performance.now() >= end) break;
  }
  const wallMs = performance.now() - t0;
  const cpu = process.cpuUsage(cpu0);
  await ckpt.close();
  await rm(store, { recursive: true, force: true });
  const cpuMs = (cpu.user + cpu.system) / 1000;
  const held = pauses.reduce((a, b) => a + b, 0);
  return { stepsPerSecond: (steps * 1000) / wallMs, checkpoints: pauses.length, pauseMs: median(pauses), cores: cpuMs / wallMs, heldShare: held / wallMs, cpuMsPerStep: cpuMs / Math.max(1, steps), steps, cpuMs };
}

const command = `node ${process.execArgv.join(' ')} bench/throughput.ts ${process.argv.slice(2).join(' ')}`.replace(/\s+/g, ' ').trim();
const dir = await mkdtemp(join(values.dir ?? tmpdir(), 'ckpt-bench-throughput-'));
const samples = new Map<string, Sample[]>(variants.map((v) => [v.name, []]));
log(`throughput: ${mb} MiB Float64Array, ${seconds} s per run, ${reps} repetitions…`);
for (let rep = 0; rep < reps; rep++) {
  for (let k = 0; k < variants.length; k++) {
    const v = variants[(k + rep) % variants.length]!;
    collect();
    await settle(200);
    const s = await runOnce(v, dir);
    samples.get(v.name)!.push(s);
    log(`  rep ${rep + 1}/${reps} ${v.name}: ${fmt(s.stepsPerSecond, 2)} steps/s, ${s.checkpoints} checkpoints, pause ${fmt(s.pauseMs, 1)} ms, ${fmt(s.cores, 2)} cores`);
  }
}
await rm(dir, { recursive: true, force: true });

const med = (name: string, key: keyof Sample): number => median(samples.get(name)!.map((s) => s[key]));
const base = med('none', 'stepsPerSecond');
const out: string[] = [];
const print = (s = ''): void => {
  out.push(s);
  console.log(s);
};
print(`ckpt ${LIBRARY_VERSION} — throughput benchmark (${mode}), medians of ${reps} interleaved repetitions of ${seconds} s`);
print(`machine: ${machine()}`);
print(`command: ${command}`);
print('');
print(`### What checkpointing costs a running app: diffusion over a ${mb} MiB Float64Array, checkpoint every ${every} s`);
print('');
print('| variant | steps/s | throughput lost | checkpoints per run | pause (median) ms | loop held | cores used | ckpt CPU per checkpoint |');
print('| --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: |');
// What ckpt's threads cost in CPU: the run's CPU time minus its steps at the app's own CPU per step (from "none").
const appCpuPerStep = med('none', 'cpuMsPerStep');
const rows = variants.map((v) => {
  const sps = med(v.name, 'stepsPerSecond');
  const lost = 1 - sps / base;
  const ckptCpu = median(samples.get(v.name)!.map((x) => (x.checkpoints === 0 ? Number.NaN : (x.cpuMs - x.steps * appCpuPerStep) / x.checkpoints)));
  const row = { name: v.name, stepsPerSecond: sps, lost, checkpoints: med(v.name, 'checkpoints'), pauseMs: med(v.name, 'pauseMs'), heldShare: med(v.name, 'heldShare'), cores: med(v.name, 'cores'), ckptCpuMsPerCheckpoint: ckptCpu };
  const none = v.name === 'none';
  print(`| ${v.name} | ${fmt(sps, 2)} | ${none ? '—' : `**${fmt(lost * 100, 1)} %**`} | ${fmt(row.checkpoints)} | ${none ? '—' : fmt(row.pauseMs, 1)} | ${none ? '—' : `${fmt(row.heldShare * 100, 1)} %`} | ${fmt(row.cores, 2)} | ${none ? '—' : `${fmt(ckptCpu)} ms`} |`);
  return row;
});
print('');
print(`"loop held": the checkpoints' pauses as a share of the run — what the app loses when the machine has a core free for ckpt's threads; the rest of "throughput lost" is CPU the app's thread did not get (here the process used ${fmt(med('none', 'cores'), 2)} cores with no checkpoint).`);
if (mode === 'smoke') print('\n(--smoke: checks that the benchmark works; the numbers are not meaningful)');
print(`\nresults: ${writeResults(`throughput-${mode}`, { bench: 'throughput', mode, library: LIBRARY_VERSION, date: new Date().toISOString(), command, machine: machine(), reps, mb, seconds, every, rows, samples: Object.fromEntries(samples), markdown: out.join('\n') })}`);
