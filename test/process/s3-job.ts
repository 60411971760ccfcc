// A child program for the S3 restart test: the deterministic simulation of
// loop-sim.ts, checkpointing every EVERY steps into a bucket (S3Store with a
// short lease, so a restarted job takes over a killed one's lease in seconds),
// restoring on start. Prints one JSON line per event. Nothing is written to
// the working directory: everything lives in the bucket.
//
// Environment: the AWS SDK's (AWS_ENDPOINT_URL, AWS_REGION, credentials), plus
//   CKPT_S3_BUCKET, CKPT_S3_PREFIX   where the store is
//   CKPT_STEPS (60), CKPT_EVERY (5), CKPT_SIZE (1_500_000)
import { hostname } from 'node:os';
import { Checkpointer } from '../../src/index.js';
import { S3Store } from '../../src/s3/index.js';
import { advance, hashState, initialState, type SimState } from './loop-sim.js';

const env = process.env;
const STEPS = Number(env['CKPT_STEPS'] ?? 60);
const EVERY = Number(env['CKPT_EVERY'] ?? 5);
const SIZE = Number(env['CKPT_SIZE'] ?? 1_500_000);
const print = (o: Record<string, unknown>): void => void process.stdout.write(`${JSON.stringify(o)}\n`);

let sim: SimState = initialState(SIZE);
const store = new S3Store({ bucket: env['CKPT_S3_BUCKET']!, prefix: env['CKPT_S3_PREFIX']!, leaseMs: 3000, clockSkewMs: 500, lockPollMs: 100 });
const ckpt = new Checkpointer({ store, retention: { keepLast: 4 }, lockWaitMs: 30_000, app: 's3-job' });
ckpt.register<SimState>({
  id: 'sim',
  snapshot: () => sim,
  restore: (s) => {
    sim = s;
  },
});
const res = await ckpt.restore();
let step = sim.step ?? 0;
print({ event: res === undefined ? 'fresh' : 'resumed', id: res?.image.id ?? null, fellBack: res?.fellBack ?? false, step, hostname: hostname(), cwd: process.cwd() });
while (step < STEPS) {
  advance(sim, step);
  step++;
  sim.step = step;
  if (step % EVERY === 0) {
    const info = await ckpt.checkpoint({ step });
    print({ event: 'checkpoint', id: info.id, step });
  }
  if (step % 2 === 0) await new Promise((r) => setImmediate(r));
}
await ckpt.close();
print({ event: 'done', step, hash: hashState(sim, step) });
