/**
 * The long reader-fuzzing run (`npm run fuzz`): mutated and random images
 * read by ImageReader in worker threads, with a watchdog for hangs, an
 * allocation guard, prototype checks and the oracle of
 * test/reliability/fuzz-lib.ts. See docs/reliability.md.
 *
 *   node --import tsx scripts/fuzz.ts [--inputs 1000000] [--workers 2] [--seed 1] [--json report.json]
 *   node --import tsx scripts/fuzz.ts --replay <seed>:<index>   # rebuild one input, save it, read it
 *
 * Env: CKPT_FUZZ_INPUTS, CKPT_FUZZ_WORKERS, CKPT_FUZZ_SEED. Prints progress
 * on stderr and one summary line on stdout; exits 1 on any failure.
 */
import { availableParallelism, tmpdir } from 'node:os';
import { join } from 'node:path';
import { rm, writeFile } from 'node:fs/promises';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import { Worker } from 'node:worker_threads';
import { bundleEntry, removeBundles } from '../test/reliability/child-command.js';
import { buildCorpus, check, fuzzRange, installAllocationGuard, makeInput, type FuzzStats } from '../test/reliability/fuzz-lib.js';

const { values } = parseArgs({
  options: {
    inputs: { type: 'string' },
    workers: { type: 'string' },
    seed: { type: 'string' },
    json: { type: 'string' },
    replay: { type: 'string' },
  },
});
const log = (line: string): void => void process.stderr.write(`${line}\n`);

if (values.replay !== undefined) {
  const [seed, index] = values.replay.split(':').map(Number);
  const corpus = await buildCorpus();
  installAllocationGuard();
  const input = makeInput(corpus, seed!, index!);
  const file = join(tmpdir(), `ckpt-fuzz-${seed}-${index}.image`);
  await writeFile(file, input.bytes);
  const o = await check(input, corpus, { verify: true });
  console.log(JSON.stringify({ input: values.replay, desc: input.desc, checksumsFixed: input.fixed, bytes: input.bytes.length, saved: file, ...o }));
  process.exit(o.failure === undefined ? 0 : 1);
}

const inputs = Number(values.inputs ?? process.env['CKPT_FUZZ_INPUTS'] ?? 1_000_000);
const workers = Math.max(1, Number(values.workers ?? process.env['CKPT_FUZZ_WORKERS'] ?? availableParallelism()));
const seed = Number(values.seed ?? process.env['CKPT_FUZZ_SEED'] ?? Date.now() % 1_000_000);
const HANG_MS = 60_000;
const t0 = performance.now();
log(`fuzz: ${inputs} inputs, ${workers} workers, seed ${seed}`);

function merge(all: readonly FuzzStats[]): FuzzStats {
  const out: FuzzStats = { inputs: 0, fixedInputs: 0, results: {}, failures: [], maxMs: 0, slowest: '', maxAllocation: 0, maxImageAllocation: 0 };
  for (const s of all) {
    out.inputs += s.inputs;
    out.fixedInputs += s.fixedInputs;
    for (const [k, v] of Object.entries(s.results)) out.results[k] = (out.results[k] ?? 0) + v;
    out.failures.push(...s.failures);
    if (s.maxMs > out.maxMs) {
      out.maxMs = s.maxMs;
      out.slowest = s.slowest;
    }
    out.maxAllocation = Math.max(out.maxAllocation, s.maxAllocation);
    out.maxImageAllocation = Math.max(out.maxImageAllocation, s.maxImageAllocation);
  }
  return out;
}

