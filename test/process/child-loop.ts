// A child program for the signal and kill tests: a deterministic simulation
// driven by `ckpt.loop()` with a FsStore in CKPT_DIR. Every iteration is
// synchronous (plus a busy spin of CKPT_ITER_MS), so the loop itself must give
// the event loop a turn for signals to be seen. Prints one JSON line per event.
//
// Environment:
//   CKPT_DIR (required)        store directory
//   CKPT_UNTIL (400)           loop until this many steps
//   CKPT_EVERY_STEPS (0)       checkpoint every N steps (0: no step policy)
//   CKPT_ITER_MS (1)           busy time per iteration, ms
//   CKPT_SIZE (20000)          field length
//   CKPT_SLOW_SNAPSHOT_MS (0)  snapshot() waits this long (asynchronously) first
//   CKPT_EXIT_CODE             signals.exitCode
//   CKPT_PERSIST (sync)        persist mode
//   CKPT_LOCK_WAIT_MS (5000)   lockWaitMs
import { Checkpointer } from '../../src/index.js';
import type { PersistMode } from '../../src/index.js';
import { advance, hashState, initialState, type SimState } from './loop-sim.js';

const env = process.env;
const dir = env['CKPT_DIR'];
if (dir === undefined) throw new Error('CKPT_DIR is required');
const UNTIL = Number(env['CKPT_UNTIL'] ?? 400);
const EVERY = Number(env['CKPT_EVERY_STEPS'] ?? 0);
const ITER_MS = Number(env['CKPT_ITER_MS'] ?? 1);
const SIZE = Number(env['CKPT_SIZE'] ?? 20_000);
const SLOW_MS = Number(env['CKPT_SLOW_SNAPSHOT_MS'] ?? 0);
const EXIT_CODE = env['CKPT_EXIT_CODE'];
const PERSIST = (env['CKPT_PERSIST'] ?? 'sync') as PersistMode;

const now = (): number => performance.timeOrigin + performance.now();
const print = (o: Record<string, unknown>): void => void process.stdout.write(`${JSON.stringify(o)}\n`);
const listeners = (): Record<string, number> => ({
  SIGTERM: process.listenerCount('SIGTERM'),
  SIGINT: process.listenerCount('SIGINT'),
  SIGUSR2: process.listenerCount('SIGUSR2'),
});

let sim: SimState = initialState(SIZE);
const ckpt = new Checkpointer({
  store: dir,
  retention: { keepLast: 3 },
  lockWaitMs: Number(env['CKPT_LOCK_WAIT_MS'] ?? 5000),
  persist: PERSIST,
  ...(EXIT_CODE === undefined ? {} : { signals: { exitCode: Number(EXIT_CODE) } }),
});
ckpt.register<SimState>({
  id: 'sim',
  snapshot: async (ctx) => {
    print({ event: 'snapshot', step: ctx.step, label: ctx.label, at: now() });
    if (SLOW_MS > 0) await new Promise((r) => setTimeout(r, SLOW_MS));
    return { field: sim.field, sum: sim.sum, step: ctx.step };
  },
  restore: (s) => {
    sim = s;
  },
});
ckpt.on('checkpoint', (info) => print({ event: 'checkpoint', step: info.step, label: info.label, id: info.id, at: now() }));
let completed = 0;
ckpt.on('restore', (r) => {
  completed = r.image.step ?? 0;
  print({ event: 'restored', step: r.image.step, stateStep: sim.step, fellBack: r.fellBack });
});

const before = listeners();
let first = true;
for await (const s of ckpt.loop({ until: UNTIL, ...(EVERY > 0 ? { every: { steps: EVERY } } : {}) })) {
  if (first) {
    first = false;
    print({ event: 'running', step: s, listeners: listeners(), before });
  }
  advance(sim, s);
  const end = performance.now() + ITER_MS;
  while (performance.now() < end);
  completed = s + 1;
  if ((s + 1) % 10 === 0) print({ event: 'progress', step: s + 1 });
}
await ckpt.close();
print({ event: 'done', step: completed, hash: hashState(sim, completed), stopping: ckpt.stopping, stopped: ckpt.stopped, stopReason: ckpt.stopReason ?? null, stopExitCode: ckpt.stopExitCode ?? null, exitCode: process.exitCode ?? null, listeners: listeners() });
