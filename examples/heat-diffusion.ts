/**
 * A 2-D heat-diffusion simulation that survives being killed.
 *
 * State: the temperature grid (a Float64Array) and a Map of run metadata.
 * `ckpt.loop()` restores the newest valid checkpoint, counts the steps, and
 * checkpoints every `--every` steps; SIGTERM or Ctrl-C checkpoint and stop
 * cleanly. The final line is a JSON summary with a SHA-256 of the grid, so an
 * interrupted run can be compared with an uninterrupted one.
 *
 * Run: npx tsx examples/heat-diffusion.ts --dir ./checkpoints --steps 400 --every 25
 */
import { createHash } from 'node:crypto';
import { parseArgs } from 'node:util';
import { Checkpointer, type CkptWarning } from 'ckpt';

const { values } = parseArgs({
  options: {
    dir: { type: 'string', default: './checkpoints' },
    size: { type: 'string', default: '192' },
    steps: { type: 'string', default: '400' },
    every: { type: 'string', default: '25' },
    'delay-ms': { type: 'string', default: '0' },
  },
});
const N = Number(values.size);
const STEPS = Number(values.steps);
const EVERY = Number(values.every);
const DELAY = Number(values['delay-ms']);

// ---- the simulation's state -------------------------------------------------
let grid: Float64Array = new Float64Array(N * N);
let next: Float64Array = new Float64Array(N * N);
let meta = new Map<string, number | string>([
  ['alpha', 0.2],
  ['source', 'hot square in the centre'],
  ['peak', 0],
]);

function heatSource(): void {
  const c = Math.floor(N / 2);
  for (let y = c - 4; y < c + 4; y++) for (let x = c - 4; x < c + 4; x++) grid[y * N + x] = 100;
}

function simulate(): void {
  const alpha = meta.get('alpha') as number;
  for (let y = 1; y < N - 1; y++) {
    for (let x = 1; x < N - 1; x++) {
      const i = y * N + x;
      next[i] = grid[i]! + alpha * (grid[i - 1]! + grid[i + 1]! + grid[i - N]! + grid[i + N]! - 4 * grid[i]!);
    }
  }
  [grid, next] = [next, grid];
  heatSource();
  let peak = 0;
  for (let i = 0; i < grid.length; i += 97) peak = Math.max(peak, grid[i]!);
  meta.set('peak', peak);
}

// ---- checkpointing ----------------------------------------------------------
const ckpt = new Checkpointer({ store: values.dir, retention: { keepLast: 3 }, app: 'heat-diffusion' });
ckpt.register({
  id: 'simulation',
  version: 1,
  snapshot: () => ({ grid, meta }),
  restore: (s: { grid: Float64Array; meta: Map<string, number | string> }) => {
    grid = s.grid;
    next = new Float64Array(N * N);
    meta = s.meta;
  },
});
ckpt.on('warning', (w: CkptWarning) => console.error(`warning: ${w.message}`));
ckpt.on('restore', (r) => console.log(JSON.stringify({ event: 'resumed', step: r.image.step, image: r.image.id, fellBack: r.fellBack })));
ckpt.on('checkpoint', (info) => console.log(JSON.stringify({ event: 'checkpoint', step: info.step, image: info.id, bytes: info.bytes, ms: Math.round(info.totalMs) })));

heatSource();
let last = 0;
for await (const step of ckpt.loop({ until: STEPS, every: { steps: EVERY } })) {
  if (step === 0) console.log(JSON.stringify({ event: 'start', step }));
  simulate();
  last = step + 1;
  if (DELAY > 0) await new Promise((r) => setTimeout(r, DELAY));
}
await ckpt.close();

const hash = createHash('sha256').update(new Uint8Array(grid.buffer, grid.byteOffset, grid.byteLength)).digest('hex');
console.log(JSON.stringify({ event: 'done', step: ckpt.stopping ? last : STEPS, stopped: ckpt.stopping, peak: meta.get('peak'), sha256: hash }));
