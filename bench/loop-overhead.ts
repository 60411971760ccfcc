/**
 * What a safepoint costs in a hot loop when no checkpoint is due.
 *
 * One run measures, interleaved (the order rotates every repetition), the ns
 * per iteration of the same tiny work body in:
 *   plain      a plain `for` loop
 *   due        the same plus `if (ckpt.due) await ckpt.safepoint()`
 *   await      the same plus `await Promise.resolve()` (what any await costs)
 *   safepoint  the same plus `await ckpt.safepoint(step)` every iteration
 *   sp-1ms     `safepoint` with `yieldEveryMs: 1` (10× the default turns)
 *   loop       `for await (const step of ckpt.loop({ … }))`
 * and the cost of one event-loop turn (`await setImmediate()`), which is what
 * `safepoint()`/`loop()` spend every `yieldEveryMs`. MemoryStore, signals off,
 * step policy 1e12: no checkpoint is ever due. Prints medians and ratios vs
 * plain; never asserts timings. JSON goes to bench/results/loop-overhead.json.
 *
 * Run: node --import tsx bench/loop-overhead.ts [--quick] [--reps 7] [--target-ms 250] [--work 16]
 * (after `npm run build`: it imports 'ckpt', i.e. dist/, as users do)
 */
import { mkdirSync, writeFileSync } from 'node:fs';
import { cpus, totalmem } from 'node:os';
import { dirname, join } from 'node:path';
import { setImmediate as turn } from 'node:timers/promises';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import { Checkpointer, LIBRARY_VERSION, MemoryStore } from 'ckpt';

const { values } = parseArgs({
  options: {
    quick: { type: 'boolean', default: false },
    reps: { type: 'string' },
    'target-ms': { type: 'string' },
    work: { type: 'string', default: '16' },
  },
});
const QUICK = values.quick;
const REPS = Number(values.reps ?? (QUICK ? 2 : 7));
const TARGET_MS = Number(values['target-ms'] ?? (QUICK ? 5 : 250));
const WORK = Number(values.work);
const NEVER = 1e12;

// ---- the loop body: a tiny fixed amount of integer work -------------------

/** `WORK` rounds of xorshift32 seeded by the step: a few ns, never optimized away. */
function work(acc: number, i: number): number {
  let x = (acc ^ i) | 1;
  for (let k = 0; k < WORK; k++) {
    x ^= x << 13;
    x ^= x >>> 17;
    x ^= x << 5;
  }
  return x | 0;
}

function checkpointer(yieldEveryMs?: number): Checkpointer {
  const ckpt = new Checkpointer({
    store: new MemoryStore(),
    signals: false,
    every: { steps: NEVER },
    ...(yieldEveryMs === undefined ? {} : { yieldEveryMs }),
  });
  let state = 0;
  ckpt.register({ id: 'bench', snapshot: () => ({ state }), restore: (s: { state: number }) => void (state = s.state) });
  return ckpt;
}

/** One variant: runs `n` iterations and returns the accumulator (so the work is kept). */
interface Variant {
  readonly name: string;
  readonly code: string;
  run(n: number): Promise<number>;
}

const variants: Variant[] = [
  {
    name: 'plain',
    code: 'for (…) work()',
    // eslint-disable-next-line @typescript-eslint/require-await -- async like the others, so only the loop differs
    async run(n) {
      let acc = 1;
      for (let i = 0; i < n; i++) acc = work(acc, i);
      return acc;
    },
  },
  {
    name: 'due',
    code: 'for (…) { work(); if (ckpt.due) await ckpt.safepoint(); }',
    async run(n) {
      const ckpt = checkpointer();
      let acc = 1;
      for (let i = 0; i < n; i++) {
        acc = work(acc, i);
        if (ckpt.due) await ckpt.safepoint(i + 1);
      }
      await ckpt.close();
      return acc;
    },
  },
  {
    name: 'await',
    code: 'for (…) { work(); await Promise.resolve(); }',
    async run(n) {
      let acc = 1;
      for (let i = 0; i < n; i++) {
        acc = work(acc, i);
        await Promise.resolve();
      }
      return acc;
    },
  },
  {
    name: 'safepoint',
    code: 'for (…) { work(); await ckpt.safepoint(step); }',
    async run(n) {
      const ckpt = checkpointer();
      let acc = 1;
      for (let i = 0; i < n; i++) {
        acc = work(acc, i);
        await ckpt.safepoint(i + 1);
      }
      await ckpt.close();
      return acc;
    },
  },
  {
    name: 'sp-1ms',
    code: 'safepoint(step) with yieldEveryMs: 1',
    async run(n) {
      const ckpt = checkpointer(1);
      let acc = 1;
      for (let i = 0; i < n; i++) {
        acc = work(acc, i);
        await ckpt.safepoint(i + 1);
      }
      await ckpt.close();
      return acc;
    },
  },
  {
    name: 'loop',
    code: 'for await (const step of ckpt.loop({ … })) work()',
    async run(n) {
      const ckpt = checkpointer();
      let acc = 1;
      for await (const step of ckpt.loop({ until: n, restore: false, checkpointAtEnd: false, every: { steps: NEVER } })) acc = work(acc, step);
      await ckpt.close();
      return acc;
    },
  },
  {
    name: 'turn',
    code: 'await setImmediate() (one event-loop turn)',
    async run(n) {
      let acc = 1;
      for (let i = 0; i < n; i++) {
        acc = work(acc, i);
        await turn();
      }
      return acc;
    },
  },
];

