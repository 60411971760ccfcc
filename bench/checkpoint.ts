/**
 * ckpt's performance against the machine's limits and against what users
 * would write instead, every figure measured in the same run, interleaved
 * over several repetitions (medians printed; every sample in the JSON).
 *
 *   typed arrays  a simulation's Float64Arrays/Int32Arrays: durable checkpoint
 *                 (sync and async persist), pause, restore, peak extra RSS —
 *                 against raw write+fsync, zstd on all cores, memcpy
 *   object graph  small records: ckpt (identity and tree mode) against
 *                 JSON.stringify + gzip and v8.serialize + gzip, durably written
 *   loop          bench/loop-overhead.ts, run as a child process
 *   shapes        bench/object-shapes.ts: six record shapes against the same
 *                 baselines (default in --full only)
 *
 * Modes: --smoke (CI: checks the scripts work, numbers meaningless), --quick
 * (default, ~3 min), --full (the figures of docs/performance.md, ~15 min).
 * Options: --reps N, --mb N (typed-array state), --records N, --level N (zstd
 * level of the typed-array scenario, default 1), --scenario typed|objects|loop|shapes
 * (repeatable), --dir PATH (scratch directory, default the OS temp dir).
 *
 * Run: npm run build && node --expose-gc --import tsx bench/checkpoint.ts [--full]
 */
import { execFileSync, spawnSync } from 'node:child_process';
import { existsSync, readFileSync } from 'node:fs';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import { LIBRARY_VERSION } from 'ckpt';
import { runObjects } from './object-graph.js';
import { runShapes } from './object-shapes.js';
import { SHAPES } from './lib/shapes.js';
import { fmt, machine, MiB, writeResults } from './lib/stats.js';
import { runTyped, type Row } from './typed-arrays.js';

const { values } = parseArgs({
  options: {
    smoke: { type: 'boolean', default: false },
    quick: { type: 'boolean', default: false },
    full: { type: 'boolean', default: false },
    reps: { type: 'string' },
    mb: { type: 'string' },
    records: { type: 'string' },
    level: { type: 'string', default: '1' },
    scenario: { type: 'string', multiple: true },
    dir: { type: 'string' },
    verbose: { type: 'boolean', default: false },
    hugepages: { type: 'boolean', default: false },
  },
});

// --hugepages: the same run in a child process started with glibc's
// transparent-huge-page tunable, so large allocations (ArrayBuffers,
// SharedArrayBuffers) are backed by 2 MiB pages where the kernel has them.
// glibc reads tunables only at process start, hence the child.
const HUGE = 'glibc.malloc.hugetlb=1';
if (values.hugepages && !(process.env['GLIBC_TUNABLES'] ?? '').includes(HUGE)) {
  const tunables = [process.env['GLIBC_TUNABLES'], HUGE].filter(Boolean).join(':');
  const r = spawnSync(process.execPath, [...process.execArgv, ...process.argv.slice(1)], { stdio: 'inherit', env: { ...process.env, GLIBC_TUNABLES: tunables } });
  process.exit(r.status ?? 1);
}
const mode = `${values.full ? 'full' : values.smoke ? 'smoke' : 'quick'}${values.hugepages ? '-hugepages' : ''}`;
const size = values.full ? 'full' : values.smoke ? 'smoke' : 'quick';
const preset = { smoke: { reps: 1, mb: 8, records: 2000 }, quick: { reps: 3, mb: 256, records: 200_000 }, full: { reps: 5, mb: 1024, records: 1_000_000 } }[size];
const reps = Number(values.reps ?? preset.reps);
const mb = Number(values.mb ?? preset.mb);
const nRecords = Number(values.records ?? preset.records);
const level = Number(values.level);
// The record shapes (bench/object-shapes.ts) take long: part of the default set in --full only.
const scenarios = new Set(values.scenario ?? ['typed', 'objects', 'loop', ...(size === 'full' ? ['shapes'] : [])]);
const here = dirname(fileURLToPath(import.meta.url));
const log = (s: string): void => {
  if (values.verbose || !s.startsWith('  rep')) process.stderr.write(`${s}\n`);
};
if (typeof (globalThis as { gc?: unknown }).gc !== 'function') log('note: run with node --expose-gc for steadier figures (a GC between measurements)');

