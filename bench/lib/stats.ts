/**
 * Shared helpers of the benchmarks: medians, formatting, the machine line,
 * interleaved repetitions and the results file.
 */
import { mkdirSync, writeFileSync } from 'node:fs';
import { availableParallelism, cpus, totalmem } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

export const MiB = 1024 * 1024;
export const GiB = 1024 * MiB;

/** Median of the samples (mean of the middle two for an even count). */
export function median(xs: readonly number[]): number {
  if (xs.length === 0) return Number.NaN;
  const s = [...xs].sort((a, b) => a - b);
  const m = s.length >> 1;
  return s.length % 2 === 1 ? s[m]! : (s[m - 1]! + s[m]!) / 2;
}

/** `1234.5` → `"1234.5"` with `d` decimals; NaN → `—`. */
export function fmt(x: number, d = 0): string {
  return Number.isFinite(x) ? x.toFixed(d) : '—';
}

/** Bytes per millisecond → `"1234 MB/s"` (decimal MB, as disks and `dd` report). */
export function rate(bytes: number, ms: number): string {
  return Number.isFinite(ms) && ms > 0 ? `${fmt(bytes / 1e3 / ms)} MB/s` : '—';
}

/** One line describing the machine, for the table header and the JSON. */
export function machine(): string {
  const cpu = cpus();
  return `${cpu.length} × ${cpu[0]?.model.trim() ?? 'unknown CPU'} (availableParallelism ${availableParallelism()}), ${Math.round(totalmem() / GiB)} GiB, ${process.platform}-${process.arch}, Node ${process.version}`;
}

/** Run the GC if `--expose-gc` was given (between measurements, never inside one). */
export function collect(): void {
  (globalThis as { gc?: () => void }).gc?.();
}

/** Let the event loop run timers and I/O callbacks (e.g. after a GC). */
export function settle(ms = 20): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms));
}

/** A measured variant: one run returns named figures (at least `ms`). */
export interface Variant<S extends { ms: number } = { ms: number } & Record<string, number>> {
  readonly name: string;
  run(): Promise<S>;
}

/**
 * Run every variant `reps` times, interleaved: repetition r runs the variants
 * starting at offset r, so slow phases of a noisy machine hit all of them.
 * Returns every sample per variant name.
 */
export async function interleave(variants: readonly Variant[], reps: number, log: (s: string) => void): Promise<Map<string, Record<string, number>[]>> {
  const out = new Map<string, Record<string, number>[]>(variants.map((v) => [v.name, []]));
  for (let rep = 0; rep < reps; rep++) {
    for (let k = 0; k < variants.length; k++) {
      const v = variants[(k + rep) % variants.length]!;
      collect();
      await settle();
      const s = await v.run();
      out.get(v.name)!.push(s);
      log(`  rep ${rep + 1}/${reps} ${v.name}: ${fmt(s.ms, 1)} ms`);
    }
  }
  return out;
}

/** Median of field `key` over a variant's samples. */
export function med(samples: Map<string, Record<string, number>[]>, name: string, key = 'ms'): number {
  return median((samples.get(name) ?? []).map((s) => s[key] ?? Number.NaN));
}

/** Write `data` as JSON to bench/results/<name>.json; returns the path. */
export function writeResults(name: string, data: unknown): string {
  const out = join(dirname(fileURLToPath(import.meta.url)), '..', 'results', `${name}.json`);
  mkdirSync(dirname(out), { recursive: true });
  writeFileSync(out, `${JSON.stringify(data, null, 2)}\n`);
  return out;
}