let sink = 0;

async function measure(v: Variant, n: number): Promise<number> {
  const t0 = process.hrtime.bigint();
  sink ^= await v.run(n);
  const ns = Number(process.hrtime.bigint() - t0);
  return ns / n;
}

function median(xs: readonly number[]): number {
  const s = [...xs].sort((a, b) => a - b);
  const m = s.length >> 1;
  return s.length % 2 === 1 ? s[m]! : (s[m - 1]! + s[m]!) / 2;
}

/** Iterations that take about TARGET_MS for this variant (after a warm-up that also lets the JIT settle). */
async function calibrate(v: Variant): Promise<number> {
  let n = 1000;
  for (;;) {
    const t0 = performance.now();
    sink ^= await v.run(n);
    const ms = performance.now() - t0;
    if (ms >= Math.min(TARGET_MS, 20) || n >= 1e9) return Math.max(1000, Math.round((n * TARGET_MS) / Math.max(ms, 1e-3)));
    n *= 4;
  }
}

const counts = new Map<Variant, number>();
for (const v of variants) counts.set(v, await calibrate(v));
const samples = new Map<Variant, number[]>(variants.map((v) => [v, []]));
for (let rep = 0; rep < REPS; rep++) {
  for (let k = 0; k < variants.length; k++) {
    const v = variants[(k + rep) % variants.length]!;
    samples.get(v)!.push(await measure(v, counts.get(v)!));
  }
}

const plain = median(samples.get(variants[0]!)!);
const rows = variants.map((v) => {
  const ns = median(samples.get(v)!);
  return { name: v.name, code: v.code, iterations: counts.get(v)!, nsPerIteration: ns, overheadNs: ns - plain, ratio: ns / plain, samples: samples.get(v)! };
});

const fmt = (x: number, d = 1): string => x.toFixed(d);
const command = `node --import tsx bench/loop-overhead.ts${process.argv.slice(2).length > 0 ? ` ${process.argv.slice(2).join(' ')}` : ''}`;
const cpu = cpus();
const machine = `${cpu.length} × ${cpu[0]?.model.trim() ?? 'unknown CPU'}, ${Math.round(totalmem() / 2 ** 30)} GiB, ${process.platform}-${process.arch}, Node ${process.version}`;
console.log(`ckpt ${LIBRARY_VERSION} — loop overhead, median of ${REPS} interleaved repetitions, work = ${WORK} xorshift rounds`);
console.log(`machine: ${machine}`);
console.log(`command: ${command}`);
console.log('');
console.log('| variant | code | ns/iteration | overhead ns | ratio vs plain |');
console.log('| --- | --- | ---: | ---: | ---: |');
for (const r of rows) {
  console.log(`| ${r.name} | \`${r.code}\` | ${fmt(r.nsPerIteration)} | ${r.name === 'plain' ? '—' : fmt(r.overheadNs)} | ${fmt(r.ratio, 2)}× |`);
}
const turnNs = rows.find((r) => r.name === 'turn')!.overheadNs;
console.log('');
console.log(`one event-loop turn ≈ ${fmt(turnNs / 1000, 2)} µs: yielding every 10 ms (default yieldEveryMs) costs ≈ ${fmt((turnNs / 10e6) * 100, 3)}% of loop time, every 1 ms ≈ ${fmt((turnNs / 1e6) * 100, 2)}%`);
if (QUICK) console.log('(--quick: smoke run, numbers are not meaningful)');

const out = join(dirname(fileURLToPath(import.meta.url)), 'results', 'loop-overhead.json');
mkdirSync(dirname(out), { recursive: true });
writeFileSync(
  out,
  `${JSON.stringify({ bench: 'loop-overhead', library: LIBRARY_VERSION, date: new Date().toISOString(), command, machine, quick: QUICK, reps: REPS, targetMs: TARGET_MS, work: WORK, rows, turnNs, sink }, null, 2)}\n`,
);
console.log(`results: ${out}`);
