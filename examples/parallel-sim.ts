/**
 * A Monte Carlo simulation split across worker threads that survives being
 * killed: the threads are checkpointed together, as one consistent image.
 *
 * Each of `--parts` worker threads estimates π from its own random stream
 * (a seeded generator, so a run is reproducible) and keeps a histogram of
 * its samples (a Float64Array). The main thread runs a `CheckpointGroup`:
 * every `--seconds` it asks all parts for a group checkpoint; each part
 * captures its state at its next loop iteration and carries on, and the
 * image is written once every part has answered. SIGTERM or Ctrl-C take
 * one more group checkpoint, stop every part and exit 143/130; running the
 * same command again resumes every part from that image. The final line is
 * a JSON summary: the same numbers whether or not the run was interrupted.
 *
 * One file is both programs: the main thread starts itself as the workers.
 *
 * Run (Node 22 or later; on Node 20 worker threads do not take tsx's loader,
 * so compile the file to JavaScript first):
 *   node --import tsx examples/parallel-sim.ts --dir ./parallel-checkpoints --parts 4 --samples 20000000
 */
import { parseArgs } from 'node:util';
import { isMainThread, parentPort, Worker, workerData } from 'node:worker_threads';
import { CheckpointGroup, joinGroup } from 'ckpt';

/** What each part is told. */
interface PartConfig {
  readonly samples: number;
  readonly batch: number;
}

/** One part's state: its random stream, its counts and a histogram of distances. */
interface PartState {
  seed: number;
  inside: number;
  histogram: Float64Array;
}

// ---- a part: runs in a worker thread ----------------------------------------
async function part(config: PartConfig): Promise<void> {
  const ckpt = await joinGroup();
  let state: PartState = { seed: 0x2545f491 + ckpt.index * 0x9e3779b9, inside: 0, histogram: new Float64Array(32) };
  ckpt.register<PartState>({ id: 'monte-carlo', snapshot: () => state, restore: (s) => (state = s) });

  // xorshift32: a small generator whose whole state is one number, so it is checkpointed with the rest.
  const random = (): number => {
    let x = state.seed;
    x ^= x << 13;
    x ^= x >>> 17;
    x ^= x << 5;
    state.seed = x >>> 0;
    return state.seed / 2 ** 32;
  };

  // One step = one batch of samples; the loop is a safepoint between batches.
  const steps = Math.ceil(config.samples / config.batch);
  for await (const _step of ckpt.loop({ until: steps })) {
    for (let i = 0; i < config.batch; i++) {
      const x = random();
      const y = random();
      const d = x * x + y * y;
      if (d <= 1) state.inside++;
      state.histogram[Math.min(31, Math.floor(d * 16))]! += 1;
    }
  }
  if (!ckpt.stopped) parentPort!.postMessage({ part: ckpt.index, inside: state.inside, samples: steps * config.batch });
}

// ---- the coordinator: the main thread ----------------------------------------
async function main(): Promise<void> {
  const { values } = parseArgs({
    options: {
      dir: { type: 'string', default: './parallel-checkpoints' },
      parts: { type: 'string', default: '4' },
      samples: { type: 'string', default: '20000000' },
      batch: { type: 'string', default: '10000' },
      seconds: { type: 'string', default: '2' },
    },
  });
  const config: PartConfig = { samples: Number(values.samples), batch: Number(values.batch) };
  const group = new CheckpointGroup({ store: values.dir, every: { seconds: Number(values.seconds) }, retention: { keepLast: 3 }, app: 'parallel-sim' });
  group.on('checkpoint', (info) => console.log(JSON.stringify({ event: 'checkpoint', epoch: info.epoch, image: info.image.id, ms: Math.round(info.image.totalMs) })));
  group.on('checkpointFailed', (err) => console.error(`group checkpoint failed: ${err.message}`));

  const results: { inside: number; samples: number }[] = [];
  for (let i = 0; i < Number(values.parts); i++) {
    const worker = new Worker(new URL(import.meta.url), { workerData: config });
    worker.on('message', (r: { part: number; inside: number; samples: number }) => (results[r.part] = r));
    group.addWorker(worker);
  }
  const result = await group.run();
  if (result.restoredFrom !== null) console.log(JSON.stringify({ event: 'resumed-from', image: result.restoredFrom.id }));
  if (result.stopped) {
    console.log(JSON.stringify({ event: 'stopped', reason: result.reason, epoch: result.last?.epoch }));
    process.exitCode = result.exitCode ?? 0;
    return;
  }
  const inside = results.reduce((n, r) => n + r.inside, 0);
  const samples = results.reduce((n, r) => n + r.samples, 0);
  console.log(JSON.stringify({ event: 'done', parts: results.length, samples, pi: (4 * inside) / samples }));
}

if (isMainThread) await main();
else await part(workerData as PartConfig);
