// One worker thread of scripts/fuzz.ts: fuzzes inputs [from, to) of `seed`
// and reports progress through a SharedArrayBuffer (inputs done, current
// index), so the main thread can see a hang and name the input that hangs.
import { parentPort, workerData } from 'node:worker_threads';
import { allocations, buildCorpus, fuzzRange, installAllocationGuard } from './fuzz-lib.js';

interface Job {
  readonly seed: number;
  readonly from: number;
  readonly to: number;
  readonly shared: SharedArrayBuffer;
}

const job = workerData as Job;
const view = new Int32Array(job.shared);
const corpus = await buildCorpus();
installAllocationGuard();
const stats = await fuzzRange(
  corpus,
  job.seed,
  job.from,
  job.to,
  (s) => Atomics.store(view, 0, s.inputs),
  (i) => Atomics.store(view, 1, i),
);
Atomics.store(view, 0, stats.inputs);
parentPort?.postMessage({ stats, outOfRangeReads: allocations.outOfRangeReads });