const bundle = await bundleEntry(fileURLToPath(new URL('../test/reliability/fuzz-worker.ts', import.meta.url)));
for (const sig of ['SIGINT', 'SIGTERM'] as const) {
  process.on(sig, () => {
    void removeBundles().finally(() => process.exit(sig === 'SIGINT' ? 130 : 143));
  });
}
let stats: FuzzStats;
let outOfRange = 0;
try {
  if (bundle === undefined) {
    log('fuzz: esbuild is not available; running in this thread without the hang watchdog');
    const corpus = await buildCorpus();
    installAllocationGuard();
    stats = await fuzzRange(corpus, seed, 0, inputs, (s) => {
      if (s.inputs % 50_000 === 0) log(`fuzz: ${s.inputs} inputs, ${s.failures.length} failures`);
    });
  } else {
    const per = Math.ceil(inputs / workers);
    const shared = Array.from({ length: workers }, () => new SharedArrayBuffer(8));
    const views = shared.map((b) => new Int32Array(b));
    const hangs: FuzzStats['failures'] = [];
    const last = views.map(() => ({ done: -1, at: performance.now() }));
    const running = Array.from({ length: workers }, (_, w) => {
      const from = w * per;
      const to = Math.min(inputs, from + per);
      const worker = new Worker(bundle, { workerData: { seed, from, to, shared: shared[w] } });
      return {
        worker,
        result: new Promise<FuzzStats>((resolve, reject) => {
          worker.once('message', (m: { stats: FuzzStats; outOfRangeReads: number }) => {
            outOfRange += m.outOfRangeReads;
            resolve(m.stats);
          });
          worker.once('error', reject);
          worker.once('exit', (code) => {
            if (code !== 0) resolve({ inputs: Atomics.load(views[w]!, 0), fixedInputs: 0, results: {}, failures: [], maxMs: 0, slowest: '', maxAllocation: 0, maxImageAllocation: 0 });
          });
        }),
      };
    });
    let reported = 0;
    const watchdog = setInterval(() => {
      const now = performance.now();
      let total = 0;
      views.forEach((v, w) => {
        const done = Atomics.load(v, 0);
        total += done;
        const l = last[w]!;
        if (done !== l.done) {
          l.done = done;
          l.at = now;
        } else if (now - l.at > HANG_MS) {
          // Progress is stored every 1000 inputs: the one running now is the suspect.
          const id = `${seed}:${Atomics.load(v, 1)}`;
          hangs.push({ id, desc: 'see --replay', failure: `no progress for ${HANG_MS / 1000} s (hang); the worker was terminated` });
          log(`FAILURE hang at input ${id}`);
          void running[w]!.worker.terminate();
          l.at = Infinity;
        }
      });
      if (total - reported >= 100_000) {
        reported = total - (total % 100_000);
        log(`fuzz: ${total} inputs (${Math.round((now - t0) / 1000)} s)`);
      }
    }, 1000);
    try {
      stats = merge(await Promise.all(running.map((r) => r.result)));
    } finally {
      clearInterval(watchdog);
    }
    stats.failures.push(...hangs);
  }
} finally {
  if (bundle !== undefined) await rm(bundle, { force: true });
}

const ms = performance.now() - t0;
const ok = stats.results['ok'] ?? 0;
for (const f of stats.failures.slice(0, 30)) log(`FAILURE ${f.id} (${f.desc}): ${f.failure}`);
log(`results: ${JSON.stringify(stats.results)}; reads outside the image asked of the source: ${outOfRange}`);
if (values.json !== undefined) {
  await writeFile(values.json, JSON.stringify({ seed, workers, seconds: Math.round(ms / 1000), outOfRangeReads: outOfRange, ...stats }, null, 2));
}
console.log(
  `fuzz: ${stats.inputs} inputs (${stats.fixedInputs} with checksums fixed), ${ok} read as valid, ${stats.inputs - ok} refused with a ckpt code, ` +
    `${stats.failures.length} failures, slowest ${stats.maxMs.toFixed(0)} ms (${stats.slowest}), largest allocation ${stats.maxAllocation} bytes, most for one image ${stats.maxImageAllocation} bytes, ${Math.round(ms / 1000)} s`,
);
process.exitCode = stats.failures.length === 0 && stats.inputs >= inputs ? 0 : 1;