const command = `node ${process.execArgv.join(' ')} bench/checkpoint.ts ${process.argv.slice(2).join(' ')}`.replace(/\s+/g, ' ').trim();
const out: string[] = [];
const print = (s = ''): void => {
  out.push(s);
  console.log(s);
};
const table = (rows: readonly Row[]): void => {
  print('| measurement | median ms | notes |');
  print('| --- | ---: | --- |');
  for (const r of rows) print(`| ${r.name} | ${fmt(r.ms, r.ms < 10 ? 2 : 0)} | ${r.note} |`);
};

print(`ckpt ${LIBRARY_VERSION} — checkpoint benchmark (${mode}), medians of ${reps} interleaved repetitions`);
print(`machine: ${machine()}`);
print(`command: ${command}`);
if ((process.env['GLIBC_TUNABLES'] ?? '').includes(HUGE)) print(`environment: GLIBC_TUNABLES=${process.env['GLIBC_TUNABLES']} (transparent huge pages for large allocations)`);
const results: Record<string, unknown> = { bench: 'checkpoint', mode, library: LIBRARY_VERSION, date: new Date().toISOString(), command, machine: machine(), reps };

if (scenarios.has('loop')) {
  log('loop overhead: running bench/loop-overhead.ts…');
  execFileSync(process.execPath, [...process.execArgv, join(here, 'loop-overhead.ts'), ...(size === 'full' ? [] : ['--quick'])], { stdio: ['ignore', 'ignore', 'inherit'] });
  const loopFile = join(here, 'results', 'loop-overhead.json');
  if (existsSync(loopFile)) {
    const loop = JSON.parse(readFileSync(loopFile, 'utf8')) as { rows: { name: string; code: string; nsPerIteration: number; overheadNs: number }[] };
    print('');
    print(`### Loop overhead (bench/loop-overhead.ts${size === 'full' ? '' : ' --quick'}), ns per iteration of a ~30 ns loop body`);
    print('');
    print('| variant | code | ns/iteration | overhead ns |');
    print('| --- | --- | ---: | ---: |');
    for (const r of loop.rows) print(`| ${r.name} | \`${r.code}\` | ${fmt(r.nsPerIteration, 1)} | ${r.name === 'plain' ? '—' : fmt(r.overheadNs, 1)} |`);
    results['loop'] = loop.rows.map(({ name, nsPerIteration, overheadNs }) => ({ name, nsPerIteration, overheadNs }));
  }
}

if (scenarios.has('typed')) {
  const dir = await mkdtemp(join(values.dir ?? tmpdir(), 'ckpt-bench-typed-'));
  const r = await runTyped({ bytes: mb * MiB, reps, level, dir, log });
  print('');
  print(`### Typed arrays: ${fmt(r.summary['stateBytes']! / MiB)} MiB (3 Float64Arrays + 2 Int32Arrays), zstd level ${level}, image ${fmt(r.summary['imageBytes']! / MiB)} MiB`);
  print('');
  table(r.rows);
  results['typed'] = { level, ...r };
}

if (scenarios.has('objects')) {
  const dir = await mkdtemp(join(values.dir ?? tmpdir(), 'ckpt-bench-objects-'));
  const r = await runObjects({ records: nRecords, reps, dir, log });
  print('');
  print(`### Object graph: ${nRecords.toLocaleString('en-US')} records, ckpt at its default zstd level 3, gzip at its default level`);
  print('');
  table(r.rows);
  print('');
  print(r.sizeNote);
  results['objects'] = r;
}

if (scenarios.has('shapes')) {
  const dir = await mkdtemp(join(values.dir ?? tmpdir(), 'ckpt-bench-shapes-'));
  const sizes = values.records !== undefined ? [nRecords] : { smoke: [2000], quick: [100_000], full: [10_000, 200_000, 1_000_000] }[size];
  const r = await runShapes({ sizes, shapes: SHAPES, reps: Math.min(reps, 3), dir, log });
  for (const l of r.markdown) print(l);
  results['shapes'] = r.results;
  await rm(dir, { recursive: true, force: true });
}

if (size === 'smoke') print('\n(--smoke: checks that the benchmark works; the numbers are not meaningful)');
results['markdown'] = out.join('\n');
print(`\nresults: ${writeResults(`checkpoint-${mode}`, results)}`);
