// The child program of the crash-consistency suite: runs the simulation of
// crash-sim.ts under ckpt.loop() into CKPT_DIR, checkpointing every
// CKPT_EVERY steps up to CKPT_STEPS, and prints one JSON line per event on
// stdout (synchronous on pipes). The harness SIGKILLs it at random moments
// or, through CKPT_TEST_KILL_AT, at an exact fault point, then restarts it.
//
// Events: start (what was restored), committed (each image), warning, done.
import { writeSync } from 'node:fs';
import { Checkpointer, FsStore } from '../../src/index.js';
import { faultPointHooks } from '../../src/testing/index.js';
import { Sim, type SimState } from './crash-sim.js';

const env = process.env;
const dir = env['CKPT_DIR'];
if (dir === undefined) throw new Error('CKPT_DIR is required');
const STEPS = Number(env['CKPT_STEPS'] ?? 100);
const EVERY = Number(env['CKPT_EVERY'] ?? 5);
const SIZE = Number(env['CKPT_SIZE'] ?? 24_000);
const persist = env['CKPT_PERSIST'] === 'async' ? 'async' : 'sync';
// CKPT_INCREMENTAL=<delta>:<fullEvery> (e.g. xor:4): incremental images over a sparsely changing field.
const incr = env['CKPT_INCREMENTAL'];
const incremental =
  incr === undefined || incr === '' ? undefined : { delta: incr.startsWith('xor') ? ('xor' as const) : ('segments' as const), fullEvery: Number(incr.split(':')[1] ?? 16) };

function emit(event: Record<string, unknown>): void {
  writeSync(1, JSON.stringify(event) + '\n');
}

const sim = new Sim(SIZE, incremental === undefined ? 'dense' : 'sparse');
const ckpt = new Checkpointer({
  // The store's steps are crash points too (CKPT_TEST_KILL_AT).
  store: new FsStore(dir, { hooks: faultPointHooks(), onWarning: (w) => emit({ e: 'warning', code: w.code, message: w.message }) }),
  retention: { keepLast: 2 },
  // A writer killed between creating and writing its lock leaves an
  // unreadable lock that turns stale after 5 s: wait for it.
  lockWaitMs: 15_000,
  segmentSize: 64 * 1024,
  persist,
  ...(incremental === undefined ? {} : { incremental }),
  signals: false,
  app: 'crash-suite',
});
ckpt.register({
  id: 'field',
  snapshot: () => ({ field: sim.state.field }),
  restore: (s: { field: Float64Array }) => {
    sim.state.field = s.field;
  },
});
ckpt.register({
  id: 'journal',
  version: 2,
  migrations: { 2: (s) => s },
  snapshot: () => ({ step: sim.state.step, log: sim.state.log, stats: sim.state.stats }),
  restore: (s: Omit<SimState, 'field'>) => {
    sim.state.step = s.step;
    sim.state.log = s.log;
    sim.state.stats = s.stats;
  },
});
let started = false;
ckpt.on('restore', (r) => {
  started = true;
  emit({ e: 'start', id: r.image.id, step: sim.state.step, imageStep: r.image.step, hash: sim.hash(), fellBack: r.fellBack, skipped: r.skipped.length });
});
ckpt.on('checkpoint', (info) => emit({ e: 'committed', id: info.id, step: info.step }));
ckpt.on('warning', (w) => emit({ e: 'warning', code: w.code, message: w.message }));
ckpt.on('error', (err) => emit({ e: 'error', code: err.code, message: err.message }));

for await (const step of ckpt.loop({ until: STEPS, every: { steps: EVERY } })) {
  if (!started) {
    started = true;
    emit({ e: 'start', id: null, step: sim.state.step, imageStep: null, hash: sim.hash(), fellBack: false, skipped: 0 });
  }
  if (step !== sim.state.step) {
    emit({ e: 'error', code: 'STEP_MISMATCH', message: `loop step ${step} but state step ${sim.state.step}` });
    process.exit(3);
  }
  sim.advance();
}
await ckpt.close();
if (!started) emit({ e: 'start', id: null, step: sim.state.step, imageStep: null, hash: sim.hash(), fellBack: false, skipped: 0 });
emit({ e: 'done', step: sim.state.step, hash: sim.hash() });
