/**
 * Peak memory of a restore: an image of 4 providers × 128 MiB (a
 * Float64Array blob plus an array of small records each) is restored in a
 * fresh child process, and the child's peak RSS
 * (`process.resourceUsage().maxRSS`) is reported, next to its RSS before the
 * restore. Two ways an application takes the state:
 *
 * - `copy`: the application allocated its arrays at startup and `restore()`
 *   copies the saved values into them (a simulation's grids) — the decoded
 *   state is garbage once `restore()` returns;
 * - `adopt`: `restore()` keeps the decoded state as it is.
 *
 * Run it against two builds (e.g. before and after a change) to compare:
 *
 * ```sh
 * npm run build && node --import tsx bench/restore-memory.ts            # 4 × 128 MiB, 3 reps
 * node --import tsx bench/restore-memory.ts --mib 16 --reps 1           # quick
 * ```
 *
 * Never asserts anything; it prints a markdown table and one JSON line.
 */
import { spawn } from 'node:child_process';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { Checkpointer } from 'ckpt';

const MiB = 1024 * 1024;
const PROVIDERS = 4;
/** Records of the msgpack part of each provider's state. */
const RECORDS = 40_000;

interface ChildResult {
  readonly mode: string;
  readonly rssBeforeMiB: number;
  readonly peakRssMiB: number;
  readonly restoreMs: number;
  readonly checksum: number;
}

function arg(name: string, fallback: string): string {
  const i = process.argv.indexOf(`--${name}`);
  return i === -1 ? fallback : (process.argv[i + 1] ?? fallback);
}

/** Field values: smooth with noise in the low bits (neither constant nor random). */
function field(n: number, seed: number): Float64Array {
  const a = new Float64Array(n);
  for (let i = 0; i < n; i++) a[i] = Math.sin((i + seed) * 1e-4) * 300 + ((i * 2654435761) % 1000) * 1e-9;
  return a;
}

function records(seed: number): { id: number; name: string; value: number }[] {
  return Array.from({ length: RECORDS }, (_, i) => ({ id: i, name: `cell-${seed}-${i}`, value: i * 0.5 }));
}

/** Floats per provider: its share of `mib` minus what the records take (about 1.5 MiB encoded). */
function floatsOf(mib: number): number {
  return Math.floor(((mib - 2) * MiB) / 8);
}

async function write(dir: string, mib: number): Promise<void> {
  const ckpt = new Checkpointer({ store: dir, compression: { level: 1 }, signals: false });
  for (let p = 0; p < PROVIDERS; p++) {
    const state = { field: field(floatsOf(mib), p), records: records(p) };
    ckpt.register({ id: `p${p}`, snapshot: () => state, restore: () => undefined });
  }
  await ckpt.checkpoint();
  await ckpt.close();
}

/** The child: allocate the application's memory, restore, report. */
async function child(dir: string, mib: number, mode: string): Promise<void> {
  const n = floatsOf(mib);
  const app: { field: Float64Array<ArrayBufferLike>; records: unknown[] }[] = Array.from({ length: PROVIDERS }, () => ({ field: new Float64Array(n).fill(1), records: [] }));
  const ckpt = new Checkpointer({ store: dir, readOnly: true, signals: false });
  for (let p = 0; p < PROVIDERS; p++) {
    const mine = app[p]!;
    ckpt.register({
      id: `p${p}`,
      snapshot: () => null,
      restore: (s) => {
        const state = s as unknown as { field: Float64Array; records: unknown[] };
        if (mode === 'copy') mine.field.set(state.field);
        else mine.field = state.field;
        mine.records = state.records;
      },
    });
  }
  const rssBefore = process.memoryUsage().rss;
  const t0 = performance.now();
  await ckpt.restore();
  const restoreMs = performance.now() - t0;
  const peakKiB = process.resourceUsage().maxRSS;
  let checksum = 0;
  for (const a of app) checksum += a.field[a.field.length - 1]! + a.records.length;
  await ckpt.close();
  const out: ChildResult = { mode, rssBeforeMiB: rssBefore / MiB, peakRssMiB: peakKiB / 1024, restoreMs, checksum };
  process.stdout.write(`${JSON.stringify(out)}\n`);
}

function runChild(dir: string, mib: number, mode: string): Promise<ChildResult> {
  const self = fileURLToPath(import.meta.url);
  return new Promise((resolve, reject) => {
    const c = spawn(process.execPath, ['--import', 'tsx', self, '--child', dir, '--mib', String(mib), '--mode', mode], { stdio: ['ignore', 'pipe', 'inherit'] });
    let out = '';
    c.stdout.on('data', (d: Buffer) => (out += d.toString()));
    c.on('error', reject);
    c.on('close', (code) => {
      if (code !== 0) reject(new Error(`child exited with ${String(code)}`));
      else resolve(JSON.parse(out.trim().split('\n').pop()!) as ChildResult);
    });
  });
}

async function main(): Promise<void> {
  if (process.argv.includes('--child')) return child(arg('child', ''), Number(arg('mib', '128')), arg('mode', 'copy'));
  const mib = Number(arg('mib', '128'));
  const reps = Number(arg('reps', '3'));
  const dir = await mkdtemp(join(tmpdir(), 'ckpt-restore-memory-'));
  try {
    process.stderr.write(`writing ${PROVIDERS} × ${mib} MiB …\n`);
    await write(dir, mib);
    const rows: ChildResult[] = [];
    for (let r = 0; r < reps; r++) {
      for (const mode of r % 2 === 0 ? ['copy', 'adopt'] : ['adopt', 'copy']) {
        const res = await runChild(dir, mib, mode);
        process.stderr.write(`  ${mode}: peak ${res.peakRssMiB.toFixed(0)} MiB (before restore ${res.rssBeforeMiB.toFixed(0)} MiB), ${res.restoreMs.toFixed(0)} ms\n`);
        rows.push(res);
      }
    }
    const med = (xs: number[]): number => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)]!;
    console.log(`| mode | RSS before restore (MiB) | peak RSS (MiB) | peak − before (MiB) | restore (ms) |`);
    console.log(`| --- | --- | --- | --- | --- |`);
    const summary: Record<string, { before: number; peak: number; ms: number }> = {};
    for (const mode of ['copy', 'adopt']) {
      const of = rows.filter((x) => x.mode === mode);
      const before = med(of.map((x) => x.rssBeforeMiB));
      const peak = med(of.map((x) => x.peakRssMiB));
      const ms = med(of.map((x) => x.restoreMs));
      summary[mode] = { before, peak, ms };
      console.log(`| ${mode} | ${before.toFixed(0)} | ${peak.toFixed(0)} | ${(peak - before).toFixed(0)} | ${ms.toFixed(0)} |`);
    }
    console.log(JSON.stringify({ bench: 'restore-memory', node: process.version, providers: PROVIDERS, mib, reps, summary }));
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
}

await main();
