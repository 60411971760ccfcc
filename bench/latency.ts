/**
 * How fast a loop of synchronous iterations reacts: the delay from the moment
 * a checkpoint is asked for to the moment `snapshot()` runs, for
 *   timer      a timer calling `requestCheckpoint()` (delay from its due time)
 *   policy     a time policy `every: { seconds: 0.05 }` (from when it is due)
 *   sigusr2    a real SIGUSR2 sent by a worker thread (from when it was sent)
 * in a `ckpt.loop()` whose iterations each spin `--iter-ms` (default 2) with no
 * await, default `yieldEveryMs` (10 ms). The design bound is `yieldEveryMs`
 * plus one iteration; a busy machine adds its scheduling delay. Prints n,
 * median, p90 and max per source; never asserts. JSON goes to
 * bench/results/latency.json. The tests (test/runtime/latency.test.ts) pin the
 * mechanism in iterations; this measures the milliseconds.
 *
 * Run: node --import tsx bench/latency.ts [--quick] [--samples 30] [--iter-ms 2]
 * (after `npm run build`: it imports 'ckpt', i.e. dist/, as users do)
 */
import { mkdirSync, writeFileSync } from 'node:fs';
import { cpus } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import { Worker } from 'node:worker_threads';
import { Checkpointer, LIBRARY_VERSION, MemoryStore } from 'ckpt';

const { values } = parseArgs({
  options: {
    quick: { type: 'boolean', default: false },
    samples: { type: 'string' },
    'iter-ms': { type: 'string', default: '2' },
  },
});
const SAMPLES = Number(values.samples ?? (values.quick ? 5 : 30));
const ITER_MS = Number(values['iter-ms']);
const wall = (): number => performance.timeOrigin + performance.now();

function busy(ms: number): void {
  const end = performance.now() + ms;
  while (performance.now() < end);
}

function newCheckpointer(signals: boolean): { ckpt: Checkpointer; snapshots: number[] } {
  const ckpt = new Checkpointer({ store: new MemoryStore(), compression: { threads: 0 }, signals: signals ? {} : false, unregisteredResources: 'off' });
  const snapshots: number[] = [];
  ckpt.register({ id: 'clock', snapshot: () => void snapshots.push(wall()), restore: () => undefined });
  return { ckpt, snapshots };
}

async function timerSource(): Promise<number[]> {
  const { ckpt, snapshots } = newCheckpointer(false);
  const delays: number[] = [];
  let due = 0;
  let armed = 0;
  for await (const _ of ckpt.loop({ until: Infinity, checkpointAtEnd: false })) {
    busy(ITER_MS);
    if (snapshots.length > delays.length) delays.push(snapshots.at(-1)! - due);
    if (armed === snapshots.length) {
      if (delays.length === SAMPLES) break;
      armed++;
      const ms = 15 + (armed % 7);
      due = wall() + ms;
      setTimeout(() => ckpt.requestCheckpoint(), ms);
    }
  }
  await ckpt.close();
  return delays;
}

async function policySource(): Promise<number[]> {
  const { ckpt, snapshots } = newCheckpointer(false);
  const delays: number[] = [];
  let restartedAt = wall();
  for await (const _ of ckpt.loop({ until: Infinity, every: { seconds: 0.05 }, checkpointAtEnd: false })) {
    if (snapshots.length > delays.length) {
      delays.push(snapshots.at(-1)! - (restartedAt + 50));
      restartedAt = wall();
      if (delays.length === SAMPLES) break;
    }
    busy(ITER_MS);
  }
  await ckpt.close();
  return delays;
}

async function signalSource(): Promise<number[]> {
  const { ckpt, snapshots } = newCheckpointer(true);
  const worker = new Worker(
    `const { parentPort } = require('node:worker_threads');
     parentPort.on('message', (ms) => setTimeout(() => {
       const at = performance.timeOrigin + performance.now();
       process.kill(process.pid, 'SIGUSR2');
       parentPort.postMessage(at);
     }, ms));`,
    { eval: true },
  );
  const sent: number[] = [];
  worker.on('message', (at: number) => sent.push(at));
  let requested = 0;
  try {
    for await (const _ of ckpt.loop({ until: Infinity, checkpointAtEnd: false })) {
      busy(ITER_MS);
      if (requested === snapshots.length && sent.length === snapshots.length) {
        if (snapshots.length === SAMPLES) break;
        requested++;
        worker.postMessage(15 + (requested % 7));
      }
    }
  } finally {
    await worker.terminate();
    await ckpt.close();
  }
  return snapshots.map((s, i) => s - sent[i]!);
}

function stats(xs: readonly number[]): { n: number; median: number; p90: number; max: number } {
  const s = [...xs].sort((a, b) => a - b);
  const at = (q: number): number => s[Math.min(s.length - 1, Math.floor(q * s.length))]!;
  return { n: s.length, median: at(0.5), p90: at(0.9), max: s.at(-1)! };
}

const results: Record<string, ReturnType<typeof stats>> = {};
for (const [name, source] of [['timer', timerSource], ['policy', policySource], ['sigusr2', signalSource]] as const) {
  results[name] = stats(await source());
}
console.log(`ckpt ${LIBRARY_VERSION}, ${cpus().length} CPUs, iterations of ${ITER_MS} ms, yieldEveryMs 10 (bound ${10 + ITER_MS} ms)`);
console.log('source    n   median ms  p90 ms  max ms');
for (const [name, r] of Object.entries(results)) {
  console.log(`${name.padEnd(8)} ${String(r.n).padStart(3)}  ${r.median.toFixed(1).padStart(9)}  ${r.p90.toFixed(1).padStart(6)}  ${r.max.toFixed(1).padStart(6)}`);
}
const out = join(dirname(fileURLToPath(import.meta.url)), 'results', 'latency.json');
mkdirSync(dirname(out), { recursive: true });
writeFileSync(out, `${JSON.stringify({ library: LIBRARY_VERSION, iterMs: ITER_MS, samples: SAMPLES, results }, null, 2)}\n`);
